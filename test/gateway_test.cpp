// capi gateway end to end, in-process over real sockets: HTTP (and HTTPS) hits
// into capi_gateway::Gateway on 127.0.0.1 / [::1], events out through its
// capi::Client to MockGraphServer over TLS; what the mock accepted is read back
// through MockOptions::on_accepted, field by field.
#include "server.hpp"

#include "support/fixtures.hpp"
#include "testing/certs.hpp"
#include "testing/graph_rules.hpp"

#include <capi/normalize.hpp>
#include <capi/sha256.hpp>
#include <capi/testing/mock_graph.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <catch2/catch.hpp>
#include <simdjson.h>

#include <sys/socket.h>
#include <sys/time.h>

#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

namespace {

constexpr const char* pixel = "1234567890";
// The seed's image pixel, with a real (digits) pixel id.
constexpr const char* seed_hit =
    "/tr?id=1234567890&ev=ViewContent&cd[content_type]=product&cd[content_ids]=1234&cd[value]=0.50"
    "&cd[currency]=USD&noscript=1";
constexpr const char* ua = "Mozilla/5.0 (X11; Linux x86_64) capi-gateway-test";
constexpr const char* page = "https://shop.example/product/1234";

/// What the mock accepted, as it arrived.
struct Received {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<std::pair<std::string, std::string>> events;  // pixel, event JSON

    void add(std::string_view px, const std::vector<std::string>& evs) {
        std::lock_guard lock(mu);
        for (const auto& e : evs) events.emplace_back(std::string(px), e);
        cv.notify_all();
    }
    /// Waits (bounded) until `n` events arrived; returns what arrived.
    std::vector<std::pair<std::string, std::string>> wait(std::size_t n, std::chrono::seconds bound = 10s) {
        std::unique_lock lock(mu);
        cv.wait_for(lock, bound, [&] { return events.size() >= n; });
        return events;
    }
    std::size_t size() {
        std::lock_guard lock(mu);
        return events.size();
    }
};

struct Env {
    Received received;
    std::unique_ptr<capi::testing::MockGraphServer> mock;
    std::unique_ptr<capi_gateway::Gateway> gw;
    std::string host;

    template <class Tweak>
    explicit Env(Tweak tweak, std::string host_ = "127.0.0.1", capi::testing::MockOptions mo = {}) : host(host_) {
        mo.on_accepted = [this](std::string_view px, const std::vector<std::string>& evs) { received.add(px, evs); };
        mock = std::make_unique<capi::testing::MockGraphServer>(std::move(mo));
        capi_gateway::GatewayOptions o;
        o.listen_host = host;
        o.pixel.pixels = {pixel};
        o.client = capi_test::client_options(*mock);
        tweak(o);
        gw = std::make_unique<capi_gateway::Gateway>(std::move(o));
    }
    Env() : Env([](capi_gateway::GatewayOptions&) {}) {}
    ~Env() {
        if (gw) gw->stop(5s);
        if (mock) mock->stop();
    }
};

struct Reply {
    int status = 0;
    std::multimap<std::string, std::string> headers;  // lowercase names
    std::string body;
    std::string header(const std::string& name) const {
        auto it = headers.find(name);
        return it == headers.end() ? std::string() : it->second;
    }
};

void set_receive_timeout(tcp::socket& s, std::chrono::seconds t) {
    timeval tv{static_cast<time_t>(t.count()), 0};
    ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

tcp::endpoint endpoint_of(const Env& env) { return {net::ip::make_address(env.host), env.gw->port()}; }

Reply to_reply(http::response<http::string_body>& res) {
    Reply r;
    r.status = static_cast<int>(res.result_int());
    for (const auto& f : res) {
        std::string name(f.name_string());
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        r.headers.emplace(std::move(name), std::string(f.value()));
    }
    r.body = std::move(res.body());
    return r;
}

/// One request on a fresh plain connection.
Reply request(const Env& env, http::verb method, std::string target,
              std::vector<std::pair<std::string, std::string>> headers = {}, std::string body = {}) {
    net::io_context io;
    tcp::socket s(io);
    s.connect(endpoint_of(env));
    set_receive_timeout(s, 10s);
    http::request<http::string_body> req{method, target, 11};
    req.set(http::field::host, "gateway.test");
    for (auto& [k, v] : headers) req.insert(k, v);
    if (!body.empty() || method == http::verb::post) req.body() = std::move(body);
    req.prepare_payload();
    http::write(s, req);
    beast::flat_buffer buf;
    http::response<http::string_body> res;
    http::read(s, buf, res);
    return to_reply(res);
}

/// Writes raw bytes and reads the answer until the server closes (or 10 s).
std::string raw(const Env& env, const std::string& bytes) {
    net::io_context io;
    tcp::socket s(io);
    s.connect(endpoint_of(env));
    set_receive_timeout(s, 10s);
    beast::error_code ec;
    net::write(s, net::buffer(bytes), ec);
    std::string out;
    char buf[4096];
    for (;;) {
        const std::size_t n = s.read_some(net::buffer(buf), ec);
        if (ec) break;
        out.append(buf, n);
    }
    return out;
}

int status_of(const std::string& raw_reply) {
    if (raw_reply.size() < 12 || !raw_reply.starts_with("HTTP/1.1 ")) return 0;
    return std::stoi(raw_reply.substr(9, 3));
}

std::string cookie_value(const Reply& r, const std::string& name) {
    for (auto [it, end] = r.headers.equal_range("set-cookie"); it != end; ++it) {
        const std::string& c = it->second;
        if (c.starts_with(name + "=")) return c.substr(name.size() + 1, c.find(';') - name.size() - 1);
    }
    return {};
}

/// The value of one sample of the /metrics text (the full series as written), or -1.
double metric(const std::string& text, const std::string& series) {
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        if (line.starts_with(series + " ")) return std::stod(line.substr(series.size() + 1));
    }
    return -1;
}

simdjson::dom::element parse(simdjson::dom::parser& p, const std::string& json) {
    simdjson::dom::element e;
    REQUIRE(p.parse(json).get(e) == simdjson::SUCCESS);
    return e;
}

std::string str(simdjson::dom::element e, std::string_view path) {
    std::string_view v;
    if (e.at_pointer(path).get(v) != simdjson::SUCCESS) return "<absent>";
    return std::string(v);
}

} // namespace

