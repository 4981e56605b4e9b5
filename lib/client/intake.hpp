// Intake: the producers' side of the pipeline. Envelopes (recycled), prepare
// on the producer's thread, enqueue and async_send's two halves, the bounded
// MPMC queue and its overflow policy, and the gate shutdown closes.
// No lock: the queue is lock-free and the gate is two atomics.
#pragma once

#include "client/pipeline.hpp"
#include "queue/mpmc_queue.hpp"

namespace capi::pipeline {

class Intake {
public:
    Intake(Pipeline& c, const Options& o);

    /// An envelope with `ev` prepared on the calling thread (or the reasons it
    /// cannot go in, in `invalid`), not queued: enqueue's work before the push,
    /// and async_send's first half, at its call. Any thread.
    EnvelopePtr prepare_send(const Event& ev, std::optional<Destination> dest);
    /// Any thread; never blocks.
    EnqueueResult enqueue(const Event& ev, std::optional<Destination> dest);
    /// async_send's second half, at the operation's initiation: queues it, or completes.
    void send(EnvelopePtr env, completion_ptr done);
    void send_many(std::vector<Event> events, std::function<void(std::vector<SendResult>)> done);

    /// Closes the gate and waits for the producers already past it (shutdown).
    void close() noexcept;

    /// An envelope for the next event: the one a batcher recycled last, whose
    /// buffer is the likeliest still in a cache. Any thread.
    EnvelopePtr take_envelope() {
        auto& mine = local_spares();
        if (mine.empty()) spares_.take(mine, local_spare_count);
        if (mine.empty()) return std::make_unique<Envelope>();
        EnvelopePtr e = std::move(mine.back());
        mine.pop_back();
        return e;
    }

    /// Resets `e` and keeps it for a later enqueue (or frees it when enough wait).
    /// Any thread.
    void recycle(EnvelopePtr e) noexcept {
        if (!e) return;
        reset(*e);
        // Kept by this thread when it has room: an envelope a lane took the
        // event of never left this thread, and is taken again next, hot.
        if (auto& mine = local_spares(); mine.size() < mine.capacity()) {
            mine.push_back(std::move(e));  // capacity reserved: no throw
            return;
        }
        spares_.give(&e, 1);  // when full, e is freed here
    }
    /// recycle() for each of `es[0..n)` (null ones skipped), with one lock: a
    /// batcher's whole bulk. The ones not kept are freed, `es` left null.
    void recycle_bulk(EnvelopePtr* es, std::size_t n) noexcept {
        for (std::size_t i = 0; i < n; ++i)
            if (es[i]) reset(*es[i]);
        spares_.give(es, n);
    }

    // The queue, for the batchers (pop) and the flush markers (push).
    std::size_t pop_bulk(EnvelopePtr* out, std::size_t n) { return queue_.pop_bulk(out, n); }
    bool try_pop(EnvelopePtr& e) { return queue_.try_pop(e); }
    /// Leaves `e` as it was when the queue is full.
    bool try_push(EnvelopePtr&& e) { return queue_.try_push(std::move(e)); }
    std::size_t size_approx() const noexcept { return queue_.size_approx(); }

private:
    enum class Push { accepted, full, shutdown };

    // Defined inline in intake.cpp, their only caller: the producer's path
    // (enqueue, async_send) compiles as one function.
    EnvelopePtr prepare(const Event& ev, std::optional<Destination> dest);
    Push try_accept(EnvelopePtr& env);
    void push_or_wait(EnvelopePtr env, std::chrono::microseconds delay);
    BatchEncoder& staging_encoder();
    std::vector<FieldError> check(const Event& ev, std::optional<Destination>& dest, PreparedEvent& out,
                                  std::string_view assigned_id, sys_time now);
    std::string_view assign_id(const Event& ev, Envelope& env) const;
    // Out of line and cold: the common event has nothing to report.
    [[gnu::cold, gnu::noinline]] void report_values(const EncodeResult& res) const noexcept;

