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
//   rate     growth must pay (additive phase only). Rounds (a round ends at the
//            first answer to an attempt sent after it began: about one round trip,
//            about `limit` answers) are gathered into epochs; an epoch's delivery
//            rate is its answers over its time, and its limit the mean of its
//            rounds'. After slow start or a cut, the first epoch (probe_rounds
//            rounds) settles and the second is the reference; each next one ends
//            at a probe mark, probe_step (25%) above the limit its reference
//            ended at, and lasts at least probe_rounds rounds. Its limit grew by
//            x% over the reference's: its rate must have grown by at least
//            rate_gain (half) of x%, and it becomes the reference; if not, the
//            limit goes back to where the epoch began and is held there for
//            hold_rounds rounds, which are the next reference. Then it probes again. This is the client, or its
//            pool, being the bottleneck: more in flight only holds more bodies and
//            connections, as BBR finds its pipe full when the delivery rate stops
//            rising. Epochs, not rounds: one round's rate swings by a quarter
//            either way when answers come in bunches. A round in which the limit
//            did not hold batches back is left out. Slow start is left to the round
//            trip (above): its rate lags the doubling by a round. (HyStart++'s
//            earlier exit, on a round's least round trip rising by 4-16 ms, was
//            tried and not kept: no gain measured, and Meta's own time per batch
//            varies by more than that from round to round.)
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
        /// The rate gate (additive phase): an epoch lasts at least probe_rounds
        /// rounds and ends probe_step above the last limit that paid; its rate must
        /// have grown by rate_gain x its limit's growth; a limit sent back is held
        /// for hold_rounds rounds.
        double probe_step = 0.25;
        double rate_gain = 0.5;
        unsigned probe_rounds = 4;
        unsigned hold_rounds = 8;
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
    /// Times the rate gate sent the limit back (growth that did not pay).
    std::uint64_t plateaus() const noexcept { return plateaus_; }
    /// The rate gate's reference: its epoch's delivery rate (answers per second);
    /// zero until the additive phase has measured one.
    double reference_rate() const noexcept { return ref_rate_; }
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
    void count_round(time_point sent, time_point now, bool limited);
    void end_round(std::size_t answers, double seconds);
    void start_epoch();
    void set_reference();
    /// The epoch in progress: answers per second, and its rounds' mean limit
    /// (at least one round).
    double epoch_rate() const noexcept;
    double epoch_limit() const noexcept;

    const std::size_t min_, bound_;
    const double backoff_, tolerance_, probe_step_, rate_gain_;
    const unsigned probe_rounds_, hold_rounds_;
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
    // Rounds and the rate gate.
    time_point round_start_;
    std::size_t round_answers_ = 0, round_limited_ = 0;
    std::size_t epoch_answers_ = 0;    // the epoch in progress
    double epoch_seconds_ = 0, epoch_limits_ = 0;  // its time, its rounds' limits summed
    unsigned epoch_rounds_ = 0;
    double ref_rate_ = 0, ref_window_ = 0;  // the reference epoch; 0: none yet
    std::size_t base_window_ = 0;      // the limit when the reference was set
    bool settled_ = false;             // the first epoch after slow start or a cut was passed
    unsigned hold_ = 0;                // rounds left at a limit sent back to
    std::uint64_t plateaus_ = 0;
};

} // namespace capi::pipeline
