// MockGraphServer as a far server and a throttling one, and how it reads
// bodies, over real TLS on 127.0.0.1: MockOptions::delay (`capi mock-server --latency-ms`) holds answers
// on timers, so hundreds of connections wait at once on any number of threads
// (`--threads`); a ThrottleBurst answers exactly its requests with Meta's
// throttling errors, then serves normally. The steady clock is only a lower
// bound here (an answer is never early); "at once" is checked against the
// serial time with a wide margin, as a loaded machine is slow, never fast.
// Bodies with a Content-Length go straight into a store each connection reuses;
// chunked ones through Beast: both must read exactly the request's bytes.
#include <capi/testing/mock_graph.hpp>

#include "testing/tls_layer.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <catch2/catch.hpp>
#include <simdjson.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using capi::testing::Fault;
using capi::testing::MockGraphServer;
using capi::testing::MockOptions;
using capi::testing::ThrottleBurst;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

const std::string events_path = "/v24.0/123/events";
const std::string hash64(64, 'a');

// `events` valid events, their event_time a minute ago.
std::string body(std::size_t events = 1) {
    const auto now =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    std::string data;
    for (std::size_t i = 0; i < events; ++i) {
        if (i) data += ',';
        data += R"({"event_name":"Purchase","event_time":)" + std::to_string(now - 60) +
                R"(,"action_source":"website","event_id":"e)" + std::to_string(i) + R"(","user_data":{"em":")" +
                hash64 + R"("}})";
    }
    return R"({"access_token":"mock-token","data":[)" + data + "]}";
}

struct Post {
    std::string body;
    bool chunked = false;
};

struct Answer {
    beast::error_code ec;
    unsigned status = 0;
    std::string body;
    steady::time_point sent, answered;
};

// `connections` clients on one io_context: each connects and handshakes, then
// all wait until every one is ready, then each POSTs `requests` requests one
// after another on its connection. Bounded by `deadline` (the io_context stops).
std::vector<std::vector<Answer>> post_from(const MockGraphServer& server, std::size_t connections,
                                           const std::vector<Post>& posts, std::chrono::seconds deadline) {
    net::io_context ioc;
    ssl::context ctx(ssl::context::tls_client);
    ctx.set_verify_mode(ssl::verify_peer);
    ctx.add_certificate_authority(net::buffer(server.ca_pem()));
    std::vector<std::vector<Answer>> answers(connections);
    std::size_t ready = 0;
    net::steady_timer all_ready(ioc, steady::time_point::max());
    for (std::size_t i = 0; i < connections; ++i) {
        net::co_spawn(
            ioc,
            [&, i]() -> net::awaitable<void> {
                beast::error_code ec;
                auto tok = net::redirect_error(net::use_awaitable, ec);
                auto stream = std::make_unique<capi::testing::detail::TlsLayer<beast::tcp_stream>>(ioc, ctx);
                co_await beast::get_lowest_layer(*stream).async_connect(
                    tcp::endpoint(net::ip::make_address("127.0.0.1"), server.port()), tok);
                if (!ec) co_await stream->next_layer().async_handshake(ssl::stream_base::client, tok);
                if (++ready == connections) all_ready.cancel();
                else co_await all_ready.async_wait(net::redirect_error(net::use_awaitable, ec));
                beast::flat_buffer buffer;
                for (const Post& post : posts) {
                    Answer a;
                    http::request<http::string_body> req{http::verb::post, events_path, 11};
                    req.set(http::field::host, "127.0.0.1");
                    req.set(http::field::content_type, "application/json");
                    req.body() = post.body;
                    if (post.chunked) req.chunked(true);
                    else req.prepare_payload();
                    a.sent = steady::now();
                    auto atok = net::redirect_error(net::use_awaitable, a.ec);
                    co_await http::async_write(*stream, req, atok);
                    http::response<http::string_body> res;
                    if (!a.ec) co_await http::async_read(*stream, buffer, res, atok);
                    a.answered = steady::now();
                    a.status = res.result_int();
                    a.body = std::move(res.body());
                    answers[i].push_back(std::move(a));
                }
            },
            net::detached);
    }
    ioc.run_for(deadline);
    return answers;
}

struct GraphError {
    std::int64_t code = 0, subcode = 0;
    bool transient = false;
};

