// Template bodies of capi::Client: adapting completion handlers (any Asio token)
// to the type-erased pipeline in lib/client/client.cpp.
#pragma once

#include <capi/detail/async_op.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>

#include <atomic>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

namespace capi::detail {

inline SendResult cancelled_result() {
    SendResult r;
    r.outcome = Outcome::failed;
    r.error = make_error_code(errc::cancelled);
    return r;
}

/// One event's operation as the pipeline holds it (lib/client/client.cpp):
/// what async_send's handler becomes, or a part of a many-event send. The
/// pipeline moves its shared_ptr along (no reference count traffic) and hands
/// it back with the outcome.
struct send_op {
    /// Gives `op` its outcome, unless it completed already (cancelled): the
    /// first completion wins. Any thread. `op` must not be null.
    static void complete(std::shared_ptr<send_op> op, SendResult&& r) {
        send_op* const p = op.get();
        p->complete_(std::move(op), std::move(r));
    }
    /// True once the operation completed (cancelled before its event was queued).
    bool withdrawn() const noexcept { return done_.load(std::memory_order_acquire); }

protected:
    send_op() = default;
    ~send_op() = default;
    send_op(const send_op&) = delete;
    send_op& operator=(const send_op&) = delete;
    /// `self` is this operation's own owner, moved in (to keep it alive across a post).
    virtual void complete_(std::shared_ptr<send_op>&& self, SendResult&& r) = 0;

    std::atomic<bool> done_{false};
};

/// async_send's operation for one event: a send_op (the pipeline's view) around
/// the one async adapter (async_op), whose reserved room keeps the completion's
/// post free of allocation on an io_context.
/// Thread safety: completions may race from any threads; the first one wins
/// (send_op's flag, so withdrawn() sees it).
template <class Handler>
struct send_one_op final : send_op {
    using op_type = async_op<Handler, void(std::error_code, SendResult)>;

    send_one_op(Handler&& h, const boost::asio::any_io_executor& fallback) : op(std::move(h), fallback) {}

    op_type op;

private:
    /// Posts the handler (never runs it inline); later calls do nothing.
    void complete_(std::shared_ptr<send_op>&& self, SendResult&& r) override {
        if (done_.exchange(true, std::memory_order_acq_rel)) return;
        // Aliases `self`: the posted call keeps this whole object alive.
        std::shared_ptr<op_type> o(std::move(self), &op);
        const std::error_code ec = r.error;
        op_type::deliver(std::move(o), ec, std::move(r));
    }
};

/// send_one_op for `handler`; a terminal or partial cancellation through its
/// slot completes it at once with errc::cancelled.
template <class Handler>
std::shared_ptr<send_op> make_send_op(Handler handler, const boost::asio::any_io_executor& fallback) {
    auto op = std::make_shared<send_one_op<Handler>>(std::move(handler), fallback);
    auto& adapter = op->op;
    std::shared_ptr<send_op> base(std::move(op));  // moved, not copied: no count traffic
    adapter.on_cancel(base, [](std::shared_ptr<send_op> o) { send_op::complete(std::move(o), cancelled_result()); });
    return base;
}

} // namespace capi::detail

namespace capi {

template <class CompletionToken>
auto Client::async_send(const Event& ev, CompletionToken&& token) {
    return async_send_prepared_(prepare_(ev, std::nullopt), std::forward<CompletionToken>(token));
}

template <class CompletionToken>
auto Client::async_send(const Event& ev, Destination destination, CompletionToken&& token) {
    return async_send_prepared_(prepare_(ev, std::optional<Destination>(std::move(destination))),
                                std::forward<CompletionToken>(token));
}

template <class CompletionToken>
auto Client::async_send_prepared_(prepared p, CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken, void(std::error_code, SendResult)>(
        [this](auto handler, prepared ready) {
            send_(std::move(ready), detail::make_send_op(std::move(handler), get_executor()));
        },
        token, std::move(p));
}

template <class CompletionToken>
auto Client::async_send(std::vector<Event> events, CompletionToken&& token) {
    using signature = void(std::error_code, std::vector<SendResult>);
    return boost::asio::async_initiate<CompletionToken, signature>(
        [this](auto handler, std::vector<Event> evs) {
            auto op = detail::make_async_op<signature>(std::move(handler), get_executor());
            using op_type = typename decltype(op)::element_type;
            op->on_cancel(op, [](std::shared_ptr<op_type> o) {
                op_type::complete(std::move(o), make_error_code(errc::cancelled), std::vector<SendResult>{});
            });
            send_many_(std::move(evs), [op](std::vector<SendResult> results) {
                std::error_code ec;
                for (const auto& r : results) {
                    if (r.error) {
                        ec = r.error;
                        break;
                    }
                }
                op_type::complete(op, ec, std::move(results));
            });
        },
        token, std::move(events));
}

template <class CompletionToken>
auto Client::async_flush(CompletionToken&& token) {
    using signature = void(std::error_code);
    return boost::asio::async_initiate<CompletionToken, signature>(
        [this](auto handler) {
            auto op = detail::make_async_op<signature>(std::move(handler), get_executor());
            using op_type = typename decltype(op)::element_type;
            op->on_cancel(op, [](std::shared_ptr<op_type> o) {
                op_type::complete(std::move(o), make_error_code(errc::cancelled));
            });
            flush_([op] { op_type::complete(op, std::error_code{}); });
        },
        token);
}

} // namespace capi
