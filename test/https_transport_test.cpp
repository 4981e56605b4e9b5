// make_https_transport against MockGraphServer: real TLS sockets on 127.0.0.1.
// Every test drives its own io_context with bounded run_for loops, so a bug
// shows up as a failed assertion, never as a hung test.
#include <capi/testing/fault_proxy.hpp>
#include <capi/testing/mock_graph.hpp>
#include <capi/transport.hpp>

#include "https_transport_support.hpp"
#include "support/fixtures.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

// The helpers and the names they use (net, errc, MockGraphServer, ...).
using namespace capi_https_test;

TEST_CASE("success: events_received, the request line and headers", "[https_transport]") {
    MockGraphServer server;
    net::io_context ioc;
    auto t = capi::make_https_transport(ioc.get_executor(), capi_test::transport_options(server));

    auto out = post_one(ioc, *t);
    CHECK(out.calls == 1);
    CHECK_FALSE(out.ec);
    CHECK(out.result.http_status == 200);
    CHECK(out.result.events_received == 1);
    CHECK_FALSE(out.result.fbtrace_id.empty());
    CHECK_FALSE(out.result.error);

    auto log = server.requests();
    REQUIRE(log.size() == 1);
    CHECK(log[0].method == "POST");
    CHECK(log[0].target == "/v24.0/1234567890/events");
    CHECK(log[0].content_type == "application/json");
    CHECK(log[0].user_agent == "capi-cpp/0.1.0");
    CHECK(log[0].access_token_ok);
    CHECK(log[0].event_ids == std::vector<std::string>{"e1"});
    CHECK(server.events_accepted() == 1);
}

TEST_CASE("form bodies, appsecret_proof in the query, a custom User-Agent", "[https_transport]") {
    MockOptions mo;
    mo.app_secret = "s3cret";
    MockGraphServer server(mo);
    net::io_context ioc;
    auto o = capi_test::transport_options(server);
    o.user_agent = "my-app/2.0";
    o.api_version = "v23.0";
    auto t = capi::make_https_transport(ioc.get_executor(), o);

    capi::PostRequest r;
    r.pixel_id = "42";
    r.format = capi::BodyFormat::form;
    r.body = "data=" + url_encode("[" + event_json("f1") + "]") + "&access_token=mock-token";
    r.appsecret_proof = capi::appsecret_proof("mock-token", "s3cret");
    auto out = post_one(ioc, *t, r);
    CHECK_FALSE(out.ec);
    CHECK(out.result.events_received == 1);

    auto log = server.requests();
    REQUIRE(log.size() == 1);
    CHECK(log[0].content_type == "application/x-www-form-urlencoded");
    CHECK(log[0].user_agent == "my-app/2.0");
    CHECK(log[0].appsecret_proof_ok);
    CHECK(log[0].target.rfind("/v23.0/42/events?appsecret_proof=", 0) == 0);
}

TEST_CASE("a host name endpoint: resolve, SNI and host name verification", "[https_transport]") {
    MockGraphServer server;
    net::io_context ioc;
    auto o = capi_test::transport_options(server);
    o.endpoint = "https://localhost:" + std::to_string(server.port()) + "/";
    auto t = capi::make_https_transport(ioc.get_executor(), o);
    auto out = post_one(ioc, *t);
    CHECK_FALSE(out.ec);
    CHECK(out.result.events_received == 1);
}

TEST_CASE("Graph error object: graph_error with code, subcode and fbtrace_id", "[https_transport]") {
    MockGraphServer server;
    net::io_context ioc;
    auto t = capi::make_https_transport(ioc.get_executor(), capi_test::transport_options(server));

    server.push_fault(Fault::graph_error(400, 100, 2804003, false, "Invalid parameter"));
    auto out = post_one(ioc, *t);
    CHECK(out.ec == errc::graph_error);
    CHECK(out.result.http_status == 400);
    REQUIRE(out.result.error);
    CHECK(out.result.error->code == 100);
    CHECK(out.result.error->error_subcode == 2804003);
    CHECK_FALSE(out.result.error->is_transient);
    CHECK(out.result.error->message == "Invalid parameter");
    CHECK_FALSE(out.result.error->fbtrace_id.empty());

    // The mock's own rules, not a script: a bad token is 401 code 190.
    auto bad = json_request();
    bad.body = R"({"data":[)" + event_json("x") + R"(],"access_token":"wrong"})";
    out = post_one(ioc, *t, bad);
    CHECK(out.ec == errc::graph_error);
    CHECK(out.result.http_status == 401);
    REQUIRE(out.result.error);
    CHECK(out.result.error->code == 190);
}