std::optional<GraphError> graph_error(const std::string& text) {
    simdjson::dom::parser parser;
    simdjson::dom::element err;
    if (parser.parse(text)["error"].get(err) != simdjson::SUCCESS) return std::nullopt;
    GraphError e;
    e.code = err["code"].get_int64().value_unsafe();
    std::int64_t sub = 0;
    if (err["error_subcode"].get_int64().get(sub) == simdjson::SUCCESS) e.subcode = sub;
    bool transient = false;
    if (err["is_transient"].get_bool().get(transient) == simdjson::SUCCESS) e.transient = transient;
    return e;
}

std::vector<std::vector<Answer>> post_from(const MockGraphServer& server, std::size_t connections,
                                           std::size_t requests, std::chrono::seconds deadline) {
    return post_from(server, connections, std::vector<Post>(requests, Post{body()}), deadline);
}

} // namespace

TEST_CASE("reading: large, small, chunked and empty bodies one after another on one connection", "[net]") {
    // The small body after the large one sits in the same store: it must be read
    // as its own bytes only (the rest of the store is the parser's padding).
    MockGraphServer server;
    const std::vector<Post> posts = {{body(1000)}, {body(2)}, {body(3), true}, {body(500)}, {""}, {body(1)}};
    const auto answers = post_from(server, 1, posts, 60s);
    REQUIRE(answers[0].size() == posts.size());
    const std::size_t expected_events[] = {1000, 2, 3, 500, 0, 1};
    for (std::size_t i = 0; i < posts.size(); ++i) {
        CAPTURE(i, answers[0][i].body.substr(0, 300));
        REQUIRE_FALSE(answers[0][i].ec);
        if (expected_events[i] == 0) {
            REQUIRE(answers[0][i].status == 401);  // no body, so no access_token: code 190
            continue;
        }
        REQUIRE(answers[0][i].status == 200);
        REQUIRE(answers[0][i].body.find("\"events_received\":" + std::to_string(expected_events[i]) + ",") !=
                std::string::npos);
    }
    const auto log = server.requests();
    REQUIRE(log.size() == posts.size());
    for (std::size_t i = 0; i < posts.size(); ++i) {
        REQUIRE(log[i].body_bytes == posts[i].body.size());
        REQUIRE(log[i].events == expected_events[i]);
        if (expected_events[i] == 0) continue;
        std::string last_id = "e";
        last_id += std::to_string(expected_events[i] - 1);
        REQUIRE(log[i].event_ids.back() == last_id);
    }
    REQUIRE(server.events_accepted() == 1000 + 2 + 3 + 500 + 1);
    REQUIRE(server.connections() == 1);
}

TEST_CASE("latency: no answer goes out before MockOptions::delay after its request", "[net]") {
    MockOptions o;
    o.delay = 150ms;
    MockGraphServer server(o);
    const auto answers = post_from(server, 1, 3, 30s);
    REQUIRE(answers[0].size() == 3);
    for (const auto& a : answers[0]) {
        REQUIRE_FALSE(a.ec);
        REQUIRE(a.status == 200);
        REQUIRE(a.answered - a.sent >= 150ms);
    }
    REQUIRE(server.events_accepted() == 3);
}

TEST_CASE("latency: hundreds of delayed requests on as many connections wait at once, not in turn", "[net]") {
    // 200 connections x 300 ms answered one after another would take 60 s; held
    // on timers they take about one delay. The bound (a quarter of the serial
    // time) leaves room for a slow machine and still fails a serializing server.
    const unsigned threads = GENERATE(1u, 4u);
    constexpr std::size_t connections = 200;
    constexpr auto delay = 300ms;
    MockOptions o;
    o.delay = delay;
    o.threads = threads;
    MockGraphServer server(o);
    const auto t0 = steady::now();
    const auto answers = post_from(server, connections, 1, 60s);
    steady::time_point first_sent = steady::time_point::max(), last_answer{};
    for (const auto& c : answers) {
        REQUIRE(c.size() == 1);
        REQUIRE_FALSE(c[0].ec);
        REQUIRE(c[0].status == 200);
        REQUIRE(c[0].answered - c[0].sent >= delay);
        first_sent = std::min(first_sent, c[0].sent);
        last_answer = std::max(last_answer, c[0].answered);
    }
    const auto serial = connections * delay;
    CAPTURE(threads, std::chrono::duration_cast<std::chrono::milliseconds>(last_answer - first_sent).count());
    REQUIRE(last_answer - first_sent < serial / 4);
    REQUIRE(steady::now() - t0 < serial / 4 + 20s);  // connecting included
    REQUIRE(server.events_accepted() == connections);
    REQUIRE(server.connections() == connections);
}

