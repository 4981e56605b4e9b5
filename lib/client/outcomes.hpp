// Outcomes and stats: every accepted event is settled exactly once here (its
// counter, the latency histogram, its completion, the delivery report), and
// stats() reads the counters. No lock: atomics only.
#pragma once

#include "client/pipeline.hpp"
#include "json/prepared.hpp"

#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

namespace capi::pipeline {

/// The match-quality totals of the encoders that prepare this client's events
/// (a staging encoder per producer thread, intake.cpp), summed by stats(). An
/// encoder's totals stay counted after it is gone: when one is registered, the
/// encoders only the registry still holds (their thread ended, or it made a new
/// one for this client) are folded into one total and let go, so a server that
/// starts a thread per request keeps as many entries as it has live threads.
/// Its mutex is a leaf, taken once per staging encoder made and once per stats().
class MatchRegistry {
public:
    void add(std::shared_ptr<const detail::MatchCounters> c) {
        std::lock_guard lock(mu_);
        std::erase_if(all_, [&](const std::shared_ptr<const detail::MatchCounters>& e) {
            if (e.use_count() != 1) return false;
            // The encoder's last writes happened before it released its share.
            std::atomic_thread_fence(std::memory_order_acquire);
            e->add_to(retired_);
            return true;
        });
        all_.push_back(std::move(c));
    }
    void add_to(MatchQuality& q) const {
        std::lock_guard lock(mu_);
        q += retired_;
        for (const auto& c : all_) c->add_to(q);
    }
    /// Encoders registered and not yet folded (for tests).
    std::size_t live() const {
        std::lock_guard lock(mu_);
        return all_.size();
    }

private:
    mutable std::mutex mu_;
    std::vector<std::shared_ptr<const detail::MatchCounters>> all_;
    MatchQuality retired_;
};

class Outcomes {
public:
    Outcomes(Pipeline& c, const Options& o) : c_(c), opts_(o) {}

    /// The Pending an envelope's event becomes (the envelope is `taken`). Any thread.
    Pending pending_of(Envelope& e) {
        e.taken = true;
        // Only a completion or a delivery report carries the id; otherwise the
        // envelope keeps the string (and its capacity) for its next event.
        Pending p{std::move(e.done), {}, e.accepted, false};
        if (p.done || opts_.on_delivery) p.event_id.assign(e.event_id);
        return p;
    }

    /// Delivers one event's outcome. Any thread; `on_io`: the caller runs on the
    /// io executor (or is shutdown), so the report is made inline.
    void settle(Pending& p, SendResult r, bool was_in_flight, bool on_io);

    /// settle() for every unsettled event of a batch, alike: the counters move
    /// once per batch, the clock is read once, and a delivery report made inline
    /// reuses one SendResult (no per-event copy of the Graph fields) when the
    /// event has no completion of its own. Any thread.
    void settle_all(std::vector<Pending>& events, const SendResult& r, bool was_in_flight, bool on_io) noexcept;

    /// Delivery reports posted to the io executor and not run yet.
    std::uint64_t pending_reports() const noexcept { return pending_reports_.load(); }

    Stats stats() const;

    // Counters, written by the stage that sees the fact, read by stats().
    StripedCounter accepted;
    alignas(64) std::atomic<std::uint64_t> in_flight{0};
    alignas(64) std::atomic<std::uint64_t> delivered{0}, failed{0}, expired{0}, dropped{0};
    std::atomic<std::uint64_t> rejected{0}, rejected_full{0};
    std::atomic<std::uint64_t> retries{0}, batches{0}, bytes{0}, splits{0};
    std::atomic<std::uint64_t> possibly_delivered{0}, throttled{0}, receipt_mismatch{0}, duplicate_ids{0};
    AtomicHistogram latency_us, batch_events;
    MatchRegistry match;

private:
    std::atomic<std::uint64_t>& outcome_counter(Outcome o) noexcept;
    void report_inline(const SendResult& r) noexcept;
    void report(SendResult r, bool on_io);

    Pipeline& c_;
    const Options& opts_;
    std::atomic<std::uint64_t> pending_reports_{0};
};

} // namespace capi::pipeline
