// End-to-end benchmark: capi::Client over TLS to the mock Graph server on
// 127.0.0.1 (or a real endpoint), in two phases, each with its own client:
//
//   enqueue : P producer threads call enqueue(); the client runs on its own threads.
//   send    : C coroutines on one io_context thread `co_await async_send()` their
//             share of the events one after another; the client runs its network
//             I/O on that io_context (a coroutine server's setup). Once with
//             as_tuple(use_awaitable), once with deferred (--completion), each with
//             its own client and events. --send-threads N runs it on N such
//             threads, an io_context and C coroutines each (the client's I/O on
//             the first). This phase is in e2e_send.cpp, and e2e_internal.hpp
//             declares what the phases share.
//
// Events are realistic Purchase events with distinct PII. Their data (the strings
// a server already holds) is generated outside the client's figure; building the
// events from it is the caller's path (caller_path.hpp: kept Events refilled with
// capi::assign / capi::refill), measured on its own and printed next to the
// client's CPU, not in it.
// Each phase first sends --warmup events (default: as many as --events) through
// the same client from the same threads, untimed: the timed events then run in
// the steady state the floors are measured in (memory the client reuses already
// touched once, connections and their TLS sessions open, thread-local state
// made). The warm-up's own client CPU per event is printed apart. Phases 1 and
// 2 are then compared with both floors measured again right there, between the
// warm-up and the timed events (the machine's speed drifts within a run).
// --rounds N runs phases 1 and 2 N times in turn and closes with each one's
// median ratio: one round's ratio is worth little on a shared machine.
// Each phase waits for every acknowledgement, then prints throughput, the client's
// CPU time per event (and its ratio to the compute floor: BatchEncoder's validate +
// normalize + hash + serialize on one thread, measured in the same run), enqueue
// latency, enqueue-to-ack latency, batches and connections, and checks the mock
// counted exactly the events the client says were delivered.
//
// The mock runs in a child process forked at start-up, before any thread exists,
// so the client's CPU time is simply this process's CPU time: MockGraphServer
// does not expose its thread ids, and subtracting threads found by diffing
// /proc/self/task would miss any the mock starts later and lose the CPU of those
// that exit. The child reports its port and CA over a socket and answers count
// queries on it; it exits when the socket closes (or when this process dies).
//
//   bench_e2e [--events N] [--warmup W] [--rounds R] [--producers P] [--coroutines C] [--send-threads S]
//             [--mock-threads T]
//             [--client-io shared|own] [--completion awaitable|deferred|both]
//             [--phase enqueue|send|pipeline|both|all] [--batchers B] [--linger-ms L]
//             [--connections K] [--queue-capacity Q] [--null-delay-ms D]
//             [--endpoint URL [--ca FILE] --pixel ID [--test-event-code CODE]]
//   With --endpoint the access token comes from $CAPI_ACCESS_TOKEN (never the
//   command line, where the process list shows it).
#include "e2e.hpp"
#include "e2e_internal.hpp"
#include "e2e_phase.hpp"
#include "caller_path.hpp"
#include "cpu_clock.hpp"
#include "mock_process.hpp"
#include "purchase_events.hpp"
#include "tls_floor.hpp"
#include "cli/cli.hpp"

#include <CLI/CLI.hpp>

#include <capi/client.hpp>
#include <capi/encode.hpp>
#include <capi/sha256.hpp>
#include <capi/testing/mock_graph.hpp>
#include <capi/sender.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <pthread.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <numeric>
#include <ctime>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

namespace net = boost::asio;
using steady = std::chrono::steady_clock;

constexpr const char* description =
    "End-to-end benchmark: Client -> TLS -> the mock Graph server in a child process,\n"
    "phase by phase, with the compute and transport floors measured in the same run.\n"
    "docs/performance.md explains every figure.";

// ---------------------------------------------------------------------------
// Configuration.

using capi_bench::e2e::Config;  // e2e_internal.hpp