TEST_CASE("throttle: a burst answers exactly its requests with Meta's throttling error, then normally", "[net]") {
    const int code = GENERATE(4, 17, 32, 613, 80004, 429);
    MockGraphServer server;
    ThrottleBurst burst;
    burst.after_requests = 2;
    burst.requests = 3;
    burst.code = code;
    server.throttle_burst(burst);
    const auto answers = post_from(server, 1, 8, 30s);
    REQUIRE(answers[0].size() == 8);
    const auto expected = Fault::throttling(code);
    for (std::size_t i = 0; i < 8; ++i) {
        const auto& a = answers[0][i];
        CAPTURE(code, i, a.body);
        REQUIRE_FALSE(a.ec);
        if (i < 2 || i >= 5) {
            REQUIRE(a.status == 200);
            continue;
        }
        REQUIRE(a.status == static_cast<unsigned>(expected.status));
        if (code == 429) {
            REQUIRE(a.status == 429);
            REQUIRE_FALSE(graph_error(a.body));
        } else {
            const auto e = graph_error(a.body);
            REQUIRE(e);
            REQUIRE(e->code == code);
            REQUIRE(e->transient);
            REQUIRE(a.status == (code == 4 ? 403u : 400u));
        }
    }
    REQUIRE(server.requests_throttled() == 3);
    REQUIRE(server.events_accepted() == 5);
    const auto log = server.requests();
    REQUIRE(log.size() == 8);
    REQUIRE(server.request_count() == 8);
    for (std::size_t i = 0; i < 8; ++i) {
        CAPTURE(i);
        REQUIRE(log[i].throttled == (i >= 2 && i < 5));
        REQUIRE_FALSE(log[i].fault);
    }
}

TEST_CASE("throttle: scripted faults go first and do not count in the burst", "[net]") {
    MockGraphServer server;
    server.push_fault(Fault::graph_error(503, 2, 0, true));
    ThrottleBurst burst;
    burst.requests = 2;
    burst.code = 613;
    server.throttle_burst(burst);
    const auto answers = post_from(server, 1, 4, 30s);
    REQUIRE(answers[0].size() == 4);
    REQUIRE(answers[0][0].status == 503);
    REQUIRE(graph_error(answers[0][1].body)->code == 613);
    REQUIRE(graph_error(answers[0][2].body)->code == 613);
    REQUIRE(answers[0][3].status == 200);
    REQUIRE(server.requests_throttled() == 2);
    REQUIRE(server.events_accepted() == 1);

    // Re-armed: the new burst replaces what is left of the old one; 0 requests is none.
    server.throttle_burst(ThrottleBurst{0, 1, 4});
    server.throttle_burst(ThrottleBurst{});
    const auto more = post_from(server, 1, 1, 30s);
    REQUIRE(more[0].at(0).status == 200);
    REQUIRE(server.requests_throttled() == 2);
}

TEST_CASE("Fault::throttling: Meta's codes, subcodes and statuses", "[rules]") {
    struct Row {
        int code;
        int status;
        std::int64_t subcode;
    };
    for (const Row& r : {Row{4, 403, 0}, Row{17, 400, 2446079}, Row{32, 400, 0}, Row{613, 400, 1487742},
                         Row{80000, 400, 2446079}, Row{80014, 400, 2446079}}) {
        CAPTURE(r.code);
        const Fault f = Fault::throttling(r.code);
        REQUIRE(f.action == Fault::Action::respond);
        REQUIRE(f.status == r.status);
        const auto e = graph_error(f.body);
        REQUIRE(e);
        REQUIRE(e->code == r.code);
        REQUIRE(e->subcode == r.subcode);
        REQUIRE(e->transient);
    }
    const Fault proxy = Fault::throttling(429);
    REQUIRE(proxy.status == 429);
    REQUIRE_FALSE(graph_error(proxy.body));
}
