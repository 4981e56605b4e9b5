// Measuring and printing the end-to-end benchmark's phases (e2e_phase.hpp).
#include "e2e_phase.hpp"
#include "median.hpp"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <cstdio>
#include <string>
#include <string_view>
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

Progress::Progress(const char* label, std::size_t total, const capi::Client& client)
    : label_(label), total_(total), client_(client) {
    if (::isatty(STDERR_FILENO) == 0) return;
    start_ = std::chrono::steady_clock::now();
    thread_ = std::thread([this] { loop(); });
}

void Progress::stop() {
    if (!thread_.joinable()) return;
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    cv_.notify_one();
    thread_.join();
    std::fputs("\r\033[K", stderr);
    std::fflush(stderr);
}

void Progress::loop() {
    std::unique_lock lock(mutex_);
    while (!cv_.wait_for(lock, std::chrono::milliseconds(100), [this] { return stopping_; })) {
        const capi::Stats s = client_.stats();
        const std::uint64_t done = s.delivered + s.failed + s.expired + s.dropped;
        const double frac = std::min(1.0, static_cast<double>(done) / static_cast<double>(total_));
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
        constexpr int width = 30;
        const int fill = static_cast<int>(frac * width);
        std::string bar(static_cast<std::size_t>(fill), '#');
        bar.append(static_cast<std::size_t>(width - fill), '.');
        std::fprintf(stderr, "\r  %-8s [%s] %3d%%  %llu/%zu acknowledged  %.0f events/s\033[K", label_,
                     bar.c_str(), static_cast<int>(frac * 100), static_cast<unsigned long long>(done),
                     total_, secs > 0 ? static_cast<double>(done) / secs : 0.0);
        std::fflush(stderr);
    }
}

std::map<std::string, double> thread_cpu_by_name() {
    std::map<std::string, double> out;
    const double tick = 1.0 / static_cast<double>(sysconf(_SC_CLK_TCK));
    DIR* dir = opendir("/proc/self/task");
    if (!dir) return out;
    while (const dirent* e = readdir(dir)) {
        if (e->d_name[0] == '.') continue;
        std::ifstream f(std::string("/proc/self/task/") + e->d_name + "/stat");
        std::string line;
        if (!std::getline(f, line)) continue;
        const auto open = line.find('('), close = line.rfind(')');
        if (open == std::string::npos || close == std::string::npos || close < open) continue;
        std::istringstream rest(line.substr(close + 2));
        std::string field;
        unsigned long long utime = 0, stime = 0;
        for (int i = 3; i <= 15 && rest >> field; ++i) {  // fields 14 and 15: utime, stime
            if (i == 14) utime = std::stoull(field);
            if (i == 15) stime = std::stoull(field);
        }
        // The thread's run time in ns (schedstat's first field), the same sum
        // CLOCK_PROCESS_CPUTIME_ID adds up for the whole: the split then adds up
        // to the total. utime + stime come in ticks of 10 ms, half a microsecond
        // per event of a 20,000-event round; only where schedstat is missing.
        std::ifstream sched(std::string("/proc/self/task/") + e->d_name + "/schedstat");
        unsigned long long run_ns = 0;
        const double seconds = sched >> run_ns ? static_cast<double>(run_ns) * 1e-9
                                               : static_cast<double>(utime + stime) * tick;
        out[line.substr(open + 1, close - open - 1)] += seconds;
    }
    closedir(dir);
    return out;
}

void record_split(PhaseResult& r, const std::map<std::string, double>& before,
                  const std::map<std::string, double>& after) {
    auto delta = [&](const char* name) {
        const auto a = after.find(name), b = before.find(name);
        return (a == after.end() ? 0.0 : a->second) - (b == before.end() ? 0.0 : b->second);
    };
    r.batch_cpu_seconds = delta("capi-batch");
    r.io_cpu_seconds = delta("capi-io");
}

