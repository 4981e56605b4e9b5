// Template bodies of capi::Sender: adapting a completion handler to the
// type-erased operation in lib/transport/sender.cpp.
#pragma once

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>

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
    namespace asio = boost::asio;
    using slot_type = asio::associated_cancellation_slot_t<Handler>;
    auto completion_executor = asio::get_associated_executor(handler, get_executor());
    using work_type = asio::executor_work_guard<decltype(completion_executor)>;

    // The handler may be move-only (use_awaitable): it lives here, shared by the
    // copyable std::function handed to post_. The work guard keeps the handler's
    // executor running until the completion has been delivered.
    struct state {
        state(Handler&& h, work_type&& w, slot_type s)
            : handler(std::move(h)), work(std::move(w)), slot(std::move(s)) {}
        Handler handler;
        work_type work;
        slot_type slot;
    };
    auto slot = asio::get_associated_cancellation_slot(handler);
    auto st = std::make_shared<state>(std::move(handler), asio::make_work_guard(completion_executor), slot);

    auto link = std::make_shared<detail::sender_cancel_link>();
    if (slot.is_connected()) {
        slot.assign([link](asio::cancellation_type type) {
            if ((type & (asio::cancellation_type::terminal | asio::cancellation_type::partial)) !=
                asio::cancellation_type::none) {
                link->request();
            }
        });
    }

    auto trigger = post_(
        std::move(req), not_after, [link] { return link->requested(); },
        [st](std::error_code ec, PostResult result) {
            auto ex = st->work.get_executor();
            asio::post(ex, [st, ec, result = std::move(result)]() mutable {
                // Detach from the slot before the handler runs: it may reuse the
                // slot (a coroutine's next co_await).
                if (st->slot.is_connected()) st->slot.clear();
                auto work = std::move(st->work);
                std::move(st->handler)(ec, std::move(result));
            });
        });
    link->arm(std::move(trigger));
}

} // namespace capi