TEST_CASE("gateway: the seed's image pixel reaches the mock as a correct server event", "[gateway]") {
    for (const std::string host : {"127.0.0.1", "::1"}) {
        DYNAMIC_SECTION("listening on " << host) {
            Env env([](capi_gateway::GatewayOptions&) {}, host);
            const Reply r = request(env, http::verb::get, seed_hit, {{"User-Agent", ua}, {"Referer", page}});
            CHECK(r.status == 200);
            CHECK(r.header("content-type") == "image/gif");
            const std::string fbp = cookie_value(r, "_fbp");
            CHECK(fbp.starts_with("fb.1."));

            const auto events = env.received.wait(1);
            REQUIRE(events.size() == 1);
            CHECK(events[0].first == pixel);
            simdjson::dom::parser p;
            const auto ev = parse(p, events[0].second);
            CHECK(str(ev, "/event_name") == "ViewContent");
            CHECK(str(ev, "/action_source") == "website");
            CHECK(str(ev, "/event_source_url") == page);
            CHECK(str(ev, "/custom_data/content_type") == "product");
            CHECK(str(ev, "/custom_data/content_ids/0") == "1234");
            double value = 0;
            CHECK(ev.at_pointer("/custom_data/value").get(value) == simdjson::SUCCESS);
            CHECK(value == Approx(0.5));
            std::string currency = str(ev, "/custom_data/currency");
            for (char& c : currency) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
            CHECK(currency == "USD");
            CHECK(str(ev, "/user_data/client_ip_address") == host);
            CHECK(str(ev, "/user_data/client_user_agent") == ua);
            CHECK(str(ev, "/user_data/fbp") == fbp);
            std::int64_t t = 0;
            CHECK(ev.at_pointer("/event_time").get(t) == simdjson::SUCCESS);
            const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                                 std::chrono::system_clock::now().time_since_epoch()).count();
            CHECK(std::abs(now - t) < 60);
        }
    }
}

TEST_CASE("gateway: POST /tr (a beacon) and POST /events (JSON) are sent too", "[gateway]") {
    Env env;
    const Reply beacon = request(env, http::verb::post, "/tr",
                                 {{"User-Agent", ua},
                                  {"Content-Type", "application/x-www-form-urlencoded"},
                                  {"Cookie", "_fbp=fb.1.1700000000000.42"}},
                                 std::string("id=") + pixel + "&ev=AddToCart&eid=cart-7&dl=" +
                                     capi::testing::rules::url_encode(page) + "&cd%5Bvalue%5D=3&cd%5Bcurrency%5D=EUR");
    CHECK(beacon.status == 204);
    CHECK(cookie_value(beacon, "_fbp").empty());  // the browser has one: not set again

    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch()).count();
    const Reply json = request(env, http::verb::post, std::string("/events?id=") + pixel,
                               {{"User-Agent", ua}, {"Content-Type", "application/json"}},
                               R"({"data":[{"event_name":"Purchase","event_id":"order-1","event_time":)" +
                                   std::to_string(now) + R"(,"action_source":"website","event_source_url":")" +
                                   page + R"(","custom_data":{"value":25,"currency":"USD"}}]})");
    CHECK(json.status == 200);

    const auto events = env.received.wait(2);
    REQUIRE(events.size() == 2);
    std::map<std::string, std::string> by_name;
    simdjson::dom::parser p;
    for (const auto& [px, e] : events) {
        CHECK(px == pixel);
        by_name[str(parse(p, e), "/event_name")] = e;
    }
    REQUIRE(by_name.count("AddToCart") == 1);
    REQUIRE(by_name.count("Purchase") == 1);
    const auto cart = parse(p, by_name["AddToCart"]);
    CHECK(str(cart, "/event_id") == "cart-7");
    CHECK(str(cart, "/user_data/fbp") == "fb.1.1700000000000.42");
    CHECK(str(cart, "/event_source_url") == page);
    simdjson::dom::parser p2;
    const auto purchase = parse(p2, by_name["Purchase"]);
    CHECK(str(purchase, "/event_id") == "order-1");
    CHECK(str(purchase, "/user_data/client_ip_address") == "127.0.0.1");
    CHECK(str(purchase, "/user_data/client_user_agent") == ua);
}

/// The answers in `bytes`, one after the other, as a client reads them.
std::vector<Reply> replies_of(std::string_view bytes) {
    std::vector<Reply> out;
    while (!bytes.empty()) {
        http::response_parser<http::string_body> p;
        p.eager(true);
        beast::error_code ec;
        while (!p.is_done() && !ec && !bytes.empty()) bytes.remove_prefix(p.put(net::buffer(bytes.data(), bytes.size()), ec));
        INFO(ec.message());
        REQUIRE(p.is_done());
        out.push_back(to_reply(p.get()));
        out.back().headers.emplace(":version", std::to_string(p.get().version()));
    }
    return out;
}

