// The fault half of the reliability matrix (docs/reliability.md, F1-F14): the
// real Client (or the transport, where a case is about one attempt) over real
// TLS to MockGraphServer on 127.0.0.1, through capi::testing::FaultProxy where
// the case needs the network to misbehave. The matrix's durations are scaled
// down (seconds, not minutes) and every wait is bounded; time bounds are
// generous so a loaded machine slows a test down without failing it. After
// every case the invariants I1-I4 (invariants.hpp) are checked; a failure
// prints the client's counters, the mock's log summary and the proxy's counters.
#include <capi/client.hpp>
#include <capi/testing/fault_proxy.hpp>
#include <capi/testing/mock_graph.hpp>
#include <capi/sender.hpp>

#include "invariants.hpp"
#include "support/fixtures.hpp"
#include "transport/graph_reply.hpp"

#include <boost/asio/io_context.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <future>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace asio = boost::asio;
using namespace std::chrono_literals;
using capi::errc;
using capi::Outcome;
using capi::testing::CertKind;
using capi::testing::Fault;
using capi::testing::FaultProxy;
using capi::testing::MockGraphServer;
using capi::testing::MockOptions;
using reliability::CompletionRecorder;
using capi_test::numbered;
using capi_test::purchase_event;
using steady = std::chrono::steady_clock;

