// Outcomes and stats (outcomes.hpp): settling events, the counters, the
// histograms and the delivery reports.
#include "client/impl.hpp"

#include <boost/asio/post.hpp>

namespace capi {

std::string_view to_string(Outcome o) noexcept {
    switch (o) {
    case Outcome::delivered: return "delivered";
    case Outcome::rejected: return "rejected";
    case Outcome::failed: return "failed";
    case Outcome::expired: return "expired";
    case Outcome::dropped: return "dropped";
    }
    return "unknown";
}

std::string_view to_string(EventIdMode m) noexcept {
    switch (m) {
    case EventIdMode::deterministic: return "deterministic";
    case EventIdMode::random: return "random";
    case EventIdMode::none: return "none";
    }
    return "unknown";
}

std::uint64_t Histogram::percentile(double q) const noexcept {
    if (count == 0) return 0;
    if (!(q > 0)) q = 0;
    if (q > 1) q = 1;
    auto target = static_cast<std::uint64_t>(q * static_cast<double>(count) + 0.999999);
    if (target == 0) target = 1;
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < buckets.size(); ++i) {
        seen += buckets[i];
        if (seen >= target)
            return i >= 63 ? std::numeric_limits<std::uint64_t>::max() : (std::uint64_t{1} << (i + 1));
    }
    return std::numeric_limits<std::uint64_t>::max();
}

namespace pipeline {

namespace asio = boost::asio;

std::atomic<std::uint64_t>& Outcomes::outcome_counter(Outcome o) noexcept {
    switch (o) {
    case Outcome::delivered: return delivered;
    case Outcome::expired: return expired;
    case Outcome::dropped: return dropped;
    default: return failed;
    }
}

void Outcomes::settle(Pending& p, SendResult r, bool was_in_flight, bool on_io) {
    if (p.settled) return;
    p.settled = true;
    r.latency = steady::now() - p.accepted;
    if (r.event_id.empty()) r.event_id = std::move(p.event_id);  // settled once: not read again
    // The outcome is counted before in_flight drops, so stats() never sees
    // an event in neither.
    outcome_counter(r.outcome).fetch_add(1, std::memory_order_relaxed);
    if (was_in_flight) in_flight.fetch_sub(1, std::memory_order_relaxed);
    latency_us.record(static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(r.latency).count()));
    if (opts_.on_delivery) {
        if (p.done) detail::send_op::complete(std::move(p.done), SendResult(r));
        report(std::move(r), on_io);
    } else if (p.done) {
        detail::send_op::complete(std::move(p.done), std::move(r));
    }
}

void Outcomes::settle_all(std::vector<Pending>& events, const SendResult& r, bool was_in_flight, bool on_io) noexcept {
    const auto now = steady::now();
    std::uint64_t n = 0;
    std::array<std::uint64_t, 64> lat{};
    // Marked settled first, so a second call never counts an event twice; marked
    // fresh for the second pass, so settling allocates nothing of its own (a
    // batch that failed for want of memory is settled too). A result that cannot
    // be built for one event (out of memory) costs that event its report only.
    for (auto& p : events) {
        if (p.settled) continue;
        p.settled = true;
        p.fresh = true;
        ++n;
        const auto us = std::chrono::duration_cast<std::chrono::microseconds>(now - p.accepted).count();
        const auto v = static_cast<std::uint64_t>(us < 0 ? 0 : us);
        ++lat[v == 0 ? 0 : static_cast<std::size_t>(63 - __builtin_clzll(v))];
    }
    if (n == 0) return;
    outcome_counter(r.outcome).fetch_add(n, std::memory_order_relaxed);
    if (was_in_flight) in_flight.fetch_sub(n, std::memory_order_relaxed);
    latency_us.add(lat, n);
    const bool reports = static_cast<bool>(opts_.on_delivery);
    std::optional<SendResult> shared;  // reused for inline reports
    // The batch's completions go in one post per io_context, after the loop.
    detail::completion_chain chain;
    for (Pending& p : events) {
        if (!p.fresh) continue;
        p.fresh = false;
        const auto latency = now - p.accepted;
        try {
            if (p.done || (reports && !on_io)) {
                SendResult own = r;
                own.latency = latency;
                if (own.event_id.empty()) own.event_id = std::move(p.event_id);
                if (!reports) {
                    chain.complete(std::move(p.done), std::move(own));
                    continue;
                }
                if (p.done) chain.complete(std::move(p.done), SendResult(own));
                report(std::move(own), on_io);
            } else if (reports) {
                if (!shared) shared.emplace(r);
                shared->latency = latency;
                if (r.event_id.empty()) shared->event_id = p.event_id;  // in place: no allocation
                report_inline(*shared);
            }
        } catch (...) {
            // Out of memory building one result: the others still get theirs.
        }
    }
}

void Outcomes::report_inline(const SendResult& r) noexcept {
    try {
        opts_.on_delivery(r);
    } catch (...) {
        // The user's callback: swallowed (rule 9).
    }
}

void Outcomes::report(SendResult r, bool on_io) {
    if (on_io) {
        report_inline(r);
        return;
    }
    pending_reports_.fetch_add(1, std::memory_order_relaxed);
    try {
        // The report holds the client (not just this stage) until it ran.
        asio::post(c_.ex, [self = c_.shared_from_this(), r = std::move(r)] {
            try {
                self->opts.on_delivery(r);
            } catch (...) {
            }
            self->outcomes.pending_reports_.fetch_sub(1, std::memory_order_relaxed);
        });
    } catch (...) {
        pending_reports_.fetch_sub(1, std::memory_order_relaxed);
    }
}

Stats Outcomes::stats() const {
    Stats s;
    match.add_to(s.match_quality);
    s.delivered = delivered.load(std::memory_order_seq_cst);
    s.failed = failed.load(std::memory_order_seq_cst);
    s.expired = expired.load(std::memory_order_seq_cst);
    s.dropped = dropped.load(std::memory_order_seq_cst);
    const auto in = in_flight.load(std::memory_order_seq_cst);
    s.accepted = accepted.load(std::memory_order_seq_cst);
    s.rejected = rejected.load(std::memory_order_relaxed);
    s.rejected_full = rejected_full.load(std::memory_order_relaxed);
    // queued is derived so the invariant holds by construction in every sample.
    const auto settled = s.delivered + s.failed + s.expired + s.dropped;
    const auto open = s.accepted > settled ? s.accepted - settled : 0;
    if (s.accepted < settled) s.accepted = settled;  // never seen: counted before the push
    s.in_flight = std::min(in, open);
    s.queued = open - s.in_flight;
    s.retries = retries.load(std::memory_order_relaxed);
    s.batches = batches.load(std::memory_order_relaxed);
    s.bytes = bytes.load(std::memory_order_relaxed);
    s.splits = splits.load(std::memory_order_relaxed);
    s.possibly_delivered = possibly_delivered.load(std::memory_order_relaxed);
    s.throttled = throttled.load(std::memory_order_relaxed);
    s.receipt_mismatch = receipt_mismatch.load(std::memory_order_relaxed);
    s.duplicate_ids = duplicate_ids.load(std::memory_order_relaxed);
    s.latency_us = latency_us.snapshot();
    s.batch_events = batch_events.snapshot();
    return s;
}

} // namespace pipeline
} // namespace capi
