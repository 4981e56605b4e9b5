// What the client's suites check again and again, in one place: the counters
// adding up, and a bounded wait for a condition. Header-only, for Catch test
// files (check_balanced is a CHECK).
#pragma once

#include <capi/client.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <thread>

namespace capi_test {

/// Every accepted event is settled, queued or in flight (docs/reliability.md).
inline void check_balanced(const capi::Stats& s) {
    CHECK(s.accepted == s.delivered + s.failed + s.expired + s.dropped + s.queued + s.in_flight);
}

/// Polls `pred` every millisecond until it holds or `limit` passes; false then.
template <class Pred>
bool wait_for(Pred pred, std::chrono::milliseconds limit) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!pred()) {
        if (std::chrono::steady_clock::now() > end) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
}

} // namespace capi_test
