// Dispatcher: sealed batches go through the Sender (and its transport), at most
// a bound of them at once, the rest waiting; the Sender's replies are turned
// into outcomes, splits and resends. Its lock (mu_) guards the waiting and live
// batches and the flows' limits; the refused tokens have their own (RefusedTokens).
//
// Flows: with adaptive concurrency (Options::Concurrency) each destination is a
// flow with its own Limiter (limiter.hpp) and its own FIFO of waiting batches;
// a slot that frees goes to the next flow, round robin, that is under its limit,
// so a destination at its limit never holds back another's batches. The bound
// (max_batches_in_flight or its default) caps all flows together. The limiters
// learn from every attempt: the transport is wrapped (observe()) so that a
// throttled attempt the Sender retries cuts the limit when its answer arrives,
// not minutes later when the batch completes, and so that the round trip of an
// attempt is measured apart from retry backoff. Adaptive off: one flow for all
// destinations with the fixed bound, the FIFO of before, the transport unwrapped.
#pragma once

#include "client/limiter.hpp"
#include "client/pipeline.hpp"

#include <deque>
#include <unordered_map>

namespace capi::pipeline {

/// What the dispatcher does with a batch the Sender completed.
enum class batch_action {
    settle,              // every event gets the attempt's outcome (delivered, failed, expired)
    split,               // Meta refused one event of several (code 100): halves, resent
    refuse_destination,  // Meta refused the token (code 190): this batch and later ones fail auth_error
    resend_unexpired,    // the deadline passed: the expired events fail, the others go again
};

/// The decision on a completed batch of `batch_events` events, from the
/// Sender's verdict through capi::decide (retry.hpp), the one policy that reads
/// Graph codes, plus the client's own resend of unexpired events.
batch_action batch_decision(std::error_code ec, const PostResult& res, std::size_t batch_events);

/// The access tokens Meta refused (code 190): a batch for a refused token fails
/// at once with auth_error, no request (no retry storm). Its own lock (mu_), a
/// leaf, taken only once some token was refused.
class RefusedTokens {
public:
    /// The refusal for `token`, or null. Allocates nothing.
    std::shared_ptr<const GraphError> find(const std::string& token) {
        if (!any_.load(std::memory_order_acquire)) return nullptr;
        std::lock_guard lock(mu_);
        auto it = tokens_.find(token);
        if (it == tokens_.end()) return nullptr;
        return it->second;
    }
    void add(const std::string& token, std::shared_ptr<const GraphError> e) {
        {
            std::lock_guard lock(mu_);
            tokens_.emplace(token, std::move(e));
        }
        any_.store(true, std::memory_order_release);
    }

private:
    std::mutex mu_;
    std::unordered_map<std::string, std::shared_ptr<const GraphError>> tokens_;  // guarded by mu_
    std::atomic<bool> any_{false};  // keeps mu_ off the path until a refusal
};

class Dispatcher {
public:
    Dispatcher(Pipeline& c, const Options& o) : c_(c), opts_(o) {}

    /// Sets the in-flight bound and the back-pressure threshold for `batchers`
    /// batcher threads (at start, before any thread).
    void start(unsigned batchers);

    /// With adaptive concurrency, `t` wrapped so that every attempt's answer
    /// reaches the destination's limiter; `t` itself otherwise. At start, before
    /// the Sender is made on it.
    std::shared_ptr<Transport> observe(std::shared_ptr<Transport> t);

    /// The concurrency_* fields of Stats. Any thread.
    void fill_stats(Stats& s);

    /// Queues a sealed batch (its epoch already open). Any thread; `on_io`: the
    /// caller runs on the io executor. A batch it cannot take in (shut down, or
    /// out of memory) it settles failed itself; it throws only when even that
    /// could not finish (its flush bookkeeping out of memory).
    void submit(BatchPtr b, bool on_io);
    /// Settles every event of `b` alike, once. Any thread.
    void settle_batch(Batch& b, const SendResult& r, bool on_io);

    /// Refuses batches from now on and returns the ones waiting or in the
    /// Sender (shutdown settles them).
    std::vector<BatchPtr> close();

    /// Too many batches are live: the batchers stop popping (back pressure).
    /// The threshold follows the flows' limits: a cut limit does not let
    /// sealed batches pile up behind it.
    bool backed_up() const noexcept {
        return live_count_.load(std::memory_order_relaxed) >= backpressure_at_.load(std::memory_order_relaxed);
    }

    /// Whether a caller's lane may still seal batches (Options::caller_batches):
    /// past the back pressure it may, until the batches waiting beyond it hold
    /// about queue_capacity events (what the queue would hold instead); then
    /// its events take the queue and the overflow policy.
    bool lane_room() const noexcept {
        return live_count_.load(std::memory_order_relaxed) < backpressure_at_.load(std::memory_order_relaxed) + lane_extra_;
    }

    /// One attempt of the batch whose body `owner` holds, sent at `sent`, was
    /// answered (ec, r). Any thread (the transport's completion).
    void on_attempt(const void* owner, steady::time_point sent, std::error_code ec, const PostResult& r);

private:
    struct Flow {
        std::optional<Limiter> limiter;  // none with adaptive off: the fixed bound
        std::size_t fixed = 0;
        std::size_t inflight = 0;
        std::deque<BatchPtr> waiting;
        bool in_turn = false;  // listed in turns_
        bool blocked = false;  // a batch waited for this limit since the last healthy answer
        std::size_t cap() const noexcept { return limiter ? limiter->limit() : fixed; }
    };
    Flow& flow_of(const Batch& b);            // mu_ held
    Flow& flow_of_dest(const std::shared_ptr<const DestState>& d);  // mu_ held; made on first use
    std::vector<BatchPtr> take_startable();   // mu_ held
    void update_backpressure();               // mu_ held
    void launch(std::vector<BatchPtr> batches);

    void forget(Batch& b);
    void finish_slot(Batch& b);
    void start_batch(BatchPtr b);
    void on_result(BatchPtr b, std::error_code ec, PostResult res);
    bool resend_fresh(Batch& b);
    void split(Batch& b);

    Pipeline& c_;
    const Options& opts_;
    RefusedTokens refused_;
    std::size_t bound_ = 1;
    unsigned batchers_ = 1;
    bool adaptive_ = false;
    std::atomic<std::size_t> backpressure_at_{2};  // written under mu_
    std::mutex mu_;
    std::size_t inflight_ = 0;                    // guarded by mu_: all flows
    // Keyed by the destination's state (null: the one flow with adaptive off);
    // holds it, so the key outlives the flow.
    std::unordered_map<const DestState*, std::pair<std::shared_ptr<const DestState>, Flow>> flows_;  // guarded
    std::deque<Flow*> turns_;                     // guarded: flows with waiting batches, round robin
    const Flow* first_ = nullptr;                 // guarded: reported by stats without a default destination
    std::unordered_map<Batch*, BatchPtr> live_;   // guarded: waiting + in the Sender
    bool closing_ = false;                        // guarded
    const std::size_t lane_extra_ = opts_.queue_capacity / std::max<std::size_t>(1, opts_.encode.max_batch_events);
    std::atomic<std::size_t> live_count_{0};      // live_.size(), written under mu_
};

} // namespace capi::pipeline
