// capi internals: the one adapter between a completion handler (any Asio token)
// and capi's type-erased operations, used by every initiating function
// (Client::async_send, Client::async_flush, Sender::async_post). Beast's
// async_base is the model: work tracking for any executor, the handler's
// cancellation slot, completion exactly once, never inline.
#pragma once

#include <boost/asio/any_io_executor.hpp>
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
#include <cstring>
#include <memory>
#include <tuple>
#include <type_traits>
#include <utility>

namespace capi::detail {

/// Keeps `Executor`'s execution context running until destroyed, for both
/// executor models: a standard executor is made to track outstanding work
/// (prefer), a Networking TS one gets an executor_work_guard. Asio's
/// executor_work_guard alone does not do for strand<any_io_executor>: it counts
/// as a TS executor but its inner executor has no on_work_started.
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

/// True for a cancellation type capi acts on: terminal or partial (a total
/// cancellation would need the operation undone, which a sent request cannot be).
inline bool cancels(boost::asio::cancellation_type type) noexcept {
    return (type & (boost::asio::cancellation_type::terminal | boost::asio::cancellation_type::partial)) !=
           boost::asio::cancellation_type::none;
}

template <class Handler, class Signature>
class async_op;

/// One pending operation of signature void(Args...): the user's handler (possibly
/// move-only, e.g. use_awaitable's), work on its associated executor, its
/// cancellation slot, and room for the completion's arguments, so that the call
/// posted to the handler's executor holds only a reference to the operation. On
/// an io_context (directly, or behind any_io_executor) that post allocates
/// nothing: its operation is built in room this object reserves.
///
/// Lifetime: held by a std::shared_ptr, possibly an aliasing one into a larger
/// object (Client's send_one_op), which the posted call keeps alive until the
/// handler ran.
/// Thread safety: claim() and complete() may race from any threads; the first
/// claim wins, later completions do nothing.
template <class Handler, class... Args>
class async_op<Handler, void(Args...)> {
public:
    using executor_type = boost::asio::associated_executor_t<Handler, boost::asio::any_io_executor>;
    using slot_type = boost::asio::associated_cancellation_slot_t<Handler>;

    /// `fallback`: the completion executor when the handler has none associated.
    async_op(Handler&& h, const boost::asio::any_io_executor& fallback)
        : ex_(boost::asio::get_associated_executor(h, fallback)),
          work_(ex_),
          slot_(boost::asio::get_associated_cancellation_slot(h)),
          handler_(std::move(h)) {}
    async_op(const async_op&) = delete;
    async_op& operator=(const async_op&) = delete;

    /// Makes this the completion that delivers; false when one already did. Any thread.
    bool claim() noexcept { return !done_.exchange(true, std::memory_order_acq_rel); }
    /// True once a completion claimed the operation.
    bool completed() const noexcept { return done_.load(std::memory_order_acquire); }

    /// Completes `self` with `args` unless it completed already. Any thread; the
    /// handler never runs inside this call.
    template <class... A>
    static void complete(std::shared_ptr<async_op> self, A&&... args) {
        if (!self->claim()) return;
        deliver(std::move(self), std::forward<A>(args)...);
    }

    /// Posts the handler with `args` to its executor. Only after claim() returned
    /// true, and once: for callers that claim through their own flag first.
    template <class... A>
    static void deliver(std::shared_ptr<async_op> self, A&&... args) {
        self->store(std::forward<A>(args)...);
        post_stored(std::move(self));
    }

    /// Stores the completion's arguments for a later post_stored() or
    /// run_stored(). Only after claim() returned true, and once.
    template <class... A>
    void store(A&&... args) {
        // One move-assignment per argument, no temporary tuple.
        args_ = std::forward_as_tuple(std::forward<A>(args)...);
    }

    /// The io_context the handler runs on when its executor is that context's
    /// own (directly or behind any_io_executor): such an operation may be run
    /// by run_stored() from any call already running on that context (one post
    /// for many operations, see client_impl.hpp's completion_chain). Else null.
    boost::asio::io_context* own_context() const noexcept {
        if constexpr (std::is_same_v<executor_type, boost::asio::any_io_executor>) {
            if (const auto* io = ex_.template target<boost::asio::io_context::executor_type>()) return &io->context();
        } else if constexpr (std::is_same_v<executor_type, boost::asio::io_context::executor_type>) {
            return &ex_.context();
        }
        return nullptr;
    }

    /// Runs the handler with the stored arguments, here. Only on own_context(),
    /// from a call posted there, after store().
    void run_stored() { invoke(); }