TEST_CASE("non-JSON replies: 5xx HTML is http_error, a 200 that is not Graph's is bad_response",
          "[https_transport]") {
    MockGraphServer server;
    net::io_context ioc;
    auto t = capi::make_https_transport(ioc.get_executor(), capi_test::transport_options(server));

    Fault html;
    html.status = 502;
    html.body = "<html><body>502 Bad Gateway</body></html>";
    server.push_fault(html);
    auto out = post_one(ioc, *t);
    CHECK(out.ec == errc::http_error);
    CHECK(out.result.http_status == 502);
    CHECK_FALSE(out.result.error);

    Fault odd;
    odd.status = 200;
    odd.body = "<html>ok</html>";
    server.push_fault(odd);
    out = post_one(ioc, *t);
    CHECK(out.ec == errc::bad_response);
    CHECK(out.result.http_status == 200);

    Fault empty_error;
    empty_error.status = 503;
    empty_error.body = R"({"something":"else"})";
    server.push_fault(empty_error);
    out = post_one(ioc, *t);
    CHECK(out.ec == errc::http_error);
    CHECK(out.result.http_status == 503);
}

TEST_CASE("gzip replies are inflated", "[https_transport]") {
    MockOptions mo;
    mo.gzip = true;
    MockGraphServer server(mo);
    net::io_context ioc;
    auto t = capi::make_https_transport(ioc.get_executor(), capi_test::transport_options(server));

    auto out = post_one(ioc, *t);
    CHECK_FALSE(out.ec);
    CHECK(out.result.events_received == 1);

    server.push_fault(Fault::graph_error(400, 100, 2804050));
    out = post_one(ioc, *t);
    CHECK(out.ec == errc::graph_error);
    REQUIRE(out.result.error);
    CHECK(out.result.error->error_subcode == 2804050);
}

TEST_CASE("a corrupt gzip body is bad_response", "[https_transport]") {
    MockGraphServer server;
    net::io_context ioc;
    auto t = capi::make_https_transport(ioc.get_executor(), capi_test::transport_options(server));
    Fault f;
    f.status = 200;
    f.body = "not gzip at all, long enough to have a header";
    f.headers = {{"Content-Encoding", "gzip"}};
    server.push_fault(f);
    auto out = post_one(ioc, *t);
    CHECK(out.ec == errc::bad_response);
}

TEST_CASE("Retry-After and the usage headers are surfaced", "[https_transport]") {
    MockGraphServer server;
    net::io_context ioc;
    auto t = capi::make_https_transport(ioc.get_executor(), capi_test::transport_options(server));

    auto f = Fault::graph_error(403, 4, 0, true, "(#4) Application request limit reached");
    f.headers = {{"Retry-After", "30"},
                 {"X-App-Usage", R"({"call_count":95,"total_cputime":10,"total_time":12})"},
                 {"X-Business-Use-Case-Usage", R"({"1":[{"type":"ads_management","call_count":99}]})"},
                 {"X-Ad-Account-Usage", R"({"acc_id_util_pct":9.67})"}};
    server.push_fault(f);
    auto out = post_one(ioc, *t);
    CHECK(out.ec == errc::graph_error);
    REQUIRE(out.result.error);
    CHECK(out.result.error->code == 4);
    CHECK(out.result.error->is_transient);
    REQUIRE(out.result.retry_after);
    CHECK(*out.result.retry_after == 30s);
    CHECK(out.result.app_usage == R"({"call_count":95,"total_cputime":10,"total_time":12})");
    CHECK(out.result.business_use_case_usage == R"({"1":[{"type":"ads_management","call_count":99}]})");
    CHECK(out.result.ad_account_usage == R"({"acc_id_util_pct":9.67})");

    // Absent headers stay absent.
    out = post_one(ioc, *t);
    CHECK_FALSE(out.ec);
    CHECK_FALSE(out.result.retry_after);
    CHECK(out.result.app_usage.empty());
}

