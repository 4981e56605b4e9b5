// Limiter (limiter.hpp): the adaptive in-flight limit of one destination.
#include "client/limiter.hpp"

#include <capi/retry.hpp>
#include <capi/transport.hpp>

#include <algorithm>
#include <cmath>
#include <utility>

namespace capi::pipeline {

Signal attempt_signal(std::error_code ec, const PostResult& r) noexcept {
    // Throttling as the Sender counts it (PostResult::throttled): the one policy's
    // verdict, plus a bare 429, which that policy retries in the ordinary lane.
    const Action a = decide(ec, r);
    if (a == Action::throttle || r.http_status == 429) return Signal::congested;
    if (r.http_status >= 500 && r.http_status <= 599) return Signal::congested;
    if (ec == errc::request_timeout || ec == errc::connect_timeout || ec == errc::handshake_timeout)
        return Signal::congested;
    if (a == Action::success) return Signal::healthy;
    return Signal::neutral;
}

Limiter::Limiter(const Config& c, time_point now)
    : min_(std::clamp<std::size_t>(c.min, 1, std::max<std::size_t>(c.bound, 1))),
      bound_(std::max<std::size_t>(c.bound, 1)),
      backoff_(c.backoff),
      tolerance_(c.rtt_tolerance),
      probe_step_(c.probe_step),
      rate_gain_(c.rate_gain),
      probe_rounds_(std::max(c.probe_rounds, 1u)),
      hold_rounds_(c.hold_rounds),
      rtt_window_(c.rtt_window),
      window_(std::clamp(c.initial, min_, bound_)),
      ssthresh_(bound_ + 1),  // slow start until the first cut
      least_(window_),
      window_start_(now),
      round_start_(now) {}

Limiter::duration Limiter::min_rtt() const noexcept {
    const auto m = std::min(min_cur_, min_prev_);
    return m == duration::max() ? duration{0} : m;
}

void Limiter::sample(duration rtt, time_point now) {
    if (rtt < duration{0}) rtt = duration{0};
    // The least round trip of the last one to two windows: a server that got
    // slower for good (a longer path) is learnt within two windows.
    if (now - window_start_ >= rtt_window_) {
        min_prev_ = min_cur_;
        min_cur_ = duration::max();
        window_start_ = now;
    }
    min_cur_ = std::min(min_cur_, rtt);
    // Smoothed as TCP's SRTT (RFC 6298: 7/8 old, 1/8 new).
    srtt_ = srtt_ == duration{0} ? rtt : srtt_ - srtt_ / 8 + rtt / 8;
}

void Limiter::set_window(std::size_t w) { window_ = std::clamp(w, min_, bound_); }

void Limiter::count_round(time_point sent, time_point now, bool limited) {
    ++round_answers_;
    if (limited) ++round_limited_;
    // A round ends at the first answer to an attempt sent after it began.
    if (sent >= round_start_ && now > round_start_) {
        const auto answers = round_answers_;
        const bool measured = answers * 2 >= window_ && round_limited_ * 2 >= answers;
        const double seconds = std::chrono::duration<double>(now - round_start_).count();
        round_start_ = now;
        round_answers_ = round_limited_ = 0;
        // Only a round that says something about capacity counts: the limit held
        // batches back for most of it, and about as many answers as the limit came
        // back. Any other round is left out of the epoch; slow start has none.
        if (in_slow_start()) start_epoch();
        else if (measured) end_round(answers, seconds);
    }
}

void Limiter::start_epoch() {
    epoch_answers_ = 0;
    epoch_seconds_ = epoch_limits_ = 0;
    epoch_rounds_ = 0;
}

double Limiter::epoch_rate() const noexcept { return static_cast<double>(epoch_answers_) / epoch_seconds_; }

double Limiter::epoch_limit() const noexcept { return epoch_limits_ / epoch_rounds_; }

void Limiter::set_reference() {
    ref_rate_ = epoch_rate();
    ref_window_ = epoch_limit();
    base_window_ = window_;
    start_epoch();
}

void Limiter::end_round(std::size_t answers, double seconds) {
    epoch_answers_ += answers;
    epoch_seconds_ += seconds;
    epoch_limits_ += static_cast<double>(window_);
    ++epoch_rounds_;
    if (hold_ != 0) {
        // Held where the rate stopped following: these rounds are the reference.
        if (--hold_ == 0) set_reference();
        return;
    }
    if (ref_rate_ == 0) {
        if (epoch_rounds_ < probe_rounds_) return;
        // The first epoch after slow start or a cut settles (its rate still
        // carries the change); the next is the reference.
        if (std::exchange(settled_, true)) set_reference();
        else start_epoch();
        return;
    }
    const auto step = std::max<std::size_t>(
        1, static_cast<std::size_t>(std::ceil(static_cast<double>(base_window_) * probe_step_)));
    if (epoch_rounds_ < probe_rounds_ || (window_ < base_window_ + step && window_ < bound_)) return;
    const double grown = epoch_limit() / ref_window_ - 1;
    if (epoch_rate() >= ref_rate_ * (1 + rate_gain_ * std::max(grown, 0.0))) {
        set_reference();
        return;
    }
    // The rate did not follow the limit: back to where it last paid, held there.
    set_window(base_window_);
    acked_ = 0;
    ++plateaus_;
    start_epoch();
    hold_ = hold_rounds_;
    if (hold_ == 0) ref_rate_ = 0;  // no hold: the next epoch is the reference
}

bool Limiter::on_healthy(time_point sent, time_point now, bool limited) {
    sample(now - sent, now);
    count_round(sent, now, limited);
    // Sent before the last cut: the window it was sent in was already judged.
    if (last_cut_ != time_point::min() && sent < last_cut_) return false;
    // Growth only where a larger limit would be used, and not while held where
    // the delivery rate stopped following it.
    if (!limited || limit() >= bound_ || hold_ != 0) return false;
    // Queueing at the server (or in the pool), not distance: more in flight would
    // only wait longer. Slow start ends here, as with HyStart.
    const auto least = min_rtt();
    if (static_cast<double>(srtt_.count()) > tolerance_ * static_cast<double>(least.count())) {
        if (in_slow_start()) ssthresh_ = window_;
        return false;
    }
    if (in_slow_start()) {
        set_window(window_ + 1);
        return true;
    }
    if (++acked_ < window_) return false;
    acked_ = 0;
    set_window(window_ + 1);
    return true;
}

bool Limiter::on_congested(time_point sent, time_point now) {
    if (last_cut_ != time_point::min() && sent < last_cut_) return false;  // the same burst
    const auto before = limit();
    last_cut_ = now;
    const auto cut = static_cast<std::size_t>(std::floor(static_cast<double>(window_) * backoff_));
    ssthresh_ = std::max(cut, min_);
    acked_ = 0;
    set_window(ssthresh_);
    // The rate gate starts over from the new limit, in a new round.
    ref_rate_ = ref_window_ = 0;
    hold_ = 0;
    settled_ = false;
    start_epoch();
    round_start_ = now;
    round_answers_ = round_limited_ = 0;
    if (limit() == before) return false;  // already at min: nothing to cut
    least_ = cuts_++ == 0 ? window_ : std::min(least_, window_);
    return true;
}

} // namespace capi::pipeline