capi::Stats since(const capi::Stats& a, const capi::Stats& b) {
    capi::Stats d = a;
    auto sub = [](std::uint64_t& x, std::uint64_t y) { x = x >= y ? x - y : 0; };
    sub(d.accepted, b.accepted);
    sub(d.delivered, b.delivered);
    sub(d.rejected, b.rejected);
    sub(d.rejected_full, b.rejected_full);
    sub(d.failed, b.failed);
    sub(d.expired, b.expired);
    sub(d.dropped, b.dropped);
    sub(d.retries, b.retries);
    sub(d.batches, b.batches);
    sub(d.bytes, b.bytes);
    sub(d.splits, b.splits);
    sub(d.possibly_delivered, b.possibly_delivered);
    sub(d.throttled, b.throttled);
    sub(d.receipt_mismatch, b.receipt_mismatch);
    sub(d.duplicate_ids, b.duplicate_ids);
    sub(d.concurrency_cuts, b.concurrency_cuts);
    sub(d.concurrency_holds, b.concurrency_holds);
    for (auto* h : {&d.latency_us, &d.batch_events}) {
        const auto& o = h == &d.latency_us ? b.latency_us : b.batch_events;
        for (std::size_t i = 0; i < h->buckets.size(); ++i) sub(h->buckets[i], o.buckets[i]);
        sub(h->count, o.count);
    }
    return d;
}

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
    const double n = static_cast<double>(std::max<std::uint64_t>(1, s.delivered));
    {  // every phase records its split (record_split)
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
    }
    std::printf("  page faults      : %10llu in this process during the timed events (%.1f per 1000 events: memory"
                " touched for the first time, such as a batch buffer the client's pool had not held before)\n",
                static_cast<unsigned long long>(r.page_faults), static_cast<double>(r.page_faults) / n * 1000.0);
    if (r.making_seconds > 0)
        std::printf("  (not counted)    : %.2f us per event generating the events' data (the harness's work, measured and"
                    " subtracted; the caller's path above is subtracted too)\n", r.making_seconds / n * 1e6);
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

void print_targets(const std::vector<TargetLine>& targets) {
    if (targets.empty()) return;
    std::printf("\ntargets: client CPU <= 1.5x the floor and >= 1,000,000 events per client CPU-second;"
                " <= %.2fx both floors (compute + transport). Each phase against the floors measured just"
                " before it\n", both_floors_goal);
    // The phases in the order they first ran; a phase run in several rounds
    // is one line each, then its medians.
    std::vector<const char*> names;
    for (const auto& t : targets)
        if (std::none_of(names.begin(), names.end(), [&](const char* n) { return std::string_view(n) == t.name; }))
            names.push_back(t.name);
    for (const char* name : names) {
        std::vector<const TargetLine*> runs;
        for (const auto& t : targets)
            if (std::string_view(t.name) == name) runs.push_back(&t);
        std::vector<double> floor_x, both_x, ns;
        bool all_tls = true;
        for (const TargetLine* t : runs) {
            floor_x.push_back(t->ns / t->floor_ns);
            ns.push_back(t->ns);
            if (t->tls_floor_ns) {
                both_x.push_back(t->ns / (t->floor_ns + *t->tls_floor_ns));
            } else {
                all_tls = false;
            }
            std::printf("  %-9s: %.2fx the floor (%s), %.0f events per CPU-second (%s)", name, floor_x.back(),
                        floor_x.back() <= 1.5 ? "met" : "not met", 1e9 / t->ns, 1e9 / t->ns >= 1e6 ? "met" : "not met");
            if (t->tls_floor_ns)
                std::printf("; %.2fx both floors (%s), %.2f us/event above them", both_x.back(),
                            both_x.back() <= both_floors_goal ? "met" : "not met",
                            (t->ns - t->floor_ns - *t->tls_floor_ns) / 1000.0);
            std::printf("\n");
        }
        if (runs.size() < 2) continue;
        std::printf("  %-9s: median of %zu rounds: %.2f us/event of client CPU, %.2fx the floor", name, runs.size(),
                    median(ns) / 1000.0, median(floor_x));
        if (all_tls) {
            const auto [lo, hi] = std::minmax_element(both_x.begin(), both_x.end());
            const double m = median(both_x);
            std::printf(", %.2fx both floors (%.2f-%.2fx by round): %s", m, *lo, *hi,
                        m <= both_floors_goal ? "met" : "not met");
        }
        std::printf("\n");
    }
}

} // namespace capi_bench
