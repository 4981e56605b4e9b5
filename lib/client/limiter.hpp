// Limiter: the adaptive in-flight limit of one destination (Options::Concurrency),
// a congestion window in the spirit of TCP's and of Netflix's concurrency-limits.
//
//   growth   on a healthy answer, only while the limit is what holds batches back
//            (batches waiting for a slot, or every slot in use: demand-limited) and
//            the smoothed round trip stays within rtt_tolerance x the least round
//            trip seen recently (latency-bound, not queueing at the server):
//            +1 per answer in slow start (doubling per round trip) until ssthresh,
//            then +1 per `limit` answers (one per round trip, counted as RFC 3465
//            counts bytes). The first time the
//            round trip passes the tolerance, slow start ends there (ssthresh =
//            limit, as HyStart does), so growth from then on is additive.
//   cut      on congestion (throttling, timeouts, 5xx; attempt_signal): the limit
//            goes to backoff x itself, never below min, and ssthresh to the result.
//            At most one cut per round trip: an answer to an attempt sent before
//            the last cut belongs to the same burst and changes nothing (nor does
//            it grow the limit), so a burst of failures does not collapse it to min.
//   bounds   min <= limit <= bound, always.
//
// Pure: no Asio, no lock, no clock of its own; the caller passes the times (so the
// tests drive it with made-up ones) and serializes the calls (Dispatcher::mu_).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <system_error>

namespace capi {
struct PostResult;
}

namespace capi::pipeline {

/// What one attempt's outcome says about the server's capacity.
enum class Signal : std::uint8_t {
    healthy,    ///< answered 2xx with Meta's success body: a round-trip sample
    congested,  ///< throttled (HTTP 429 or a throttling Graph code, per capi::decide),
                ///< a 5xx, or a timeout (connect, handshake, request)
    neutral,    ///< anything else (a final Graph error, a refused connection, ...)
};

/// The signal of one attempt (ec, result) as the transport reported it. The
/// throttling codes are capi::decide's (retry.cpp), not a second list.
Signal attempt_signal(std::error_code ec, const PostResult& result) noexcept;

class Limiter {
public:
    using clock = std::chrono::steady_clock;
    using time_point = clock::time_point;
    using duration = clock::duration;

    struct Config {
        std::size_t initial = 4;
        std::size_t min = 1;
        std::size_t bound = 16;  ///< the user's bound (max_batches_in_flight or its default)
        double backoff = 0.5;
        double rtt_tolerance = 2.0;
        /// The least round trip is the least seen in the last one to two windows.
        duration rtt_window = std::chrono::seconds(30);
    };

    /// `c` as checked by the client (min >= 1, 0 < backoff < 1, rtt_tolerance >= 1);
    /// initial and min are clamped into [1, bound].
    explicit Limiter(const Config& c, time_point now = {});

    std::size_t limit() const noexcept { return window_; }
    /// The least limit a cut left since the start; the initial limit until the
    /// first cut (growth never goes below it).
    std::size_t least() const noexcept { return least_; }
    std::size_t bound() const noexcept { return bound_; }
    std::uint64_t cuts() const noexcept { return cuts_; }
    bool in_slow_start() const noexcept { return window_ < ssthresh_; }
    /// Smoothed and least recent round trip; zero before the first sample.
    duration srtt() const noexcept { return srtt_; }
    duration min_rtt() const noexcept;

    /// An attempt sent at `sent` was answered healthy at `now`. `limited`: at that
    /// moment batches of this destination were waiting for a slot or every slot was
    /// in use. Returns true when the limit grew.
    bool on_healthy(time_point sent, time_point now, bool limited);
    /// An attempt sent at `sent` met congestion (known at `now`). Returns true when
    /// the limit was cut (false: same burst as the last cut, or already at min).
    bool on_congested(time_point sent, time_point now);

private:
    void sample(duration rtt, time_point now);
    void set_window(std::size_t w);

    const std::size_t min_, bound_;
    const double backoff_, tolerance_;
    const duration rtt_window_;
    std::size_t window_;               // the limit
    std::size_t ssthresh_;             // slow start below it
    std::size_t acked_ = 0;            // healthy answers toward the next +1 (additive increase)
    std::size_t least_;
    std::uint64_t cuts_ = 0;
    time_point last_cut_ = time_point::min();
    duration srtt_{0};
    // Windowed least round trip: the current window's and the previous one's.
    time_point window_start_;
    duration min_cur_ = duration::max(), min_prev_ = duration::max();
};

} // namespace capi::pipeline