    /// A hint for a caller about to run_stored() this operation after others:
    /// asks for the first two lines of the memory the handler's first member
    /// points to when it is a pointer, as it is for the handlers that resume a
    /// coroutine (use_awaitable's frame, read at its first and second lines).
    /// Reads only this object's bytes; a prefetch never faults.
    void prefetch_handler() const noexcept {
        if constexpr (sizeof(Handler) >= sizeof(void*)) {
            const char* p = nullptr;
            std::memcpy(&p, static_cast<const void*>(std::addressof(handler_)), sizeof p);
            __builtin_prefetch(p);
            __builtin_prefetch(p + 64);
        }
    }

    /// Posts `f` to `io` in this operation's reserved room (no allocation), in
    /// place of this operation's own post: `f` then runs this operation through
    /// run_stored(), and must keep it alive until its memory is no longer used
    /// (it is moved out of the room before it runs).
    template <class F>
    void post_in_room(boost::asio::io_context& io, F&& f) {
        const auto hold = boost::asio::prefer(io.get_executor(), boost::asio::execution::outstanding_work.tracked);
        boost::asio::post(io, room_bound<std::decay_t<F>>{std::forward<F>(f), this});
    }

    /// The post half of deliver(): after store().
    static void post_stored(std::shared_ptr<async_op> self) {
        async_op* const op = self.get();
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
            if (const auto* io = op->ex_.template target<boost::asio::io_context::executor_type>()) {
                const auto hold = boost::asio::prefer(*io, boost::asio::execution::outstanding_work.tracked);
                boost::asio::post(*io, room_call{std::move(self)});
                return;
            }
        } else if constexpr (std::is_same_v<executor_type, boost::asio::io_context::executor_type>) {
            const auto hold = boost::asio::prefer(op->ex_, boost::asio::execution::outstanding_work.tracked);
            boost::asio::post(op->ex_, room_call{std::move(self)});
            return;
        }
        // Any other executor (a strand, a thread pool, a user's): posted untracked,
        // since a tracked any_io_executor would count work again on every copy
        // post makes; `hold` and work_ do the tracking.
        const tracked_work<executor_type> hold(op->ex_);
        boost::asio::post(op->ex_, [self = std::move(self)]() mutable { self->invoke(); });
    }

    /// A terminal or partial cancellation through the handler's slot calls
    /// `on_cancel(owner)` while `owner` lives (it typically completes the
    /// operation with errc::cancelled). `owner` is what keeps this operation
    /// alive: the slot holds it weakly. No-op when the slot is not connected.
    template <class Owner, class OnCancel>
    void on_cancel(const std::shared_ptr<Owner>& owner, OnCancel f) {
        if (!slot_.is_connected()) return;
        slot_.assign([weak = std::weak_ptr<Owner>(owner), f = std::move(f)](boost::asio::cancellation_type type) {
            if (!cancels(type)) return;
            if (auto o = weak.lock()) f(std::move(o));
        });
    }

    /// Where the handler runs (its associated executor, else the fallback).
    const executor_type& get_executor() const noexcept { return ex_; }

private:
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
        explicit room_allocator(async_op* o) noexcept : op(o) {}
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
        async_op* op;
    };

    /// The call posted to an io_context, its operation allocated in post_room_.
    /// (Its own associated allocator, not bind_allocator: a binder would make
    /// post wrap it in a work_dispatcher, a second dispatch.)
    struct room_call {
        std::shared_ptr<async_op> op;
        using allocator_type = room_allocator<void>;
        allocator_type get_allocator() const noexcept { return allocator_type(op.get()); }
        void operator()() { op->invoke(); }
    };

    /// A call posted in the room of `op` (post_in_room).
    template <class F>
    struct room_bound {
        F f;
        async_op* op;
        using allocator_type = room_allocator<void>;
        allocator_type get_allocator() const noexcept { return allocator_type(op); }
        void operator()() { f(); }
    };

    /// @locality the handler's executor.
    void invoke() {
        // Detach from the slot before the handler runs: it may reuse the slot
        // (a coroutine's next co_await).
        if (slot_.is_connected()) slot_.clear();
        auto w = std::move(work_);
        std::apply([this](auto&... a) { std::move(handler_)(std::move(a)...); }, args_);
    }

    // Where the handler runs: posted to untracked; work_ does the tracking.
    executor_type ex_;
    // Keeps the completion executor's context running until the handler ran.
    tracked_work<executor_type> work_;
    slot_type slot_;
    Handler handler_;
    std::tuple<Args...> args_;  // written by the winning completion before its post
    std::atomic<bool> done_{false};
    bool post_room_used_ = false;
    alignas(std::max_align_t) unsigned char post_room_[64];
};

/// An async_op for `handler` in its own allocation.
template <class Signature, class Handler>
std::shared_ptr<async_op<Handler, Signature>> make_async_op(Handler handler,
                                                            const boost::asio::any_io_executor& fallback) {
    return std::make_shared<async_op<Handler, Signature>>(std::move(handler), fallback);
}

} // namespace capi::detail
