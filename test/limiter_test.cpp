// The adaptive concurrency limiter (lib/client/limiter.hpp), pure: made-up
// times, no socket, no clock, no thread.
#include "client/limiter.hpp"

#include <capi/retry.hpp>
#include <capi/transport.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstddef>

using namespace std::chrono_literals;
using capi::PostResult;
using capi::pipeline::attempt_signal;
using capi::pipeline::Limiter;
using capi::pipeline::Signal;

namespace {

using tp = Limiter::time_point;
const tp t0 = tp{} + 1h;

Limiter::Config config(std::size_t initial = 4, std::size_t bound = 64) {
    Limiter::Config c;
    c.initial = initial;
    c.min = 1;
    c.bound = bound;
    c.backoff = 0.5;
    c.rtt_tolerance = 2.0;
    c.rtt_window = 30s;
    return c;
}

/// One round trip of `rtt` starting at `now`: every slot's attempt answers
/// healthy (demand-limited unless told otherwise); returns the round's end.
tp round_trip(Limiter& l, tp now, std::chrono::microseconds rtt, bool limited = true) {
    const auto n = l.limit();
    for (std::size_t i = 0; i < n; ++i) l.on_healthy(now, now + rtt, limited);
    return now + rtt;
}

PostResult graph_error(int status, int code) {
    PostResult r;
    r.http_status = status;
    capi::GraphError e;
    e.code = code;
    r.error = e;
    return r;
}

PostResult status(int s) {
    PostResult r;
    r.http_status = s;
    return r;
}

PostResult success() {
    PostResult r;
    r.http_status = 200;
    r.events_received = 1;
    return r;
}

} // namespace

TEST_CASE("slow start doubles the limit per round trip until the bound", "[limiter]") {
    Limiter l(config(4, 64), t0);
    CHECK(l.limit() == 4);
    CHECK(l.in_slow_start());
    auto now = t0;
    now = round_trip(l, now, 200ms);
    CHECK(l.limit() == 8);
    now = round_trip(l, now, 200ms);
    CHECK(l.limit() == 16);
    now = round_trip(l, now, 200ms);
    CHECK(l.limit() == 32);
    now = round_trip(l, now, 200ms);
    CHECK(l.limit() == 64);
    round_trip(l, now, 200ms);
    CHECK(l.limit() == 64);  // never above the bound
    CHECK(l.least() == 4);
    CHECK(l.cuts() == 0);
}

TEST_CASE("after a cut the limit grows by one per round trip", "[limiter]") {
    Limiter l(config(20, 64), t0);
    CHECK(l.on_congested(t0, t0 + 10ms));
    CHECK(l.limit() == 10);
    CHECK_FALSE(l.in_slow_start());
    auto now = t0 + 20ms;
    now = round_trip(l, now, 200ms);
    CHECK(l.limit() == 11);
    now = round_trip(l, now, 200ms);
    CHECK(l.limit() == 12);
    for (int i = 0; i < 5; ++i) now = round_trip(l, now, 200ms);
    CHECK(l.limit() == 17);
}

TEST_CASE("every congestion signal cuts: throttling codes, 429, 5xx, timeouts", "[limiter]") {
    // The throttling codes are capi::decide's; the signal does not list them again.
    for (int code : {4, 17, 32, 613, 80000, 80004, 80014}) {
        INFO("Graph code " << code);
        CHECK(attempt_signal(capi::make_error_code(capi::errc::graph_error), graph_error(400, code)) ==
              Signal::congested);
        CHECK(capi::decide(capi::make_error_code(capi::errc::graph_error), graph_error(400, code)) ==
              capi::Action::throttle);
    }
    CHECK(attempt_signal(capi::make_error_code(capi::errc::http_error), status(429)) == Signal::congested);
    for (int s : {500, 502, 503, 504})
        CHECK(attempt_signal(capi::make_error_code(capi::errc::http_error), status(s)) == Signal::congested);
    for (auto e : {capi::errc::request_timeout, capi::errc::connect_timeout, capi::errc::handshake_timeout})
        CHECK(attempt_signal(capi::make_error_code(e), PostResult{}) == Signal::congested);

    CHECK(attempt_signal({}, success()) == Signal::healthy);
    // Neither: a final Graph error, a refused connection, a code 100.
    CHECK(attempt_signal(capi::make_error_code(capi::errc::graph_error), graph_error(400, 100)) == Signal::neutral);
    CHECK(attempt_signal(capi::make_error_code(capi::errc::graph_error), graph_error(400, 190)) == Signal::neutral);
    CHECK(attempt_signal(capi::make_error_code(capi::errc::connect_failed), PostResult{}) == Signal::neutral);
    CHECK(attempt_signal(capi::make_error_code(capi::errc::http_error), status(404)) == Signal::neutral);

    // And each cut is multiplicative.
    Limiter l(config(32, 64), t0);
    auto now = t0;
    for (std::size_t want : {16, 8, 4, 2, 1}) {
        now += 1s;
        CHECK(l.on_congested(now, now + 1ms));
        CHECK(l.limit() == want);
    }
    CHECK(l.cuts() == 5);
}