TEST_CASE("keep-alive: sequential requests share one connection", "[https_transport]") {
    MockGraphServer server;
    net::io_context ioc;
    auto t = capi::make_https_transport(ioc.get_executor(), capi_test::transport_options(server));

    for (int i = 0; i < 10; ++i) {
        auto out = post_one(ioc, *t, json_request(numbered("k", i)));
        CHECK_FALSE(out.ec);
    }
    CHECK(server.connections() == 1);
    auto log = server.requests();
    REQUIRE(log.size() == 10);
    for (const auto& r : log) CHECK(r.connection == log[0].connection);
}

TEST_CASE("keep_alive off: a new connection for every request", "[https_transport]") {
    MockGraphServer server;
    net::io_context ioc;
    auto opt = capi_test::transport_options(server);
    opt.keep_alive = false;
    auto t = capi::make_https_transport(ioc.get_executor(), opt);

    for (int i = 0; i < 4; ++i) {
        auto out = post_one(ioc, *t, json_request(numbered("n", i)));
        CHECK_FALSE(out.ec);
        CHECK(out.result.events_received == 1);
    }
    CHECK(server.connections() == 4);
    auto log = server.requests();
    REQUIRE(log.size() == 4);
    for (std::size_t i = 1; i < log.size(); ++i) CHECK(log[i].connection != log[i - 1].connection);
}

TEST_CASE("max_connections caps the pool under concurrent posts", "[https_transport]") {
    MockGraphServer server;
    net::io_context ioc;
    auto o = capi_test::transport_options(server);
    o.max_connections = 3;
    auto t = capi::make_https_transport(ioc.get_executor(), o);

    // Slow answers keep every connection busy, so requests must queue.
    for (int i = 0; i < 20; ++i) {
        Fault slow;
        slow.delay = 30ms;
        server.push_fault(slow);
    }
    std::vector<outcome> outs(20);
    for (std::size_t i = 0; i < outs.size(); ++i) t->post(json_request(numbered("c", i)), record(outs[i]));
    REQUIRE(run_until(ioc, [&] {
        for (auto& o2 : outs)
            if (o2.calls == 0) return false;
        return true;
    }));
    for (auto& o2 : outs) {
        CHECK(o2.calls == 1);
        CHECK_FALSE(o2.ec);
    }
    CHECK(server.connections() <= 3);
    CHECK(server.connections() >= 2);  // it did open more than one
    CHECK(server.events_accepted() == 20);
}

TEST_CASE("a keep-alive connection the server closed is replaced and the request resent once",
          "[https_transport]") {
    MockGraphServer server;
    net::io_context ioc;
    auto t = capi::make_https_transport(ioc.get_executor(), capi_test::transport_options(server));

    auto out = post_one(ioc, *t, json_request("s1"));
    CHECK_FALSE(out.ec);

    // The pooled connection dies with the next request, before any byte of a reply.
    Fault close;
    close.action = Fault::Action::close;
    server.push_fault(close);
    out = post_one(ioc, *t, json_request("s2"));
    CHECK(out.calls == 1);
    CHECK_FALSE(out.ec);
    CHECK(out.result.events_received == 1);
    CHECK(server.connections() == 2);
    auto log = server.requests();
    REQUIRE(log.size() == 3);
    CHECK(log[1].fault);
    CHECK(log[1].event_ids == std::vector<std::string>{"s2"});
    CHECK(log[2].event_ids == std::vector<std::string>{"s2"});
    CHECK(log[2].connection != log[1].connection);

    // Only once: a second failure on the fresh connection is reported.
    server.push_fault(close);
    server.push_fault(close);
    out = post_one(ioc, *t, json_request("s3"));
    CHECK(out.ec == errc::connection_lost);
    CHECK(server.requests().size() == 5);
}

