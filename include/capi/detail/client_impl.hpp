// Template bodies of capi::Client: adapting completion handlers (any Asio token)
// to the type-erased pipeline in lib/client/client.cpp.
#pragma once

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/execution/executor.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>

#include <atomic>
#include <cstddef>
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

/// async_send's operation for one event: the user's handler (possibly
/// move-only, e.g. use_awaitable's) and the room for its completion's
/// arguments, so the call posted to the handler's executor holds only the
/// operation (nothing big is moved through it; on an io_context the post
/// allocates nothing, see room_allocator).
/// Thread safety: completions may race from any threads; the first one wins.
template <class Handler>
struct send_one_op final : send_op {
    using executor_type =
        boost::asio::associated_executor_t<Handler, boost::asio::any_io_executor>;
    using slot_type = boost::asio::associated_cancellation_slot_t<Handler>;

    send_one_op(Handler&& h, const boost::asio::any_io_executor& fallback)
        : ex(boost::asio::get_associated_executor(h, fallback)),
          work(ex),
          slot(boost::asio::get_associated_cancellation_slot(h)),
          handler(std::move(h)) {}

    // Where the handler runs: posted to untracked (a tracked any_io_executor
    // counts work again on every copy post makes); `work` does the tracking.
    executor_type ex;
    // Keeps the completion executor's io_context running until the handler ran.
    tracked_work<executor_type> work;
    slot_type slot;
    Handler handler;
    SendResult result;  // written by the winning completion before its post

private:
    /// Posts the handler (never runs it inline); later calls do nothing.
    void complete_(std::shared_ptr<send_op>&& self, SendResult&& r) override {
        if (done_.exchange(true, std::memory_order_acq_rel)) return;
        result = std::move(r);
        std::shared_ptr<send_one_op> op(std::move(self), this);
        // Each post below counts as work on the handler's executor until it
        // returned here, not only until the handler ran: the handler may run (and
        // its io_context be destroyed by its owner) while post() still signals
        // the wake-up.
        if constexpr (std::is_same_v<executor_type, boost::asio::any_io_executor>) {
            // The common case (use_awaitable, or the client's own executor) is an
            // io_context behind the polymorphic wrapper: posted to it directly,
            // the call needs no allocation (the wrapper would box it into an
            // executor_function, then the io_context allocate its operation) and
            // skips the wrapper's indirect require/prefer. Same context, same
            // semantics.
            if (const auto* io = ex.template target<boost::asio::io_context::executor_type>()) {
                const auto hold = boost::asio::prefer(*io, boost::asio::execution::outstanding_work.tracked);
                boost::asio::post(*io, room_call{std::move(op)});
                return;
            }
        }
        const tracked_work<executor_type> hold(ex);
        boost::asio::post(ex, [op = std::move(op)]() mutable { op->invoke(); });
    }

    /// Hands out post_room_ to the io_context's one operation for `call`: it
    /// moves the call (and so the reference keeping this op alive) out of that
    /// memory and frees it before running or destroying the call, so the room
    /// is never used after the op is gone. Anything else, or anything larger,
    /// goes to the heap.
    template <class T>
    struct room_allocator {
        using value_type = T;
        template <class U>
        struct rebind {
            using other = room_allocator<U>;
        };
        explicit room_allocator(send_one_op* o) noexcept : op(o) {}
        template <class U>
        room_allocator(const room_allocator<U>& other) noexcept : op(other.op) {}
        T* allocate(std::size_t n) {
            if (sizeof(T) * n <= sizeof(op->post_room_) && alignof(T) <= alignof(std::max_align_t) &&
                !op->post_room_used_) {
                op->post_room_used_ = true;
                return reinterpret_cast<T*>(op->post_room_);
            }
            return std::allocator<T>().allocate(n);
        }
        void deallocate(T* p, std::size_t n) noexcept {
            if (reinterpret_cast<unsigned char*>(p) == op->post_room_) return;  // the op frees it
            std::allocator<T>().deallocate(p, n);
        }
        template <class U>
        bool operator==(const room_allocator<U>& other) const noexcept { return op == other.op; }
        template <class U>
        bool operator!=(const room_allocator<U>& other) const noexcept { return op != other.op; }
        send_one_op* op;
    };

    /// The call posted to an io_context, its operation allocated in post_room_.
    /// (Its own associated allocator, not bind_allocator: a binder would make
    /// post wrap it in a work_dispatcher, a second dispatch.)
    struct room_call {
        std::shared_ptr<send_one_op> op;
        using allocator_type = room_allocator<void>;
        allocator_type get_allocator() const noexcept { return allocator_type(op.get()); }
        void operator()() { op->invoke(); }
    };

    alignas(std::max_align_t) unsigned char post_room_[64];
    bool post_room_used_ = false;

    /// @locality the handler's executor.
    void invoke() {
        // Detach from the slot before the handler runs: it may reuse the slot
        // (a coroutine's next co_await).
        if (slot.is_connected()) slot.clear();
        auto w = std::move(work);
        const auto ec = result.error;
        std::move(handler)(ec, std::move(result));
    }
};

/// send_one_op for `handler`; a terminal or partial cancellation through its
/// slot completes it at once with errc::cancelled.
template <class Handler>
std::shared_ptr<send_op> make_send_op(Handler handler, const boost::asio::any_io_executor& fallback) {
    namespace asio = boost::asio;
    auto op = std::make_shared<send_one_op<Handler>>(std::move(handler), fallback);
    if (op->slot.is_connected()) {
        std::weak_ptr<send_op> weak = op;
        op->slot.assign([weak = std::move(weak)](asio::cancellation_type type) {
            if ((type & (asio::cancellation_type::terminal | asio::cancellation_type::partial)) ==
                asio::cancellation_type::none)
                return;
            if (auto o = weak.lock()) send_op::complete(std::move(o), cancelled_result());
        });
    }
    return op;
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