TEST_CASE("one cut per round trip: a burst of failures cuts once", "[limiter]") {
    Limiter l(config(32, 64), t0);
    // 32 attempts sent at once, all throttled, answers arriving one by one.
    int cut = 0;
    for (int i = 0; i < 32; ++i) cut += l.on_congested(t0 + std::chrono::milliseconds(i), t0 + 200ms + std::chrono::milliseconds(i)) ? 1 : 0;
    CHECK(cut == 1);
    CHECK(l.limit() == 16);
    CHECK(l.cuts() == 1);
    // Healthy answers to attempts sent before the cut do not grow it back at once.
    for (int i = 0; i < 16; ++i) CHECK_FALSE(l.on_healthy(t0 + 100ms, t0 + 300ms, true));
    CHECK(l.limit() == 16);
    // An attempt sent after the cut and throttled is news: the next cut.
    CHECK(l.on_congested(t0 + 250ms, t0 + 450ms));
    CHECK(l.limit() == 8);
    CHECK(l.least() == 8);
}

TEST_CASE("never below min, never above the bound", "[limiter]") {
    auto c = config(8, 10);
    c.min = 3;
    Limiter l(c, t0);
    auto now = t0;
    for (int i = 0; i < 10; ++i) {
        now += 1s;
        l.on_congested(now, now + 1ms);
        CHECK(l.limit() >= 3);
    }
    CHECK(l.limit() == 3);
    CHECK(l.least() == 3);
    CHECK(l.cuts() == 2);  // 8 -> 4 -> 3; at min nothing is left to cut
    for (int i = 0; i < 200; ++i) now = round_trip(l, now + 1ms, 100ms);
    CHECK(l.limit() == 10);

    // An initial limit past the bound starts at the bound; below min, at min.
    CHECK(Limiter(config(100, 10), t0).limit() == 10);
    auto low = config(1, 10);
    low.min = 2;
    CHECK(Limiter(low, t0).limit() == 2);
}

TEST_CASE("no growth when not demand-limited", "[limiter]") {
    Limiter l(config(4, 64), t0);
    auto now = t0;
    for (int i = 0; i < 20; ++i) now = round_trip(l, now, 200ms, false);
    CHECK(l.limit() == 4);
    // Demand arrives: growth resumes.
    round_trip(l, now, 200ms, true);
    CHECK(l.limit() == 8);
}

TEST_CASE("no growth while the round trip inflates past the tolerance", "[limiter]") {
    // A server that queues (0 ms of latency, CPU-bound): each answer takes longer
    // the more are in flight.
    Limiter l(config(4, 64), t0);
    auto now = t0;
    now = round_trip(l, now, 10ms);  // the least round trip: 10 ms; 4 -> 8
    CHECK(l.limit() == 8);
    const auto in_flight_rtt = [&] { return std::chrono::milliseconds(static_cast<long>(l.limit()) * 5 / 2); };
    for (int i = 0; i < 5; ++i) now = round_trip(l, now, in_flight_rtt());
    // Growth stopped soon after the smoothed round trip passed 2 x 10 ms (the
    // smoothing lets it overshoot a little), and slow start ended there.
    const auto stopped = l.limit();
    CHECK(stopped >= 8);
    CHECK(stopped < 32);
    CHECK_FALSE(l.in_slow_start());
    for (int i = 0; i < 50; ++i) now = round_trip(l, now, in_flight_rtt());
    CHECK(l.limit() == stopped);
    CHECK(l.srtt() > 2 * l.min_rtt());

    // A far server that does not queue (200 ms whatever the load): it grows.
    Limiter far(config(4, 64), t0);
    now = t0;
    for (int i = 0; i < 10; ++i) now = round_trip(far, now, 200ms + std::chrono::milliseconds(i));
    CHECK(far.limit() == 64);
}

TEST_CASE("the least round trip is forgotten after two windows", "[limiter]") {
    Limiter l(config(4, 64), t0);
    l.on_healthy(t0, t0 + 10ms, false);
    CHECK(l.min_rtt() == 10ms);
    // The path got longer for good: 100 ms from now on.
    auto now = t0 + 10ms;
    for (int i = 0; i < 700; ++i) {
        l.on_healthy(now, now + 100ms, false);
        now += 100ms;
    }
    CHECK(l.min_rtt() == 100ms);
    // And growth is allowed again at the new distance.
    CHECK(l.on_healthy(now, now + 100ms, true));
}

