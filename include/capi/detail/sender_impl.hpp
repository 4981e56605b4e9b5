// Template bodies of capi::Sender: adapting a completion handler (the one
// adapter, async_op) to the type-erased operation in lib/transport/sender.cpp.
#pragma once

#include <capi/detail/async_op.hpp>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <utility>

namespace capi::detail {

/// Joins a completion handler's cancellation slot to a Sender operation whose
/// cancel trigger is known only once the operation has started. Thread safety:
/// request() and arm() may race from any threads; the trigger runs at most once.
class sender_cancel_link {
public:
    bool requested() const noexcept { return requested_.load(std::memory_order_acquire); }

    void request() {
        std::function<void()> trigger;
        {
            std::lock_guard lock(mutex_);
            if (requested_.exchange(true, std::memory_order_acq_rel)) return;
            trigger = std::move(trigger_);
        }
        if (trigger) trigger();
    }

    void arm(std::function<void()> trigger) {
        {
            std::lock_guard lock(mutex_);
            if (!requested()) {
                trigger_ = std::move(trigger);
                return;
            }
        }
        // Cancelled while the operation was starting.
        if (trigger) trigger();
    }

private:
    std::mutex mutex_;
    std::atomic<bool> requested_{false};
    std::function<void()> trigger_;
};

} // namespace capi::detail

namespace capi {

template <class Handler>
void Sender::start_(PostRequest req, std::chrono::system_clock::time_point not_after, Handler handler) {
    using op_type = detail::async_op<Handler, void(std::error_code, PostResult)>;
    // The handler may be move-only (use_awaitable): it lives in the operation,
    // shared by the copyable std::function handed to post_.
    auto op = std::make_shared<op_type>(std::move(handler), get_executor());
    auto link = std::make_shared<detail::sender_cancel_link>();
    // The slot holds the link, not the operation: a cancellation stops the
    // retries (the trigger), and post_'s `done` then completes the handler.
    op->on_cancel(link, [](std::shared_ptr<detail::sender_cancel_link> l) { l->request(); });
    auto trigger = post_(
        std::move(req), not_after, [link] { return link->requested(); },
        [op](std::error_code ec, PostResult result) { op_type::complete(op, ec, std::move(result)); });
    link->arm(std::move(trigger));
}

} // namespace capi
