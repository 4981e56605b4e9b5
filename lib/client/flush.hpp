// Flush: flush and shutdown travel through the pipeline as markers (STYLE rule
// 4). The seal requests the batchers acknowledge, the per-epoch count of
// batches not settled yet, and the flushes waiting on both; one lock (mu_).
//
// async_flush registers generation g and pushes a marker envelope into the
// queue behind every event accepted before the call. Whoever pops the marker
// (a batcher, or a producer dropping the oldest envelope under drop_oldest)
// issues seal request r = ++seal_req_ and records "flush g waits for r". Every
// batcher checks seal_req_ between two bulk pops: when it is newer than the
// request it acknowledged, it seals all its partial batches and then records
// acked = r. A batch is tagged, when sealed, with its batcher's acked request
// (its epoch), so everything a batcher held when it acknowledged r has an
// epoch < r. Popping the marker means every position before it in the queue
// was claimed by some batcher, which will hold it (or has sealed it) by the
// time it acknowledges r. Flush g therefore completes when every batcher has
// acked >= r and no batch of epoch < r is outstanding (per-epoch counters;
// split halves inherit their parent's epoch). This holds under continuous
// load and with any number of batchers sharing the queue; later events only
// ever make a flush wait longer, never complete early.
#pragma once

#include "client/pipeline.hpp"

#include <map>

namespace capi::pipeline {

class Flush {
public:
    explicit Flush(Pipeline& c) : c_(c) {}

    /// Sizes the batchers' acknowledgements (at start, before any thread).
    void start(std::size_t batchers) { acked_.assign(batchers, 0); }

    /// Registers a flush and pushes its marker; `done` runs once everything
    /// accepted before the call has an outcome. Any thread.
    void flush(std::function<void()> done);
    /// Blocks until flushed or `deadline`; false on timeout.
    bool flush_until(steady::time_point deadline);

    /// A marker was popped (by a batcher, or by a producer dropping the
    /// oldest envelope): issues the next seal request. Any thread.
    void on_marker(std::uint64_t gen);

    /// The newest seal request; a batcher that has not acknowledged it seals
    /// all it holds, then ack()s.
    std::uint64_t seal_request() const noexcept { return seal_req_.load(std::memory_order_acquire); }
    /// The request batcher `idx` acknowledged last: the epoch of what it seals.
    /// @locality batcher thread `idx` (the only writer, so no lock to read).
    std::uint64_t acked(std::size_t idx) const noexcept { return acked_[idx]; }
    /// @locality batcher thread `idx`, after sealing everything it held.
    void ack(std::size_t idx, std::uint64_t req);

    /// `n` batches of `epoch` are outstanding (sealed, or split from one).
    void epoch_open(std::uint64_t epoch, std::size_t n);
    /// One batch of `epoch` is settled.
    void epoch_done(std::uint64_t epoch);

    /// Shutdown settled everything: completes every remaining flush, and the
    /// later ones at once.
    void batchers_gone();

private:
    struct FlushWait {
        std::uint64_t req = 0;  // 0: marker not popped yet
        std::function<void()> done;
    };

    void push_marker(EnvelopePtr env, std::chrono::microseconds delay);
    /// Collects the flushes that are complete. Caller holds mu_.
    void ready_flushes(std::vector<std::function<void()>>& out);

    Pipeline& c_;
    std::mutex mu_;
    std::atomic<std::uint64_t> seal_req_{0};          // written under mu_
    std::uint64_t next_gen_ = 0;                       // guarded by mu_
    std::map<std::uint64_t, FlushWait> flushes_;       // guarded by mu_
    std::map<std::uint64_t, std::size_t> outstanding_;  // epoch -> batches; guarded by mu_
    std::vector<std::uint64_t> acked_;                 // per batcher; written under mu_
    bool batchers_gone_ = false;                       // guarded by mu_
};

} // namespace capi::pipeline