TEST_CASE("recovery after a throttling burst", "[limiter]") {
    Limiter l(config(4, 64), t0);
    auto now = t0;
    for (int i = 0; i < 4; ++i) now = round_trip(l, now, 100ms);
    CHECK(l.limit() == 64);
    // The burst: every attempt of one round trip throttled.
    const auto sent = now;
    for (int i = 0; i < 64; ++i) l.on_congested(sent, sent + 100ms);
    now = sent + 100ms;
    CHECK(l.limit() == 32);
    CHECK(l.cuts() == 1);
    // Healthy again: additive increase, one per round trip, no doubling.
    now = round_trip(l, now, 100ms);
    CHECK(l.limit() == 33);
    for (int i = 0; i < 40; ++i) now = round_trip(l, now, 100ms);
    CHECK(l.limit() == 64);
    CHECK(l.least() == 32);
}

namespace {

/// A destination whose answers take `base` at the least, and that delivers at
/// most `per_second` batches a second (the client's CPU, its pool or the server
/// is the bottleneck): with more in flight than that rate fills in `base`, the
/// round trip grows with the queue (Little's law).
std::chrono::microseconds bottleneck_rtt(const Limiter& l, std::chrono::milliseconds base, double per_second) {
    const auto queued = std::chrono::microseconds(static_cast<long>(static_cast<double>(l.limit()) / per_second * 1e6));
    return std::max<std::chrono::microseconds>(base, queued);
}

} // namespace

TEST_CASE("the rate gate: growth stops where the delivery rate stops following the limit", "[limiter]") {
    // After a cut to 40, additive growth against a destination that delivers 250
    // batches a second 200 ms away (50 in flight fill it), for 400 round trips
    // (over two minutes). Without the gate the limit climbs until the round trip
    // doubles (about 100), then on; with it, it stays within a probe step of
    // where the rate stopped rising, and about at what fills the pipe.
    const auto run = [](double probe_step, std::size_t& top, std::size_t& low, std::uint64_t& plateaus) {
        auto c = config(80, 256);
        c.probe_step = probe_step;
        Limiter l(c, t0);
        REQUIRE(l.on_congested(t0, t0 + 1ms));
        REQUIRE(l.limit() == 40);
        auto now = t0 + 1ms;
        top = 0;
        low = 1000;
        for (int i = 0; i < 400; ++i) {
            now = round_trip(l, now, bottleneck_rtt(l, 200ms, 250));
            if (i >= 100) {
                top = std::max(top, l.limit());
                low = std::min(low, l.limit());
            }
        }
        plateaus = l.plateaus();
        return l.reference_rate();
    };
    std::size_t top = 0, low = 0;
    std::uint64_t plateaus = 0;
    const double rate = run(0.25, top, low, plateaus);
    INFO("gate on: limit " << low << ".." << top << ", " << plateaus << " plateaus, reference rate " << rate);
    CHECK(plateaus >= 5);  // it keeps probing, and keeps being sent back
    CHECK(top <= 80);      // a probe step (25%) past the 60 that last paid, and a round
    CHECK(low >= 45);      // about what fills the pipe (50): the rate is kept
    CHECK(rate >= 240);
    CHECK(rate <= 251);

    std::size_t top_off = 0, low_off = 0;
    std::uint64_t plateaus_off = 0;
    run(1e6, top_off, low_off, plateaus_off);  // no probe mark is ever reached: no gate
    INFO("gate off: limit " << low_off << ".." << top_off);
    // Up to where the round trip doubled, and past it: once the least round trip
    // of 30-60 s ago is forgotten, the queue's own round trip is the least, and
    // the tolerance lets the limit climb again, to the bound.
    CHECK(top_off == 256);
}

TEST_CASE("the rate gate probes again: a destination that got faster lets the limit grow", "[limiter]") {
    auto c = config(80, 256);
    Limiter l(c, t0);
    REQUIRE(l.on_congested(t0, t0 + 1ms));
    auto now = t0 + 1ms;
    for (int i = 0; i < 200; ++i) now = round_trip(l, now, bottleneck_rtt(l, 200ms, 250));
    const auto held = l.limit();
    CHECK(held <= 80);
    CHECK(l.plateaus() >= 2);
    // Twice the capacity (another CPU, a second pool): 100 in flight fill it now.
    for (int i = 0; i < 400; ++i) now = round_trip(l, now, bottleneck_rtt(l, 200ms, 500));
    CHECK(l.limit() >= 100);
    CHECK(l.limit() <= 160);
    CHECK(l.reference_rate() >= 450);
}

TEST_CASE("rounds the limit did not hold back leave the gate alone", "[limiter]") {
    // Demand-limited rounds: no growth, no epoch, no plateau.
    auto c = config(80, 256);
    Limiter l(c, t0);
    REQUIRE(l.on_congested(t0, t0 + 1ms));
    auto now = t0 + 1ms;
    for (int i = 0; i < 100; ++i) now = round_trip(l, now, 200ms, false);
    CHECK(l.limit() == 40);
    CHECK(l.plateaus() == 0);
    CHECK(l.reference_rate() == 0);
}
