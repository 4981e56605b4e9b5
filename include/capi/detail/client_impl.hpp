// Template bodies of capi::Client: adapting completion handlers (any Asio token)
// to the type-erased pipeline in lib/client/client.cpp.
#pragma once

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/execution/executor.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>

#include <atomic>
#include <functional>
#include <memory>
#include <type_traits>
#include <utility>

namespace capi::detail {

/// Keeps `Executor`'s execution context running until reset, for both executor
/// models: a standard executor is made to track outstanding work (prefer), a
/// Networking TS one gets an executor_work_guard. Asio's executor_work_guard alone
/// does not do for strand<any_io_executor>: it counts as a TS executor but its
/// inner executor has no on_work_started (a bound strand failed to compile).
template <class Executor, class = void>
struct tracked_work {
    explicit tracked_work(const Executor& ex) : guard(ex) {}
    Executor get_executor() const noexcept { return guard.get_executor(); }
    boost::asio::executor_work_guard<Executor> guard;
};

template <class Executor>
struct tracked_work<Executor, std::enable_if_t<boost::asio::execution::is_executor<Executor>::value>> {
    explicit tracked_work(const Executor& e)
        : ex(boost::asio::prefer(e, boost::asio::execution::outstanding_work.tracked)) {}
    auto get_executor() const noexcept { return ex; }
    std::decay_t<decltype(boost::asio::prefer(std::declval<const Executor&>(),
                                              boost::asio::execution::outstanding_work.tracked))> ex;
};

/// One pending client operation: the user's handler (possibly move-only, e.g.
/// use_awaitable's) behind a shared_ptr so the pipeline can hold it in a
/// std::function, completed exactly once, either by the pipeline or by a
/// cancellation through the handler's slot, whichever comes first.
/// Thread safety: complete() may race from any threads; the first call wins.
template <class Handler>
struct client_op {
    using executor_type =
        boost::asio::associated_executor_t<Handler, boost::asio::any_io_executor>;
    using slot_type = boost::asio::associated_cancellation_slot_t<Handler>;

    client_op(Handler&& h, const boost::asio::any_io_executor& fallback)
        : work(boost::asio::get_associated_executor(h, fallback)),
          slot(boost::asio::get_associated_cancellation_slot(h)),
          handler(std::move(h)) {}

    // Keeps the completion executor's io_context running until the handler ran.
    tracked_work<executor_type> work;
    slot_type slot;
    Handler handler;
    std::atomic<bool> done{false};

    /// Posts the handler with `args` to its associated executor (never runs it
    /// inline); later calls do nothing.
    template <class... Args>
    static void complete(const std::shared_ptr<client_op>& op, Args... args) {
        if (op->done.exchange(true, std::memory_order_acq_rel)) return;
        auto ex = op->work.get_executor();
        boost::asio::post(ex, [op, ... args = std::move(args)]() mutable {
            // Detach from the slot before the handler runs: it may reuse the slot
            // (a coroutine's next co_await).
            if (op->slot.is_connected()) op->slot.clear();
            auto work = std::move(op->work);
            std::move(op->handler)(std::move(args)...);
        });
    }
};

/// True once `op` completed (or is gone): for an event not yet queued, that
/// means it was cancelled.
template <class Op>
std::function<bool()> withdrawn_probe(const std::shared_ptr<Op>& op) {
    return [weak = std::weak_ptr<Op>(op)] {
        auto o = weak.lock();
        return !o || o->done.load(std::memory_order_acquire);
    };
}

/// Wraps `handler`; a terminal or partial cancellation through its slot calls
/// `on_cancel(op)` (which completes the operation with errc::cancelled).
template <class Handler, class OnCancel>
std::shared_ptr<client_op<Handler>> make_client_op(Handler handler,
                                                   const boost::asio::any_io_executor& fallback,
                                                   OnCancel on_cancel) {
    namespace asio = boost::asio;
    auto op = std::make_shared<client_op<Handler>>(std::move(handler), fallback);
    if (op->slot.is_connected()) {
        std::weak_ptr<client_op<Handler>> weak = op;
        op->slot.assign([weak, on_cancel](asio::cancellation_type type) {
            if ((type & (asio::cancellation_type::terminal | asio::cancellation_type::partial)) ==
                asio::cancellation_type::none)
                return;
            if (auto o = weak.lock()) on_cancel(o);
        });
    }
    return op;
}

inline SendResult cancelled_result() {
    SendResult r;
    r.outcome = Outcome::failed;
    r.error = make_error_code(errc::cancelled);
    return r;
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
            using op_type = detail::client_op<decltype(handler)>;
            auto op = detail::make_client_op(std::move(handler), get_executor(),
                                             [](const std::shared_ptr<op_type>& o) {
                                                 auto r = detail::cancelled_result();
                                                 auto ec = r.error;
                                                 op_type::complete(o, ec, std::move(r));
                                             });
            auto withdrawn = detail::withdrawn_probe(op);
            send_(std::move(ready), [op](SendResult r) {
                auto ec = r.error;
                op_type::complete(op, ec, std::move(r));
            }, std::move(withdrawn));
        },
        token, std::move(p));
}

template <class CompletionToken>
auto Client::async_send(std::vector<Event> events, CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken,
                                       void(std::error_code, std::vector<SendResult>)>(
        [this](auto handler, std::vector<Event> evs) {
            using op_type = detail::client_op<decltype(handler)>;
            auto op = detail::make_client_op(std::move(handler), get_executor(),
                                             [](const std::shared_ptr<op_type>& o) {
                                                 op_type::complete(o, make_error_code(errc::cancelled),
                                                                   std::vector<SendResult>{});
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
    return boost::asio::async_initiate<CompletionToken, void(std::error_code)>(
        [this](auto handler) {
            using op_type = detail::client_op<decltype(handler)>;
            auto op = detail::make_client_op(std::move(handler), get_executor(),
                                             [](const std::shared_ptr<op_type>& o) {
                                                 op_type::complete(o, make_error_code(errc::cancelled));
                                             });
            flush_([op] { op_type::complete(op, std::error_code{}); });
        },
        token);
}

} // namespace capi