// Returns the exit status on a usage error or --help, nothing when the run goes on.
std::optional<int> parse_args(int argc, char** argv, Config& c) {
    constexpr std::string_view command = "bench";
    CLI::App app{description, "capi bench"};
    std::string phase = "all";
    unsigned batchers = 0;
    long linger_ms = 0;
    std::size_t connections = 0, queue_capacity = 0;
    app.add_option("--events", c.events, "events per phase")->capture_default_str()->check(CLI::Range(1, 100'000'000));
    auto* warmup_opt =
        app.add_option("--warmup", c.warmup,
                       "events each phase sends first through the same client, from the same threads,\n"
                       "not timed and reported apart (default: as many as --events; 0: none)")
            ->check(CLI::Range(0, 100'000'000));
    app.add_option("--producers", c.producers, "enqueue() threads")->capture_default_str()->check(CLI::Range(1, 256));
    app.add_option("--coroutines", c.coroutines, "co_await async_send() coroutines (per --send-threads thread)")
        ->capture_default_str()
        ->check(CLI::Range(1, 1'000'000));
    app.add_option("--send-threads", c.send_threads,
                   "phase 2 (and 4): threads running an io_context each, with --coroutines coroutines\n"
                   "and a share of the events each; the client's I/O runs on the first")
        ->capture_default_str()
        ->check(CLI::Range(1, 64));
    app.add_option("--phase", phase,
                   "enqueue, send, pipeline (enqueue and async_send through a null transport: the\n"
                   "client without TLS or sockets), both (enqueue and send) or all")
        ->capture_default_str()
        ->check(CLI::IsMember({"enqueue", "send", "pipeline", "both", "all"}));
    app.add_option("--rounds", c.rounds,
                   "runs the target phases (enqueue, send) this many times, one after another, each\n"
                   "with its own events, warm-up and floors, and closes with each phase's median\n"
                   "against both floors (the figure to quote on a machine whose speed drifts)")
        ->capture_default_str()
        ->check(CLI::Range(1, 100));
    app.add_option("--mock-threads", c.mock_threads, "threads of the embedded mock server")
        ->capture_default_str()
        ->check(CLI::Range(1, 64));
    auto* batchers_opt = app.add_option("--batchers", batchers, "Options::batchers (default: the client's)")
                             ->check(CLI::Range(0, 256));
    auto* linger_opt = app.add_option("--linger-ms", linger_ms, "Options::linger (default: the client's)")
                           ->check(CLI::Range(0, 60'000));
    auto* connections_opt =
        app.add_option("--connections", connections, "TransportOptions::max_connections (default: the client's)")
            ->check(CLI::Range(1, 1024));
    auto* queue_opt = app.add_option("--queue-capacity", queue_capacity, "Options::queue_capacity (default: the client's)")
                          ->check(CLI::Range(1LL, 1LL << 30));
    app.add_option("--caller-batches", c.caller_batches,
                   "Options::caller_batches: the producers batch their own events (false: every\n"
                   "event goes through the queue to a batcher thread)")
        ->capture_default_str();
    std::string completion = "both";
    app.add_option("--completion", completion,
                   "phase 2's completion token: awaitable (co_await async_send(ev, as_tuple(use_awaitable))),\n"
                   "deferred (co_await async_send(ev, deferred): no coroutine frame per send) or both,\n"
                   "each timed apart")
        ->capture_default_str()
        ->check(CLI::IsMember({"awaitable", "deferred", "both"}));
    app.add_option("--null-delay-ms", c.null_delay_ms,
                   "phases 3 and 4: the null transport answers each body after this many\n"
                   "milliseconds, as a server after its answering time (0: at once)")
        ->capture_default_str()
        ->check(CLI::Range(0, 10'000));
    app.add_flag("--pin", c.pin,
                 "the mock on the first half of the CPUs this process may use, the client (and\n"
                 "the floors) on the rest, so that neither runs where the other just ran (at\n"
                 "least 2 CPUs; not with --endpoint)");
    std::string client_io = "shared";
    app.add_option("--client-io", client_io,
                   "phase 2: shared (the client's I/O runs on the coroutines' io_context thread) or\n"
                   "own (Client(Options): on the client's own io thread; completions cross threads)")
        ->capture_default_str()
        ->check(CLI::IsMember({"shared", "own"}));
    app.add_option("--endpoint", c.endpoint,
                   "send to URL instead of the embedded mock; the access token comes from\n"
                   "$CAPI_ACCESS_TOKEN; needs --pixel ID")
        ->type_name("URL");
    app.add_option("--ca", c.ca_file, "PEM of CAs to trust for --endpoint (default: system store)")->type_name("FILE");
    app.add_option("--pixel", c.pixel, "pixel (dataset) id for --endpoint")->type_name("ID");
    app.add_option("--test-event-code", c.test_event_code, "test_event_code for --endpoint (Events Manager's Test Events)")
        ->type_name("CODE");
    if (auto rc = capi_cli::parse(app, command, argc, argv)) return *rc;

    c.run_enqueue = phase == "enqueue" || phase == "both" || phase == "all";
    c.run_send = phase == "send" || phase == "both" || phase == "all";
    c.run_pipeline = phase == "pipeline" || phase == "all";
    c.own_io = client_io == "own";
    c.send_awaitable = completion != "deferred";
    c.send_deferred = completion != "awaitable";
    if (warmup_opt->count() == 0) c.warmup = c.events;
    if (batchers_opt->count() != 0) c.batchers = batchers;
    if (linger_opt->count() != 0) c.linger_ms = linger_ms;
    if (connections_opt->count() != 0) c.connections = connections;
    if (queue_opt->count() != 0) c.queue_capacity = queue_capacity;
    if (c.endpoint.empty() && (!c.ca_file.empty() || !c.test_event_code.empty()))
        return capi_cli::fail(command, "--ca and --test-event-code go with --endpoint");
    if (!c.endpoint.empty() && c.pixel.empty()) return capi_cli::fail(command, "--endpoint needs --pixel ID");
    if (c.pin && !c.endpoint.empty()) return capi_cli::fail(command, "--pin pins the embedded mock: not with --endpoint");
    if (!c.ca_file.empty()) {
        if (auto why = capi_cli::check_readable(c.ca_file, "--ca")) return capi_cli::fail(command, *why);
    }
    return std::nullopt;
}

// ---------------------------------------------------------------------------
// The mock server runs in a child process: mock_process.hpp.
using capi_bench::MockCounts;
using capi_bench::PhaseResult;
using capi_bench::print_phase;
using capi_bench::Progress;
using capi_bench::record_split;
using capi_bench::since;
using capi_bench::thread_cpu_by_name;
using capi_bench::MockProcess;
using capi_bench::process_cpu_seconds;

using capi_bench::compute_floor_ns;  // tls_floor.cpp
using capi_bench::thread_cpu_seconds;  // cpu_clock.hpp
using capi_bench::unix_now;  // purchase_events.hpp
using capi_bench::HotEvents;

// ---------------------------------------------------------------------------

// ---------------------------------------------------------------------------
// The phases.

// What they share with phase 2 (e2e_send.cpp): e2e_internal.hpp.
using capi_bench::e2e::Target;
using capi_bench::e2e::Token;
using capi_bench::e2e::client_options;
using capi_bench::e2e::mock_counts;
using capi_bench::e2e::subtract_mock;
using capi_bench::e2e::describe;
using capi_bench::e2e::NullTransport;
using capi_bench::e2e::run_send_phase;

// The transport floor per event: the bodies of `n` events (as the client builds
// them) POSTed to the mock by the simplest TLS client (tls_floor.hpp). None
// when the target is not the embedded mock, or it could not be measured.
std::optional<double> transport_floor_ns(const Target& t, std::size_t n, std::string& error) {
    if (t.mock == nullptr) return std::nullopt;
    const auto colon = t.url.rfind(':');
    unsigned port = 0;
    if (colon == std::string::npos ||
        std::from_chars(t.url.data() + colon + 1, t.url.data() + t.url.size(), port).ec != std::errc{}) {
        error = "no port in " + t.url;
        return std::nullopt;
    }
    capi::BatchEncoder encoder;
    const auto now = std::chrono::system_clock::now();
    std::vector<std::string> bodies;
    for (std::size_t i = 0; i < n; i += 64) {
        const auto events = capi_bench::make_purchase_events(2'000'000'000 + i, std::min<std::size_t>(64, n - i),
                                                             unix_now());
        for (const auto& ev : events) {
            if (encoder.full()) {
                bodies.emplace_back(encoder.json_body({}, t.token));
                encoder.clear();
            }
            if (encoder.add(ev, now).status != capi::EncodeStatus::added) std::abort();  // generated data is valid
        }
    }
    if (!encoder.empty()) bodies.emplace_back(encoder.json_body({}, t.token));
    const auto r = capi_bench::measure_tls_floor(port, t.ca_pem, capi::TransportOptions{}.api_version, t.pixel,
                                                 bodies, 3);
    if (!r.error.empty()) {
        error = r.error;
        return std::nullopt;
    }
    return r.cpu_seconds / static_cast<double>(n) * 1e9;
}

// P producer threads enqueue() their share of the events. The producers keep at
// most queue_capacity events outstanding (enqueued, no outcome yet), so the
// reject policy never fires: the benchmark measures the pipeline, not overflow.
PhaseResult run_enqueue_phase(const Config& cfg, const Target& real_target, std::size_t first,
                              std::size_t warm_first, const std::function<void(PhaseResult&)>& before_timing,
                              bool null_transport = false) {
    capi_bench::thread_clock_read_seconds();  // measured now, before anything is timed
    PhaseResult r;
    r.events = cfg.events;
    Target target = real_target;
    // With the null transport the client runs on an io_context of ours, its
    // thread named as the client names its own.
    std::optional<net::io_context> null_io;
    std::optional<net::executor_work_guard<net::io_context::executor_type>> null_work;
    std::thread null_thread;
    std::shared_ptr<NullTransport> null;
    if (null_transport) {
        target.mock = nullptr;
        null_io.emplace(1);
        null_work.emplace(null_io->get_executor());
        null = std::make_shared<NullTransport>(null_io->get_executor(),
                                               std::chrono::milliseconds(cfg.null_delay_ms));
        null_thread = std::thread([&] {
            pthread_setname_np(pthread_self(), "capi-io");
            null_io->run();
        });
    }
    struct Joiner {
        std::optional<net::executor_work_guard<net::io_context::executor_type>>& work;
        std::thread& t;
        ~Joiner() {
            work.reset();
            if (t.joinable()) t.join();
        }
    } joiner{null_work, null_thread};
    std::atomic<std::uint64_t> acked{0}, not_delivered{0};
    std::mutex error_mutex;
    auto opts = client_options(cfg, target);
    const auto window = static_cast<std::int64_t>(opts.queue_capacity);
    opts.on_delivery = [&](const capi::SendResult& res) {
        if (res.outcome != capi::Outcome::delivered) {
            not_delivered.fetch_add(1, std::memory_order_relaxed);
            std::lock_guard lock(error_mutex);
            if (r.first_error.empty()) r.first_error = describe(res);
        }
        acked.fetch_add(1, std::memory_order_release);
    };
    if (null) opts.custom_transport = null;
    auto client_ptr = null ? std::make_unique<capi::Client>(null_io->get_executor(), std::move(opts))
                           : std::make_unique<capi::Client>(std::move(opts));
    capi::Client& client = *client_ptr;

    const unsigned producers = cfg.producers;
    std::vector<std::vector<std::uint64_t>> samples(producers);
    std::atomic<std::int64_t> pushed{0};
    std::atomic<std::uint64_t> refused{0}, pauses{0};
    std::atomic<bool> start{false}, go{false};
    std::atomic<unsigned> warmed{0};
    std::mutex go_mu;
    std::condition_variable go_cv;
    std::vector<std::thread> threads;
    std::vector<double> making(producers, 0.0);  // CPU seconds each producer spent generating data
    std::vector<double> filling(producers, 0.0);  // ... refilling events from it (the caller's path)
    std::vector<double> caller_cpu(producers, 0.0);  // ... and in enqueue() (the rest of its loop)
    std::vector<double> warm_harness(producers, 0.0);  // generating and refilling the warm-up's events
    // One producer's loop over events [lo, hi); `mine` gets every 16th call's duration.
    auto produce = [&](HotEvents& source, std::vector<std::uint64_t>* mine) {
        constexpr std::int64_t chunk = 64;
        std::size_t j = 0;
        for (bool more = true; more;) {
            // Sleep rather than spin: a spinning producer would bill its wait
            // to the client's CPU time.
            while (pushed.load(std::memory_order_relaxed) + chunk -
                       static_cast<std::int64_t>(acked.load(std::memory_order_acquire)) >
                   window) {
                pauses.fetch_add(1, std::memory_order_relaxed);
                std::this_thread::sleep_for(std::chrono::microseconds(200));
            }
            std::int64_t k = 0;
            for (; k < chunk; ++k, ++j) {
                auto ev = source.next();
                if (!ev) {
                    more = false;
                    break;
                }
                capi::EnqueueResult res;
                if (mine && (j & 15) == 0) {  // time every 16th call: now() costs ~20 ns
                    const auto t0 = steady::now();
                    res = client.enqueue(*ev);
                    const auto t1 = steady::now();
                    mine->push_back(static_cast<std::uint64_t>(
                        std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count()));
                } else {
                    res = client.enqueue(*ev);
                }
                if (!res) refused.fetch_add(1, std::memory_order_relaxed);
            }
            pushed.fetch_add(k, std::memory_order_relaxed);
        }
    };
    const std::size_t warm = cfg.warmup;
    for (unsigned p = 0; p < producers; ++p) {
        const std::size_t lo = first + cfg.events * p / producers, hi = first + cfg.events * (p + 1) / producers;
        const std::size_t wlo = warm_first + warm * p / producers, whi = warm_first + warm * (p + 1) / producers;
        samples[p].reserve((hi - lo) / 16 + 1);
        threads.emplace_back([&, p, lo, hi, wlo, whi] {
            pthread_setname_np(pthread_self(), "producer");
            while (!start.load(std::memory_order_acquire)) std::this_thread::yield();
            {
                HotEvents warm_source(wlo, whi);
                produce(warm_source, nullptr);
                warm_harness[p] = warm_source.making_seconds() + warm_source.caller_seconds();
            }
            warmed.fetch_add(1, std::memory_order_release);
            {
                // Blocked, not polling: the floors are measured meanwhile.
                std::unique_lock lock(go_mu);
                go_cv.wait(lock, [&] { return go.load(std::memory_order_acquire); });
            }
            const double caller_cpu0 = thread_cpu_seconds();
            HotEvents source(lo, hi);
            produce(source, &samples[p]);
            making[p] = source.making_seconds();
            filling[p] = source.caller_seconds();
            caller_cpu[p] = thread_cpu_seconds() - caller_cpu0 - making[p] - filling[p];
        });
    }

    Progress progress("enqueue", warm + cfg.events, client);
    // The warm-up: the same producers send `warm` events through the same
    // client, which then holds the memory, connections and thread-local state
    // of its steady state, the state the floors are measured in. Its cost is
    // reported apart.
    const double warm_cpu0 = process_cpu_seconds();
    start.store(true, std::memory_order_release);
    while (warmed.load(std::memory_order_acquire) != producers) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    const std::uint64_t warm_expected = warm - std::min<std::uint64_t>(warm, refused.load());
    r.timed_out = !client.flush(std::chrono::minutes(2));
    for (int i = 0; i < 5000 && acked.load(std::memory_order_acquire) < warm_expected; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    r.warmup_events = warm;
    r.warmup_cpu_seconds = process_cpu_seconds() - warm_cpu0 - std::accumulate(warm_harness.begin(), warm_harness.end(), 0.0) -
                           (null ? null->counting_seconds() : 0.0);
    before_timing(r);
    const capi::Stats stats0 = client.stats();
    const auto before = mock_counts(target);
    const std::uint64_t refused0 = refused.load(), pauses0 = pauses.load(), acked0 = acked.load(),
                        null_events0 = null ? null->events() : 0;
    const double counting0 = null ? null->counting_seconds() : 0.0;

    const auto split0 = thread_cpu_by_name();
    const std::uint64_t faults0 = capi_bench::process_page_faults();
    const double cpu0 = process_cpu_seconds();
    const auto t0 = steady::now();
    {
        std::lock_guard lock(go_mu);
        go.store(true, std::memory_order_release);
    }
    go_cv.notify_all();
    for (auto& t : threads) t.join();
    r.timed_out = !client.flush(std::chrono::minutes(2)) || r.timed_out;
    // flush() returns once every event has an outcome; the delivery reports that
    // tell us so run on the io thread, so wait for the last of them too (bounded).
    const std::uint64_t expected = acked0 + cfg.events - (refused.load() - refused0);
    for (int i = 0; i < 5000 && acked.load(std::memory_order_acquire) < expected; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    const auto t1 = steady::now();
    const double cpu1 = process_cpu_seconds();
    r.page_faults = capi_bench::process_page_faults() - faults0;
    record_split(r, split0, thread_cpu_by_name());
    progress.stop();

    r.seconds = std::chrono::duration<double>(t1 - t0).count();
    r.making_seconds = std::accumulate(making.begin(), making.end(), 0.0);
    if (null) {
        const double counting = null->counting_seconds() - counting0;
        r.making_seconds += counting;
        // It ran on the io thread (kept at zero, should the two readings' clocks
        // leave less than the counting took).
        r.io_cpu_seconds = std::max(0.0, r.io_cpu_seconds - counting);
        r.null_events = null->events() - null_events0;
    }
    r.caller_cpu_seconds = std::accumulate(caller_cpu.begin(), caller_cpu.end(), 0.0);
    r.caller_path_seconds = std::accumulate(filling.begin(), filling.end(), 0.0);
    r.cpu_seconds = cpu1 - cpu0 - r.making_seconds - r.caller_path_seconds;
    r.stats = since(client.stats(), stats0);
    r.mock = mock_counts(target);
    subtract_mock(r, before);
    r.refused = refused.load() - refused0;
    r.pauses = pauses.load() - pauses0;
    r.not_delivered = not_delivered.load() + (expected - std::min(expected, acked.load()));
    for (auto& s : samples) r.enqueue_ns.insert(r.enqueue_ns.end(), s.begin(), s.end());
    client.shutdown(std::chrono::seconds(5));
    return r;
}

} // namespace

namespace capi_bench::e2e {

capi::Options client_options(const Config& cfg, const Target& t) {
    capi::Options o;
    o.destination.pixel_id = t.pixel;
    o.destination.access_token = t.token;
    o.destination.test_event_code = t.test_event_code;
    o.transport.endpoint = t.url;
    o.transport.ca_pem = t.ca_pem;
    o.transport.ca_file = t.ca_file;
    if (cfg.batchers) o.batchers = *cfg.batchers;
    if (cfg.linger_ms) o.linger = std::chrono::milliseconds(*cfg.linger_ms);
    if (cfg.connections) o.transport.max_connections = *cfg.connections;
    if (cfg.queue_capacity) o.queue_capacity = *cfg.queue_capacity;
    o.caller_batches = cfg.caller_batches;
    return o;
}

std::optional<MockCounts> mock_counts(const Target& t) {
    if (t.mock == nullptr) return std::nullopt;
    return t.mock->counts();
}

void subtract_mock(PhaseResult& r, const std::optional<MockCounts>& before) {
    if (!r.mock || !before) {
        r.mock.reset();
        return;
    }
    r.mock->events_accepted -= before->events_accepted;
    r.mock->connections -= before->connections;
    r.mock->cpu_seconds -= before->cpu_seconds;
}

std::string describe(const capi::SendResult& r) {
    std::string s(capi::to_string(r.outcome));
    if (r.error) s += ": " + r.error.message();
    if (r.graph) s += " (Graph code " + std::to_string(r.graph->code) + ")";
    return s;
}

// NullTransport (e2e_internal.hpp): counts the body's events, then answers on
// the client's io thread.
void NullTransport::post_shared(const capi::PostRequest&, capi::SharedBody shared, handler done) {
    const double cpu0 = thread_cpu_seconds();
    std::int64_t n = 0;
    const std::string_view body = shared.bytes, key = "\"event_name\":";
    for (auto at = body.find(key); at != std::string_view::npos; at = body.find(key, at + key.size())) ++n;
    events_.fetch_add(static_cast<std::uint64_t>(n), std::memory_order_relaxed);
    counting_ns_.fetch_add(static_cast<std::uint64_t>((thread_cpu_seconds() - cpu0) * 1e9), std::memory_order_relaxed);
    auto answer = [n, done = std::move(done)]() mutable {
        capi::PostResult r;
        r.http_status = 200;
        r.events_received = n;
        r.fbtrace_id = "null-transport";
        done({}, std::move(r));
    };
    if (delay_.count() == 0) return net::post(ex_, std::move(answer));
    auto timer = std::make_shared<net::steady_timer>(ex_, delay_);
    timer->async_wait([timer, answer = std::move(answer)](const boost::system::error_code&) mutable { answer(); });
}

} // namespace capi_bench::e2e

int run_e2e_bench(int argc, char** argv) {
    Config cfg;
    if (auto status = parse_args(argc, argv, cfg)) return *status;

    Target target;
    MockProcess mock;
    // --pin: the mock on the first half of the CPUs, the client on the rest.
    std::vector<int> mock_cpus, client_cpus;
    if (cfg.pin) {
        const auto cpus = capi_bench::allowed_cpus();
        if (cpus.size() < 2)
            return capi_cli::fail("bench", "--pin needs at least 2 CPUs; this process may use " +
                                               std::to_string(cpus.size()));
        const auto half = static_cast<std::ptrdiff_t>(cpus.size() / 2);
        mock_cpus.assign(cpus.begin(), cpus.begin() + half);
        client_cpus.assign(cpus.begin() + half, cpus.end());
    }
    if (cfg.endpoint.empty()) {
        // Fork first: the child must come from a process without threads.
        target.token = "bench-token";
        target.pixel = "1234567890";
        std::string error;
        capi_bench::MockSetup setup;
        setup.threads = cfg.mock_threads;
        setup.cpus = mock_cpus;
        if (!mock.start(setup, target.token, error)) {
            std::fprintf(stderr, "bench: cannot start the mock server: %s\n", error.c_str());
            return 1;
        }
        // Still one thread: every thread started from here on inherits the pin.
        if (!client_cpus.empty() && !capi_bench::pin_to(client_cpus, error)) {
            std::fprintf(stderr, "bench: %s\n", error.c_str());
            return 1;
        }
        target.url = mock.url();
        target.ca_pem = mock.ca_pem();
        target.mock = &mock;
    } else {
        const char* token = std::getenv("CAPI_ACCESS_TOKEN");
        if (token == nullptr || *token == '\0')
            return capi_cli::fail("bench", "--endpoint needs the access token in $CAPI_ACCESS_TOKEN");
        target.token = token;
        target.url = cfg.endpoint;
        target.ca_file = cfg.ca_file;
        target.pixel = cfg.pixel;
        target.test_event_code = cfg.test_event_code;
    }

    const double floor_ns = compute_floor_ns(20'000);

    std::printf("capi end-to-end benchmark: capi::Client -> TLS -> %s\n",
                target.mock ? ("the mock Graph server on 127.0.0.1 (separate process, " +
                               std::to_string(cfg.mock_threads) + " thread" + (cfg.mock_threads == 1 ? "" : "s") + ")")
                                  .c_str()
                            : cfg.endpoint.c_str());
    if (cfg.pin)
        std::printf("pinned (--pin): the mock on CPU %s, the client and the floors on CPU %s\n",
                    capi_bench::cpu_list(mock_cpus).c_str(), capi_bench::cpu_list(client_cpus).c_str());
    std::printf("%zu distinct Purchase events per phase (8 hashed PII values + external_id, IP, UA, fbc, fbp, "
                "2 contents each); sha256: %s; %u hardware threads\n",
                cfg.events, std::string(capi::sha256::implementation_name()).c_str(),
                std::thread::hardware_concurrency());
    std::printf("compute floor (BatchEncoder validate + normalize + hash + serialize, one thread): "
                "%.2f us/event = %.0f events per CPU-second\n",
                floor_ns / 1000.0, 1e9 / floor_ns);
    // What sending the bodies costs at the least: the part of a client's CPU no
    // pipeline can avoid on top of the compute floor (TLS records, the kernel's
    // loopback TCP path, reading the replies).
    std::string tls_error;
    const auto tls_floor = transport_floor_ns(target, 20'000, tls_error);
    if (tls_floor) {
        std::printf("transport floor (the same bodies POSTed by blocking OpenSSL on one keep-alive connection, one "
                    "thread, to the same mock): %.2f us/event\n", *tls_floor / 1000.0);
        std::printf("both floors     : %.2f us/event = %.0f events per CPU-second at most for any client doing this "
                    "work over TLS here\n", (floor_ns + *tls_floor) / 1000.0, 1e9 / (floor_ns + *tls_floor));
    } else if (!tls_error.empty()) {
        std::printf("transport floor : not measured (%s)\n", tls_error.c_str());
    }
    const auto caller_path = capi_bench::measure_caller_path(20'000);
    bool ok = capi_bench::print_caller_path(caller_path, floor_ns);
    std::fflush(stdout);

    // Each target phase is compared with floors measured just before its timed
    // events, after its warm-up: this machine's speed drifts by 1.5x within a
    // run, and the floors at the start can be minutes away from the phase.
    auto measure_floors = [&](PhaseResult& r) {
        r.floor_ns = compute_floor_ns(20'000);
        std::string why;
        r.tls_floor_ns = tls_floor ? transport_floor_ns(target, 20'000, why) : std::nullopt;
    };
    std::vector<capi_bench::TargetLine> targets;  // of the phases that passed
    auto record = [&](const char* name, const PhaseResult& r, bool passed) {
        ok = ok && passed;
        if (passed)
            targets.push_back({name, r.cpu_seconds / static_cast<double>(r.stats.delivered) * 1e9, *r.floor_ns,
                               r.tls_floor_ns});
    };
    // Event numbers: each phase takes a range of its own for its timed events
    // and one for its warm-up, in the order the phases run, so no event id
    // repeats within a run.
    std::size_t next_event = 0;
    struct Numbers {
        std::size_t first, warm_first;
    };
    auto take_numbers = [&] {
        Numbers n{next_event, next_event + cfg.events};
        next_event += cfg.events + cfg.warmup;
        return n;
    };
    // Phase 2's coroutines and threads, for its titles.
    auto on_threads = [&cfg] {
        const auto c = std::to_string(cfg.coroutines) + " coroutines on ";
        if (cfg.send_threads == 1) return c + "one io_context thread";
        return c + "each of " + std::to_string(cfg.send_threads) + " io_context threads (one io_context each)";
    };
    // Phase 2 once per token: the same client options and threads, each run with
    // events of its own, its own warm-up and the floors measured just before it.
    auto send_phase = [&](Token token, const char* label, const char* name) {
        const auto n = take_numbers();
        auto r = run_send_phase(cfg, target, n.first, n.warm_first, measure_floors, token);
        const char* io_where = cfg.own_io              ? "; the client's I/O runs on its own thread (--client-io own)"
                               : cfg.send_threads == 1 ? ", which also runs the client's I/O"
                                                       : "; the first also runs the client's I/O";
        const std::string title = std::string("phase 2") + label + ": co_await async_send(ev, " +
                                  (token == Token::deferred ? "deferred" : "as_tuple(use_awaitable)") + ") from " +
                                  on_threads() + io_where;
        record(name, r, print_phase(title.c_str(), r, *r.floor_ns));
    };
    for (unsigned round = 0; round < cfg.rounds; ++round) {
        if (cfg.rounds > 1) std::printf("\n=== round %u of %u\n", round + 1, cfg.rounds);
        if (cfg.run_enqueue) {
            const auto n = take_numbers();
            auto r = run_enqueue_phase(cfg, target, n.first, n.warm_first, measure_floors);
            const std::string title = "phase 1: enqueue() from " + std::to_string(cfg.producers) +
                                      " producer thread" + (cfg.producers == 1 ? "" : "s") +
                                      "; the client runs on threads it owns";
            record("enqueue", r, print_phase(title.c_str(), r, *r.floor_ns));
        }
        if (cfg.run_send && cfg.send_awaitable) send_phase(Token::awaitable, "", "send");
        if (cfg.run_send && cfg.send_deferred) send_phase(Token::deferred, cfg.send_awaitable ? "b" : "", "deferred");
        std::fflush(stdout);
    }
    if (cfg.run_pipeline) {
        // Once, after the rounds: not a target phase.
        // When the null transport answers (--null-delay-ms), in both titles.
        const std::string delay =
            cfg.null_delay_ms == 0 ? "" : " " + std::to_string(cfg.null_delay_ms) + " ms after each body";
        const auto n3 = take_numbers();
        auto r = run_enqueue_phase(cfg, target, n3.first, n3.warm_first, [](PhaseResult&) {}, true);
        const std::string title = "phase 3: the pipeline alone: enqueue() from " + std::to_string(cfg.producers) +
                                  " producer thread" + (cfg.producers == 1 ? "" : "s") +
                                  " through a null transport (no TLS, no socket, no mock" +
                                  (delay.empty() ? "" : ", answering" + delay) + ")";
        // Not a target phase: it shows what the network half adds to phase 1.
        ok = print_phase(title.c_str(), r, floor_ns) && ok;
        const auto n4 = take_numbers();
        auto r4 = run_send_phase(cfg, target, n4.first, n4.warm_first, [](PhaseResult&) {}, Token::awaitable, true);
        const std::string title4 = "phase 4: the pipeline alone: co_await async_send() from " +
                                   on_threads() + " through a null transport answering there" +
                                   delay;
        // Not a target phase either: what the network half adds to phase 2.
        ok = print_phase(title4.c_str(), r4, floor_ns) && ok;
    }

    capi_bench::print_targets(targets);
    std::fflush(stdout);
    if (!ok) {
        std::fprintf(stderr, "bench: FAILED: not every event was delivered%s (see above)\n",
                     target.mock ? " and counted by the mock" : "");
        return 1;
    }
    return 0;
}
