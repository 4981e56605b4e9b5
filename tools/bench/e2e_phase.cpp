// Printing the end-to-end benchmark's phases (e2e_phase.hpp).
#include "e2e_phase.hpp"

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

namespace capi_bench {
namespace {

double percentile(std::vector<std::uint64_t>& v, double q) {
    if (v.empty()) return 0;
    const auto k = std::min(v.size() - 1, static_cast<std::size_t>(q * static_cast<double>(v.size())));
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
    return static_cast<double>(v[k]);
}

std::string format_us(std::uint64_t us) {
    char buf[32];
    if (us >= 1000)
        std::snprintf(buf, sizeof buf, "%.1f ms", static_cast<double>(us) / 1000.0);
    else
        std::snprintf(buf, sizeof buf, "%llu us", static_cast<unsigned long long>(us));
    return buf;
}

} // namespace

bool print_phase(const char* title, PhaseResult& r, double floor_ns) {
    const auto& s = r.stats;
    const double eps = static_cast<double>(s.delivered) / r.seconds;
    const double cpu_us = r.cpu_seconds / static_cast<double>(std::max<std::uint64_t>(1, s.delivered)) * 1e6;
    std::printf("\n%s\n", title);
    std::printf("  throughput       : %10.0f events/s  (%llu events in %.2f s)\n", eps,
                static_cast<unsigned long long>(s.delivered), r.seconds);
    std::printf("  client CPU       : %10.2f us/event  (%.0f events per CPU-second; %.2fx the compute floor)\n",
                cpu_us, 1e6 / cpu_us, cpu_us * 1000.0 / floor_ns);
    if (r.floor_ns) {
        std::printf("  floors           : %10.2f us/event compute", *r.floor_ns / 1000.0);
        if (r.tls_floor_ns)
            std::printf(" + %.2f transport = %.2f, measured just before the timed events: client CPU %.2fx both",
                        *r.tls_floor_ns / 1000.0, (*r.floor_ns + *r.tls_floor_ns) / 1000.0,
                        cpu_us * 1000.0 / (*r.floor_ns + *r.tls_floor_ns));
        std::printf("\n");
    }
    if (r.warmup_events != 0)
        std::printf("  warm-up          : %10.2f us/event of client CPU for the %zu events sent first through the same"
                    " client and threads, not timed (memory first touched, connections opened)\n",
                    r.warmup_cpu_seconds / static_cast<double>(r.warmup_events) * 1e6, r.warmup_events);
    {
        const double caller_us =
            r.caller_path_seconds / static_cast<double>(std::max<std::uint64_t>(1, s.delivered)) * 1e6;
        std::printf("  caller's path    : %10.2f us/event building the events from held data (kept capi::Events"
                    " refilled; %.2fx the compute floor, goal <= 0.5x: %s)\n",
                    caller_us, caller_us * 1000.0 / floor_ns, caller_us * 1000.0 <= 0.5 * floor_ns ? "met" : "not met");
    }
    if (r.batch_cpu_seconds + r.io_cpu_seconds > 0) {
        const double n = static_cast<double>(std::max<std::uint64_t>(1, s.delivered));
        if (r.caller_cpu_seconds > 0)
            std::printf("  client CPU split : producer threads in enqueue() %.2f us, batcher threads %.2f us,"
                        " io threads %.2f us, the rest %.2f us per event\n",
                        r.caller_cpu_seconds / n * 1e6, r.batch_cpu_seconds / n * 1e6, r.io_cpu_seconds / n * 1e6,
                        (r.cpu_seconds - r.caller_cpu_seconds - r.batch_cpu_seconds - r.io_cpu_seconds) / n * 1e6);
        else
            std::printf("  client CPU split : batcher threads %.2f us, io threads %.2f us, the rest (coroutines"
                        " and the client's io on the caller's io_context) %.2f us per event\n",
                        r.batch_cpu_seconds / n * 1e6, r.io_cpu_seconds / n * 1e6,
                        (r.cpu_seconds - r.batch_cpu_seconds - r.io_cpu_seconds) / n * 1e6);
        std::printf("  (not counted)    : %.2f us per event generating the events' data (the harness's work, measured and"
                    " subtracted; the caller's path above is subtracted too)\n", r.making_seconds / n * 1e6);
    }
    if (r.mock)
        std::printf("  mock CPU         : %10.2f us/event  (separate process, not in the client's figure)\n",
                    r.mock->cpu_seconds / static_cast<double>(std::max<std::uint64_t>(1, s.delivered)) * 1e6);
    if (!r.enqueue_ns.empty()) {
        const auto n = r.enqueue_ns.size();
        const double p50 = percentile(r.enqueue_ns, 0.50), p99 = percentile(r.enqueue_ns, 0.99);
        std::printf("  enqueue latency  : p50 %.2f us, p99 %.2f us  (every 16th call timed: %zu samples;"
                    " producers paused %llu times for the window)\n",
                    p50 / 1000.0, p99 / 1000.0, n, static_cast<unsigned long long>(r.pauses));
    }
    std::printf("  enqueue-to-ack   : p50 <= %s, p99 <= %s  (log2 buckets)\n",
                format_us(s.latency_us.percentile(0.50)).c_str(), format_us(s.latency_us.percentile(0.99)).c_str());
    std::printf("  batches          : %llu  (%.1f events each; %llu retries, %llu splits, %.1f MB of bodies)\n",
                static_cast<unsigned long long>(s.batches),
                s.batches ? static_cast<double>(s.delivered + s.failed + s.expired) / static_cast<double>(s.batches)
                          : 0.0,
                static_cast<unsigned long long>(s.retries), static_cast<unsigned long long>(s.splits),
                static_cast<double>(s.bytes) / 1e6);
    if (r.null_events)
        std::printf("  connections used : none (null transport)\n");
    else if (r.mock)
        std::printf("  connections used : %llu%s\n", static_cast<unsigned long long>(r.mock->connections),
                    r.warmup_events != 0 ? " opened after the warm-up (it opened the rest)" : "");
    else
        std::printf("  connections used : n/a (external endpoint)\n");

    bool ok = true;
    if (r.timed_out) {
        std::printf("  error: timed out waiting for acknowledgements\n");
        ok = false;
    }
    if (r.refused) {
        std::printf("  error: %llu enqueue() calls were not accepted\n", static_cast<unsigned long long>(r.refused));
        ok = false;
    }
    if (r.not_delivered || s.delivered != r.events) {
        std::printf("  error: %llu of %zu events not delivered (first: %s)\n",
                    static_cast<unsigned long long>(r.events - std::min<std::uint64_t>(r.events, s.delivered)),
                    r.events, r.first_error.empty() ? "?" : r.first_error.c_str());
        ok = false;
    }
    if (r.null_events) {
        const bool same = *r.null_events == s.delivered;
        std::printf("check: null transport counted %llu %s delivered %llu: %s\n",
                    static_cast<unsigned long long>(*r.null_events), same ? "=" : "!=",
                    static_cast<unsigned long long>(s.delivered), same && ok ? "OK" : "FAILED");
        ok = ok && same;
    } else if (r.mock) {
        const bool same = r.mock->events_accepted == s.delivered;
        std::printf("check: mock accepted %llu %s delivered %llu: %s\n",
                    static_cast<unsigned long long>(r.mock->events_accepted), same ? "=" : "!=",
                    static_cast<unsigned long long>(s.delivered), same && ok ? "OK" : "FAILED");
        ok = ok && same;
    } else {
        std::printf("check: delivered %llu of %zu (external endpoint: no mock count to compare): %s\n",
                    static_cast<unsigned long long>(s.delivered), r.events, ok ? "OK" : "FAILED");
    }
    std::fflush(stdout);
    return ok;
}

} // namespace capi_bench
