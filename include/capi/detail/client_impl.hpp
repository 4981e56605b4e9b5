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
    friend class completion_chain;
    send_op() = default;
    ~send_op() = default;
    send_op(const send_op&) = delete;
    send_op& operator=(const send_op&) = delete;
    /// `self` is this operation's own owner, moved in (to keep it alive across a post).
    virtual void complete_(std::shared_ptr<send_op>&& self, SendResult&& r) = 0;
    /// complete_(), except that an operation whose handler runs on an io_context
    /// (async_op::own_context) only claims and stores its outcome and returns
    /// that context: the caller then owns running it (run_stored_). Returns null
    /// when it completed otherwise (or already had).
    virtual boost::asio::io_context* defer_(std::shared_ptr<send_op>& self, SendResult&& r) {
        complete_(std::move(self), std::move(r));
        return nullptr;
    }
    /// After defer_() returned a context, on that context: runs the handler.
    virtual void run_stored_() {}
    /// After defer_() returned a context, from any thread: posts the handler on
    /// its own, as complete_() would have (allocation free). `self` is this.
    virtual void post_stored_(std::shared_ptr<send_op>&& self) noexcept { (void)self; }
    /// Posts `head`'s chain to `io` in the room `head` reserved for its own post.
    virtual void post_chain_(boost::asio::io_context& io, std::shared_ptr<send_op>&& head) noexcept { (void)io, (void)head; }
    /// A hint, before run_stored_(): asks for the memory its handler reads first.
    virtual void prefetch_() const noexcept {}

    std::atomic<bool> done_{false};
    std::shared_ptr<send_op> next_;  ///< the link in a completion_chain
};

/// The completions of many operations (a batch's events), delivered with one
/// post per io_context instead of one post each: the operations whose handlers
/// run on the same io_context (async_send with use_awaitable, use_future on the
/// client's own context, ...) are linked here as they are completed and, once
/// post() runs, their handlers run one after another, in completion order,
/// from a single call on that context (each still runs on its own executor,
/// never inside the completing call). Any other operation is posted at once,
/// as send_op::complete() does. Allocates nothing: the chain is posted in the
/// room its first operation reserved for its own post.
/// Not thread safe; post() (or the destructor) must run before the operations
/// could be expected to complete.
class completion_chain {
public:
    completion_chain() = default;
    completion_chain(const completion_chain&) = delete;
    completion_chain& operator=(const completion_chain&) = delete;
    ~completion_chain() { post(); }

    /// send_op::complete(), deferred to post() where the operation allows it.
    void complete(std::shared_ptr<send_op> op, SendResult&& r) {
        send_op* const p = op.get();
        boost::asio::io_context* const io = p->defer_(op, std::move(r));
        if (!io) return;
        if (io != io_) {
            if (io_) {
                // Another context: this chain goes now, a new one starts (the
                // common case is one context for all).
                post();
            }
            io_ = io;
        }
        if (tail_) {
            tail_->next_ = std::move(op);
        } else {
            head_ = std::move(op);
        }
        tail_ = p;
    }

    /// Posts what was linked. noexcept: the post needs no allocation.
    void post() noexcept {
        if (!head_) return;
        send_op* const first = head_.get();
        first->post_chain_(*io_, std::move(head_));
        io_ = nullptr;
        tail_ = nullptr;
    }

    /// What the posted call runs: each operation's handler in turn, releasing
    /// each operation once its handler returned. A handler that throws leaves
    /// the call (as from io_context::run) after the operations behind it were
    /// posted on their own, so none is lost.
    struct runner {
        std::shared_ptr<send_op> head;
        runner(std::shared_ptr<send_op>&& h) noexcept : head(std::move(h)) {}
        runner(runner&&) noexcept = default;
        runner& operator=(runner&&) = delete;
        ~runner() { unlink(head); }
        void operator()() {
            // The operations, and what their handlers resume (a coroutine's
            // frame), were last touched before the batch's request went out:
            // each is asked for one handler ahead, the operation after it two
            // ahead, so their cache misses overlap the handler running now.
            if (head) head->prefetch_();
            while (head) {
                std::shared_ptr<send_op> cur = std::move(head);
                head = std::move(cur->next_);
                if (head) {
                    if (const send_op* after = head->next_.get()) prefetch_lines(after);
                    head->prefetch_();
                }
                try {
                    cur->run_stored_();
                } catch (...) {
                    while (head) {
                        std::shared_ptr<send_op> rest = std::move(head);
                        head = std::move(rest->next_);
                        send_op* const r = rest.get();
                        r->post_stored_(std::move(rest));
                    }
                    throw;
                }
            }
        }
        /// The first lines of an operation: its links, flag and handler.
        static void prefetch_lines(const send_op* op) noexcept {
            const auto* p = reinterpret_cast<const char*>(op);
            __builtin_prefetch(p);
            __builtin_prefetch(p + 64);
            __builtin_prefetch(p + 128);
            __builtin_prefetch(p + 192);
        }
        /// Destroys a chain link by link, not recursively (a chain that never
        /// ran: its context was destroyed first).
        static void unlink(std::shared_ptr<send_op>& h) noexcept {
            while (h) {
                std::shared_ptr<send_op> next = std::move(h->next_);
                h = std::move(next);
            }
        }
    };

private:
    boost::asio::io_context* io_ = nullptr;
    std::shared_ptr<send_op> head_;
    send_op* tail_ = nullptr;
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
    boost::asio::io_context* defer_(std::shared_ptr<send_op>& self, SendResult&& r) override {
        boost::asio::io_context* const io = op.own_context();
        if (!io) {
            complete_(std::move(self), std::move(r));
            return nullptr;
        }
        if (done_.exchange(true, std::memory_order_acq_rel)) return nullptr;
        const std::error_code ec = r.error;
        op.store(ec, std::move(r));
        return io;
    }
    void run_stored_() override { op.run_stored(); }
    void prefetch_() const noexcept override { op.prefetch_handler(); }
    void post_stored_(std::shared_ptr<send_op>&& self) noexcept override {
        op_type::post_stored(std::shared_ptr<op_type>(std::move(self), &op));
    }
    void post_chain_(boost::asio::io_context& io, std::shared_ptr<send_op>&& head) noexcept override {
        op.post_in_room(io, completion_chain::runner(std::move(head)));
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