TEST_CASE("gateway: pipelined requests answered in order; HTTP/1.0; Expect: 100-continue", "[gateway]") {
    Env env;
    const std::string head = std::string(" HTTP/1.1\r\nHost: g\r\nUser-Agent: ") + ua + "\r\nReferer: " + page + "\r\n";
    const std::string beacon_body = "ev=Lead&eid=pipe-2";
    // Four requests in one write: the gateway finds the later ones already read.
    const std::string pipelined =
        "GET " + std::string(seed_hit) + "&eid=pipe-1" + head + "\r\n" +
        "POST /tr?id=" + pixel + head + "Content-Type: text/plain\r\nContent-Length: " +
        std::to_string(beacon_body.size()) + "\r\n\r\n" + beacon_body +
        "GET /healthz" + head + "\r\n" +
        "GET /nope" + head + "Connection: close\r\n\r\n";
    const std::vector<Reply> r = replies_of(raw(env, pipelined));
    REQUIRE(r.size() == 4);
    CHECK(r[0].status == 200);
    CHECK(r[0].header("content-type") == "image/gif");
    CHECK(r[0].header("cache-control") == "no-store");
    CHECK(r[0].body.size() == 43);
    CHECK(r[0].header("connection").empty());
    CHECK(r[1].status == 204);
    CHECK(r[1].header("content-length").empty());  // RFC 9110 8.6: none on a 204
    CHECK(r[2].status == 200);
    CHECK(r[2].body == "ok\n");
    CHECK(r[3].status == 404);
    CHECK(r[3].header("connection") == "close");

    const auto events = env.received.wait(2);
    REQUIRE(events.size() == 2);
    simdjson::dom::parser p1, p2;
    const std::set<std::string> ids = {str(parse(p1, events[0].second), "/event_id"),
                                       str(parse(p2, events[1].second), "/event_id")};
    CHECK(ids == std::set<std::string>{"pipe-1", "pipe-2"});

    // HTTP/1.0: answered in 1.0, closed after (no keep-alive asked).
    const std::vector<Reply> old = replies_of(raw(env, "GET /healthz HTTP/1.0\r\nHost: g\r\n\r\n"));
    REQUIRE(old.size() == 1);
    CHECK(old[0].status == 200);
    CHECK(old[0].header(":version") == "10");
    CHECK(old[0].body == "ok\n");

    // Expect: 100-continue: the interim answer, then the hit's.
    const std::string continued = raw(env, "POST /tr?id=" + std::string(pixel) + head +
                                               "Expect: 100-continue\r\nConnection: close\r\n"
                                               "Content-Type: text/plain\r\nContent-Length: 18\r\n\r\nev=Lead&eid=cont-3");
    REQUIRE(continued.starts_with("HTTP/1.1 100 Continue\r\n\r\n"));
    const std::vector<Reply> after = replies_of(std::string_view(continued).substr(25));
    REQUIRE(after.size() == 1);
    CHECK(after[0].status == 204);
    CHECK(after[0].header("connection") == "close");
    CHECK(env.received.wait(3).size() == 3);
}

TEST_CASE("gateway: foreign pixels and malformed hits are refused, sent nowhere, and counted", "[gateway]") {
    Env env;
    const Reply foreign = request(env, http::verb::get, "/tr?id=999&ev=PageView", {{"User-Agent", ua}, {"Referer", page}});
    CHECK(foreign.status == 403);
    const Reply malformed = request(env, http::verb::get, std::string("/tr?id=") + pixel + "&ev=PageView&ts=soon",
                                    {{"User-Agent", ua}, {"Referer", page}});
    CHECK(malformed.status == 400);
    CHECK(malformed.body.find("ts") != std::string::npos);  // names the parameter
    const Reply missing = request(env, http::verb::get, "/nope");
    CHECK(missing.status == 404);

    REQUIRE(env.gw->flush(10s));
    CHECK(env.received.size() == 0);
    CHECK(env.mock->requests().empty());
    const std::string m = env.gw->metrics_text();
    CHECK(metric(m, R"(capi_gateway_requests_total{route="/tr",outcome="foreign_pixel"})") == 1);
    CHECK(metric(m, R"(capi_gateway_requests_total{route="/tr",outcome="rejected"})") == 1);
    CHECK(metric(m, R"(capi_gateway_requests_total{route="other",outcome="not_found"})") == 1);
    CHECK(metric(m, R"(capi_gateway_events_rejected_total{reason="foreign_pixel"})") == 1);
    CHECK(metric(m, R"(capi_gateway_events_rejected_total{reason="invalid"})") == 1);
    CHECK(metric(m, R"(capi_gateway_events_total{state="accepted"})") == 0);
}

