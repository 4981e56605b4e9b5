// Sender over the real HTTPS transport against MockGraphServer: retries, backoff
// read from the mock's request log, Retry-After, no retry storm on 190, the same
// event_ids on every attempt, and certificate failures that are never retried.
// Real TLS sockets on 127.0.0.1; every wait is bounded.
#include <capi/encode.hpp>
#include <capi/testing/mock_graph.hpp>
#include <capi/transport.hpp>
#include <capi/sender.hpp>

#include <boost/asio/io_context.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace net = boost::asio;
using capi::errc;
using capi::testing::Fault;
using capi::testing::MockGraphServer;
using namespace std::chrono_literals;

namespace {

constexpr auto no_window = std::chrono::system_clock::time_point::max();

// A body of three events with event_ids e0..e2, token included.
std::string body_for(const MockGraphServer&, std::string_view token = "mock-token") {
    capi::BatchEncoder enc;
    const auto now = std::chrono::system_clock::now();
    const auto now_s = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
    for (int i = 0; i < 3; ++i) {
        capi::Event ev;
        ev.event_name = "Lead";
        ev.event_time = now_s - 10;
        ev.event_id = "e" + std::to_string(i);
        ev.action_source = capi::ActionSource::email;
        ev.user_data.em = {"user" + std::to_string(i) + "@example.com"};
        REQUIRE(enc.add(ev, now).status == capi::EncodeStatus::added);
    }
    return std::string(enc.json_body({}, token));
}

struct Fixture {
    explicit Fixture(capi::testing::MockOptions mo = {}, capi::RetryPolicy policy = small_policy())
        : server(std::move(mo)) {
        capi::TransportOptions opt;
        opt.endpoint = server.url();
        opt.ca_pem = server.ca_pem();
        opt.request_timeout = 400ms;
        transport = capi::make_https_transport(io.get_executor(), opt);
        sender.emplace(io.get_executor(), *transport, policy);
    }
    ~Fixture() {
        sender.reset();
        transport->close();
        io.run_for(100ms);
    }

    static capi::RetryPolicy small_policy() {
        capi::RetryPolicy p;
        p.initial_backoff = 20ms;
        p.max_backoff = 80ms;
        p.throttle_initial_backoff = 50ms;
        p.throttle_max_backoff = 100ms;
        p.max_attempts = 4;
        p.max_total = 20s;
        return p;
    }

    // Sends one request and runs the io_context until it completes (bounded).
    std::pair<std::error_code, capi::PostResult> send(std::string body, std::chrono::seconds limit = 15s) {
        std::optional<std::pair<std::error_code, capi::PostResult>> out;
        capi::PostRequest req;
        req.pixel_id = "1234";
        req.body = std::move(body);
        sender->async_post(std::move(req), no_window,
                           [&](std::error_code ec, capi::PostResult r) { out.emplace(ec, std::move(r)); });
        const auto deadline = std::chrono::steady_clock::now() + limit;
        while (!out && std::chrono::steady_clock::now() < deadline) {
            io.run_for(10ms);
            if (io.stopped()) io.restart();
        }
        REQUIRE(out.has_value());
        return *out;
    }

    net::io_context io;
    MockGraphServer server;
    std::unique_ptr<capi::Transport> transport;
    std::optional<capi::Sender> sender;
};

std::vector<std::string> ids(const capi::testing::LoggedRequest& r) { return r.event_ids; }

} // namespace

TEST_CASE("503 twice, then success: three attempts, backoff within the policy", "[send]") {
    Fixture f;
    f.server.push_fault({Fault::Action::respond, 503, "<html>busy</html>", {}, 0ms});
    f.server.push_fault({Fault::Action::respond, 503, "<html>busy</html>", {}, 0ms});
    auto [ec, r] = f.send(body_for(f.server));
    CHECK_FALSE(ec);
    CHECK(r.attempts == 3);
    CHECK(r.events_received == 3);
    auto log = f.server.requests();
    REQUIRE(log.size() == 3);
    // Full jitter: each gap is at most the capped backoff (plus scheduling slack).
    for (std::size_t i = 1; i < log.size(); ++i) {
        auto gap = log[i].received - log[i - 1].received;
        CHECK(gap < 80ms + 300ms);
        CHECK(ids(log[i]) == ids(log[0]));
    }
    CHECK(f.server.events_accepted() == 3);
}

