// The reliability matrix, load rows L1, L2, L3 and L5 (reference/reliability.md
// §7; L4 is the soak suite): the real Client over real TLS to MockGraphServer on
// 127.0.0.1, each case ending with the invariants I1-I4 (invariants.hpp).
//
// Scaled to this suite's time budget (CAPI_LOAD_SCALE=k divides the event counts
// of L1 and L3 by k, for sanitizer runs). Figures are printed (WARN), never
// asserted: the machine is shared. Stalls are made with a `hang` fault that the
// test releases itself (MockGraphServer::drop_connections), never with sleeps
// racing a deadline.
#include "invariants.hpp"
#include "support/fixtures.hpp"

#include <capi/client.hpp>
#include <capi/testing/mock_graph.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace asio = boost::asio;
using namespace std::chrono_literals;
using capi::Outcome;
using capi::testing::Fault;
using capi::testing::MockGraphServer;
using capi_test::numbered;
using steady = std::chrono::steady_clock;

namespace {

int scaled(int n) {
    if (const char* s = std::getenv("CAPI_LOAD_SCALE")) return std::max(1, n / std::max(1, std::atoi(s)));
    return n;
}

Fault delayed_ok(std::chrono::milliseconds d) {
    Fault f;
    f.delay = d;  // status 200, empty body: the mock's normal answer, late
    return f;
}

/// A user io_context run by one thread: the "one io_context thread" of L2 and L3.
struct IoThread {
    asio::io_context io{1};
    asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
    std::thread thread{[this] { io.run(); }};
    ~IoThread() { stop(); }
    void stop() {
        work.reset();
        io.stop();
        if (thread.joinable()) thread.join();
    }
};

/// A coroutine on `io` that counts 1 ms timer ticks until `stop`: it advances only
/// while nothing blocks that thread.
void spawn_ticker(asio::io_context& io, std::atomic<long>& ticks, std::atomic<bool>& stop) {
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            asio::steady_timer t(co_await asio::this_coro::executor);
            while (!stop.load()) {
                t.expires_after(1ms);
                co_await t.async_wait(asio::use_awaitable);
                ticks.fetch_add(1);
            }
        },
        asio::detached);
}

std::string hist_line(const char* what, const capi::Histogram& h, const char* unit) {
    std::string s(what);
    s += ": n=" + std::to_string(h.count) + " p50<=" + std::to_string(h.percentile(0.5)) + unit +
         " p99<=" + std::to_string(h.percentile(0.99)) + unit +
         " max<=" + std::to_string(h.percentile(1.0)) + unit;
    return s;
}

} // namespace

// ---------------------------------------------------------------------------- L1

