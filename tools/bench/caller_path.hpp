// The caller's path in the end-to-end benchmark: what a server pays to build the
// events it hands to the client from data it already holds (issue 14, target 4),
// measured apart from generating that data and from the client's CPU.
#pragma once

#include <capi/event.hpp>

#include "cpu_clock.hpp"
#include "purchase_events.hpp"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace capi_bench {

/// What one thread_cpu_seconds() call costs the calling thread's CPU clock (a
/// system call, about a microsecond on this kind of VM): measured once, on the
/// first call, so call it before anything is timed.
double thread_clock_read_seconds();

/// Heap allocations (operator new) made by the calling thread so far: the
/// benchmark's programs count them (alloc_count.cpp replaces operator new).
std::uint64_t thread_allocations() noexcept;

/// Events made just before they are used, as a server makes them, so they are in
/// the cache like a real caller's (200,000 made up front are a gigabyte of cold
/// memory). Per chunk of 64 it generates the events' data (the strings a server
/// already holds: the harness's work, measured apart) and then refills 64 kept
/// Events from it with capi::assign / capi::refill (the caller's path, measured
/// apart). enqueue() and async_send() read an event during the call and keep
/// nothing, so both costs are subtracted from the client's CPU figure. The three
/// clock reads per chunk that measure them cost about a microsecond each, and
/// each of the three intervals they bound holds one read's worth: the one in
/// the client's interval is counted with the generating. One thread.
class HotEvents {
public:
    HotEvents(std::size_t first, std::size_t end) : next_(first), end_(end), events_(chunk) {}

    /// The next event, valid until the next call after 63 more.
    const capi::Event* next();
    /// CPU seconds this thread spent generating the events' data.
    double making_seconds() const noexcept { return making_seconds_; }
    /// CPU seconds this thread spent refilling events from that data.
    double caller_seconds() const noexcept { return caller_seconds_; }

private:
    static constexpr std::size_t chunk = 64;
    std::size_t next_, end_, pos_ = 0, filled_ = 0;
    std::vector<PurchaseData> data_;
    std::vector<capi::Event> events_;  // kept: refilled chunk after chunk
    double making_seconds_ = 0, caller_seconds_ = 0;
};

/// The caller's cost per event three ways, on one thread, from the same data
/// (best of 3 passes, thread CPU time, allocations counted).
struct CallerPathCost {
    double made_ns = 0, made_allocs = 0;      // as before: generate the strings, make a fresh Event, destroy it
    double fresh_ns = 0, fresh_allocs = 0;    // a fresh Event from the held data, destroyed after use
    double refill_ns = 0, refill_allocs = 0;  // one kept Event refilled from the held data
    double empty_ns = 1e300;                  // an empty Event made and destroyed: the type's own cost
    bool same_bytes = false;                  // the refilled events encode as the made ones
};
CallerPathCost measure_caller_path(std::size_t n);

/// Prints the figures above against the compute floor; false when the check failed.
bool print_caller_path(const CallerPathCost& c, double floor_ns);

} // namespace capi_bench