TEST_CASE("Graph transient code 2, then success", "[send]") {
    Fixture f;
    f.server.push_fault(Fault::graph_error(500, 2, 0, true, "An unexpected error has occurred."));
    auto [ec, r] = f.send(body_for(f.server));
    CHECK_FALSE(ec);
    CHECK(r.attempts == 2);
}

TEST_CASE("a throttle with Retry-After waits at least that long", "[send]") {
    Fixture f;
    Fault throttled = Fault::graph_error(403, 4, 0, true, "(#4) Application request limit reached");
    throttled.headers.emplace_back("Retry-After", "1");
    f.server.push_fault(throttled);
    auto [ec, r] = f.send(body_for(f.server));
    CHECK_FALSE(ec);
    CHECK(r.attempts == 2);
    auto log = f.server.requests();
    REQUIRE(log.size() == 2);
    CHECK(log[1].received - log[0].received >= 1s);
}

TEST_CASE("an invalid token (190) fails at once: no retry storm", "[send]") {
    Fixture f;
    auto [ec, r] = f.send(body_for(f.server, "wrong-token"));
    CHECK(ec == errc::graph_error);
    REQUIRE(r.error.has_value());
    CHECK(r.error->code == 190);
    CHECK(r.http_status == 401);
    CHECK_FALSE(r.error->fbtrace_id.empty());
    CHECK(r.attempts == 1);
    CHECK(f.server.requests().size() == 1);
}

TEST_CASE("code 100 (an event too old) is final", "[send]") {
    Fixture f;
    f.server.push_fault(Fault::graph_error(400, 100, 2804003, false, "Event Timestamp Too Old"));
    auto [ec, r] = f.send(body_for(f.server));
    CHECK(ec == errc::graph_error);
    REQUIRE(r.error.has_value());
    CHECK(r.error->error_subcode == 2804003);
    CHECK(r.attempts == 1);
}

TEST_CASE("hang: the deadline passes, the retry carries the same event_ids", "[send]") {
    Fixture f;
    f.server.push_fault({Fault::Action::hang, 200, "", {}, 0ms});
    auto [ec, r] = f.send(body_for(f.server));
    CHECK_FALSE(ec);
    CHECK(r.attempts == 2);
    auto log = f.server.requests();
    REQUIRE(log.size() == 2);
    CHECK(ids(log[0]) == std::vector<std::string>{"e0", "e1", "e2"});
    CHECK(ids(log[1]) == ids(log[0]));
    CHECK(log[1].received - log[0].received >= 400ms);
}

TEST_CASE("reset, close and truncate mid-request are retried", "[send]") {
    for (auto action : {Fault::Action::reset, Fault::Action::close, Fault::Action::truncate}) {
        Fixture f;
        f.server.push_fault({action, 200, "", {}, 0ms});
        auto [ec, r] = f.send(body_for(f.server));
        INFO(static_cast<int>(action));
        CHECK_FALSE(ec);
        CHECK(r.attempts == 2);
        CHECK(r.events_received == 3);
    }
}

TEST_CASE("a 200 that is not Graph JSON is retried", "[send]") {
    Fixture f;
    f.server.push_fault({Fault::Action::respond, 200, "<html>proxy</html>", {}, 0ms});
    auto [ec, r] = f.send(body_for(f.server));
    CHECK_FALSE(ec);
    CHECK(r.attempts == 2);
}

TEST_CASE("retries stop at max_attempts with the last reply", "[send]") {
    Fixture f;
    for (int i = 0; i < 6; ++i) f.server.push_fault({Fault::Action::respond, 502, "bad gateway", {}, 0ms});
    auto [ec, r] = f.send(body_for(f.server));
    CHECK(ec == errc::retries_exhausted);
    CHECK(r.attempts == 4);
    CHECK(r.http_status == 502);
    CHECK(f.server.requests().size() == 4);
}

TEST_CASE("certificate failures are final and each has its own error", "[send]") {
    for (auto kind : {capi::testing::CertKind::expired, capi::testing::CertKind::wrong_host,
                      capi::testing::CertKind::untrusted}) {
        capi::testing::MockOptions mo;
        mo.cert = kind;
        Fixture f(mo);
        auto [ec, r] = f.send(body_for(f.server));
        INFO(static_cast<int>(kind));
        CHECK(ec == errc::certificate_verify_failed);
        CHECK(r.attempts == 1);
        CHECK(f.server.requests().empty());
    }
}