TEST_CASE("gateway: oversized URL, header and body are refused with 414, 431, 413 and counted", "[gateway]") {
    Env env([](capi_gateway::GatewayOptions& o) { o.pixel.max_body_bytes = 4096; });
    const std::string long_url = std::string("/tr?id=") + pixel + "&ev=PageView&cd[x]=" + std::string(9000, 'a');
    CHECK(status_of(raw(env, "GET " + long_url + " HTTP/1.1\r\nHost: g\r\n\r\n")) == 414);
    // Far past every bound (Beast's own limit stops the read): still 414, not 431.
    const std::string huge_url = std::string("/tr?id=") + pixel + "&x=" + std::string(40000, 'a');
    CHECK(status_of(raw(env, "GET " + huge_url + " HTTP/1.1\r\nHost: g\r\n\r\n")) == 414);
    CHECK(status_of(raw(env, "GET /healthz HTTP/1.1\r\nHost: g\r\nX-Big: " + std::string(17000, 'b') + "\r\n\r\n")) ==
          431);
    CHECK(status_of(raw(env, "GET /healthz HTTP/1.1\r\nHost: g\r\nX-Big: " + std::string(60000, 'b') + "\r\n\r\n")) ==
          431);
    // Refused on its Content-Length, before the body is sent.
    CHECK(status_of(raw(env, "POST /tr HTTP/1.1\r\nHost: g\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                             "Content-Length: 5000\r\n\r\n")) == 413);
    // Chunked: refused once the body passes the bound.
    const std::string chunk(3000, 'c');
    CHECK(status_of(raw(env, "POST /tr HTTP/1.1\r\nHost: g\r\nTransfer-Encoding: chunked\r\n\r\nbb8\r\n" + chunk +
                                 "\r\nbb8\r\n" + chunk + "\r\n0\r\n\r\n")) == 413);
    CHECK(status_of(raw(env, "NOT HTTP AT ALL\r\n\r\n")) == 400);

    const std::string m = env.gw->metrics_text();
    CHECK(metric(m, R"(capi_gateway_requests_total{route="other",outcome="uri_too_long"})") +
              std::max(0.0, metric(m, R"(capi_gateway_requests_total{route="/tr",outcome="uri_too_long"})")) ==
          2);
    CHECK(metric(m, R"(capi_gateway_requests_total{route="/healthz",outcome="header_too_large"})") +
              std::max(0.0, metric(m, R"(capi_gateway_requests_total{route="other",outcome="header_too_large"})")) ==
          2);
    CHECK(metric(m, R"(capi_gateway_requests_total{route="/tr",outcome="too_large"})") == 2);
    CHECK(metric(m, R"(capi_gateway_requests_total{route="other",outcome="bad_request"})") == 1);
    CHECK(env.received.size() == 0);
}

TEST_CASE("gateway: connections beyond the bound are closed at once and counted", "[gateway]") {
    Env env([](capi_gateway::GatewayOptions& o) { o.limits.max_connections = 2; });
    net::io_context io;
    std::vector<tcp::socket> held;
    for (int i = 0; i < 2; ++i) {
        // Each answers a keep-alive request: the server has it counted open.
        held.emplace_back(io);
        held.back().connect(endpoint_of(env));
        set_receive_timeout(held.back(), 10s);
        http::request<http::empty_body> req{http::verb::get, "/healthz", 11};
        req.set(http::field::host, "g");
        http::write(held.back(), req);
        beast::flat_buffer buf;
        http::response<http::string_body> res;
        http::read(held.back(), buf, res);
        CHECK(res.result_int() == 200);
    }
    CHECK(raw(env, "GET /healthz HTTP/1.1\r\nHost: g\r\n\r\n").empty());  // closed unanswered
    CHECK(metric(env.gw->metrics_text(), "capi_gateway_connections_refused_total") == 1);
    CHECK(metric(env.gw->metrics_text(), "capi_gateway_connections") == 2);
    held.clear();  // room again
    bool served = false;
    for (auto until = std::chrono::steady_clock::now() + 10s; !served && std::chrono::steady_clock::now() < until;)
        served = status_of(raw(env, "GET /healthz HTTP/1.1\r\nHost: g\r\nConnection: close\r\n\r\n")) == 200;
    CHECK(served);
}

TEST_CASE("gateway: a client trickling its request is cut off at the read timeout", "[gateway]") {
    Env env([](capi_gateway::GatewayOptions& o) { o.limits.read_timeout = 300ms; });
    const auto start = std::chrono::steady_clock::now();
    // The header never ends: the server closes without answering.
    CHECK(raw(env, "GET /healthz HTTP/1.1\r\nHost: g\r\n").empty());
    CHECK(std::chrono::steady_clock::now() - start < 8s);
    // Counted once the server's timer fired, which may be just after the close.
    double timeouts = 0;
    for (auto until = std::chrono::steady_clock::now() + 5s; timeouts == 0 && std::chrono::steady_clock::now() < until;)
        timeouts = metric(env.gw->metrics_text(), "capi_gateway_read_timeouts_total");
    CHECK(timeouts == 1);
}

TEST_CASE("gateway: an idle keep-alive connection is closed after the idle timeout", "[gateway]") {
    Env env([](capi_gateway::GatewayOptions& o) { o.limits.idle_timeout = 200ms; });
    // One request answered, then silence: the server closes, the client reads EOF.
    const auto start = std::chrono::steady_clock::now();
    const std::string reply = raw(env, "GET /healthz HTTP/1.1\r\nHost: g\r\n\r\n");
    CHECK(status_of(reply) == 200);
    CHECK(std::chrono::steady_clock::now() - start < 8s);  // raw() gives up at 10 s
    CHECK(metric(env.gw->metrics_text(), "capi_gateway_read_timeouts_total") == 0);  // idle is not slow
}

TEST_CASE("gateway: several pixels, each event to its own; CORS for the allowed origin", "[gateway]") {
    Env env([](capi_gateway::GatewayOptions& o) {
        o.pixel.pixels = {pixel, "555000111"};
        o.pixel.allow_origins = {"https://shop.example"};
        o.threads = 2;  // a strand per connection
    });
    const Reply pre = request(env, http::verb::options, "/events?id=555000111",
                              {{"Origin", "https://shop.example"}, {"Access-Control-Request-Method", "POST"}});
    CHECK(pre.status == 204);
    CHECK(pre.header("access-control-allow-origin") == "https://shop.example");
    const Reply other = request(env, http::verb::options, "/events",
                                {{"Origin", "https://evil.example"}, {"Access-Control-Request-Method", "POST"}});
    CHECK(other.header("access-control-allow-origin").empty());

    CHECK(request(env, http::verb::get, "/tr?id=555000111&ev=Lead", {{"User-Agent", ua}, {"Referer", page}}).status ==
          200);
    CHECK(request(env, http::verb::get, seed_hit, {{"User-Agent", ua}, {"Referer", page}}).status == 200);
    const auto events = env.received.wait(2);
    REQUIRE(events.size() == 2);
    std::map<std::string, std::string> pixel_of;
    simdjson::dom::parser p;
    for (const auto& [px, e] : events) pixel_of[str(parse(p, e), "/event_name")] = px;
    CHECK(pixel_of["Lead"] == "555000111");
    CHECK(pixel_of["ViewContent"] == pixel);
    const std::string m = env.gw->metrics_text();
    CHECK(metric(m, R"(capi_gateway_requests_total{route="/events",outcome="preflight"})") == 2);

    // Refusals of the pixel endpoint keep their own names in /metrics.
    const std::string body = R"({"event_name":"Lead","event_id":"e-1"})";
    CHECK(request(env, http::verb::post, "/events?id=555000111",
                  {{"Origin", "https://evil.example"}, {"Content-Type", "application/json"}, {"User-Agent", ua}}, body)
              .status == 403);
    CHECK(request(env, http::verb::post, "/events?id=555000111",
                  {{"Origin", "https://shop.example"}, {"Content-Type", "image/png"}, {"User-Agent", ua}}, body)
              .status == 415);
    const std::string m2 = env.gw->metrics_text();
    CHECK(metric(m2, R"(capi_gateway_requests_total{route="/events",outcome="forbidden_origin"})") == 1);
    CHECK(metric(m2, R"(capi_gateway_requests_total{route="/events",outcome="unsupported_media_type"})") == 1);
    CHECK(metric(m2, R"(capi_gateway_requests_total{route="/events",outcome="bad_request"})") <= 0);  // -1: no such series
}

TEST_CASE("gateway: X-Forwarded-For and X-Forwarded-Proto are believed from a trusted proxy only", "[gateway]") {
    const std::vector<std::pair<std::string, std::string>> headers{
        {"User-Agent", ua}, {"Referer", page}, {"X-Forwarded-For", "203.0.113.9"}, {"X-Forwarded-Proto", "https"}};
    SECTION("trusted peer") {
        Env env([](capi_gateway::GatewayOptions& o) { o.pixel.trusted_proxies = {*capi::pixel::Cidr::parse("127.0.0.0/8")}; });
        const Reply r = request(env, http::verb::get, seed_hit, headers);
        CHECK(r.status == 200);
        // The proxy terminated TLS: the new browser id's cookie is Secure.
        CHECK(r.header("set-cookie").ends_with("; Secure"));
        const auto events = env.received.wait(1);
        REQUIRE(events.size() == 1);
        simdjson::dom::parser p;
        CHECK(str(parse(p, events[0].second), "/user_data/client_ip_address") == "203.0.113.9");
    }
    SECTION("untrusted peer: the spoofed headers are ignored") {
        Env env([](capi_gateway::GatewayOptions& o) { o.pixel.trusted_proxies = {*capi::pixel::Cidr::parse("10.0.0.0/8")}; });
        const Reply r = request(env, http::verb::get, seed_hit, headers);
        CHECK(r.status == 200);
        CHECK(r.header("set-cookie").find("_fbp=") == 0);
        CHECK(r.header("set-cookie").find("Secure") == std::string::npos);
        const auto events = env.received.wait(1);
        REQUIRE(events.size() == 1);
        simdjson::dom::parser p;
        CHECK(str(parse(p, events[0].second), "/user_data/client_ip_address") == "127.0.0.1");
    }
}

TEST_CASE("gateway: /healthz and /metrics; the counters add up", "[gateway]") {
    Env env;
    const Reply h = request(env, http::verb::get, "/healthz");
    CHECK(h.status == 200);
    CHECK(h.body == "ok\n");
    constexpr int hits = 25;
    for (int i = 0; i < hits; ++i)
        CHECK(request(env, http::verb::get, seed_hit, {{"User-Agent", ua}, {"Referer", page}}).status == 200);
    REQUIRE(env.gw->flush(10s));
    const Reply m = request(env, http::verb::get, "/metrics");
    CHECK(m.status == 200);
    CHECK(m.header("content-type").starts_with("text/plain; version=0.0.4"));

    // Every line: a HELP or TYPE comment, or a well-formed sample of a declared family.
    const std::regex sample_re(R"re(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*",?)*\})? (-?[0-9.]+(e[+-]?[0-9]+)?|\+Inf|NaN)$)re");
    const std::regex type_re(R"(^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$)");
    std::map<std::string, std::string> types;
    std::istringstream in(m.body);
    int samples = 0;
    for (std::string line; std::getline(in, line);) {
        std::smatch sm;
        if (line.starts_with("# HELP ")) continue;
        if (std::regex_match(line, sm, type_re)) {
            types[sm[1]] = sm[2];
            continue;
        }
        INFO(line);
        REQUIRE(std::regex_match(line, sm, sample_re));
        std::string family = sm[1];
        for (const char* suffix : {"_bucket", "_sum", "_count"})
            if (!types.count(family) && family.ends_with(suffix)) family.resize(family.size() - std::strlen(suffix));
        CHECK(types.count(family) == 1);
        ++samples;
    }
    CHECK(samples > 20);
    CHECK(types["capi_gateway_request_duration_seconds"] == "histogram");

    const std::string& t = m.body;
    const double accepted = metric(t, R"(capi_gateway_events_total{state="accepted"})");
    const double delivered = metric(t, R"(capi_gateway_events_total{state="delivered"})");
    const double failed = metric(t, R"(capi_gateway_events_total{state="failed"})");
    const double depth = metric(t, "capi_gateway_queue_depth");
    CHECK(accepted == hits);
    CHECK(accepted == delivered + failed + depth);
    CHECK(depth == 0);
    CHECK(delivered == static_cast<double>(env.received.size()));
    CHECK(metric(t, R"(capi_gateway_requests_total{route="/tr",outcome="accepted"})") == hits);
    // The histogram: cumulative buckets, +Inf == _count == the requests answered before this one.
    CHECK(metric(t, R"(capi_gateway_request_duration_seconds_bucket{le="+Inf"})") ==
          metric(t, "capi_gateway_request_duration_seconds_count"));
    // Each answered request's duration is observed once it was written: by now,
    // all but possibly the latest.
    CHECK(metric(t, "capi_gateway_request_duration_seconds_count") >= hits);
    CHECK(metric(t, "capi_gateway_request_duration_seconds_count") <= hits + 1);
    CHECK(metric(t, "capi_gateway_delivery_duration_seconds_count") == hits);
}

