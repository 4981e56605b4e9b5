// Batchers: N threads, each bulk-popping envelopes from the intake queue into
// its own partial batches (one per destination) and sealing them (size, bytes,
// linger, a flush's seal request) for the dispatcher; the encoder pool the
// batches' buffers come from; the batchers' sleep and wake-up (wake_mu_).
#pragma once

#include "client/pipeline.hpp"

#include <condition_variable>

namespace capi::pipeline {

/// Batch encoders, reused: each keeps a body's worth of buffer between batches.
/// Shared with the batches, which return their encoder when the last holder of
/// the batch lets go (the transport may still hold the body it is writing).
/// Its own lock (mu), a leaf: nothing is locked while it is held.
class EncoderPool {
public:
    EncoderPool(EncodeOptions o, std::size_t max_body) : options(std::move(o)), max_batch_bytes(max_body) {}

    BatchEncoder get();
    void put(BatchEncoder&& e) noexcept;

    const EncodeOptions options;
    const std::size_t max_batch_bytes;
    std::atomic<std::size_t> typical_body{0};  // the last sealed body's size

private:
    std::mutex mu;
    std::vector<BatchEncoder> spare;  // guarded by mu
};

struct Partial {
    std::shared_ptr<const DestState> dest;
    bool is_default = false;
    BatchPtr batch;  // null until the first event after a seal
    steady::time_point first;
};

/// One batcher's own state: only its thread touches it (and shutdown, after
/// joining the thread).
struct Batcher {
    std::thread thread;
    std::vector<Partial> partials;
    std::size_t idx = 0;  // its place among the batchers (Flush::acked)
    std::vector<std::uint64_t> id_table;  // count_duplicates' set, kept between batches
    std::size_t typical_events = 0;       // events of the last batch it sealed
};

class Batchers {
public:
    Batchers(Pipeline& c, const Options& o)
        : c_(c), opts_(o), encoders_(std::make_shared<EncoderPool>(o.encode, o.max_batch_bytes)) {}

    /// Starts `n` batcher threads.
    void start(unsigned n);
    /// Stops and joins the threads (shutdown).
    void stop_and_join();
    bool stopping() const noexcept { return stop_.load(std::memory_order_acquire); }
    /// Settles what the stopped batchers still hold as `r`; false when they held
    /// any event. Shutdown, after stop_and_join().
    bool settle_held(const SendResult& r);

    /// After an event went in (intake's hot path; defined in impl.hpp).
    inline void maybe_wake();
    /// After the queue got a marker, or the dispatcher's back pressure eased.
    void wake_one() {
        std::atomic_thread_fence(std::memory_order_seq_cst);
        if (sleepers_.load(std::memory_order_relaxed) > 0) {
            std::lock_guard lock(wake_mu_);
            wake_cv_.notify_one();
        }
    }
    void wake_all() {
        std::lock_guard lock(wake_mu_);
        wake_cv_.notify_all();
    }
    bool any_asleep() const noexcept { return sleepers_.load(std::memory_order_relaxed) > 0; }

    const std::shared_ptr<EncoderPool>& encoders() const noexcept { return encoders_; }

private:
    void batcher_main(std::size_t idx);
    // Defined inline in batcher.cpp, their only caller: the batcher's loop
    // compiles as one function.
    void add_event(Batcher& me, Envelope& env, sys_time sys_now, steady::time_point now);
    void seal(Batcher& me, Partial& part);
    void count_duplicates(Batcher& me, Batch& b);
    void seal_lingering(Batcher& me, steady::time_point now);
    void ack_seal_request(std::size_t idx);
    void idle_wait(Batcher& me, steady::time_point now);

    Pipeline& c_;
    const Options& opts_;
    std::shared_ptr<EncoderPool> encoders_;
    std::vector<std::unique_ptr<Batcher>> batchers_;  // sized at start
    std::atomic<bool> stop_{false};
    alignas(64) std::atomic<int> sleepers_{0};
    std::atomic<bool> wake_on_next_{false};  // a batcher holding nothing sleeps
    std::mutex wake_mu_;
    std::condition_variable wake_cv_;
};

} // namespace capi::pipeline
