// The latency benchmark: capi::Client with default options over TLS to the mock
// Graph server (child processes, mock_process.hpp) answering every request N ms
// after it arrived, for N in 0, 50, 200 and 500: throughput, its ratio to the
// 0 ms run, the concurrency limit the client reached (Stats::concurrency_limit)
// and the connections it used. Then a throttling burst: at 50 ms, once the
// client is in steady state, the mock answers M requests with Meta's throttling
// error; the limit before, its least during the burst, after recovery, and the
// requests the mock saw against the client's batches (each throttled batch sent
// again once: no retry storm), every event delivered.
//
// Events are made by the producers as they go (tools/bench/purchase_events.hpp);
// two producer threads enqueue as fast as the client takes them and, as a real
// producer does, retry an event the client refused with queue_full after 200 us
// (counted; no event is dropped). A sampler reads stats() every 5 ms.
// `--window N` keeps at most N events outstanding instead (how this benchmark
// ran until 2026-12-05, with N = queue_capacity: at 200 ms of latency that
// window, not the client, bounded the throughput, by Little's law).
//
// `--rounds N` runs the sweep N times, the latencies in turn and their order
// reversed every other round (0, 50, 200, 500, then 500, 200, 50, 0), and
// closes with each latency's median and the median of the rounds' ratios: on a
// machine whose speed swings within seconds, one pair of runs cannot settle a
// ratio of 0.8x (each run is measured against the first latency's run of the
// same round).
#include "latency.hpp"
#include "median.hpp"
#include "mock_process.hpp"
#include "purchase_events.hpp"
#include "cli/cli.hpp"

#include <CLI/CLI.hpp>

#include <capi/client.hpp>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using steady = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr const char* description =
    "A client with default options against the mock answering each request N ms late,\n"
    "for each N: events/s, the ratio to the first run (goal: 200 ms >= 0.8x of 0 ms), the\n"
    "concurrency limit reached, connections; then a throttling burst: the limit before,\n"
    "its least during it, after recovery, requests against batches.";

struct Config {
    // A run must last many round trips past the ramp-up (about 5 at 200 ms):
    // at 250-300 k events/s, 2,000,000 events measured the ramp-up as much as
    // the client.
    std::size_t events = 4'000'000;
    std::vector<long long> latencies{0, 50, 200, 500};
    unsigned rounds = 1;
    unsigned producers = 2;
    unsigned mock_threads = 1;
    bool sweep = true, burst = true;
    std::size_t burst_events = 300'000;
    long long burst_latency_ms = 50;
    std::size_t burst_requests = 20;
    int burst_code = 4;
    std::optional<std::size_t> window;       // at most this many events outstanding (default: as the client takes them)
    std::optional<std::size_t> connections;  // TransportOptions::max_connections (default: the library's)
    long long throttle_backoff_ms = 1000;
};