TEST_CASE("a reset on a reused connection is also resent once", "[https_transport]") {
    MockGraphServer server;
    net::io_context ioc;
    auto t = capi::make_https_transport(ioc.get_executor(), capi_test::transport_options(server));
    CHECK_FALSE(post_one(ioc, *t).ec);
    Fault reset;
    reset.action = Fault::Action::reset;
    server.push_fault(reset);
    auto out = post_one(ioc, *t);
    CHECK_FALSE(out.ec);
    CHECK(server.connections() == 2);
}

TEST_CASE("idle connections expire after idle_timeout", "[https_transport]") {
    MockGraphServer server;
    net::io_context ioc;
    auto o = capi_test::transport_options(server);
    o.idle_timeout = 100ms;
    auto t = capi::make_https_transport(ioc.get_executor(), o);

    CHECK_FALSE(post_one(ioc, *t).ec);
    CHECK_FALSE(post_one(ioc, *t).ec);
    CHECK(server.connections() == 1);
    run_for(ioc, 300ms);
    CHECK_FALSE(post_one(ioc, *t).ec);
    CHECK(server.connections() == 2);
}

TEST_CASE("a connection closed by the server while idle is not reused", "[https_transport]") {
    MockGraphServer server;
    net::io_context ioc;
    auto t = capi::make_https_transport(ioc.get_executor(), capi_test::transport_options(server));
    CHECK_FALSE(post_one(ioc, *t).ec);
    // stop() closes every connection; a new server on the same port takes over.
    const auto port = server.port();
    server.stop();
    MockOptions mo;
    mo.port = port;
    std::unique_ptr<MockGraphServer> second;
    try {
        second = std::make_unique<MockGraphServer>(mo);
    } catch (const std::system_error&) {
        WARN("port " << port << " not free again; skipped");
        return;
    }
    run_for(ioc, 50ms);
    auto out = post_one(ioc, *t);
    // The old CA signed nothing on the new server: a transparent replacement
    // would fail verification, so this checks that the dead connection was
    // detected and a new one attempted (and refused for its certificate).
    CHECK(out.ec == errc::certificate_verify_failed);
    CHECK(second->requests().empty());
}

TEST_CASE("hang: request_timeout", "[https_transport]") {
    MockGraphServer server;
    net::io_context ioc;
    auto o = capi_test::transport_options(server);
    o.request_timeout = 300ms;
    auto t = capi::make_https_transport(ioc.get_executor(), o);

    server.push_fault(capi_test::hang_fault());
    const auto start = std::chrono::steady_clock::now();
    auto out = post_one(ioc, *t, json_request(), 5s);
    const auto took = out.at - start;
    CHECK(out.ec == errc::request_timeout);
    CHECK(out.result.http_status == 0);
    CHECK(took >= 250ms);
    CHECK(took < 2s);

    // The timed-out connection is not reused; the next request gets a new one.
    out = post_one(ioc, *t);
    CHECK_FALSE(out.ec);
    CHECK(server.connections() == 2);
}

TEST_CASE("reset, close and truncate on a fresh connection: connection_lost", "[https_transport]") {
    MockGraphServer server;
    net::io_context ioc;
    auto o = capi_test::transport_options(server);

    SECTION("reset") {
        auto t = capi::make_https_transport(ioc.get_executor(), o);
        Fault f;
        f.action = Fault::Action::reset;
        server.push_fault(f);
        auto out = post_one(ioc, *t);
        CHECK(out.ec == errc::connection_lost);
        CHECK(server.requests().size() == 1);  // a fresh connection is never resent
    }
    SECTION("close") {
        auto t = capi::make_https_transport(ioc.get_executor(), o);
        Fault f;
        f.action = Fault::Action::close;
        server.push_fault(f);
        auto out = post_one(ioc, *t);
        CHECK(out.ec == errc::connection_lost);
        CHECK(server.requests().size() == 1);
    }
    SECTION("truncate") {
        auto t = capi::make_https_transport(ioc.get_executor(), o);
        Fault f;
        f.action = Fault::Action::truncate;
        server.push_fault(f);
        auto out = post_one(ioc, *t);
        CHECK((out.ec == errc::connection_lost || out.ec == errc::bad_response));
        CHECK(out.result.http_status == 0);
        // A truncated reply on a reused connection is not resent either: bytes of
        // the reply arrived.
        CHECK_FALSE(post_one(ioc, *t).ec);
        server.push_fault(f);
        out = post_one(ioc, *t);
        CHECK(out.ec == errc::connection_lost);
        CHECK(server.requests().size() == 3);
    }
}

