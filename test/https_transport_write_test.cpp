// make_https_transport writing requests: TLS records cut small, bodies of every
// size around the record and write-slice bounds, slow and resetting peers in
// the middle of a body, the shared body left intact. Real TLS sockets on
// 127.0.0.1; bounded run_until loops (https_transport_support.hpp), as in
// https_transport_test.cpp, whose program this file is part of.
#include "https_transport_support.hpp"
#include "support/fixtures.hpp"

#include <boost/asio/io_context.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

// The helpers and the names they use (net, errc, MockGraphServer, ...).
using namespace capi_https_test;

TEST_CASE("TLS records cut into small pieces both ways: the handshake and replies reassemble",
          "[https_transport]") {
    MockGraphServer server;
    capi::testing::FaultProxy proxy(server.port());
    // 16-byte pieces 1 ms apart: every record header, record and HTTP line of
    // the reply arrives across many socket reads.
    proxy.set_slicer(16, 1ms);
    net::io_context ioc;
    auto o = through_proxy(server, proxy, 10s);
    o.handshake_timeout = 10s;
    auto t = capi::make_https_transport(ioc.get_executor(), o);
    for (int i = 0; i < 3; ++i) {
        auto out = post_one(ioc, *t, json_request(numbered("s", i)), 30s);
        CHECK_FALSE(out.ec);
        CHECK(out.result.http_status == 200);
        CHECK(out.result.events_received == 1);
    }
    CHECK(proxy.counters().connections == 1);  // kept alive across sliced replies
    CHECK(server.requests().size() == 3);
}

TEST_CASE("a multi-megabyte body to a server reading slowly arrives whole", "[https_transport]") {
    MockGraphServer server;
    capi::testing::FaultProxy proxy(server.port());
    proxy.set_bandwidth(16 * 1024 * 1024);
    net::io_context ioc;
    auto o = through_proxy(server, proxy, 20s);
    auto t = capi::make_https_transport(ioc.get_executor(), o);
    auto req = large_request(1000);
    const std::size_t size = req.body.size();
    REQUIRE(size > 2'500'000);
    for (int i = 0; i < 2; ++i) {
        auto out = post_one(ioc, *t, i == 0 ? req : large_request(1000, "big2-"), 30s);
        CHECK_FALSE(out.ec);
        CHECK(out.result.events_received == 1000);
    }
    auto log = server.requests();
    REQUIRE(log.size() == 2);
    CHECK(log[0].body_bytes == size);
    REQUIRE(log[0].event_ids.size() == 1000);
    for (std::size_t i = 0; i < 1000; ++i) CHECK(log[0].event_ids[i] == numbered("big", i));  // in order
    CHECK(log[0].connection == log[1].connection);
    CHECK(proxy.counters().bytes_up > 2 * size);
}

TEST_CASE("bodies ending at and around TLS record and write-slice bounds arrive whole, each at once",
          "[https_transport]") {
    // Every record of a request but its last goes with MSG_MORE; the last one
    // pushes. A request whose last bytes stayed held back would end 200 ms or
    // more later, when the kernel's probe timer sends them; each of these takes
    // a few ms. The fastest of up to 3 tries counts, so a slow moment of the
    // machine does not fail the test, and a held-back tail always does.
    MockGraphServer server;
    net::io_context ioc;
    auto o = capi_test::transport_options(server);
    o.request_timeout = 5s;
    auto t = capi::make_https_transport(ioc.get_executor(), o);
    // Write slices: 16 KB, then 32, 64, 128 and 256 KB (ending at 16, 48, 112,
    // 240 and 496 KB); records: 16 KB.
    const std::size_t k = 1024;
    const std::vector<std::size_t> sizes = {0, 16 * k - 1, 16 * k, 16 * k + 1, 32 * k, 48 * k, 48 * k + 1,
                                            64 * k, 496 * k, 496 * k + 1, 752 * k + 7};
    std::size_t n = 0;
    for (const std::size_t size : sizes) {
        INFO("body of " << size << " bytes");
        auto fastest = std::chrono::steady_clock::duration::max();
        for (int attempt = 0; attempt < 3 && fastest >= 150ms; ++attempt, ++n) {
            auto req = json_request(numbered("b", n));
            if (size == 0) {
                req.body.clear();  // the mock refuses it at once
            } else {
                REQUIRE(req.body.size() < size);
                req.body.insert(req.body.size() - 1, size - req.body.size(), ' ');  // JSON whitespace
                REQUIRE(req.body.size() == size);
            }
            const auto t0 = std::chrono::steady_clock::now();
            auto out = post_one(ioc, *t, std::move(req));
            fastest = std::min(fastest, out.at - t0);
            if (size == 0) {
                CHECK(out.ec != make_error_code(errc::request_timeout));
                continue;
            }
            CHECK_FALSE(out.ec);
            CHECK(out.result.events_received == 1);
            const auto log = server.requests();
            REQUIRE_FALSE(log.empty());
            CHECK(log.back().body_bytes == size);
            REQUIRE(log.back().event_ids.size() == 1);
            CHECK(log.back().event_ids[0] == numbered("b", n));
        }
        CHECK(fastest < 150ms);
    }
    CHECK(server.connections() == 1);
}