namespace {

std::string sha256_hex(std::string_view s) {
    char hex[64];
    capi::sha256::to_hex(capi::sha256::hash(s), hex);
    return std::string(hex, 64);
}

/// The samples of one metric family, "labels" -> value.
std::map<std::string, double> family(const std::string& text, const std::string& name) {
    std::map<std::string, double> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        if (!line.starts_with(name + "{")) continue;
        const auto close = line.find("} ");
        REQUIRE(close != std::string::npos);
        out[line.substr(name.size() + 1, close - name.size() - 1)] = std::stod(line.substr(close + 2));
    }
    return out;
}

std::size_t occurrences(const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
}

/// POST /events with one event whose customer information needs the enhanced
/// rules to match: a state and a country by name, a US phone number without
/// its country code, an ISO date of birth.
Reply post_enhanced_candidate(const Env& env) {
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch()).count();
    return request(env, http::verb::post, std::string("/events?id=") + pixel,
                   {{"User-Agent", ua}, {"Content-Type", "application/json"}},
                   R"({"data":[{"event_name":"Lead","event_id":"lead-1","event_time":)" + std::to_string(now) +
                       R"(,"action_source":"website","event_source_url":")" + page +
                       R"(","user_data":{"st":["California"],"country":["United States"],)"
                       R"("ph":["(650) 555-1234"],"db":["1990-01-31"]}}]})");
}