TEST_CASE("L1 steady load: 8 producer threads, mock answering late, all delivered", "[load][L1]") {
    MockGraphServer mock;
    // "Mock returns 200 after 2 ms": every request (far more faults than requests).
    for (int i = 0; i < 4000; ++i) mock.push_fault(delayed_ok(2ms));
    auto opts = capi_test::client_options(mock);
    opts.queue_capacity = 1 << 16;
    reliability::CompletionRecorder reports;
    opts.on_delivery = reports.callback();

    constexpr int producers = 8;
    const int per = scaled(50'000);
    const std::uint64_t total = static_cast<std::uint64_t>(per) * producers;
    std::vector<std::vector<capi::Event>> events(producers);
    std::vector<std::string> ids;
    ids.reserve(total);
    for (int t = 0; t < producers; ++t) {
        events[t].reserve(per);
        for (int i = 0; i < per; ++i) {
            std::string id = numbered("L1-", t) + numbered("-", i);
            ids.push_back(id);
            events[t].push_back(capi_test::purchase_event(id));
        }
    }

    capi::Client client(opts);
    std::vector<capi::Histogram> enqueue_ns(producers);
    std::atomic<std::uint64_t> full_retries{0}, other_status{0};  // no Catch assertion in threads
    const auto t0 = steady::now();
    std::vector<std::thread> threads;
    for (int t = 0; t < producers; ++t) {
        threads.emplace_back([&, t] {
            for (auto& ev : events[t]) {
                for (;;) {
                    const auto a = steady::now();
                    auto r = client.enqueue(ev);  // a copy: kept for a retry on queue_full
                    reliability::record(enqueue_ns[t], static_cast<std::uint64_t>(
                                                           std::chrono::nanoseconds(steady::now() - a).count()));
                    if (r) break;
                    if (r.status != capi::EnqueueResult::Status::queue_full) {
                        other_status.fetch_add(1);
                        break;
                    }
                    full_retries.fetch_add(1, std::memory_order_relaxed);
                    std::this_thread::sleep_for(200us);
                }
            }
        });
    }
    for (auto& th : threads) th.join();
    const auto t_enq = steady::now();
    REQUIRE(other_status.load() == 0);
    REQUIRE(client.flush(120s));
    const auto t_done = steady::now();
    REQUIRE(reports.wait_for(total, 10s));
    mock.clear_faults();

    capi::Histogram enq;
    for (const auto& h : enqueue_ns) reliability::merge(enq, h);
    const auto s = client.stats();
    const auto secs = std::chrono::duration<double>(t_done - t0).count();
    WARN("L1: " << total << " events, " << producers << " producers, " << s.batches << " requests, "
                << full_retries.load() << " queue_full retries; enqueue phase "
                << std::chrono::duration<double>(t_enq - t0).count() << " s, all delivered after " << secs
                << " s = " << static_cast<std::uint64_t>(static_cast<double>(total) / secs) << " events/s\n"
                << hist_line("enqueue call", enq, " ns") << "\n"
                << hist_line("accepted->outcome", s.latency_us, " us") << "\n"
                << hist_line("events per request", s.batch_events, ""));

    const auto m = reliability::summarize(mock);
    CHECK(s.delivered == total);
    CHECK(s.failed + s.expired + s.dropped == 0);
    CHECK(m.max_batch_events <= 1000);
    CHECK(m.max_body_bytes <= opts.max_batch_bytes);
    CHECK(m.duplicate_ids == 0);
    reliability::check_i1(s, m, {.accepted = total}, &reports);
    reliability::check_i2(reports, ids);
    reliability::check_i3(m, reports, s);
    reliability::check_i4(m, opts.transport.max_connections);
    CHECK(client.shutdown(5s));
}

// ---------------------------------------------------------------------------- L2

namespace {

/// L2's stalled pipeline: one request at a time, and the first one hangs until
/// the test releases it, so the queue fills and stays full.
capi::Options stalled_options(MockGraphServer& mock, capi::Overflow policy) {
    mock.push_fault(capi_test::hang_fault());
    auto opts = capi_test::client_options(mock);
    opts.queue_capacity = 10'000;  // rounded up to 16384
    opts.overflow = policy;
    opts.transport.max_in_flight = 1;
    opts.transport.request_timeout = 60s;  // the test releases the hang itself
    return opts;
}

/// The stalled request reached the mock and the queue is full (batchers back-pressured).
bool wait_stalled(const MockGraphServer& mock) {
    return reliability::wait_until([&] { return !mock.requests().empty(); }, 20s);
}

} // namespace

TEST_CASE("L2 burst past capacity: reject counts queue_full, nothing lost", "[load][L2]") {
    MockGraphServer mock;
    auto opts = stalled_options(mock, capi::Overflow::reject);
    reliability::CompletionRecorder reports;
    opts.on_delivery = reports.callback();
    capi::Client client(opts);

    REQUIRE(client.enqueue(capi_test::purchase_event("L2r-first")));
    REQUIRE(wait_stalled(mock));
    const int burst = 200'000;
    std::vector<std::string> accepted{"L2r-first"};
    std::set<std::string> refused;
    std::size_t other = 0;
    for (int i = 0; i < burst; ++i) {
        auto id = numbered("L2r-", i);
        auto r = client.enqueue(capi_test::purchase_event(id));
        if (r) {
            accepted.push_back(std::move(id));
        } else {
            other += r.status != capi::EnqueueResult::Status::queue_full;
            refused.insert(std::move(id));
        }
    }
    CHECK(other == 0);  // every refusal is queue_full
    auto s = client.stats();
    WARN("L2 reject: burst " << burst << " into queue 10k (16384): accepted " << accepted.size() - 1
                             << ", queue_full " << refused.size());
    CHECK(refused.size() > 10'000);  // the stall outlasts the burst: most of it overflows
    CHECK(s.rejected_full == refused.size());
    CHECK(s.queued + s.in_flight == accepted.size());

    mock.drop_connections();  // releases the hanging request: retried, then all flows
    REQUIRE(client.flush(60s));
    REQUIRE(reports.wait_for(accepted.size(), 10s));
    s = client.stats();
    const auto m = reliability::summarize(mock);
    CHECK(s.delivered == accepted.size());
    CHECK(s.dropped == 0);
    std::size_t leaked = 0;
    for (const auto& [id, n] : m.seen) leaked += refused.count(id);
    CHECK(leaked == 0);  // a refused event is never sent
    reliability::check_i1(s, m, {.accepted = accepted.size()}, &reports);
    reliability::check_i2(reports, accepted);
    reliability::check_i3(m, reports, s);
    reliability::check_i4(m, 2);  // the released connection and its replacement
    CHECK(client.shutdown(5s));
}

TEST_CASE("L2 burst past capacity: drop_oldest drops and reports the oldest", "[load][L2]") {
    MockGraphServer mock;
    auto opts = stalled_options(mock, capi::Overflow::drop_oldest);
    reliability::CompletionRecorder reports;
    opts.on_delivery = reports.callback();
    capi::Client client(opts);

    REQUIRE(client.enqueue(capi_test::purchase_event("L2d-first")));
    REQUIRE(wait_stalled(mock));
    const int burst = 200'000;
    std::vector<std::string> ids{"L2d-first"};
    std::size_t not_accepted = 0;
    for (int i = 0; i < burst; ++i) {
        ids.push_back(numbered("L2d-", i));
        if (!client.enqueue(capi_test::purchase_event(ids.back()))) ++not_accepted;
    }
    CHECK(not_accepted == 0);  // drop_oldest always makes room
    mock.drop_connections();
    REQUIRE(client.flush(60s));
    REQUIRE(reports.wait_for(ids.size(), 10s));
    const auto s = client.stats();
    const auto m = reliability::summarize(mock);
    WARN("L2 drop_oldest: burst " << burst << ": delivered " << s.delivered << ", dropped " << s.dropped);
    CHECK(s.dropped > 10'000);
    CHECK(s.delivered + s.dropped == ids.size());
    CHECK(reports.count(Outcome::dropped) == s.dropped);
    // Every dropped event was reported with queue_full and never reached the mock;
    // the newest events survived (the oldest go first).
    std::size_t dropped_but_sent = 0, wrong_error = 0;
    for (const auto& id : ids) {
        const auto e = reports.find(id);
        if (!e || e->last.outcome != Outcome::dropped) continue;
        if (e->last.error != capi::errc::queue_full) ++wrong_error;
        if (m.seen_2xx.count(id)) ++dropped_but_sent;
    }
    CHECK(wrong_error == 0);
    CHECK(dropped_but_sent == 0);
    const auto newest = reports.find(ids.back());
    REQUIRE(newest);
    CHECK(newest->last.outcome == Outcome::delivered);
    reliability::check_i1(s, m, {.accepted = ids.size()}, &reports);
    reliability::check_i2(reports, ids);
    reliability::check_i3(m, reports, s);
    reliability::check_i4(m, 2);
    CHECK(client.shutdown(5s));
}

TEST_CASE("L2 burst past capacity: block suspends coroutines, the io thread runs on", "[load][L2]") {
    MockGraphServer mock;
    auto opts = stalled_options(mock, capi::Overflow::block);
    reliability::CompletionRecorder completions;  // async_send completions
    reliability::CompletionRecorder reports;      // delivery reports
    opts.on_delivery = reports.callback();
    IoThread io;
    std::atomic<long> ticks{0};
    std::atomic<bool> stop_ticker{false};
    {
        capi::Client client(io.io.get_executor(), opts);
        REQUIRE(client.enqueue(capi_test::purchase_event("L2b-first")));
        REQUIRE(wait_stalled(mock));
        // Fill the queue from this thread (enqueue under `block` refuses like
        // reject) until the batchers are back-pressured too: a refusal after a pause.
        std::vector<std::string> ids{"L2b-first"};
        std::size_t refused = 0;
        int fill = 0, idle_rounds = 0;
        for (int round = 0; round < 100 && idle_rounds < 2; ++round) {
            bool took = false;
            for (;; ++fill) {
                auto id = numbered("L2b-fill-", fill);
                if (!client.enqueue(capi_test::purchase_event(id))) break;
                ids.push_back(std::move(id));
                took = true;
            }
            ++refused;
            idle_rounds = took || round == 0 ? 0 : idle_rounds + 1;
            std::this_thread::sleep_for(50ms);
        }
        const auto filled = client.stats();
        REQUIRE(filled.accepted == ids.size());

        // The burst past capacity: coroutines on the io thread co_await async_send;
        // a ticker coroutine shares the thread.
        constexpr int burst = 500;
        std::atomic<int> sent{0}, done{0};
        for (int i = 0; i < burst; ++i) {
            ids.push_back(numbered("L2b-co-", i));
            asio::co_spawn(
                io.io,
                [&, id = ids.back()]() -> asio::awaitable<void> {
                    sent.fetch_add(1);
                    auto [ec, r] = co_await client.async_send(capi_test::purchase_event(id),
                                                              asio::use_awaitable);
                    (void)ec;
                    completions.record(r);
                    done.fetch_add(1);
                },
                asio::detached);
        }
        spawn_ticker(io.io, ticks, stop_ticker);
        REQUIRE(reliability::wait_until([&] { return sent.load() == burst; }, 20s));
        const long t0 = ticks.load();
        // The io thread keeps running other coroutines while the burst is suspended.
        REQUIRE(reliability::wait_until([&] { return ticks.load() >= t0 + 50; }, 30s));
        CHECK(done.load() == 0);  // still suspended: the stall holds until released
        auto s = client.stats();
        CHECK(s.accepted < ids.size());  // some of the burst waits for room in the queue
        CHECK(s.rejected_full == refused);  // async_send waited; it refused nothing
        WARN("L2 block: queue full with " << ids.size() - burst << " events; " << burst
                                          << " coroutines suspended while the ticker advanced "
                                          << ticks.load() - t0 << " ticks on the same thread");

        mock.drop_connections();
        REQUIRE(reliability::wait_until([&] { return done.load() == burst; }, 60s));
        REQUIRE(client.flush(60s));
        REQUIRE(reports.wait_for(ids.size(), 10s));
        stop_ticker = true;
        s = client.stats();
        const auto m = reliability::summarize(mock);
        CHECK(s.delivered == ids.size());
        CHECK(completions.count(Outcome::delivered) == static_cast<std::size_t>(burst));
        CHECK(s.rejected_full == refused);
        reliability::check_i1(s, m, {.accepted = ids.size()}, &reports);
        reliability::check_i2(reports, ids);
        reliability::check_i2(completions, static_cast<std::size_t>(burst));
        reliability::check_i3(m, reports, s);
        reliability::check_i4(m, 2);
        CHECK(client.shutdown(5s));
    }
    io.stop();
}

// ---------------------------------------------------------------------------- L3

TEST_CASE("L3 10,000 concurrent co_await async_send on one io_context thread", "[load][L3]") {
    MockGraphServer mock;
    for (int i = 0; i < 2000; ++i) mock.push_fault(delayed_ok(5ms));  // requests overlap
    auto opts = capi_test::client_options(mock);
    opts.transport.max_connections = 4;
    reliability::CompletionRecorder completions, reports;
    opts.on_delivery = reports.callback();
    const int n = scaled(10'000);
    std::vector<std::string> ids;
    for (int i = 0; i < n; ++i) ids.push_back(numbered("L3-", i));
    IoThread io;
    std::atomic<int> done{0};
    std::atomic<long> ticks{0};
    std::atomic<bool> stop_ticker{false};
    {
        capi::Client client(io.io.get_executor(), opts);
        spawn_ticker(io.io, ticks, stop_ticker);
        const auto t0 = steady::now();
        for (const auto& id : ids) {
            asio::co_spawn(
                io.io,
                [&, id]() -> asio::awaitable<void> {
                    auto [ec, r] = co_await client.async_send(capi_test::purchase_event(id), asio::use_awaitable);
                    (void)ec;
                    completions.record(r);
                    done.fetch_add(1);
                },
                asio::detached);
        }
        REQUIRE(reliability::wait_until([&] { return done.load() == n; }, 60s));
        const auto secs = std::chrono::duration<double>(steady::now() - t0).count();
        REQUIRE(reports.wait_for(ids.size(), 10s));
        stop_ticker = true;
        const auto s = client.stats();
        const auto m = reliability::summarize(mock);
        WARN("L3: " << n << " coroutines on one thread completed in " << secs << " s; " << m.requests
                    << " requests over " << m.connections << " connections (pool cap "
                    << opts.transport.max_connections << "); ticker advanced " << ticks.load());
        CHECK(completions.count(Outcome::delivered) == static_cast<std::size_t>(n));
        CHECK(ticks.load() > 0);
        reliability::check_i1(s, m, {.accepted = ids.size()}, &reports);
        reliability::check_i2(completions, ids);
        reliability::check_i2(reports, ids);
        reliability::check_i3(m, reports, s);
        // HTTP/1.1 carries one request per connection at a time: requests in flight
        // at the mock <= connections <= the pool's cap.
        reliability::check_i4(m, opts.transport.max_connections);
        CHECK(client.shutdown(5s));
    }
    mock.clear_faults();
    io.stop();
}

// ---------------------------------------------------------------------------- L5

TEST_CASE("L5 linger vs size: one event waits for linger; 1000 in one request; 1001 split 1000+1",
          "[load][L5]") {
    SECTION("one event is sealed at linger, not before") {
        MockGraphServer mock;
        auto opts = capi_test::client_options(mock);
        // Linger runs on the steady clock by design (Options::linger: an injected
        // wall clock must not stall batching), so this measures a lower bound only.
        opts.linger = 300ms;
        reliability::CompletionRecorder reports;
        opts.on_delivery = reports.callback();
        capi::Client client(opts);
        const auto t0 = steady::now();
        REQUIRE(client.enqueue(capi_test::purchase_event("L5-one")));
        REQUIRE(reliability::wait_until([&] { return !mock.requests().empty(); }, 20s));
        const auto log = mock.requests();
        REQUIRE(log.size() == 1);
        CHECK(log[0].events == 1);
        CHECK(log[0].received - t0 >= opts.linger);  // no flush was asked: linger sealed it
        WARN("L5: a lone event reached the mock "
             << std::chrono::duration_cast<std::chrono::milliseconds>(log[0].received - t0).count()
             << " ms after enqueue (linger " << opts.linger.count() << " ms)");
        REQUIRE(client.flush(10s));
        REQUIRE(reports.wait_for(1, 10s));
        const auto m = reliability::summarize(mock);
        reliability::check_i1(client.stats(), m, {.accepted = 1}, &reports);
        reliability::check_i2(reports, std::vector<std::string>{"L5-one"});
        reliability::check_i4(m, opts.transport.max_connections);
    }
    for (int n : {1000, 1001}) {
        SECTION("n = " + std::to_string(n) + ": sealed by size, linger never fires") {
            MockGraphServer mock;
            auto opts = capi_test::client_options(mock);
            opts.linger = 600s;  // only max_batch_events (or flush) can seal
            reliability::CompletionRecorder reports;
            opts.on_delivery = reports.callback();
            capi::Client client(opts);
            std::vector<std::string> ids;
            for (int i = 0; i < n; ++i) {
                ids.push_back(numbered("L5-", i));
                REQUIRE(client.enqueue(capi_test::purchase_event(ids.back())));
            }
            // The full batch goes without a flush; the 1001st waits for one.
            REQUIRE(reliability::wait_until([&] { return reports.total() >= 1000; }, 30s));
            auto log = mock.requests();
            REQUIRE(log.size() == 1);
            CHECK(log[0].events == 1000);
            CHECK(client.stats().queued + client.stats().in_flight == static_cast<std::uint64_t>(n - 1000));
            REQUIRE(client.flush(10s));
            REQUIRE(reports.wait_for(ids.size(), 10s));
            log = mock.requests();
            REQUIRE(log.size() == (n == 1000 ? 1u : 2u));
            if (n == 1001) CHECK(log[1].events == 1);
            const auto m = reliability::summarize(mock);
            reliability::check_i1(client.stats(), m, {.accepted = ids.size()}, &reports);
            reliability::check_i2(reports, ids);
            reliability::check_i3(m, reports, client.stats());
            reliability::check_i4(m, opts.transport.max_connections);
        }
    }
    SECTION("the byte cap seals before max_batch_events") {
        MockGraphServer mock;
        auto opts = capi_test::client_options(mock);
        opts.linger = 600s;
        opts.max_batch_bytes = 256 * 1024;
        opts.encode.validation.max_event_bytes = 16 * 1024;
        reliability::CompletionRecorder reports;
        opts.on_delivery = reports.callback();
        capi::Client client(opts);
        std::vector<std::string> ids;
        for (int i = 0; i < 1000; ++i) {
            ids.push_back(numbered("L5b-", i));
            auto ev = capi_test::purchase_event(ids.back());
            ev.custom_data->content_name = std::string(1200, 'x');  // ~1.4 KB serialized
            REQUIRE(client.enqueue(std::move(ev)));
        }
        REQUIRE(client.flush(20s));
        REQUIRE(reports.wait_for(ids.size(), 10s));
        const auto m = reliability::summarize(mock);
        WARN("L5 byte cap: 1000 events of ~1.4 KB under a 256 KiB cap went in " << m.requests
                                                                                << " requests, largest body "
                                                                                << m.max_body_bytes << " bytes");
        CHECK(m.requests >= 5);  // 1000 x ~1.4 KB does not fit 256 KiB bodies
        CHECK(m.max_body_bytes <= opts.max_batch_bytes);
        CHECK(m.events_2xx == 1000);
        reliability::check_i1(client.stats(), m, {.accepted = ids.size()}, &reports);
        reliability::check_i2(reports, ids);
        reliability::check_i3(m, reports, client.stats());
        reliability::check_i4(m, opts.transport.max_connections);
    }
}