TEST_CASE("certificates: expired, wrong host and untrusted fail verification", "[https_transport]") {
    auto kind = GENERATE(CertKind::expired, CertKind::wrong_host, CertKind::untrusted);
    MockOptions mo;
    mo.cert = kind;
    MockGraphServer server(mo);
    net::io_context ioc;
    auto t = capi::make_https_transport(ioc.get_executor(), capi_test::transport_options(server));
    auto out = post_one(ioc, *t);
    CHECK(out.ec == errc::certificate_verify_failed);
    CHECK(out.result.http_status == 0);
    CHECK(server.requests().empty());
}

TEST_CASE("without the mock's CA the system store does not trust it", "[https_transport]") {
    MockGraphServer server;
    net::io_context ioc;
    auto o = capi_test::transport_options(server);
    o.ca_pem.clear();
    auto t = capi::make_https_transport(ioc.get_executor(), o);
    CHECK(post_one(ioc, *t).ec == errc::certificate_verify_failed);
}

TEST_CASE("options are checked at construction, naming the field", "[https_transport]") {
    capi::TransportOptions o;
    std::string what;

    o.endpoint = "http://graph.facebook.com";
    CHECK(option_error(o, what) == errc::invalid_option);
    CHECK(what.find("endpoint") != std::string::npos);
    for (const char* bad : {"graph.facebook.com", "ftp://x", "https://", "https://host/path", "https://host:0",
                            "https://host:70000", "https://user@host", "https://[::1"}) {
        o.endpoint = bad;
        INFO(bad);
        CHECK(option_error(o, what) == errc::invalid_option);
        CHECK(what.find("endpoint") != std::string::npos);
    }
    o = {};
    o.api_version = "24.0";
    CHECK(option_error(o, what) == errc::invalid_option);
    CHECK(what.find("api_version") != std::string::npos);
    o = {};
    o.max_connections = 0;
    CHECK(option_error(o, what) == errc::invalid_option);
    CHECK(what.find("max_connections") != std::string::npos);
    o = {};
    o.max_in_flight = 0;
    CHECK(option_error(o, what) == errc::invalid_option);
    CHECK(what.find("max_in_flight") != std::string::npos);
    o = {};
    o.connect_timeout = 0ms;
    CHECK(option_error(o, what) == errc::invalid_option);
    CHECK(what.find("connect_timeout") != std::string::npos);
    o = {};
    o.handshake_timeout = -1ms;
    CHECK(option_error(o, what) == errc::invalid_option);
    CHECK(what.find("handshake_timeout") != std::string::npos);
    o = {};
    o.request_timeout = 0ms;
    CHECK(option_error(o, what) == errc::invalid_option);
    CHECK(what.find("request_timeout") != std::string::npos);
    o = {};
    o.idle_timeout = 0ms;
    CHECK(option_error(o, what) == errc::invalid_option);
    CHECK(what.find("idle_timeout") != std::string::npos);
    o = {};
    o.ca_pem = "not a certificate";
    CHECK(option_error(o, what) == errc::invalid_option);
    CHECK(what.find("ca_pem") != std::string::npos);
    o = {};
    o.ca_file = "/nonexistent/ca.pem";
    CHECK(option_error(o, what) == errc::invalid_option);
    CHECK(what.find("ca_file") != std::string::npos);
    o = {};
    o.user_agent = "bad\r\nX-Injected: 1";
    CHECK(option_error(o, what) == errc::invalid_option);
    CHECK(what.find("user_agent") != std::string::npos);

    o = {};
    for (const char* good : {"https://graph.facebook.com", "HTTPS://graph.facebook.com:443/",
                             "https://127.0.0.1:8443", "https://[::1]:8443"}) {
        o.endpoint = good;
        INFO(good);
        CHECK_FALSE(option_error(o, what));
    }
}