constexpr const char* pii = "capi_gateway_pii_values_total";

}  // namespace

TEST_CASE("gateway /metrics: capi_gateway_pii_values_total, all six outcomes of each field that had a value",
          "[gateway][metrics]") {
    capi_gateway::Metrics m;
    capi::Stats s;
    SECTION("no value yet: the family is declared, without samples") {
        const std::string t = m.render(s);
        CHECK(occurrences(t, std::string("# HELP ") + pii + " ") == 1);
        CHECK(occurrences(t, std::string("# TYPE ") + pii + " counter\n") == 1);
        CHECK(family(t, pii).empty());
    }
    SECTION("the fields seen, each with every outcome, zeros included") {
        s.match_quality.at(capi::Field::st, capi::MatchOutcome::converted) = 2;
        s.match_quality.at(capi::Field::st, capi::MatchOutcome::as_given) = 1;
        s.match_quality.at(capi::Field::db, capi::MatchOutcome::unmatchable) = 5;
        s.match_quality.at(capi::Field::em, capi::MatchOutcome::already_hashed) = 7;
        const std::string t = m.render(s);
        CHECK(occurrences(t, std::string("# TYPE ") + pii + " counter\n") == 1);
        const auto f = family(t, pii);
        CHECK(f.size() == 3 * capi::match_outcome_count);
        CHECK(f.at(R"(field="st",outcome="converted")") == 2);
        CHECK(f.at(R"(field="st",outcome="as_given")") == 1);
        CHECK(f.at(R"(field="st",outcome="dropped")") == 0);
        CHECK(f.at(R"(field="db",outcome="unmatchable")") == 5);
        CHECK(f.at(R"(field="db",outcome="omitted")") == 0);
        CHECK(f.at(R"(field="em",outcome="already_hashed")") == 7);
        for (const char* o : {"as_given", "converted", "already_hashed", "unmatchable", "dropped", "omitted"})
            CHECK(f.count(std::string(R"(field="em",outcome=")") + o + "\"") == 1);
        CHECK(f.count(R"(field="ph",outcome="as_given")") == 0);  // no ph value: no ph series
        // The wire key names the field: country, not an enum spelling.
        s.match_quality.at(capi::Field::country, capi::MatchOutcome::dropped) = 1;
        CHECK(family(m.render(s), pii).at(R"(field="country",outcome="dropped")") == 1);
    }
}