    static constexpr std::size_t spare_envelope_count = 2048;
    // Envelopes a producer thread takes from the shared spares at once (one
    // lock for that many events).
    static constexpr std::size_t local_spare_count = 16;
    // A recycled envelope keeps at most this much buffer (a rare huge event's
    // memory goes back to the allocator).
    static constexpr std::size_t spare_buffer_bytes = 8 * 1024;

    static void reset(Envelope& e) noexcept {
        e.marker = false;
        e.flush_gen = 0;
        e.dest.reset();
        e.done.reset();
        e.taken = false;
        e.own_id = false;
        e.invalid.clear();
        if (e.prep.capacity() > spare_buffer_bytes) e.prep = PreparedEvent{};
        if (e.event_id.capacity() > 64) e.event_id = std::string{};
    }

    /// Envelopes the batchers are done with, their buffers' capacity kept for
    /// the next enqueue: in steady state an accepted event costs no allocation
    /// on the producer and no free on the batcher (a buffer malloc'ed on one
    /// thread and freed on another takes the allocator's arena lock each time,
    /// a contended futex under load). A stack, not a queue: the envelope
    /// recycled last is taken first, its buffer just read by a batcher and
    /// likely still in a cache, where a queue would hand out the one recycled
    /// longest ago (up to spare_envelope_count events' worth of memory back).
    /// Its own lock (mu_), a leaf, taken once per batcher bulk and once per
    /// local_spare_count events of a producer.
    class Spares {
    public:
        Spares() { stack_.reserve(spare_envelope_count); }
        /// Moves up to `n` of the most recently given into `out`, the most
        /// recent last (out.back()).
        void take(std::vector<EnvelopePtr>& out, std::size_t n) {
            std::lock_guard lock(mu_);
            const std::size_t k = std::min(n, stack_.size());
            for (std::size_t i = stack_.size() - k; i < stack_.size(); ++i) out.push_back(std::move(stack_[i]));
            stack_.resize(stack_.size() - k);
        }
        /// Keeps what fits of `es[0..n)` (null ones skipped); frees the rest
        /// after the lock is released. `es` is left null.
        void give(EnvelopePtr* es, std::size_t n) noexcept {
            std::size_t i = 0;
            {
                std::lock_guard lock(mu_);
                for (; i < n && stack_.size() < spare_envelope_count; ++i)
                    if (es[i]) stack_.push_back(std::move(es[i]));  // capacity reserved: no throw
            }
            for (; i < n; ++i) es[i].reset();
        }

    private:
        std::mutex mu_;
        std::vector<EnvelopePtr> stack_;  // guarded by mu_; the top is the warmest
    };

    /// This thread's few spare envelopes (whichever client they came from: a
    /// recycled envelope holds nothing of its client).
    static std::vector<EnvelopePtr>& local_spares() {
        thread_local std::vector<EnvelopePtr> v = [] {
            std::vector<EnvelopePtr> r;
            r.reserve(local_spare_count);
            return r;
        }();
        return v;
    }

    Pipeline& c_;
    const Options& opts_;
    detail::MpmcQueue<EnvelopePtr> queue_;
    Spares spares_;

    // Intake gate: shutdown waits for producers that passed the closed_ check.
    alignas(64) std::atomic<bool> closed_{false};
    // Per stripe, a producer's increment of active_ and its load of `closed_`
    // (both seq_cst) pair with shutdown's store of `closed_` and its loads of
    // every stripe: either shutdown sees the producer inside, or the producer
    // sees `closed_` and backs out.
    StripedCounter active_;

    static inline std::atomic<std::uint64_t> serials_{0};
    // Keys this client's staging encoders (an address a later client may reuse).
    const std::uint64_t serial_ = serials_.fetch_add(1, std::memory_order_relaxed) + 1;
};

} // namespace capi::pipeline