TEST_CASE("max_in_flight: past it, post() completes at once with queue_full", "[https_transport]") {
    MockGraphServer server;
    net::io_context ioc;
    auto o = capi_test::transport_options(server);
    o.max_connections = 1;
    o.max_in_flight = 2;
    auto t = capi::make_https_transport(ioc.get_executor(), o);

    for (int i = 0; i < 2; ++i) {
        Fault slow;
        slow.delay = 300ms;
        server.push_fault(slow);
    }
    outcome a, b, c;
    t->post(json_request("q1"), record(a));
    t->post(json_request("q2"), record(b));
    t->post(json_request("q3"), record(c));
    CHECK(c.calls == 0);  // never on the caller's stack
    REQUIRE(run_until(ioc, [&] { return c.calls > 0; }, 5s));
    CHECK(c.ec == errc::queue_full);
    CHECK(a.calls == 0);
    CHECK(b.calls == 0);
    REQUIRE(run_until(ioc, [&] { return a.calls > 0 && b.calls > 0; }));
    CHECK_FALSE(a.ec);
    CHECK_FALSE(b.ec);
    CHECK(a.at <= b.at);  // FIFO

    // Capacity is back once they completed.
    CHECK_FALSE(post_one(ioc, *t).ec);
    CHECK(a.calls == 1);
    CHECK(b.calls == 1);
    CHECK(c.calls == 1);
}

TEST_CASE("close() fails waiting requests with shutdown; the one on the wire completes",
          "[https_transport]") {
    MockGraphServer server;
    net::io_context ioc;
    auto o = capi_test::transport_options(server);
    o.max_connections = 1;
    auto t = capi::make_https_transport(ioc.get_executor(), o);

    Fault slow;
    slow.delay = 300ms;
    server.push_fault(slow);
    std::vector<outcome> outs(4);
    for (std::size_t i = 0; i < outs.size(); ++i) t->post(json_request(numbered("w", i)), record(outs[i]));
    // Let the first reach the wire.
    REQUIRE(run_until(ioc, [&] { return server.requests().size() == 1; }, 5s));
    t->close();
    REQUIRE(run_until(ioc, [&] {
        for (auto& x : outs)
            if (x.calls == 0) return false;
        return true;
    }));
    CHECK_FALSE(outs[0].ec);
    CHECK(outs[0].result.events_received == 1);
    for (std::size_t i = 1; i < outs.size(); ++i) CHECK(outs[i].ec == errc::shutdown);

    auto after = post_one(ioc, *t);
    CHECK(after.ec == errc::shutdown);
    t->close();  // idempotent
    run_for(ioc, 20ms);
    CHECK(server.requests().size() == 1);
}

TEST_CASE("destroying the transport with requests outstanding completes them", "[https_transport]") {
    MockGraphServer server;
    net::io_context ioc;
    auto o = capi_test::transport_options(server);
    o.max_connections = 1;
    auto t = capi::make_https_transport(ioc.get_executor(), o);
    Fault slow;
    slow.delay = 100ms;
    server.push_fault(slow);
    outcome a, b;
    t->post(json_request("d1"), record(a));
    t->post(json_request("d2"), record(b));
    REQUIRE(run_until(ioc, [&] { return server.requests().size() == 1; }, 5s));
    t.reset();
    REQUIRE(run_until(ioc, [&] { return a.calls > 0 && b.calls > 0; }));
    CHECK_FALSE(a.ec);
    CHECK(b.ec == errc::shutdown);
}