// Needs the enhanced rules and the encoder's counting (lib/normalize, lib/json).
TEST_CASE("gateway: enhanced normalization reaches the encoder; /metrics counts each value's outcome",
          "[gateway][enhanced]") {
    SECTION("enhanced, phone country US: every value converted into the form Meta matches") {
        Env env([](capi_gateway::GatewayOptions& o) {
            o.client.encode.enhanced.enabled = true;
            o.client.encode.enhanced.default_phone_country = "US";
        });
        CHECK(post_enhanced_candidate(env).status == 200);
        const auto events = env.received.wait(1);
        REQUIRE(events.size() == 1);
        simdjson::dom::parser p;
        const auto ev = parse(p, events[0].second);
        CHECK(str(ev, "/user_data/st/0") == sha256_hex("ca"));
        CHECK(str(ev, "/user_data/country/0") == sha256_hex("us"));
        CHECK(str(ev, "/user_data/ph/0") == sha256_hex("16505551234"));
        CHECK(str(ev, "/user_data/db/0") == sha256_hex("19900131"));
        REQUIRE(env.gw->flush(10s));
        const auto f = family(env.gw->metrics_text(), pii);
        for (const char* field : {"st", "country", "ph", "db"}) {
            INFO(field);
            const std::string at = std::string("field=\"") + field + "\",outcome=\"";
            CHECK(f.count(at + "converted\"") == 1);
            if (f.count(at + "converted\"")) CHECK(f.at(at + "converted\"") == 1);
            if (f.count(at + "as_given\"")) CHECK(f.at(at + "as_given\"") == 0);
        }
        CHECK(f.size() == 4 * capi::match_outcome_count);
    }
    SECTION("default rules: the same event is hashed as the SDKs do, and the report says what will not match") {
        Env env;
        CHECK(post_enhanced_candidate(env).status == 200);
        const auto events = env.received.wait(1);
        REQUIRE(events.size() == 1);
        simdjson::dom::parser p;
        const auto ev = parse(p, events[0].second);
        CHECK(str(ev, "/user_data/st/0") == sha256_hex("california"));
        CHECK(str(ev, "/user_data/db/0") == sha256_hex("1990-01-31"));
        CHECK(str(ev, "/user_data/country/0") == "<absent>");  // rejected: dropped, the event sent
        REQUIRE(env.gw->flush(10s));
        const auto f = family(env.gw->metrics_text(), pii);
        auto value = [&](const std::string& labels) { return f.count(labels) ? f.at(labels) : -1.0; };
        CHECK(value(R"(field="st",outcome="as_given")") == 1);
        CHECK(value(R"(field="st",outcome="converted")") == 0);
        CHECK(value(R"(field="country",outcome="dropped")") == 1);
        CHECK(value(R"(field="db",outcome="unmatchable")") == 1);
        CHECK(value(R"(field="ph",outcome="converted")") == 0);
    }
}

TEST_CASE("gateway: stop() with events queued behind a slow Graph loses none", "[gateway]") {
    capi::testing::MockOptions mo;
    mo.delay = 100ms;
    Env env([](capi_gateway::GatewayOptions& o) { o.client.linger = 5ms; }, "127.0.0.1", std::move(mo));
    constexpr int hits = 200;
    {
        // Keep-alive: one connection, many requests.
        net::io_context io;
        tcp::socket s(io);
        s.connect(endpoint_of(env));
        set_receive_timeout(s, 10s);
        beast::flat_buffer buf;
        for (int i = 0; i < hits; ++i) {
            http::request<http::empty_body> req{http::verb::get, std::string(seed_hit) + "&eid=e" + std::to_string(i), 11};
            req.set(http::field::host, "g");
            req.set(http::field::user_agent, ua);
            req.set(http::field::referer, page);
            http::write(s, req);
            http::response<http::string_body> res;
            http::read(s, buf, res);
            REQUIRE(res.result_int() == 200);
        }
    }
    const capi_gateway::Summary s = env.gw->stop(20s);
    CHECK(s.drained);
    CHECK(s.totals.accepted == hits);
    CHECK(s.totals.delivered == hits);
    CHECK(s.totals.failed == 0);
    CHECK(env.received.size() == hits);
    std::set<std::string> ids;
    simdjson::dom::parser p;
    for (const auto& [px, e] : env.received.wait(hits)) ids.insert(str(parse(p, e), "/event_id"));
    CHECK(ids.size() == hits);
    // Stopped: nothing listens any more.
    net::io_context io;
    tcp::socket late(io);
    beast::error_code ec;
    late.connect(endpoint_of(env), ec);
    CHECK(ec);
}

TEST_CASE("gateway: a full client queue answers 503 and is counted; stop() fails what cannot drain", "[gateway]") {
    capi::testing::MockOptions mo;
    mo.delay = 3000ms;  // Graph stalls: one batch on the wire, the rest waits
    Env env(
        [](capi_gateway::GatewayOptions& o) {
            o.client.queue_capacity = 2;
            o.client.max_batches_in_flight = 1;
            o.client.encode.max_batch_events = 1;
            o.client.batchers = 1;
            o.client.linger = 1ms;
        },
        "127.0.0.1", std::move(mo));
    constexpr int hits = 40;
    int accepted = 0, full = 0;
    for (int i = 0; i < hits; ++i) {
        const Reply r = request(env, http::verb::get, seed_hit, {{"User-Agent", ua}, {"Referer", page}});
        if (r.status == 200) ++accepted;
        if (r.status == 503) {
            ++full;
            CHECK(r.header("retry-after") == "1");
        }
    }
    CHECK(accepted + full == hits);
    CHECK(full > 0);
    const std::string m = env.gw->metrics_text();
    CHECK(metric(m, R"(capi_gateway_requests_total{route="/tr",outcome="queue_full"})") == full);
    CHECK(metric(m, R"(capi_gateway_events_rejected_total{reason="queue_full"})") == full);
    CHECK(metric(m, R"(capi_gateway_events_total{state="accepted"})") == accepted);

    const capi_gateway::Summary s = env.gw->stop(200ms);
    CHECK_FALSE(s.drained);
    CHECK(s.totals.accepted == static_cast<std::uint64_t>(accepted));
    CHECK(s.totals.failed > 0);
    CHECK(s.totals.accepted == s.totals.delivered + s.totals.failed);
    CHECK(s.totals.rejected == static_cast<std::uint64_t>(full));
}

