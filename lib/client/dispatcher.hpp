// Dispatcher: sealed batches go through the Sender (and its transport), at most
// a cap of them at once, the rest waiting in FIFO order; the Sender's replies
// are turned into outcomes, splits and resends. Its lock (mu_) guards the
// waiting and live batches; the refused tokens have their own (RefusedTokens).
#pragma once

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
    std::optional<GraphError> find(const std::string& token) {
        if (!any_.load(std::memory_order_acquire)) return std::nullopt;
        std::lock_guard lock(mu_);
        auto it = tokens_.find(token);
        if (it == tokens_.end()) return std::nullopt;
        return it->second;
    }
    void add(const std::string& token, const GraphError& e) {
        {
            std::lock_guard lock(mu_);
            tokens_.emplace(token, e);
        }
        any_.store(true, std::memory_order_release);
    }

private:
    std::mutex mu_;
    std::unordered_map<std::string, GraphError> tokens_;  // guarded by mu_
    std::atomic<bool> any_{false};  // keeps mu_ off the path until a refusal
};

class Dispatcher {
public:
    Dispatcher(Pipeline& c, const Options& o) : c_(c), opts_(o) {}

    /// Sets the in-flight cap and the back-pressure threshold for `batchers`
    /// batcher threads (at start, before any thread).
    void start(unsigned batchers);

    /// Queues a sealed batch (its epoch already open). Any thread; `on_io`: the
    /// caller runs on the io executor.
    void submit(BatchPtr b, bool on_io);
    /// Settles every event of `b` alike, once. Any thread.
    void settle_batch(Batch& b, const SendResult& r, bool on_io);

    /// Refuses batches from now on and returns the ones waiting or in the
    /// Sender (shutdown settles them).
    std::vector<BatchPtr> close();

    /// Too many batches are live: the batchers stop popping (back pressure).
    bool backed_up() const noexcept {
        return live_count_.load(std::memory_order_relaxed) >= backpressure_at_;
    }

private:
    void forget(Batch& b);
    void finish_slot(Batch& b);
    void start_batch(BatchPtr b);
    void on_result(BatchPtr b, std::error_code ec, PostResult res);
    bool resend_fresh(Batch& b);
    void split(Batch& b);

    Pipeline& c_;
    const Options& opts_;
    RefusedTokens refused_;
    std::size_t cap_ = 1;
    std::size_t backpressure_at_ = 2;
    std::mutex mu_;
    std::size_t inflight_ = 0;                    // guarded by mu_
    std::deque<BatchPtr> waiting_;                // guarded
    std::unordered_map<Batch*, BatchPtr> live_;   // guarded: waiting + in the Sender
    bool closing_ = false;                        // guarded
    std::atomic<std::size_t> live_count_{0};      // live_.size(), written under mu_
};

} // namespace capi::pipeline
