// Limiter (limiter.hpp): the adaptive in-flight limit of one destination.
#include "client/limiter.hpp"

#include <capi/retry.hpp>
#include <capi/transport.hpp>

#include <algorithm>
#include <cmath>

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
      rtt_window_(c.rtt_window),
      window_(std::clamp(c.initial, min_, bound_)),
      ssthresh_(bound_ + 1),  // slow start until the first cut
      least_(window_),
      window_start_(now) {}

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

bool Limiter::on_healthy(time_point sent, time_point now, bool limited) {
    sample(now - sent, now);
    // Sent before the last cut: the window it was sent in was already judged.
    if (last_cut_ != time_point::min() && sent < last_cut_) return false;
    // Growth only where a larger limit would be used.
    if (!limited || limit() >= bound_) return false;
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
    if (limit() == before) return false;  // already at min: nothing to cut
    least_ = cuts_++ == 0 ? window_ : std::min(least_, window_);
    return true;
}

} // namespace capi::pipeline
