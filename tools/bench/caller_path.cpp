// The caller's path (caller_path.hpp): HotEvents, and the caller's cost per event
// measured three ways side by side.
#include "caller_path.hpp"

#include <capi/encode.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>

namespace capi_bench {
namespace {

// The JSON bodies of `events`, 1000 per body, joined (the check of same_bytes).
template <class Events>
std::string bodies(const Events& events) {
    capi::BatchEncoder encoder;
    const auto now = std::chrono::system_clock::now();
    std::string out;
    for (const capi::Event& ev : events)
        if (encoder.add(ev, now).status != capi::EncodeStatus::added) return "rejected";
    out += encoder.json_body();
    return out;
}

} // namespace

double thread_clock_read_seconds() {
    static const double cost = [] {
        double best = 1e300;
        for (int round = 0; round < 5; ++round) {
            constexpr int reads = 200;
            const double t0 = thread_cpu_seconds();
            for (int i = 0; i < reads; ++i) (void)thread_cpu_seconds();
            best = std::min(best, (thread_cpu_seconds() - t0) / (reads + 1));
        }
        return best;
    }();
    return cost;
}

const capi::Event* HotEvents::next() {
    if (pos_ == filled_) {
        if (next_ >= end_) return nullptr;
        const std::size_t k = std::min(chunk, end_ - next_);
        const double cpu0 = thread_cpu_seconds();
        fill_purchase_data(data_, next_, k, unix_now());  // the data the server holds, in place
        const double cpu1 = thread_cpu_seconds();
        for (std::size_t i = 0; i < k; ++i) fill_purchase_event(events_[i], data_[i]);
        caller_seconds_ += thread_cpu_seconds() - cpu1;
        // The read in the client's interval (the chunk before's last read ends
        // in it, cpu0's begins in it) is the harness's too.
        making_seconds_ += cpu1 - cpu0 + thread_clock_read_seconds();
        next_ += k;
        pos_ = 0;
        filled_ = k;
    }
    return &events_[pos_++];
}

CallerPathCost measure_caller_path(std::size_t n) {
    constexpr std::size_t chunk = 64;
    CallerPathCost c;
    c.made_ns = c.fresh_ns = c.refill_ns = 1e300;
    std::vector<capi::Event> kept(chunk);
    std::size_t sink = 0;  // keeps the work observable
    for (int pass = 0; pass < 3; ++pass) {
        double made = 0, fresh = 0, refill = 0;
        std::uint64_t made_allocs = 0, fresh_allocs = 0, refill_allocs = 0;
        for (std::size_t i = 0; i < n; i += chunk) {
            const std::size_t k = std::min(chunk, n - i), first = 3'000'000'000 + i;
            const auto now_s = unix_now();
            // As the benchmark did before: generate and build fresh Events, destroy them.
            double cpu0 = thread_cpu_seconds();
            std::uint64_t a0 = thread_allocations();
            {
                const auto events = make_purchase_events(first, k, now_s);
                sink += events.back().user_data.em.front().size();
            }
            made += thread_cpu_seconds() - cpu0;
            made_allocs += thread_allocations() - a0;

            const auto data = make_purchase_data(first, k, now_s);  // not timed: the data held
            // A fresh Event from the held data, destroyed after use.
            cpu0 = thread_cpu_seconds();
            a0 = thread_allocations();
            for (const auto& d : data) {
                capi::Event ev;
                fill_purchase_event(ev, d);
                sink += ev.user_data.em.front().size();
            }
            fresh += thread_cpu_seconds() - cpu0;
            fresh_allocs += thread_allocations() - a0;
            // One kept Event per slot, refilled (the HotEvents way).
            cpu0 = thread_cpu_seconds();
            a0 = thread_allocations();
            for (std::size_t j = 0; j < k; ++j) {
                fill_purchase_event(kept[j], data[j]);
                sink += kept[j].user_data.em.front().size();
            }
            refill += thread_cpu_seconds() - cpu0;
            refill_allocs += thread_allocations() - a0;
            if (pass == 1 && i == 0) c.same_bytes = bodies(kept) == bodies(make_purchase_events(first, k, now_s));
        }
        const double per = 1e9 / static_cast<double>(n);
        c.made_ns = std::min(c.made_ns, made * per);
        c.fresh_ns = std::min(c.fresh_ns, fresh * per);
        c.refill_ns = std::min(c.refill_ns, refill * per);
        // The last pass's counts: the kept events are warm by then.
        c.made_allocs = static_cast<double>(made_allocs) / static_cast<double>(n);
        c.fresh_allocs = static_cast<double>(fresh_allocs) / static_cast<double>(n);
        c.refill_allocs = static_cast<double>(refill_allocs) / static_cast<double>(n);
    }
    // capi::Event itself, empty: what a fresh Event costs before any value.
    for (int pass = 0; pass < 3; ++pass) {
        const double cpu0 = thread_cpu_seconds();
        for (std::size_t i = 0; i < n; ++i) {
            capi::Event ev;
            asm volatile("" : : "r"(&ev) : "memory");  // made and destroyed for real
        }
        c.empty_ns = std::min(c.empty_ns, (thread_cpu_seconds() - cpu0) * 1e9 / static_cast<double>(n));
    }
    if (sink == 0) c.same_bytes = false;
    return c;
}

bool print_caller_path(const CallerPathCost& c, double floor_ns) {
    std::printf("caller's path (building the Purchase event from data the caller holds, one thread, best of 3):\n");
    std::printf("  refilling one kept capi::Event (capi::assign/refill): %.2f us/event, %.1f allocations"
                " (%.2fx the compute floor; goal <= 0.5x: %s)\n",
                c.refill_ns / 1000.0, c.refill_allocs, c.refill_ns / floor_ns,
                c.refill_ns <= 0.5 * floor_ns ? "met" : "not met");
    std::printf("  a fresh capi::Event per event, destroyed after use  : %.2f us/event, %.1f allocations\n",
                c.fresh_ns / 1000.0, c.fresh_allocs);
    std::printf("  as before: generate the strings, fresh Event, destroy: %.2f us/event, %.1f allocations"
                " (generating included)\n",
                c.made_ns / 1000.0, c.made_allocs);
    std::printf("  an empty capi::Event made and destroyed (%zu bytes)   : %.3f us/event, no allocation\n",
                sizeof(capi::Event), c.empty_ns / 1000.0);
    std::printf("check: refilled events encode to the same bytes as freshly made ones: %s\n",
                c.same_bytes ? "OK" : "FAILED");
    return c.same_bytes;
}

} // namespace capi_bench