namespace {

std::string describe(const capi::testing::ProxyCounters& c) {
    std::ostringstream o;
    o << "proxy: connections=" << c.connections << " active=" << c.active << " max_active=" << c.max_active
      << " refused=" << c.refused << " bytes_up=" << c.bytes_up << " bytes_down=" << c.bytes_down
      << " resets=" << c.resets << " hung=" << c.hung;
    return o.str();
}

std::string describe_more(const capi::Stats& s) {
    std::ostringstream o;
    o << "more stats: possibly_delivered=" << s.possibly_delivered << " throttled=" << s.throttled
      << " receipt_mismatch=" << s.receipt_mismatch;
    return o.str();
}

/// Options for a client talking to `mock` (through `proxy` when given): small
/// linger and backoff, bounded deadlines, one batcher, every outcome recorded.
capi::Options options_for(const MockGraphServer& mock, CompletionRecorder& reports,
                          const FaultProxy* proxy = nullptr) {
    auto o = capi_test::client_options(mock);
    if (proxy) o.transport.endpoint = proxy->url();
    o.transport.request_timeout = 5s;
    o.transport.connect_timeout = 2s;
    o.transport.handshake_timeout = 2s;
    o.on_delivery = reports.callback();
    return o;
}

/// The checks run after every case: I1 (counters, the mock's log, the reports),
/// I2 (one completion per id), I3 (duplicates only where a send was possibly
/// delivered), I4 (connections within the pool cap, `conn_cap` for cases whose
/// faults close connections). Printed on failure: stats, mock summary, proxy.
struct Expect {
    reliability::I1Expect i1{};
    std::size_t conn_cap = 0;  // 0: not checked (faults that churn connections)
};

void check_invariants(const capi::Client& client, const MockGraphServer& mock, const CompletionRecorder& reports,
                      const std::vector<std::string>& ids, Expect expect = {}, const FaultProxy* proxy = nullptr) {
    const auto s = client.stats();
    const auto m = reliability::summarize(mock);
    INFO(describe_more(s));
    INFO((proxy ? describe(proxy->counters()) : std::string("no proxy")));
    reliability::check_i1(s, m, expect.i1, &reports);
    reliability::check_i2(reports, ids);
    reliability::check_i3(m, reports, s);
    // I3, with the client's own count: a duplicate the mock answered 2xx needs a
    // batch counted possibly_delivered.
    if (m.duplicate_ids_2xx > 0) CHECK(s.possibly_delivered > 0);
    if (expect.conn_cap) reliability::check_i4(m, expect.conn_cap);
}

std::vector<std::string> make_ids(const char* prefix, int n) {
    std::vector<std::string> ids;
    for (int i = 0; i < n; ++i) ids.push_back(numbered(prefix, i));
    return ids;
}

void enqueue_all(capi::Client& client, const std::vector<std::string>& ids,
                 std::optional<capi::Destination> dest = std::nullopt) {
    for (const auto& id : ids) {
        auto r = dest ? client.enqueue(purchase_event(id), *dest) : client.enqueue(purchase_event(id));
        REQUIRE(r.status == capi::EnqueueResult::Status::accepted);
    }
}

/// One event through async_send, waited for (bounded).
capi::SendResult send_one(capi::Client& client, const std::string& id, std::chrono::seconds limit = 20s) {
    std::promise<capi::SendResult> p;
    client.async_send(purchase_event(id), [&](std::error_code, capi::SendResult r) { p.set_value(std::move(r)); });
    auto f = p.get_future();
    REQUIRE(f.wait_for(limit) == std::future_status::ready);
    return f.get();
}

Fault respond(int status, std::string body = {}, std::vector<std::pair<std::string, std::string>> headers = {}) {
    Fault f;
    f.action = Fault::Action::respond;
    f.status = status;
    f.body = std::move(body);
    f.headers = std::move(headers);
    return f;
}

Fault action(Fault::Action a) {
    Fault f;
    f.action = a;
    return f;
}

std::string http_date(std::chrono::system_clock::time_point t) {
    const std::time_t tt = std::chrono::system_clock::to_time_t(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    return buf;
}

/// Milliseconds between the mock's log entries i and i+1.
std::vector<long> gaps_ms(const std::vector<capi::testing::LoggedRequest>& log) {
    std::vector<long> g;
    for (std::size_t i = 1; i < log.size(); ++i)
        g.push_back(static_cast<long>(
            std::chrono::duration_cast<std::chrono::milliseconds>(log[i].received - log[i - 1].received).count()));
    return g;
}

std::size_t requests_for_pixel(const MockGraphServer& mock, const std::string& pixel) {
    std::size_t n = 0;
    for (const auto& r : mock.requests())
        if (r.target.find("/" + pixel + "/") != std::string::npos) ++n;
    return n;
}

} // namespace

TEST_CASE("F1 500/502/503/504: retried with capped exponential backoff, delivered once", "[fault][F1]") {
    MockGraphServer mock;
    CompletionRecorder reports;
    auto opts = options_for(mock, reports);
    opts.retry.initial_backoff = 50ms;
    opts.retry.max_backoff = 400ms;
    capi::Client client(opts);

    for (int i = 0; i < 3; ++i) mock.push_fault(respond(503, "<html>Service Unavailable</html>"));
    const auto r = send_one(client, "f1-a");
    CHECK(r.outcome == Outcome::delivered);
    CHECK(r.attempts == 4);
    CHECK(client.stats().retries == 3);
    const auto log = mock.requests();
    REQUIRE(log.size() == 4);
    for (const auto& e : log) CHECK(e.event_ids == std::vector<std::string>{"f1-a"});
    // Full jitter: attempt n+1 waits uniform in [0, min(max, initial * 2^(n-1))]
    // (librdkafka 0143 checks its intervals the same way); +1.5 s for a loaded machine.
    const auto g = gaps_ms(log);
    const long caps[] = {50, 100, 200};
    for (std::size_t i = 0; i < g.size(); ++i) {
        INFO("gap " << i << " = " << g[i] << " ms");
        CHECK(g[i] <= caps[i] + 1500);
    }

    // 500, 502 and 504 alike: one retry each.
    int n = 1;
    for (int status : {500, 502, 504}) {
        mock.push_fault(respond(status, "<html>upstream error</html>"));
        const auto r2 = send_one(client, numbered("f1-s", status));
        CHECK(r2.outcome == Outcome::delivered);
        CHECK(r2.attempts == 2);
        CHECK(client.stats().retries == 3 + static_cast<unsigned>(n++));
    }
    REQUIRE(client.flush(10s));
    check_invariants(client, mock, reports, {"f1-a", "f1-s500", "f1-s502", "f1-s504"},
                     {.i1 = {.accepted = 4}, .conn_cap = 8});
}

TEST_CASE("F2 429 + Retry-After in seconds, then as an HTTP-date: honoured, counted throttled",
          "[fault][F2]") {
    MockGraphServer mock;
    CompletionRecorder reports;
    auto opts = options_for(mock, reports);
    opts.retry.initial_backoff = 1ms;  // Retry-After, not the backoff, must set the pace
    opts.retry.max_backoff = 2ms;
    capi::Client client(opts);

    const auto push_steady = steady::now();
    const auto push_sys = std::chrono::system_clock::now();
    // The date has one-second resolution: 3 s ahead, truncated, is 2-3 s ahead.
    const auto date = std::chrono::floor<std::chrono::seconds>(push_sys + 3s);
    const auto date_steady = push_steady + (date - push_sys);
    mock.push_fault(respond(429, R"({"error":{"message":"slow down","code":2,"type":"OAuthException"}})",
                            {{"Retry-After", "1"}}));
    mock.push_fault(respond(429, "<html>Too Many Requests</html>", {{"Retry-After", http_date(date)}}));

    const auto r = send_one(client, "f2-a");
    CHECK(r.outcome == Outcome::delivered);
    CHECK(r.attempts == 3);
    const auto log = mock.requests();
    REQUIRE(log.size() == 3);  // no hot loop
    const auto g = gaps_ms(log);
    INFO("gaps " << g[0] << " ms, " << g[1] << " ms");
    CHECK(g[0] >= 950);  // Retry-After: 1
    // The HTTP-date: the third attempt is not before it.
    CHECK(log[2].received >= date_steady - 50ms);
    const auto s = client.stats();
    CHECK(s.throttled == 2);
    CHECK(s.retries == 2);
    REQUIRE(client.flush(10s));
    check_invariants(client, mock, reports, {"f2-a"}, {.i1 = {.accepted = 1}, .conn_cap = 8});
}

TEST_CASE("F2 Retry-After HTTP-date parsing", "[fault][F2]") {
    using capi::detail::retry_after_date;
    using std::chrono::seconds;
    // 1994-11-06 08:49:37 UTC = 784111777 s after the epoch.
    const std::chrono::system_clock::time_point t0{seconds{784111777}};
    CHECK(retry_after_date("Sun, 06 Nov 1994 08:49:37 GMT", t0) == seconds{0});
    CHECK(retry_after_date("Sun, 06 Nov 1994 08:49:47 GMT", t0) == seconds{10});
    CHECK(retry_after_date("Mon, 07 Nov 1994 08:49:37 GMT", t0) == seconds{86400});
    CHECK(retry_after_date("Sat, 05 Nov 1994 08:49:37 GMT", t0) == seconds{0});  // past: no wait
    CHECK(retry_after_date("Sun, 06 Nov 1994 08:49:37 GMT", t0 - std::chrono::milliseconds{1}) == seconds{1});
    for (const char* bad : {"", "120x", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994",
                            "Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 31 Feb 1994 08:49:37 GMT",
                            "Sun, 06 Nov 1994 25:49:37 GMT", "Xyz, 06 Nov 1994 08:49:37 GMT",
                            "Sun, 06 Foo 1994 08:49:37 GMT", "Sun, 0a Nov 1994 08:49:37 GMT"}) {
        INFO(bad);
        CHECK_FALSE(retry_after_date(bad, t0));
    }
}

TEST_CASE("F3 permanent 400 code 100: not retried, fails with message and fbtrace_id; others delivered",
          "[fault][F3]") {
    MockGraphServer mock;
    CompletionRecorder reports;
    capi::Client client(options_for(mock, reports));

    mock.push_fault(Fault::graph_error(400, 100, 2804019, false, "Invalid parameter"));
    const auto bad = send_one(client, "f3-bad");
    CHECK(bad.outcome == Outcome::failed);
    CHECK(bad.error == errc::graph_error);
    CHECK(bad.attempts == 1);
    REQUIRE(bad.graph);
    CHECK(bad.graph->code == 100);
    CHECK(bad.graph->error_subcode == 2804019);
    CHECK(bad.graph->message == "Invalid parameter");
    CHECK(!bad.fbtrace_id.empty());
    CHECK(bad.fbtrace_id == bad.graph->fbtrace_id);

    auto ids = make_ids("f3-ok-", 50);
    enqueue_all(client, ids);
    REQUIRE(client.flush(10s));
    const auto s = client.stats();
    CHECK(s.delivered == 50);
    CHECK(s.failed == 1);
    CHECK(s.retries == 0);
    ids.push_back("f3-bad");
    check_invariants(client, mock, reports, ids, {.i1 = {.accepted = 51}, .conn_cap = 8});
}

TEST_CASE("F4 throttle in a 400 body (code 4, code 17): retried on the throttle lane", "[fault][F4]") {
    MockGraphServer mock;
    CompletionRecorder reports;
    auto opts = options_for(mock, reports);
    opts.retry.initial_backoff = 1ms;
    opts.retry.max_backoff = 1ms;
    opts.retry.throttle_initial_backoff = 100ms;  // scaled from 60 s
    opts.retry.throttle_max_backoff = 300ms;
    capi::Client client(opts);

    mock.push_fault(Fault::graph_error(400, 4, 0, false, "Application request limit reached"));
    auto f17 = Fault::graph_error(400, 17, 2446079, false, "User request limit reached");
    f17.headers = {{"Retry-After", "1"}};
    mock.push_fault(f17);
    const auto r = send_one(client, "f4-a");
    CHECK(r.outcome == Outcome::delivered);
    CHECK(r.attempts == 3);
    const auto log = mock.requests();
    REQUIRE(log.size() == 3);
    const auto g = gaps_ms(log);
    INFO("gaps " << g[0] << " ms, " << g[1] << " ms");
    CHECK(g[0] <= 100 + 1500);  // the throttle lane's first cap, not a hot loop
    CHECK(g[1] >= 950);         // Retry-After on a throttle is a floor
    const auto s = client.stats();
    CHECK(s.throttled == 2);
    CHECK(s.retries == 2);
    REQUIRE(client.flush(10s));
    check_invariants(client, mock, reports, {"f4-a"}, {.i1 = {.accepted = 1}, .conn_cap = 8});
}

TEST_CASE("F5 auth failure (190): no retry storm, the token's queued events fail fast, others unaffected",
          "[fault][F5]") {
    MockOptions mo;
    mo.access_token = "";  // any token: the scripted fault plays the refusal
    MockGraphServer mock(mo);
    CompletionRecorder reports;
    auto opts = options_for(mock, reports);
    opts.destination.access_token = "dead-token";
    opts.encode.max_batch_events = 10;
    opts.transport.max_in_flight = 1;  // one batch on the wire: the rest wait in the dispatcher
    opts.transport.max_connections = 1;
    capi::Client client(opts);
    capi::Destination live{"222333444", "live-token", "", ""};

    auto f = Fault::graph_error(401, 190, 463, false, "Error validating access token: Session has expired");
    f.delay = 300ms;  // the other batches queue up behind it
    mock.push_fault(f);
    const auto dead1 = make_ids("f5-dead-a-", 100);
    enqueue_all(client, dead1);
    REQUIRE(reliability::wait_until([&] { return reports.total() >= 100; }, 20s));
    // Events accepted after the refusal fail too, without a request.
    const auto dead2 = make_ids("f5-dead-b-", 30);
    const auto t0 = steady::now();
    enqueue_all(client, dead2);
    const auto alive = make_ids("f5-live-", 30);
    enqueue_all(client, alive, live);
    REQUIRE(client.flush(20s));
    CHECK(steady::now() - t0 < 10s);

    CHECK(requests_for_pixel(mock, "1234567890") == 1);  // no retry storm
    CHECK(requests_for_pixel(mock, "222333444") >= 3);
    const auto s = client.stats();
    CHECK(s.retries == 0);
    CHECK(s.failed == 130);
    CHECK(s.delivered == 30);
    const capi::GraphError* refusal = nullptr;
    for (const auto& id : {dead1.front(), dead1.back(), dead2.back()}) {
        const auto e = reports.find(id);
        REQUIRE(e);
        CHECK(e->last.outcome == Outcome::failed);
        CHECK(e->last.error == errc::auth_error);
        REQUIRE(e->last.graph);
        CHECK(e->last.graph->code == 190);
        // One copy of Meta's error object for the refused batch and every
        // event refused after it, not one per event.
        if (!refusal) refusal = e->last.graph.get();
        CHECK(e->last.graph.get() == refusal);
    }
    CHECK(reports.find(alive.back())->last.outcome == Outcome::delivered);
    auto ids = dead1;
    ids.insert(ids.end(), dead2.begin(), dead2.end());
    ids.insert(ids.end(), alive.begin(), alive.end());
    check_invariants(client, mock, reports, ids, {.i1 = {.accepted = 160}, .conn_cap = 1});
}

TEST_CASE("F6 request timeout (hang): deadline fires, socket discarded, retried as possibly delivered",
          "[fault][F6]") {
    MockGraphServer mock;
    CompletionRecorder reports;
    auto opts = options_for(mock, reports);
    opts.transport.request_timeout = 500ms;  // scaled from Meta's 1.5 s
    capi::Client client(opts);

    mock.push_fault(action(Fault::Action::hang));
    const auto t0 = steady::now();
    const auto r = send_one(client, "f6-a");
    CHECK(steady::now() - t0 >= 450ms);
    CHECK(r.outcome == Outcome::delivered);
    CHECK(r.attempts == 2);
    const auto log = mock.requests();
    REQUIRE(log.size() == 2);
    CHECK(log[0].event_ids == log[1].event_ids);  // the same event_ids: Meta deduplicates
    CHECK(log[0].connection != log[1].connection);  // the hung socket was not reused
    const auto s = client.stats();
    CHECK(s.possibly_delivered == 1);
    CHECK(s.retries == 1);
    REQUIRE(client.flush(10s));
    check_invariants(client, mock, reports, {"f6-a"}, {.i1 = {.accepted = 1}, .conn_cap = 8});
}

TEST_CASE("F7 reset mid-request: new connection, batch retried, nothing lost", "[fault][F7]") {
    MockGraphServer mock;
    FaultProxy proxy(mock.port());
    CompletionRecorder reports;
    auto opts = options_for(mock, reports, &proxy);
    opts.linger = 100ms;
    capi::Client client(opts);
    std::vector<std::string> ids;
    bool server_matches = true;

    SECTION("reset_peer after 4000 bytes up: inside the request body") {
        proxy.set_reset_after(4000, FaultProxy::Direction::up, 1);
        ids = make_ids("f7-up-", 60);  // ~25 KB of request
        enqueue_all(client, ids);
        REQUIRE(client.flush(20s));
        CHECK(proxy.counters().resets == 1);
        CHECK(client.stats().retries >= 1);
    }
    SECTION("limit_data downstream: the reply is cut after the mock answered") {
        // Measure one exchange on a fresh connection, then cut the next one
        // 100 bytes before its end: inside the reply.
        auto probe_opts = opts;
        probe_opts.transport.keep_alive = false;
        probe_opts.on_delivery = nullptr;
        const auto before = proxy.counters();
        {
            capi::Client probe(probe_opts);
            REQUIRE(send_one(probe, "f7-probe").outcome == Outcome::delivered);
        }
        // Read the count once the probe's connection is gone (fully counted).
        REQUIRE(reliability::wait_until([&] { return proxy.counters().active == 0; }, 5s));
        const auto down = proxy.counters().bytes_down - before.bytes_down;
        REQUIRE(down > 200);
        proxy.drop_connections();  // the client's next request opens a connection
        proxy.set_reset_after(down - 100, FaultProxy::Direction::down, 1);
        const auto r = send_one(client, "f7-down");
        CHECK(r.outcome == Outcome::delivered);
        CHECK(r.attempts == 2);
        CHECK(proxy.counters().resets == 1);
        CHECK(client.stats().possibly_delivered == 1);
        // The mock answered the first try too: Meta would see it twice, same event_id.
        CHECK(reliability::summarize(mock).seen_2xx["f7-down"] == 2);
        ids = {"f7-down"};
        REQUIRE(client.flush(10s));
        server_matches = false;  // the probe's event and the cut reply are 2xx the client did not count
    }
    SECTION("slow close: the server's close reaches the client 1 s late") {
        proxy.set_slow_close(1s);
        mock.push_fault(action(Fault::Action::close));
        const auto t0 = steady::now();
        const auto r = send_one(client, "f7-slow");
        CHECK(steady::now() - t0 >= 900ms);
        CHECK(r.outcome == Outcome::delivered);
        CHECK(r.attempts == 2);
        CHECK(client.stats().possibly_delivered == 1);
        ids = {"f7-slow"};
        REQUIRE(client.flush(10s));
    }
    SECTION("mock-side reset and close after reading the request") {
        mock.push_fault(action(Fault::Action::reset));
        mock.push_fault(action(Fault::Action::close));
        ids = make_ids("f7-mock-", 20);
        enqueue_all(client, ids);
        REQUIRE(client.flush(20s));
        CHECK(client.stats().retries >= 2);
    }
    check_invariants(client, mock, reports, ids, {.i1 = {.accepted = ids.size(), .server_matches = server_matches}},
                     &proxy);
}

TEST_CASE("F8 stale pooled connection: detected on reuse, reconnect is not a retry", "[fault][F8]") {
    MockGraphServer mock;
    FaultProxy proxy(mock.port());
    CompletionRecorder reports;
    auto opts = options_for(mock, reports, &proxy);
    opts.transport.max_connections = 1;
    capi::Client client(opts);

    REQUIRE(send_one(client, "f8-a").outcome == Outcome::delivered);
    mock.drop_connections();  // the server closes the idle keep-alive connection (FIN)
    const auto b = send_one(client, "f8-b");
    CHECK(b.outcome == Outcome::delivered);
    CHECK(b.attempts == 1);
    proxy.drop_connections();  // the path dies while idle (RST)
    const auto c = send_one(client, "f8-c");
    CHECK(c.outcome == Outcome::delivered);
    CHECK(c.attempts == 1);
    const auto s = client.stats();
    CHECK(s.retries == 0);
    CHECK(s.possibly_delivered == 0);
    CHECK(mock.connections() == 3);
    REQUIRE(client.flush(10s));
    check_invariants(client, mock, reports, {"f8-a", "f8-b", "f8-c"}, {.i1 = {.accepted = 3}}, &proxy);
}

TEST_CASE("F9 TLS failures: distinct codes, certificates never retried, stalls retried, no plaintext",
          "[fault][F9]") {
    SECTION("expired, wrong host, untrusted CA: certificate_verify_failed, one attempt, nothing sent") {
        for (auto kind : {CertKind::expired, CertKind::wrong_host, CertKind::untrusted}) {
            MockOptions mo;
            mo.cert = kind;
            MockGraphServer mock(mo);
            CompletionRecorder reports;
            capi::Client client(options_for(mock, reports));
            const auto r = send_one(client, "f9-cert");
            CHECK(r.outcome == Outcome::failed);
            CHECK(r.error == errc::certificate_verify_failed);
            CHECK(r.attempts == 1);
            CHECK(mock.requests().empty());
            REQUIRE(client.flush(5s));
            check_invariants(client, mock, reports, {"f9-cert"}, {.i1 = {.accepted = 1}});
        }
    }
    SECTION("a TLS 1.0/1.1-only server: tls_handshake_failed, no downgrade, not retried") {
        MockOptions mo;
        mo.legacy_tls_only = true;
        MockGraphServer mock(mo);
        CompletionRecorder reports;
        capi::Client client(options_for(mock, reports));
        const auto r = send_one(client, "f9-legacy");
        CHECK(r.outcome == Outcome::failed);
        CHECK(r.error == errc::tls_handshake_failed);
        CHECK(r.attempts == 1);
        CHECK(mock.requests().empty());
        REQUIRE(client.flush(5s));
        check_invariants(client, mock, reports, {"f9-legacy"}, {.i1 = {.accepted = 1}});
    }
    SECTION("a handshake stall: handshake_timeout from the transport, retried by the client") {
        MockGraphServer mock;
        FaultProxy proxy(mock.port());
        proxy.set_hang(true);
        {
            // One attempt: the transport's own code.
            asio::io_context io;
            capi::TransportOptions to;
            to.endpoint = proxy.url();
            to.ca_pem = mock.ca_pem();
            to.handshake_timeout = 300ms;
            auto t = capi::make_https_transport(io.get_executor(), to);
            std::error_code got;
            bool done = false;
            capi::PostRequest req;
            req.pixel_id = "1234567890";
            req.body = R"({"data":[],"access_token":"mock-token"})";
            t->post(req, [&](std::error_code ec, capi::PostResult) {
                got = ec;
                done = true;
            });
            for (int i = 0; i < 100 && !done; ++i) io.run_for(100ms);
            REQUIRE(done);
            CHECK(got == errc::handshake_timeout);
            t->close();
            io.run_for(100ms);
        }
        CompletionRecorder reports;
        auto opts = options_for(mock, reports, &proxy);
        opts.transport.handshake_timeout = 300ms;
        opts.retry.max_attempts = 3;
        capi::Client client(opts);
        const auto r = send_one(client, "f9-stall");
        CHECK(r.outcome == Outcome::failed);
        CHECK(r.error == errc::retries_exhausted);
        CHECK(r.cause == errc::handshake_timeout);  // why the three attempts failed
        CHECK(r.http_status == 0);
        CHECK(r.attempts == 3);
        CHECK(proxy.counters().hung == 4);  // the transport's one + the client's three
        CHECK(mock.requests().empty());
        REQUIRE(client.flush(5s));
        check_invariants(client, mock, reports, {"f9-stall"}, {.i1 = {.accepted = 1}}, &proxy);
    }
    SECTION("plaintext http:// is refused at construction") {
        MockGraphServer mock;
        CompletionRecorder reports;
        auto opts = options_for(mock, reports);
        opts.transport.endpoint = "http://127.0.0.1:" + std::to_string(mock.port());
        try {
            capi::Client client(opts);
            FAIL("an http:// endpoint was accepted");
        } catch (const std::system_error& e) {
            CHECK(e.code() == errc::invalid_option);
            CHECK(std::string(e.what()).find("endpoint") != std::string::npos);
        }
    }
}

TEST_CASE("F10 slow server: in-flight cap holds, the queue fills, overflow applies, deadline enforced",
          "[fault][F10]") {
    MockGraphServer mock;
    FaultProxy proxy(mock.port());
    CompletionRecorder reports;

    SECTION("latency 300 ms +-100 ms, 256 KB/s, slicer: cap and overflow") {
        proxy.set_latency(300ms, 100ms);  // scaled from 5 s
        proxy.set_bandwidth(256 * 1024);
        proxy.set_slicer(512, 1ms);
        auto opts = options_for(mock, reports, &proxy);
        opts.transport.max_connections = 2;
        opts.transport.max_in_flight = 2;
        opts.queue_capacity = 256;
        opts.overflow = capi::Overflow::reject;
        opts.transport.request_timeout = 20s;
        opts.encode.max_batch_events = 50;  // many batches compete for the two connections
        capi::Client client(opts);
        std::vector<std::string> ids;
        std::size_t full = 0;
        // 3000 events offered in bursts of 100 every 20 ms, faster than the slow path drains.
        for (int i = 0; i < 3000; ++i) {
            auto id = numbered("f10-", i);
            auto r = client.enqueue(purchase_event(id));
            if (r.status == capi::EnqueueResult::Status::accepted) ids.push_back(id);
            else if (r.status == capi::EnqueueResult::Status::queue_full) ++full;
            if (i % 100 == 99) std::this_thread::sleep_for(20ms);
        }
        INFO("offered 3000, accepted " << ids.size() << ", queue_full " << full);
        CHECK(full > 0);  // the overflow policy applied
        REQUIRE(client.flush(60s));
        const auto s = client.stats();
        CHECK(s.rejected_full == full);
        CHECK(s.delivered == ids.size());
        CHECK(proxy.counters().max_active <= 2);
        CHECK(mock.connections() <= 2);
        check_invariants(client, mock, reports, ids, {.i1 = {.accepted = ids.size()}, .conn_cap = 2}, &proxy);
    }
    SECTION("the same with Overflow::drop_oldest: the oldest queued events are dropped, counted, reported") {
        proxy.set_latency(300ms, 100ms);
        proxy.set_bandwidth(256 * 1024);
        auto opts = options_for(mock, reports, &proxy);
        opts.transport.max_connections = 2;
        opts.transport.max_in_flight = 2;
        opts.queue_capacity = 256;
        opts.overflow = capi::Overflow::drop_oldest;
        opts.encode.max_batch_events = 50;
        capi::Client client(opts);
        const auto ids = make_ids("f10-drop-", 1500);
        for (std::size_t i = 0; i < ids.size(); ++i) {
            REQUIRE(client.enqueue(purchase_event(ids[i])).status == capi::EnqueueResult::Status::accepted);
            if (i % 100 == 99) std::this_thread::sleep_for(20ms);
        }
        REQUIRE(client.flush(60s));
        const auto s = client.stats();
        INFO("offered and accepted 1500, dropped " << s.dropped);
        CHECK(s.dropped > 0);
        CHECK(s.delivered + s.dropped == 1500);
        CHECK(reports.count(Outcome::dropped) == s.dropped);
        CHECK(proxy.counters().max_active <= 2);
        CHECK(mock.connections() <= 2);
        check_invariants(client, mock, reports, ids, {.i1 = {.accepted = 1500}, .conn_cap = 2}, &proxy);
    }
    SECTION("1 KB/s: the per-request deadline fires, the batch fails after its attempts") {
        proxy.set_bandwidth(1024);
        auto opts = options_for(mock, reports, &proxy);
        opts.transport.request_timeout = 1s;
        opts.transport.handshake_timeout = 10s;  // the certificate chain alone takes ~2 s at 1 KB/s
        opts.retry.max_attempts = 2;
        opts.linger = 100ms;
        capi::Client client(opts);
        const auto ids = make_ids("f10-slow-", 20);  // ~8 KB: 8 s at 1 KB/s
        const auto t0 = steady::now();
        enqueue_all(client, ids);
        REQUIRE(client.flush(60s));
        const auto s = client.stats();
        CHECK(s.failed == 20);
        CHECK(steady::now() - t0 < 40s);
        const auto e = reports.find(ids.front());
        REQUIRE(e);
        CHECK(e->last.error == errc::retries_exhausted);
        CHECK(e->last.cause == errc::request_timeout);
        CHECK(e->last.attempts == 2);
        check_invariants(client, mock, reports, ids, {.i1 = {.accepted = 20}}, &proxy);
    }
}

TEST_CASE("F11 down, then up: capped backoff with jitter, delivered afterwards, overdue events expire",
          "[fault][F11]") {
    MockGraphServer mock;
    FaultProxy proxy(mock.port());
    CompletionRecorder reports;
    capi::ManualClock clock(std::chrono::system_clock::now());
    auto opts = options_for(mock, reports, &proxy);
    opts.clock = clock.as_clock();
    opts.retry.initial_backoff = 20ms;
    opts.retry.max_backoff = 50ms;  // "down for 30 s" with a 10 s cap, scaled
    opts.retry.max_attempts = 10'000;
    opts.retry.max_total = 60s;
    capi::Client client(opts);

    proxy.set_down();
    // Old events: 7 days minus 30 minutes; they leave their window while the server is down.
    std::vector<std::string> old_ids = make_ids("f11-old-", 10), new_ids = make_ids("f11-new-", 40);
    for (const auto& id : old_ids)
        REQUIRE(client.enqueue(purchase_event(id, clock.now(), 7 * 24h - 30min)));
    std::this_thread::sleep_for(200ms);  // sealed on linger: a batch of their own
    enqueue_all(client, new_ids);
    std::this_thread::sleep_for(300ms);
    clock.advance(1h);
    std::this_thread::sleep_for(1500ms);
    CHECK(mock.requests().empty());
    proxy.set_up();
    REQUIRE(!proxy.is_down());
    REQUIRE(client.flush(20s));

    const auto s = client.stats();
    CHECK(s.expired == 10);
    CHECK(s.delivered == 40);
    const auto e = reports.find(new_ids.front());
    REQUIRE(e);
    // ~1.8 s refused with delays capped at 50 ms (25 ms on average): about 70
    // attempts on an idle machine; uncapped doubling from 20 ms would make about 8.
    INFO("attempts " << e->last.attempts);
    CHECK(e->last.attempts >= 16);
    CHECK(reports.find(old_ids.front())->last.error == errc::expired);
    auto ids = old_ids;
    ids.insert(ids.end(), new_ids.begin(), new_ids.end());
    check_invariants(client, mock, reports, ids, {.i1 = {.accepted = 50}}, &proxy);
}

TEST_CASE("F12 bad success response: truncated or non-JSON 200 retried, count mismatch surfaced",
          "[fault][F12]") {
    MockGraphServer mock;
    CompletionRecorder reports;
    auto opts = options_for(mock, reports);
    opts.linger = 200ms;  // the events sent together share a batch
    capi::Client client(opts);
    auto send_batch = [&](const std::vector<std::string>& ids) {
        std::vector<capi::Event> evs;
        for (const auto& id : ids) evs.push_back(purchase_event(id));
        std::promise<void> p;
        client.async_send(std::move(evs), [&](std::error_code, std::vector<capi::SendResult>) { p.set_value(); });
        REQUIRE(p.get_future().wait_for(20s) == std::future_status::ready);
    };

    mock.push_fault(action(Fault::Action::truncate));
    const auto a = make_ids("f12-trunc-", 5);
    send_batch(a);
    mock.push_fault(respond(200, "<html>OK</html>"));
    const auto b = make_ids("f12-html-", 5);
    send_batch(b);
    auto s = client.stats();
    CHECK(s.delivered == 10);
    CHECK(s.retries == 2);
    CHECK(s.possibly_delivered == 10);
    CHECK(s.receipt_mismatch == 0);

    mock.push_fault(respond(200, R"({"events_received":3,"messages":[],"fbtrace_id":"AbCdEfGhIjKlMnOpQrStUvW"})"));
    const auto c = make_ids("f12-count-", 5);
    send_batch(c);
    s = client.stats();
    CHECK(s.receipt_mismatch == 1);
    CHECK(s.delivered == 15);
    CHECK(s.retries == 2);  // a mismatch is not retried: that would duplicate the others
    REQUIRE(client.flush(10s));
    auto ids = a;
    ids.insert(ids.end(), b.begin(), b.end());
    ids.insert(ids.end(), c.begin(), c.end());
    // Faults that answer 2xx are not in the mock's accepted count.
    check_invariants(client, mock, reports, ids, {.i1 = {.accepted = 15, .server_matches = false}, .conn_cap = 8});
}

TEST_CASE("F13 shutdown during an outage: bounded, every pending event fails with shutdown", "[fault][F13]") {
    MockGraphServer mock;
    FaultProxy proxy(mock.port());
    CompletionRecorder reports;
    auto opts = options_for(mock, reports, &proxy);
    opts.retry.initial_backoff = 20ms;
    opts.retry.max_backoff = 100ms;
    opts.retry.max_attempts = 10'000;
    opts.retry.max_total = 60s;
    const auto ids = make_ids("f13-", 50);
    auto client = std::make_unique<capi::Client>(opts);
    proxy.set_down();
    enqueue_all(*client, ids);
    std::this_thread::sleep_for(300ms);  // the batches are in backoff, reconnecting
    const auto t0 = steady::now();
    CHECK_FALSE(client->shutdown(2s));
    const auto took = steady::now() - t0;
    INFO("shutdown took " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms");
    CHECK(took < 2s + 3s);
    CHECK(took >= 1900ms);  // it waited for the drain, up to its bound
    CHECK(reports.total() == 50);
    CHECK(reports.count(Outcome::failed) == 50);
    CHECK(reports.find(ids.front())->last.error == errc::shutdown);
    check_invariants(*client, mock, reports, ids, {.i1 = {.accepted = 50}}, &proxy);
    const auto t1 = steady::now();
    client.reset();  // the destructor never hangs
    CHECK(steady::now() - t1 < 3s);
}

TEST_CASE("F14 fault sweep: a reset at every point of the exchange; I1 and I2 hold for each", "[fault][F14]") {
    MockGraphServer mock;
    FaultProxy proxy(mock.port());
    CompletionRecorder reports;
    auto opts = options_for(mock, reports, &proxy);
    opts.transport.keep_alive = false;  // a fresh connection per attempt: same bytes each time
    opts.retry.initial_backoff = 1ms;
    opts.retry.max_backoff = 2ms;
    capi::Client client(opts);

    const auto base = proxy.counters();
    REQUIRE(send_one(client, "f14-probe").outcome == Outcome::delivered);
    REQUIRE(reliability::wait_until([&] { return proxy.counters().active == 0; }, 5s));  // fully counted
    const auto total = (proxy.counters().bytes_up - base.bytes_up) + (proxy.counters().bytes_down - base.bytes_down);
    REQUIRE(total > 1000);
    std::vector<std::string> ids{"f14-probe"};
    // Every 37th byte of the exchange in both directions together (handshake,
    // request, reply, close), plus its first and last bytes.
    std::vector<std::size_t> points{1, 2, total - 1, total};
    for (std::size_t n = 37; n < total; n += 37) points.push_back(n);
    // total - 1 or total may itself be a multiple of 37: each point once, or the
    // same event_id would be sent twice (and completed twice, failing I2).
    std::sort(points.begin(), points.end());
    points.erase(std::unique(points.begin(), points.end()), points.end());
    std::size_t resets = 0;
    for (auto n : points) {
        const auto before = proxy.counters().resets;
        proxy.set_reset_after(n, FaultProxy::Direction::both, 1);
        // As long as "f14-probe", so every exchange has the probe's length and the
        // last points still fall inside it.
        char id_buf[16];
        std::snprintf(id_buf, sizeof id_buf, "f14-%05zu", n);
        const std::string id = id_buf;
        const auto r = send_one(client, id);
        INFO("reset after " << n << " of " << total << " bytes");
        CHECK(r.outcome == Outcome::delivered);
        resets += proxy.counters().resets - before;
        ids.push_back(id);
        reliability::check_i1_sample(client.stats());
    }
    proxy.set_reset_after(0);
    // A point in the exchange's last 48 bytes may find nothing to cut: they are
    // the two TLS 1.3 close_notify records (24 bytes each way), which an exchange
    // closed in the other order, or by a FIN alone, does not send in full. Every
    // point before them must cut.
    const auto in_close = static_cast<std::size_t>(
        std::count_if(points.begin(), points.end(), [&](std::size_t n) { return n + 48 > total; }));
    INFO("points " << points.size() << ", resets " << resets << ", points in the closing 48 bytes " << in_close);
    CHECK(resets + in_close >= points.size());
    REQUIRE(client.flush(10s));
    // Cuts after the mock answered leave it with 2xx the client never read.
    check_invariants(client, mock, reports, ids, {.i1 = {.accepted = ids.size(), .server_matches = false}},
                     &proxy);
}

namespace {

/// A Transport whose next attempts fail as scripted, each kind in turn, then
/// succeed (or end with `final_error`). Completes inline, on the caller's thread.
class ScriptedTransport final : public capi::Transport {
public:
    void script(unsigned transient, std::error_code final_error = {}) {
        std::lock_guard lock(mu_);
        transient_ = transient;
        final_ = final_error;
    }
    void post(capi::PostRequest, handler done) override {
        std::error_code ec;
        capi::PostResult r;
        {
            std::lock_guard lock(mu_);
            ++posts_;
            if (transient_ > 0) {
                --transient_;
                switch (kind_++ % 5) {
                case 0: ec = errc::connection_lost; r.possibly_delivered = 1; break;
                case 1: ec = errc::request_timeout; r.possibly_delivered = 1; break;
                case 2: ec = errc::connect_failed; break;
                case 3:
                    ec = errc::http_error;
                    r.http_status = 503;
                    break;
                default:
                    ec = errc::bad_response;
                    r.http_status = 200;
                    r.possibly_delivered = 1;
                    break;
                }
            } else if (final_) {
                ec = final_;
                final_ = {};
            } else {
                r.http_status = 200;
                r.events_received = 1;
                r.fbtrace_id = "sweep";
            }
        }
        done(ec, std::move(r));
    }
    void close() override {}
    unsigned posts() const {
        std::lock_guard lock(mu_);
        return posts_;
    }

private:
    mutable std::mutex mu_;
    unsigned transient_ = 0, kind_ = 0, posts_ = 0;
    std::error_code final_;
};

} // namespace

TEST_CASE("F14 fault sweep at the Sender: the first n attempts fail, every kind in turn", "[fault][F14]") {
    MockGraphServer mock;  // for the options only: nothing reaches it
    CompletionRecorder reports;
    auto transport = std::make_shared<ScriptedTransport>();
    auto opts = options_for(mock, reports);
    opts.custom_transport = transport;
    opts.retry.initial_backoff = 1ms;
    opts.retry.max_backoff = 2ms;
    opts.retry.max_attempts = 6;
    capi::Client client(opts);
    std::vector<std::string> ids;

    unsigned expected_posts = 0;
    for (unsigned n = 0; n <= 8; ++n) {
        transport->script(n);
        const auto id = numbered("f14s-", n);
        const auto r = send_one(client, id);
        INFO("n = " << n);
        if (n < 6) {
            CHECK(r.outcome == Outcome::delivered);
            CHECK(r.attempts == n + 1);
        } else {
            CHECK(r.outcome == Outcome::failed);
            CHECK(r.error == errc::retries_exhausted);
            CHECK(r.attempts == 6);
        }
        expected_posts += std::min(n + 1, 6u);
        ids.push_back(id);
        transport->script(0);  // leftovers of n > 6 are not carried over
    }
    // n transient failures, then a final one: it ends the event at once.
    for (unsigned n = 0; n <= 4; ++n) {
        transport->script(n, make_error_code(errc::certificate_verify_failed));
        const auto id = numbered("f14f-", n);
        const auto r = send_one(client, id);
        INFO("n = " << n);
        CHECK(r.outcome == Outcome::failed);
        CHECK(r.error == errc::certificate_verify_failed);
        CHECK(r.attempts == n + 1);
        expected_posts += n + 1;
        ids.push_back(id);
    }
    REQUIRE(client.flush(10s));
    CHECK(transport->posts() == expected_posts);
    const auto s = client.stats();
    INFO(reliability::describe(s));
    INFO(describe_more(s));
    CHECK(s.delivered == 6);
    CHECK(s.failed == 8);
    CHECK(s.possibly_delivered > 0);
    // I1 without a server log: the balance, settled, and the reports' tallies.
    reliability::check_i1_sample(s);
    CHECK(s.accepted == ids.size());
    CHECK(s.queued == 0);
    CHECK(s.in_flight == 0);
    CHECK(reports.count(Outcome::delivered) == s.delivered);
    CHECK(reports.count(Outcome::failed) == s.failed);
    reliability::check_i2(reports, ids);
    CHECK(mock.requests().empty());
}