TEST_CASE("gateway: HTTPS with a certificate minted by the test, verified by a Beast TLS client", "[gateway]") {
    const auto id = capi::testing::detail::mint_identity(capi::testing::CertKind::valid);
    Env env([&](capi_gateway::GatewayOptions& o) {
        o.tls_cert_pem = id.cert_pem;
        o.tls_key_pem = id.key_pem;
    });
    CHECK(env.gw->tls());
    CHECK(env.gw->url().starts_with("https://127.0.0.1:"));

    net::io_context io;
    net::ssl::context ctx(net::ssl::context::tls_client);
    ctx.add_certificate_authority(net::buffer(id.ca_pem));
    ctx.set_verify_mode(net::ssl::verify_peer);
    beast::ssl_stream<beast::tcp_stream> stream(io, ctx);
    stream.set_verify_callback(net::ssl::host_name_verification("127.0.0.1"));
    beast::get_lowest_layer(stream).expires_after(10s);
    beast::get_lowest_layer(stream).connect(endpoint_of(env));
    stream.handshake(net::ssl::stream_base::client);
    http::request<http::empty_body> req{http::verb::get, seed_hit, 11};
    req.set(http::field::host, "127.0.0.1");
    req.set(http::field::user_agent, ua);
    req.set(http::field::referer, page);
    http::write(stream, req);
    beast::flat_buffer buf;
    http::response<http::string_body> res;
    http::read(stream, buf, res);
    Reply r = to_reply(res);
    CHECK(r.status == 200);
    bool secure = false;
    for (auto [it, end] = r.headers.equal_range("set-cookie"); it != end; ++it)
        secure |= it->second.starts_with("_fbp=") && it->second.find("Secure") != std::string::npos;
    CHECK(secure);
    const auto events = env.received.wait(1);
    REQUIRE(events.size() == 1);
    simdjson::dom::parser p;
    CHECK(str(parse(p, events[0].second), "/user_data/fbp") == cookie_value(r, "_fbp"));

    SECTION("a client that does not trust the certificate gets no answer") {
        net::ssl::context strict(net::ssl::context::tls_client);
        strict.set_verify_mode(net::ssl::verify_peer);  // the system's CAs only
        beast::ssl_stream<beast::tcp_stream> s2(io, strict);
        beast::get_lowest_layer(s2).expires_after(10s);
        beast::get_lowest_layer(s2).connect(endpoint_of(env));
        beast::error_code ec;
        s2.handshake(net::ssl::stream_base::client, ec);
        CHECK(ec);
    }
}

TEST_CASE("gateway: a bad TLS key or listen address is refused naming the option", "[gateway]") {
    capi::testing::MockGraphServer mock;
    capi_gateway::GatewayOptions o;
    o.pixel.pixels = {pixel};
    o.client = capi_test::client_options(mock);
    o.tls_cert_pem = "not a certificate";
    o.tls_key_pem = "not a key";
    CHECK_THROWS_WITH(capi_gateway::Gateway(o), Catch::Contains("tls_cert_pem"));
    o.tls_cert_pem.clear();
    o.tls_key_pem.clear();
    o.listen_host = "gateway.example";
    CHECK_THROWS_WITH(capi_gateway::Gateway(o), Catch::Contains("listen_host"));
}

TEST_CASE("mock: json_array_elements and json_member slice JSON byte for byte", "[gateway][mock]") {
    using capi::testing::rules::json_array_elements;
    using capi::testing::rules::json_member;
    const std::string body = R"( {"a":"x]\"}", "data" : [ {"k":"v,]"} , 12,"s\\" ,[1,[2]] ] , "z":1 } )";
    const auto data = json_member(body, "data");
    REQUIRE(data);
    const auto e = json_array_elements(*data);
    REQUIRE(e);
    REQUIRE(e->size() == 4);
    CHECK((*e)[0] == R"({"k":"v,]"})");
    CHECK((*e)[1] == "12");
    CHECK((*e)[2] == R"("s\\")");
    CHECK((*e)[3] == "[1,[2]]");
    CHECK(json_array_elements("[]")->empty());
    CHECK(!json_array_elements("{}"));
    CHECK(!json_array_elements("[1,"));
    CHECK(!json_member(body, "nope"));
}

TEST_CASE("mock: on_accepted sees the events of successful requests as sent, failed ones not at all", "[gateway][mock]") {
    Received got;
    capi::testing::MockOptions mo;
    mo.on_accepted = [&](std::string_view px, const std::vector<std::string>& evs) { got.add(px, evs); };
    capi::testing::MockGraphServer mock(std::move(mo));
    capi::Options co = capi_test::client_options(mock);
    {
        capi::Client client(co);
        auto ev = capi_test::purchase_event("one");
        REQUIRE(client.enqueue(ev));
        REQUIRE(client.flush(10s));
        mock.push_fault(capi::testing::Fault::graph_error(400, 100));  // this request: refused
        co.retry.max_attempts = 1;
    }
    REQUIRE(got.size() == 1);
    CHECK(got.wait(1)[0].first == "1234567890");
    CHECK(got.wait(1)[0].second.find(R"("event_id":"one")") != std::string::npos);
    {
        capi::Client client(co);
        auto ev = capi_test::purchase_event("two");
        REQUIRE(client.enqueue(ev));
        client.flush(10s);
    }
    CHECK(got.size() == 1);  // the faulted request's event is not reported
}