TEST_CASE("request_timeout while the body is still being written: request_timeout, not delivered",
          "[https_transport]") {
    MockGraphServer server;
    capi::testing::FaultProxy proxy(server.port());
    net::io_context ioc;
    auto o = through_proxy(server, proxy, 400ms);
    auto t = capi::make_https_transport(ioc.get_executor(), o);
    REQUIRE_FALSE(post_one(ioc, *t).ec);  // the connection is open before the link slows
    // 1 MB/s for an 8 MB body: far more than the socket buffers hold, so the
    // deadline finds the write unfinished.
    proxy.set_bandwidth(1024 * 1024);
    capi::PostRequest big = json_request();
    big.body.append(8 * 1024 * 1024, ' ');
    const auto start = std::chrono::steady_clock::now();
    auto out = post_one(ioc, *t, std::move(big), 10s);
    CHECK(out.ec == errc::request_timeout);
    CHECK(out.result.possibly_delivered == 0);
    CHECK(out.at - start < 3s);
    CHECK(server.requests().size() == 1);  // neither finished nor resent
}

TEST_CASE("a peer that resets in the middle of a large body: connection_lost, then a new connection",
          "[https_transport]") {
    MockGraphServer server;
    capi::testing::FaultProxy proxy(server.port());
    // The first connection is reset once 1 MB of the request went up. At 4 MB/s
    // the socket buffers hold a small part of the 8 MB body (loopback can buffer
    // megabytes for a fast reader, so the cap is what makes the write fail).
    proxy.set_bandwidth(4 * 1024 * 1024);
    proxy.set_reset_after(1024 * 1024, capi::testing::FaultProxy::Direction::up, 1);
    net::io_context ioc;
    auto o = through_proxy(server, proxy, 20s);
    auto t = capi::make_https_transport(ioc.get_executor(), o);
    capi::PostRequest big = json_request();
    big.body.append(8 * 1024 * 1024, ' ');
    auto out = post_one(ioc, *t, std::move(big), 30s);
    CHECK(out.ec == errc::connection_lost);
    CHECK(out.result.possibly_delivered == 0);  // the request never went out whole
    CHECK(proxy.counters().resets == 1);
    CHECK(server.requests().empty());  // a fresh connection is never resent
    proxy.set_bandwidth(0);
    out = post_one(ioc, *t, json_request("after"), 30s);
    CHECK_FALSE(out.ec);
    CHECK(out.result.events_received == 1);
    CHECK(proxy.counters().connections == 2);
}

