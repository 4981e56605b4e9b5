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
    /// A batch's lists, its events and its callers' event_id hashes, with the
    /// capacity spare ones kept: fresh ones are 1000 events' worth of memory the
    /// allocator hands out anew (the hashes by doubling, each step of 1 KB or
    /// more making glibc consolidate the thread's freed small blocks), and their
    /// first writes fault pages in. Leaves both empty when no spare is left.
    void get_lists(std::vector<Pending>& events, std::vector<std::uint64_t>& id_hashes);
    /// Empties both (the events are settled) and keeps their capacity.
    void put_lists(std::vector<Pending>&& events, std::vector<std::uint64_t>&& id_hashes) noexcept;

    /// Lets go of the spares no batch took since the last trim(): as many as the
    /// fewest the pool held at any moment since then (its low-water mark), so a
    /// steady load keeps what it cycles and a burst's spares (a body of about
    /// 1.4 MB at 1000 events, held in one 2 MB huge page: json/buffer.hpp) go
    /// back to the allocator within two calls of its end.
    /// The encoders are destroyed outside the lock. Returns how many encoders
    /// it let go. Any thread; a batcher calls it every `spare_trim_interval`.
    std::size_t trim() noexcept;
    /// Spare encoders held now (for tests).
    std::size_t spares() const {
        std::lock_guard lock(mu);
        return spare.size();
    }

    const EncodeOptions options;
    const std::size_t max_batch_bytes;
    std::atomic<std::size_t> typical_body{0};  // the last sealed body's size

private:
    mutable std::mutex mu;
    std::vector<BatchEncoder> spare;  // guarded by mu
    struct Lists {
        std::vector<Pending> events;
        std::vector<std::uint64_t> id_hashes;
    };
    std::vector<Lists> spare_lists;  // guarded by mu
    // The fewest spares held since the last trim() (guarded by mu).
    std::size_t spare_low = 0, lists_low = 0;
};

/// How often a batcher trims the encoder pool (EncoderPool::trim).
constexpr auto spare_trim_interval = std::chrono::seconds(10);

struct Partial {
    std::shared_ptr<const DestState> dest;
    bool is_default = false;
    BatchPtr batch;  // null until the first event after a seal
    steady::time_point first;
    // A lane's batch: the seal request current at its first event (Flush: every
    // event in it was accepted at or after that request was issued).
    std::uint64_t epoch = 0;
};

/// One batcher's own state: only its thread touches it (and shutdown, after
/// joining the thread).
struct Batcher {
    std::thread thread;
    std::vector<Partial> partials;
    std::size_t idx = 0;  // its place among the batchers (Flush::acked)
    std::vector<std::uint64_t> id_table;  // count_duplicates' set, kept between batches
    std::size_t typical_events = 0;       // events of the last batch it sealed
    bool lane = false;                    // a Lane's: sealed with its partial's epoch, its events not in flight until sealed
};

/// A caller thread's own partial batches (Options::caller_batches): the thread
/// that prepared an event appends it here, hot in its cache, instead of handing
/// it to a batcher through the queue, and seals the batch it fills (hashing
/// included). A batcher seals what lingers, and everything at a flush's seal
/// request; shutdown settles what is left. Claimed by one thread at a time
/// (`claimed`), released when that thread ends; its events stay until sealed.
struct Lane {
    std::mutex mu;  // a leaf but for the stages seal() calls (Dispatcher, Flush, EncoderPool, Destinations)
    Batcher b;      // guarded by mu
    std::atomic<bool> claimed{false};
    // Shared by the client's lanes: how many times one was let go (its thread
    // ended, or moved it to a fifth client). A thread that found none free
    // looks again once this moved.
    std::shared_ptr<std::atomic<std::uint64_t>> releases;
    // The steady time of its oldest held event, `empty` when it holds none:
    // written under mu, read without it (the batchers' linger checks and sleep).
    alignas(64) std::atomic<steady::rep> first{empty};
    static constexpr steady::rep empty = std::numeric_limits<steady::rep>::max();
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

    /// Appends the prepared `env` to the calling thread's lane (Options::caller_batches);
    /// false when it must take the queue: no lane for this thread, the dispatcher
    /// backed up, or an allocation failed before the event was taken. Inside the
    /// intake gate, after the event was counted accepted.
    bool add_to_lane(Envelope& env);
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
    void seal(Batcher& me, Partial& part) noexcept;
    void count_duplicates(Batcher& me, Batch& b);
    void seal_lingering(Batcher& me, steady::time_point now);
    void seal_all(Batcher& me);
    /// Settles what `me`'s partial batches hold as `r`; false when they held any event.
    bool settle_partials(Batcher& me, const SendResult& r);
    /// A batcher asleep holding nothing asked for the next event (wake_on_next_):
    /// true once, for the one caller that takes the request.
    bool take_wake_request() noexcept {
        return wake_on_next_.load(std::memory_order_relaxed) &&
               wake_on_next_.exchange(false, std::memory_order_acq_rel);
    }
    void ack_seal_request(std::size_t idx);
    void idle_wait(Batcher& me, steady::time_point now);
    /// Seals the lanes' batches older than linger, or all of them (`all`: a seal request).
    void sweep_lanes(steady::time_point now, bool all);
    /// Lane::first after its partials changed. Caller holds the lane's mu.
    static void update_first(Lane& lane) noexcept;
    /// The calling thread's lane of this client, claimed on first use; null past the last one.
    Lane* my_lane();
    /// A lane got its first event: wakes a batcher that sleeps holding nothing.
    void lane_started();

    Pipeline& c_;
    const Options& opts_;
    std::shared_ptr<EncoderPool> encoders_;
    steady::time_point next_trim_{};  // batcher 0's next EncoderPool::trim()
    std::vector<std::unique_ptr<Batcher>> batchers_;  // sized at start
    // Options::caller_batches: made at start, never resized (read without a lock).
    std::vector<std::shared_ptr<Lane>> lanes_;
    static constexpr std::size_t lane_count = 32;
    static inline std::atomic<std::uint64_t> serials_{0};
    // Keys this client's lanes in a thread's slots (an address a later client may reuse).
    const std::uint64_t serial_ = serials_.fetch_add(1, std::memory_order_relaxed) + 1;
    std::atomic<bool> stop_{false};
    alignas(64) std::atomic<int> sleepers_{0};
    std::atomic<bool> wake_on_next_{false};  // a batcher holding nothing sleeps
    std::mutex wake_mu_;
    std::condition_variable wake_cv_;
};

} // namespace capi::pipeline