std::optional<int> parse_args(int argc, char** argv, Config& c) {
    constexpr std::string_view command = "bench --latency";
    CLI::App app{description, "capi bench --latency"};
    app.add_flag("--latency")->group("");  // `capi bench --latency` passes it on
    std::string latencies, scenario = "both";
    app.add_option("--events", c.events,
                   "events per latency run (at 200 ms a run of 200000 is a few round trips,\n"
                   "ramp-up and tail; the default lasts 15-20 s at 200 ms)")
        ->capture_default_str()
        ->check(CLI::Range(1000, 100'000'000));
    app.add_option("--latencies", latencies,
                   "server latencies in ms, comma-separated (default 0,50,200,500; the first is\n"
                   "the reference of the ratios)")
        ->type_name("A,B,..");
    app.add_option("--rounds", c.rounds,
                   "runs the latencies this many times, their order reversed every other round,\n"
                   "and closes with each one's median and the median of the rounds' ratios (the\n"
                   "figure to quote on a machine whose speed drifts)")
        ->capture_default_str()
        ->check(CLI::Range(1, 100));
    app.add_option("--window", c.window,
                   "keep at most N events outstanding (default: enqueue as fast as the client takes\n"
                   "them, retrying on queue_full)")
        ->type_name("N")
        ->check(CLI::Range(1, 1 << 30));
    app.add_option("--connections", c.connections, "TransportOptions::max_connections (default: the library's)")
        ->type_name("N")
        ->check(CLI::Range(1, 1024));
    app.add_option("--producers", c.producers, "enqueue() threads")->capture_default_str()->check(CLI::Range(1, 64));
    app.add_option("--mock-threads", c.mock_threads, "threads of each mock server")
        ->capture_default_str()
        ->check(CLI::Range(1, 64));
    app.add_option("--scenario", scenario, "sweep, burst or both")
        ->capture_default_str()
        ->check(CLI::IsMember({"sweep", "burst", "both"}));
    app.add_option("--burst-events", c.burst_events,
                   "events of the burst run; the burst starts once a third of them are delivered")
        ->capture_default_str()
        ->check(CLI::Range(1000, 100'000'000));
    app.add_option("--burst-latency-ms", c.burst_latency_ms, "server latency of the burst run")
        ->capture_default_str()
        ->check(CLI::Range(0, 60'000));
    app.add_option("--burst-requests", c.burst_requests, "requests throttled")
        ->capture_default_str()
        ->check(CLI::Range(1, 100'000));
    app.add_option("--burst-code", c.burst_code, "4, 17, 32, 613, 80000..80014 or 429")
        ->capture_default_str()
        ->check(CLI::Validator(
            [](std::string& v) -> std::string {
                int n = 0;
                auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
                const bool ok = ec == std::errc() && end == v.data() + v.size() &&
                                (n == 4 || n == 17 || n == 32 || n == 613 || n == 429 || (n >= 80000 && n <= 80014));
                return ok ? std::string() : "takes 4, 17, 32, 613, 80000..80014 or 429, not " + v;
            },
            ""));
    app.add_option("--throttle-backoff-ms", c.throttle_backoff_ms,
                   "the client's RetryPolicy::throttle_initial_backoff in the burst run (the\n"
                   "library's 60 s would make the run last minutes, not change what it shows)")
        ->capture_default_str()
        ->check(CLI::Range(1, 900'000));
    if (auto rc = capi_cli::parse(app, command, argc, argv)) return *rc;

    c.sweep = scenario != "burst";
    c.burst = scenario != "sweep";
    if (!latencies.empty()) {
        c.latencies.clear();
        for (std::string_view rest = latencies; !rest.empty();) {
            const auto comma = rest.find(',');
            const auto item = rest.substr(0, comma);
            long long n = 0;
            auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), n);
            if (ec != std::errc() || end != item.data() + item.size() || n < 0 || n > 60'000)
                return capi_cli::fail(command, "--latencies: takes milliseconds 0..60000, comma-separated, not " +
                                                   std::string(item));
            c.latencies.push_back(n);
            rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
        }
    }
    return std::nullopt;
}

const std::string token = "bench-token";
const std::string pixel = "1234567890";

capi::Options default_options(const capi_bench::MockProcess& mock, std::optional<std::size_t> connections) {
    capi::Options o;  // the library's defaults but for where to send
    if (connections) o.transport.max_connections = *connections;
    o.destination.pixel_id = pixel;
    o.destination.access_token = token;
    o.transport.endpoint = mock.url();
    o.transport.ca_pem = mock.ca_pem();
    return o;
}

struct RunResult {
    std::size_t events = 0;
    double seconds = 0;
    double second_half_seconds = 0;  // from half the events delivered to the end
    double cpu_seconds = 0;          // this process: the client and the producers making events
    capi::Stats stats;
    std::uint64_t max_limit = 0;
    std::optional<capi_bench::MockCounts> before, after;
    std::uint64_t not_delivered = 0;
    std::string first_error;
    bool timed_out = false;
    std::uint64_t full_retries = 0;  // enqueue() answered queue_full (the event retried)
    // The burst run only.
    std::uint64_t limit_before = 0, max_before = 0, min_during = 0, limit_after = 0, max_after = 0;
    bool burst_armed = false;
};

// Runs `events` events through a client with `opts` against `mock`. When
// `burst` is set, arms it once a third of the events are delivered, and follows
// the limit before, during (until the mock has throttled them all) and after.
RunResult run(const Config& cfg, capi::Options opts, capi_bench::MockProcess& mock, std::size_t first,
              std::size_t events, std::optional<capi::testing::ThrottleBurst> burst) {
    RunResult r;
    r.events = events;
    std::atomic<std::uint64_t> acked{0}, not_delivered{0};
    std::mutex error_mutex;
    const auto window = cfg.window ? static_cast<std::int64_t>(*cfg.window) : std::numeric_limits<std::int64_t>::max();
    std::atomic<std::uint64_t> full_retries{0};
    opts.on_delivery = [&](const capi::SendResult& res) {
        if (res.outcome != capi::Outcome::delivered) {
            not_delivered.fetch_add(1, std::memory_order_relaxed);
            std::lock_guard lock(error_mutex);
            if (r.first_error.empty()) r.first_error = std::string(capi::to_string(res.outcome));
        }
        acked.fetch_add(1, std::memory_order_release);
    };
    capi::Client client(std::move(opts));
    r.before = mock.counts();

    std::atomic<std::int64_t> pushed{0};
    std::atomic<bool> done{false};
    std::vector<std::thread> producers;
    const auto t0 = steady::now();
    const double cpu0 = capi_bench::process_cpu_seconds();
    steady::time_point half_done{};
    for (unsigned p = 0; p < cfg.producers; ++p) {
        const std::size_t lo = first + events * p / cfg.producers, hi = first + events * (p + 1) / cfg.producers;
        producers.emplace_back([&, lo, hi] {
            constexpr std::int64_t chunk = 64;
            for (std::size_t next = lo; next < hi;) {
                while (pushed.load(std::memory_order_relaxed) + chunk -
                           static_cast<std::int64_t>(acked.load(std::memory_order_acquire)) > window)
                    std::this_thread::sleep_for(200us);
                const std::size_t k = std::min<std::size_t>(chunk, hi - next);
                for (const auto& ev : capi_bench::make_purchase_events(next, k, capi_bench::unix_now())) {
                    for (;;) {
                        const auto res = client.enqueue(ev);
                        if (res) break;
                        if (res.status == capi::EnqueueResult::Status::queue_full) {
                            full_retries.fetch_add(1, std::memory_order_relaxed);
                            std::this_thread::sleep_for(200us);
                            continue;
                        }
                        not_delivered.fetch_add(1, std::memory_order_relaxed);
                        acked.fetch_add(1, std::memory_order_release);
                        break;
                    }
                }
                next += k;
                pushed.fetch_add(static_cast<std::int64_t>(k), std::memory_order_relaxed);
            }
        });
    }
    // The sampler: the limit as the client reports it, and the burst's course.
    std::thread sampler([&] {
        enum class Stage { before, during, after } stage = Stage::before;
        while (!done.load(std::memory_order_acquire)) {
            const capi::Stats s = client.stats();
            r.max_limit = std::max(r.max_limit, s.concurrency_limit);
            if (half_done == steady::time_point{} && s.delivered >= events / 2) half_done = steady::now();
            if (burst) {
                if (stage == Stage::before) {
                    r.max_before = std::max(r.max_before, s.concurrency_limit);
                    if (s.delivered >= events / 3) {
                        r.limit_before = s.concurrency_limit;
                        r.min_during = s.concurrency_limit;
                        r.burst_armed = mock.throttle_burst(*burst);
                        stage = Stage::during;
                    }
                } else if (stage == Stage::during) {
                    r.min_during = std::min(r.min_during, s.concurrency_limit);
                    const auto c = mock.counts();
                    if (c && r.before && c->throttled - r.before->throttled >= burst->requests) stage = Stage::after;
                } else {
                    r.min_during = std::min(r.min_during, s.concurrency_limit);  // answers still arriving
                    r.max_after = std::max(r.max_after, s.concurrency_limit);
                    r.limit_after = s.concurrency_limit;
                }
            }
            std::this_thread::sleep_for(5ms);
        }
    });
    for (auto& t : producers) t.join();
    r.timed_out = !client.flush(std::chrono::minutes(5));
    for (int i = 0; i < 5000 && acked.load(std::memory_order_acquire) < events; ++i)
        std::this_thread::sleep_for(1ms);
    const auto t1 = steady::now();
    r.cpu_seconds = capi_bench::process_cpu_seconds() - cpu0;
    r.seconds = std::chrono::duration<double>(t1 - t0).count();
    done.store(true, std::memory_order_release);
    sampler.join();
    if (half_done != steady::time_point{}) r.second_half_seconds = std::chrono::duration<double>(t1 - half_done).count();
    r.stats = client.stats();
    if (burst) r.limit_after = r.stats.concurrency_limit;
    r.after = mock.counts();
    r.not_delivered = not_delivered.load();
    r.full_retries = full_retries.load();
    client.shutdown(std::chrono::seconds(5));
    return r;
}

// Checks that every event was delivered and the mock accepted exactly those.
bool check(const RunResult& r, std::string& why) {
    if (r.timed_out) why = "timed out waiting for acknowledgements";
    else if (r.not_delivered || r.stats.delivered != r.events)
        why = std::to_string(r.events - std::min<std::uint64_t>(r.events, r.stats.delivered)) +
              " events not delivered (first: " + (r.first_error.empty() ? "?" : r.first_error) + ")";
    else if (!r.before || !r.after)
        why = "no counts from the mock";
    else if (r.after->events_accepted - r.before->events_accepted != r.stats.delivered)
        why = "mock accepted " + std::to_string(r.after->events_accepted - r.before->events_accepted) +
              " != delivered " + std::to_string(r.stats.delivered);
    return why.empty();
}

} // namespace

int run_latency_bench(int argc, char** argv) {
    Config cfg;
    if (auto status = parse_args(argc, argv, cfg)) return *status;

    // Every mock first, forked while this process has no thread.
    std::vector<std::unique_ptr<capi_bench::MockProcess>> sweep_mocks;
    std::unique_ptr<capi_bench::MockProcess> burst_mock;
    std::string error;
    auto start = [&](long long latency_ms) {
        auto m = std::make_unique<capi_bench::MockProcess>();
        capi_bench::MockSetup setup;
        setup.threads = cfg.mock_threads;
        setup.latency = std::chrono::milliseconds(latency_ms);
        if (!m->start(setup, token, error)) m.reset();
        return m;
    };
    if (cfg.sweep) {
        for (long long l : cfg.latencies) {
            sweep_mocks.push_back(start(l));
            if (!sweep_mocks.back()) {
                std::fprintf(stderr, "bench --latency: cannot start the mock server: %s\n", error.c_str());
                return 1;
            }
        }
    }
    if (cfg.burst && !(burst_mock = start(cfg.burst_latency_ms))) {
        std::fprintf(stderr, "bench --latency: cannot start the mock server: %s\n", error.c_str());
        return 1;
    }

    const capi::Options defaults;
    std::printf("capi latency benchmark: capi::Client with default options (max_connections %zu, adaptive "
                "concurrency %s) -> TLS -> the mock Graph server on 127.0.0.1 (separate process, %u thread%s), "
                "every answer sent N ms after its request arrived\n",
                defaults.transport.max_connections, defaults.concurrency.adaptive ? "on" : "off", cfg.mock_threads,
                cfg.mock_threads == 1 ? "" : "s");
    if (cfg.window)
        std::printf("Purchase events made by %u producer threads calling enqueue() (at most %zu outstanding); "
                    "every acknowledgement awaited and checked against the mock's count\n",
                    cfg.producers, *cfg.window);
    else
        std::printf("Purchase events made by %u producer threads calling enqueue() as fast as the client takes "
                    "them (an event refused with queue_full retried after 200 us); every acknowledgement awaited "
                    "and checked against the mock's count\n",
                    cfg.producers);
    std::fflush(stdout);

    bool ok = true;
    std::size_t first = 0;
    if (cfg.sweep) {
        const std::size_t n = cfg.latencies.size();
        const bool several = cfg.rounds > 1;
        std::printf("\n%zu events per run%s\n", cfg.events,
                    several ? ", the latencies in turn, their order reversed every other round" : "");
        std::printf("  %slatency   events/s  vs %lld ms  2nd half  vs %lld ms  limit max/end  holds  connections  requests"
                    "  batches  retries  queue_full  CPU/event client mock  check\n",
                    several ? "round  " : "", cfg.latencies.front(), cfg.latencies.front());
        // Per latency, one entry per round: events/s over the run and over its
        // second half, and their ratios to the first latency's run of that round.
        std::vector<std::vector<double>> eps(n), half_eps(n), ratio(n), ratio_half(n);
        for (unsigned round = 0; round < cfg.rounds; ++round) {
            const bool reversed = round % 2 == 1;
            std::vector<std::optional<RunResult>> results(n);
            std::size_t printed = 0;  // rows are printed in the latencies' order once the reference has run
            for (std::size_t k = 0; k < n; ++k) {
                const std::size_t i = reversed ? n - 1 - k : k;
                results[i] = run(cfg, default_options(*sweep_mocks[i], cfg.connections), *sweep_mocks[i], first,
                                 cfg.events, {});
                first += cfg.events;
                if (round + 1 == cfg.rounds) sweep_mocks[i]->stop();  // its CPU is counted; the next run has the machine
                for (; results[0] && printed < n && results[printed]; ++printed) {
                    const std::size_t j = printed;
                    const RunResult& r = *results[j];
                    std::string why;
                    const bool passed = check(r, why);
                    ok = ok && passed;
                    eps[j].push_back(static_cast<double>(r.stats.delivered) / r.seconds);
                    half_eps[j].push_back(r.second_half_seconds > 0
                                              ? static_cast<double>(r.events - r.events / 2) / r.second_half_seconds
                                              : 0);
                    ratio[j].push_back(eps[0].back() > 0 ? eps[j].back() / eps[0].back() : 0);
                    ratio_half[j].push_back(half_eps[0].back() > 0 ? half_eps[j].back() / half_eps[0].back() : 0);
                    const bool counted = r.before && r.after;
                    const double events = static_cast<double>(std::max<std::uint64_t>(1, r.stats.delivered));
                    if (several) std::printf("  %5u", round + 1);
                    std::printf("  %5lld ms  %9.0f  %8.2fx  %8.0f  %8.2fx  %6llu/%-6llu  %5llu  %11llu  %8llu  %7llu  %7llu"
                                "  %10llu  %6.2f %5.2f us  %s\n",
                                cfg.latencies[j], eps[j].back(), ratio[j].back(), half_eps[j].back(),
                                ratio_half[j].back(), static_cast<unsigned long long>(r.max_limit),
                                static_cast<unsigned long long>(r.stats.concurrency_limit),
                                static_cast<unsigned long long>(r.stats.concurrency_holds),
                                counted ? static_cast<unsigned long long>(r.after->connections - r.before->connections)
                                        : 0ULL,
                                counted ? static_cast<unsigned long long>(r.after->requests - r.before->requests) : 0ULL,
                                static_cast<unsigned long long>(r.stats.batches),
                                static_cast<unsigned long long>(r.stats.retries),
                                static_cast<unsigned long long>(r.full_retries), r.cpu_seconds / events * 1e6,
                                counted ? (r.after->cpu_seconds - r.before->cpu_seconds) / events * 1e6 : 0.0,
                                passed ? "OK" : ("FAILED: " + why).c_str());
                }
                std::fflush(stdout);
            }
        }
        auto range = [](const std::vector<double>& v) {
            char buf[64];
            std::snprintf(buf, sizeof buf, "%.2f-%.2fx", *std::min_element(v.begin(), v.end()),
                          *std::max_element(v.begin(), v.end()));
            return std::string(buf);
        };
        if (several) {
            std::printf("median of %u rounds (the ratios: the median of each round's, and their range)\n", cfg.rounds);
            for (std::size_t j = 0; j < n; ++j)
                std::printf("         %5lld ms  %9.0f  %8.2fx  %8.0f  %8.2fx  (%s, 2nd half %s)\n", cfg.latencies[j],
                            capi_bench::median(eps[j]), capi_bench::median(ratio[j]), capi_bench::median(half_eps[j]),
                            capi_bench::median(ratio_half[j]), range(ratio[j]).c_str(), range(ratio_half[j]).c_str());
        }
        const auto at_200 = std::find(cfg.latencies.begin(), cfg.latencies.end(), 200LL);
        if (at_200 != cfg.latencies.end()) {
            const std::size_t j = static_cast<std::size_t>(at_200 - cfg.latencies.begin());
            const double whole = capi_bench::median(ratio[j]), second = capi_bench::median(ratio_half[j]);
            const auto rounds_met = std::count_if(ratio[j].begin(), ratio[j].end(), [](double x) { return x >= 0.8; });
            if (several)
                std::printf("goal: throughput at 200 ms >= 0.8x the %lld ms run: %.2fx over the whole run (median of %u "
                            "rounds, %s; met in %ld of them), %.2fx over its second half (%s)\n",
                            cfg.latencies.front(), whole, cfg.rounds, range(ratio[j]).c_str(),
                            static_cast<long>(rounds_met), second, whole >= 0.8 ? "met" : "not met");
            else
                std::printf("goal: throughput at 200 ms >= 0.8x the %lld ms run: %.2fx over the whole run, %.2fx over "
                            "its second half (%s)\n",
                            cfg.latencies.front(), whole, second, whole >= 0.8 ? "met" : "not met");
        }
        std::printf("(2nd half: the events/s from half the events delivered to the last, past the client's ramp-up;"
                    " limit: Stats::concurrency_limit, the batches in flight the client allows, 0 = not reported;"
                    " holds: Stats::concurrency_holds, times the limit went back because the delivery rate did not"
                    " follow its growth;"
                    " client CPU: this process, the producers making events included; mock CPU: its process)\n");
    }

    if (cfg.burst) {
        capi::Options opts = default_options(*burst_mock, cfg.connections);
        opts.retry.throttle_initial_backoff = std::chrono::milliseconds(cfg.throttle_backoff_ms);
        capi::testing::ThrottleBurst burst;
        burst.requests = cfg.burst_requests;
        burst.code = cfg.burst_code;
        std::printf("\nthrottling burst: %zu events at %lld ms of latency; once a third are delivered, the next %zu "
                    "requests get Meta's throttling error (%s %d); default options but "
                    "RetryPolicy::throttle_initial_backoff = %lld ms\n",
                    cfg.burst_events, cfg.burst_latency_ms, cfg.burst_requests,
                    cfg.burst_code == 429 ? "HTTP" : "Graph code", cfg.burst_code, cfg.throttle_backoff_ms);
        const RunResult r = run(cfg, std::move(opts), *burst_mock, first, cfg.burst_events, burst);
        std::string why;
        bool passed = check(r, why);
        const auto& s = r.stats;
        const std::uint64_t requests = r.before && r.after ? r.after->requests - r.before->requests : 0;
        const std::uint64_t throttled = r.before && r.after ? r.after->throttled - r.before->throttled : 0;
        std::printf("  throughput             : %.0f events/s (%llu events in %.2f s)\n",
                    static_cast<double>(s.delivered) / r.seconds, static_cast<unsigned long long>(s.delivered),
                    r.seconds);
        std::printf("  limit before the burst : %llu (at most %llu so far)\n",
                    static_cast<unsigned long long>(r.limit_before), static_cast<unsigned long long>(r.max_before));
        std::printf("  limit during the burst : least %llu (Stats::concurrency_limit_min %llu, %llu cuts, %llu holds)\n",
                    static_cast<unsigned long long>(r.min_during),
                    static_cast<unsigned long long>(s.concurrency_limit_min),
                    static_cast<unsigned long long>(s.concurrency_cuts),
                    static_cast<unsigned long long>(s.concurrency_holds));
        std::printf("  limit after recovery   : %llu at the end (at most %llu after the burst)\n",
                    static_cast<unsigned long long>(r.limit_after), static_cast<unsigned long long>(r.max_after));
        // Each throttled request's batch goes again once; anything more is a retry storm.
        const bool no_storm = requests <= s.batches + throttled + s.splits;
        std::printf("  requests the mock saw  : %llu = %llu batches + %llu retries (%llu throttled answers): %s\n",
                    static_cast<unsigned long long>(requests), static_cast<unsigned long long>(s.batches),
                    static_cast<unsigned long long>(s.retries), static_cast<unsigned long long>(throttled),
                    no_storm ? "no retry storm" : "MORE REQUESTS THAN BATCHES + THROTTLED ANSWERS");
        if (!r.burst_armed || throttled != cfg.burst_requests) {
            why = why.empty() ? "the burst did not run as scripted" : why;
            passed = false;
        }
        passed = passed && no_storm;
        const std::uint64_t accepted = r.before && r.after ? r.after->events_accepted - r.before->events_accepted : 0;
        std::printf("check: mock accepted %llu %s delivered %llu of %zu: %s\n",
                    static_cast<unsigned long long>(accepted), accepted == s.delivered ? "=" : "!=",
                    static_cast<unsigned long long>(s.delivered), cfg.burst_events,
                    passed ? "OK" : ("FAILED: " + why).c_str());
        ok = ok && passed;
    }
    std::fflush(stdout);
    if (!ok) {
        std::fprintf(stderr, "bench --latency: FAILED (see above)\n");
        return 1;
    }
    return 0;
}