TEST_CASE("a socket that fills and drains in the middle of each write: records stay in order",
          "[https_transport]") {
    MockGraphServer server;
    capi::testing::FaultProxy proxy(server.port());
    // The proxy reads 16 KB every ~125 us, slower than the client encrypts but
    // without long pauses: once the socket buffers are full (a few MB), the
    // socket refuses one record and has room again a few records later, while
    // the refused bytes still wait for their write. A record sent ahead of them
    // would fail the server's record MAC.
    proxy.set_bandwidth(std::size_t{128} * 1024 * 1024);
    net::io_context ioc;
    auto o = through_proxy(server, proxy, 20s);
    auto t = capi::make_https_transport(ioc.get_executor(), o);
    capi::PostRequest head = json_request("ordered");
    const auto body = capi::SharedBody::take(head.body + std::string(12 * 1024 * 1024, ' '));
    // Each request has a fair chance to hit the moment; several make a miss unlikely.
    constexpr std::size_t requests = 6;
    for (std::size_t i = 0; i < requests; ++i) {
        outcome out;
        t->post_shared(head, body, record(out));
        REQUIRE(run_until(ioc, [&] { return out.calls > 0; }, 30s));
        CHECK_FALSE(out.ec);
        CHECK(out.result.events_received == 1);
    }
    auto log = server.requests();
    REQUIRE(log.size() == requests);
    for (const auto& r : log) {
        CHECK(r.body_bytes == body.bytes.size());
        CHECK(r.connection == log[0].connection);
    }
}

TEST_CASE("resets while records go straight to the socket: connection_lost, not delivered",
          "[https_transport]") {
    MockGraphServer server;
    capi::testing::FaultProxy proxy(server.port());
    // No bandwidth cap: the proxy reads as fast as the client sends, so records
    // mostly leave through the direct send rather than the queued write, and the
    // failing send is often a direct one (a race with the socket filling up,
    // hence several connections). 32 MB takes far longer to encrypt than the
    // reset takes to arrive.
    constexpr std::size_t attempts = 6;
    proxy.set_reset_after(64 * 1024, capi::testing::FaultProxy::Direction::up, attempts);
    net::io_context ioc;
    auto o = through_proxy(server, proxy, 20s);
    auto t = capi::make_https_transport(ioc.get_executor(), o);
    capi::PostRequest head = json_request();
    const auto body = capi::SharedBody::take(head.body + std::string(32 * 1024 * 1024, ' '));
    for (std::size_t i = 0; i < attempts; ++i) {
        outcome out;
        t->post_shared(head, body, record(out));
        REQUIRE(run_until(ioc, [&] { return out.calls > 0; }, 30s));
        CHECK(out.ec == errc::connection_lost);
        // A failed send swallowed would end in the read instead, as "possibly delivered".
        CHECK(out.result.possibly_delivered == 0);
    }
    CHECK(proxy.counters().resets == attempts);
    CHECK(server.requests().empty());
    auto out = post_one(ioc, *t, json_request("after"), 30s);
    CHECK_FALSE(out.ec);
    CHECK(out.result.events_received == 1);
    CHECK(proxy.counters().connections == attempts + 1);
}

TEST_CASE("post_shared sends the shared body and leaves it intact for the next attempt",
          "[https_transport]") {
    MockGraphServer server;
    net::io_context ioc;
    auto t = capi::make_https_transport(ioc.get_executor(), capi_test::transport_options(server));
    auto req = json_request("shared");
    // The body a slice of a larger buffer: exactly the slice goes out.
    auto storage = std::make_shared<const std::string>("<<" + req.body + ">>");
    const capi::SharedBody body{std::string_view(*storage).substr(2, req.body.size()), storage};
    capi::PostRequest head = req;
    head.body = "ignored";
    for (int i = 0; i < 2; ++i) {
        outcome out;
        t->post_shared(head, body, record(out));
        REQUIRE(run_until(ioc, [&] { return out.calls > 0; }));
        CHECK_FALSE(out.ec);
        CHECK(out.result.events_received == 1);
    }
    CHECK(body.bytes == req.body);
    // post() honours PostRequest::shared_body the same way.
    capi::PostRequest whole = head;
    whole.shared_body = body;
    outcome out;
    t->post(std::move(whole), record(out));
    REQUIRE(run_until(ioc, [&] { return out.calls > 0; }));
    CHECK_FALSE(out.ec);
    auto log = server.requests();
    REQUIRE(log.size() == 3);
    for (const auto& r : log) {
        CHECK(r.body_bytes == req.body.size());
        CHECK(r.event_ids == std::vector<std::string>{"shared"});
    }
}