TEST_CASE("connect refused: connect_failed", "[https_transport]") {
    net::io_context ioc;
    std::uint16_t port = 0;
    {
        // A port that was just free: nothing listens on it now.
        net::ip::tcp::acceptor a(ioc, {net::ip::make_address("127.0.0.1"), 0});
        port = a.local_endpoint().port();
    }
    capi::TransportOptions o;
    o.endpoint = "https://127.0.0.1:" + std::to_string(port);
    auto t = capi::make_https_transport(ioc.get_executor(), o);
    auto out = post_one(ioc, *t);
    CHECK(out.ec == errc::connect_failed);
}

TEST_CASE("a server that never speaks TLS: handshake_timeout", "[https_transport]") {
    net::io_context ioc;
    net::ip::tcp::acceptor acceptor(ioc, {net::ip::make_address("127.0.0.1"), 0});
    net::ip::tcp::socket held(ioc);
    acceptor.async_accept(held, [](boost::system::error_code) {});

    capi::TransportOptions o;
    o.endpoint = "https://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port());
    o.handshake_timeout = 300ms;
    auto t = capi::make_https_transport(ioc.get_executor(), o);
    const auto start = std::chrono::steady_clock::now();
    auto out = post_one(ioc, *t, json_request(), 5s);
    CHECK(out.ec == errc::handshake_timeout);
    CHECK(out.at - start < 2s);
}

TEST_CASE("a server that answers the handshake with garbage: tls_handshake_failed", "[https_transport]") {
    net::io_context ioc;
    net::ip::tcp::acceptor acceptor(ioc, {net::ip::make_address("127.0.0.1"), 0});
    net::ip::tcp::socket peer(ioc);
    const std::string garbage = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
    acceptor.async_accept(peer, [&](boost::system::error_code ec) {
        if (!ec) net::async_write(peer, net::buffer(garbage), [](boost::system::error_code, std::size_t) {});
    });

    capi::TransportOptions o;
    o.endpoint = "https://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port());
    auto t = capi::make_https_transport(ioc.get_executor(), o);
    auto out = post_one(ioc, *t, json_request(), 5s);
    CHECK(out.ec == errc::tls_handshake_failed);
}

TEST_CASE("posts from other threads complete on the io_context", "[https_transport]") {
    MockGraphServer server;
    net::io_context ioc;
    auto o = capi_test::transport_options(server);
    o.max_connections = 2;
    auto t = capi::make_https_transport(ioc.get_executor(), o);
    std::vector<outcome> outs(8);
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < outs.size(); ++i)
        threads.emplace_back([&, i] { t->post(json_request(numbered("t", i)), record(outs[i])); });
    for (auto& th : threads) th.join();
    REQUIRE(run_until(ioc, [&] {
        for (auto& x : outs)
            if (x.calls == 0) return false;
        return true;
    }));
    for (auto& x : outs) {
        CHECK(x.calls == 1);
        CHECK_FALSE(x.ec);
    }
    CHECK(server.connections() <= 2);
}

TEST_CASE("an io_context run by several threads: the pool state stays consistent", "[https_transport]") {
    MockGraphServer server;
    net::io_context ioc;
    auto o = capi_test::transport_options(server);
    o.max_connections = 3;
    auto t = capi::make_https_transport(ioc.get_executor(), o);
    auto work = net::make_work_guard(ioc);
    std::vector<std::thread> runners;
    for (int i = 0; i < 4; ++i) runners.emplace_back([&] { ioc.run_for(10s); });

    std::mutex mu;
    std::condition_variable cv;
    std::size_t done = 0, ok = 0, calls = 0;
    constexpr std::size_t n = 60;
    for (std::size_t i = 0; i < n; ++i) {
        t->post(json_request(numbered("m", i)), [&](std::error_code ec, capi::PostResult) {
            std::lock_guard lock(mu);
            ++calls;
            ++done;
            if (!ec) ++ok;
            cv.notify_all();
        });
    }
    {
        std::unique_lock lock(mu);
        CHECK(cv.wait_for(lock, 10s, [&] { return done == n; }));
        CHECK(ok == n);
        CHECK(calls == n);
    }
    t.reset();
    work.reset();
    ioc.stop();
    for (auto& r : runners) r.join();
    CHECK(server.connections() <= 3);
    CHECK(server.events_accepted() == n);
}
