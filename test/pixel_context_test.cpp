// The request context: Cidr, client_address behind trusted and untrusted
// proxies, the User-Agent and Referer, the _fbp / _fbc cookies and fbclid.
#include <capi/pixel.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <vector>

using namespace std::chrono;
using capi::pixel::Cidr;
using capi::pixel::Options;
using capi::pixel::Request;

namespace {

const system_clock::time_point t0{seconds{1780000000}};

std::vector<Cidr> nets(std::initializer_list<std::string_view> texts) {
    std::vector<Cidr> out;
    for (auto t : texts) {
        auto c = Cidr::parse(t);
        REQUIRE(c);
        out.push_back(*c);
    }
    return out;
}

Request from(std::string_view peer) {
    Request r;
    r.method = "GET";
    r.target = "/tr";
    r.peer_address = peer;
    return r;
}

} // namespace

TEST_CASE("Cidr: IPv4, IPv6, prefixes 0, 32, 128, bad text", "[pixel][context]") {
    const auto ten = Cidr::parse("10.0.0.0/8");
    REQUIRE(ten);
    CHECK(ten->contains("10.1.2.3"));
    CHECK(ten->contains("10.255.255.255"));
    CHECK_FALSE(ten->contains("11.0.0.0"));
    CHECK(ten->contains("::ffff:10.1.2.3"));  // IPv4-mapped IPv6
    CHECK_FALSE(ten->contains("2001:db8::1"));
    CHECK_FALSE(ten->contains("not an address"));
    CHECK_FALSE(ten->contains(""));

    const auto odd = Cidr::parse("192.168.1.128/25");
    REQUIRE(odd);
    CHECK(odd->contains("192.168.1.200"));
    CHECK_FALSE(odd->contains("192.168.1.127"));

    const auto one = Cidr::parse("192.0.2.7");
    REQUIRE(one);
    CHECK(one->contains("192.0.2.7"));
    CHECK_FALSE(one->contains("192.0.2.8"));
    CHECK(Cidr::parse("192.0.2.7/32")->contains("192.0.2.7"));
    CHECK_FALSE(Cidr::parse("192.0.2.7/32")->contains("192.0.2.6"));

    const auto all4 = Cidr::parse("0.0.0.0/0");
    REQUIRE(all4);
    CHECK(all4->contains("8.8.8.8"));
    CHECK_FALSE(all4->contains("2001:db8::1"));

    const auto v6 = Cidr::parse("2001:db8::/32");
    REQUIRE(v6);
    CHECK(v6->contains("2001:db8:ffff::1"));
    CHECK(v6->contains("2001:DB8::1"));
    CHECK_FALSE(v6->contains("2001:db9::1"));
    CHECK_FALSE(v6->contains("10.0.0.1"));
    CHECK(Cidr::parse("::1/128")->contains("::1"));
    CHECK_FALSE(Cidr::parse("::1/128")->contains("::2"));
    CHECK(Cidr::parse("::/0")->contains("fe80::1"));

    const auto mapped = Cidr::parse("::ffff:10.0.0.0/104");
    REQUIRE(mapped);
    CHECK(mapped->contains("10.9.9.9"));
    CHECK(mapped->contains("::ffff:10.9.9.9"));
    CHECK_FALSE(mapped->contains("11.0.0.1"));

    // A default-constructed Cidr (not from parse) contains nothing.
    CHECK_FALSE(Cidr{}.contains("::1"));
    CHECK_FALSE(Cidr{}.contains("10.0.0.1"));

    for (const char* bad : {"", "/8", "10.0.0.0/", "10.0.0.0/33", "2001:db8::/129", "10.0.0.0/8x", "10.0.0.0/-1",
                            "10.0.0", "256.0.0.0/8", "example.com", "10.0.0.0 /8", "::ffff:10.0.0.0/80",
                            "10.0.0.0/0008"}) {
        CAPTURE(bad);
        CHECK_FALSE(Cidr::parse(bad));
    }
}

TEST_CASE("client_address: the peer unless it is a trusted proxy", "[pixel][context]") {
    const auto proxies = nets({"10.0.0.0/8", "2001:db8:1::/48"});

    // A spoofed header from an untrusted peer is ignored.
    Request r = from("203.0.113.9");
    r.x_forwarded_for = "1.2.3.4";
    r.forwarded = "for=1.2.3.4";
    CHECK(capi::pixel::client_address(r, proxies) == "203.0.113.9");
    CHECK(capi::pixel::client_address(r, {}) == "203.0.113.9");

    // From a trusted proxy: the first untrusted hop from the right.
    r = from("10.0.0.2");
    r.x_forwarded_for = "6.6.6.6, 198.51.100.7, 10.0.0.5";
    CHECK(capi::pixel::client_address(r, proxies) == "198.51.100.7");
    r.x_forwarded_for = "198.51.100.7";
    CHECK(capi::pixel::client_address(r, proxies) == "198.51.100.7");
    r.x_forwarded_for = "198.51.100.7:5123";
    CHECK(capi::pixel::client_address(r, proxies) == "198.51.100.7");
    r.x_forwarded_for = "2001:db8:2::7, [2001:db8:1::1]:443";
    CHECK(capi::pixel::client_address(r, proxies) == "2001:db8:2::7");
    // Garbage: the peer.
    r.x_forwarded_for = "198.51.100.7, garbage";
    CHECK(capi::pixel::client_address(r, proxies) == "10.0.0.2");
    r.x_forwarded_for = "";
    CHECK(capi::pixel::client_address(r, proxies) == "10.0.0.2");
    // Every hop trusted: the farthest.
    r.x_forwarded_for = "10.1.1.1, 10.2.2.2";
    CHECK(capi::pixel::client_address(r, proxies) == "10.1.1.1");

    // RFC 7239 Forwarded, read before X-Forwarded-For.
    r.x_forwarded_for = "6.6.6.6";
    r.forwarded = R"(for=192.0.2.60;proto=http;by=203.0.113.43, for="[2001:db8:cafe::17]:4711", For=10.0.0.9)";
    CHECK(capi::pixel::client_address(r, proxies) == "2001:db8:cafe::17");
    r.forwarded = R"(for="192.0.2.60:8080")";
    CHECK(capi::pixel::client_address(r, proxies) == "192.0.2.60");
    r.forwarded = "for=unknown";
    CHECK(capi::pixel::client_address(r, proxies) == "10.0.0.2");
    r.forwarded = R"(for="_hidden")";
    CHECK(capi::pixel::client_address(r, proxies) == "10.0.0.2");
    r.forwarded = R"(for="[2001:db8::1)";
    CHECK(capi::pixel::client_address(r, proxies) == "10.0.0.2");
    // A Forwarded without for= leaves X-Forwarded-For.
    r.forwarded = "proto=https";
    CHECK(capi::pixel::client_address(r, proxies) == "6.6.6.6");
}

TEST_CASE("client_address: IPv6 and IPv4-mapped peers", "[pixel][context]") {
    CHECK(capi::pixel::client_address(from("2001:db8::42"), {}) == "2001:db8::42");
    CHECK(capi::pixel::client_address(from("2001:DB8:0:0::42"), {}) == "2001:db8::42");
    CHECK(capi::pixel::client_address(from("::ffff:192.0.2.7"), {}) == "192.0.2.7");
    const auto proxies = nets({"127.0.0.0/8", "::1"});
    Request r = from("::ffff:127.0.0.1");
    r.x_forwarded_for = "2001:db8::9";
    CHECK(capi::pixel::client_address(r, proxies) == "2001:db8::9");
    r = from("::1");
    r.x_forwarded_for = "::ffff:198.51.100.1";
    CHECK(capi::pixel::client_address(r, proxies) == "198.51.100.1");
}

TEST_CASE("apply_context: address, user agent, Referer; what the event has stays", "[pixel][context]") {
    capi::ManualClock clock{t0};
    Options o;
    o.clock = clock.as_clock();
    Request r = from("203.0.113.9");
    r.user_agent = "UA/1.0 (exact; \"quoted\")";
    r.referer = "https://shop.example/p";
    r.cookie = "_fbp=fb.1.1596403881668.1116446470";

    capi::Event ev;
    std::vector<std::string> cookies;
    capi::pixel::apply_context(r, o, ev, cookies);
    CHECK(ev.user_data.client_ip_address == "203.0.113.9");
    CHECK(ev.user_data.client_user_agent == "UA/1.0 (exact; \"quoted\")");
    CHECK(ev.event_source_url == "https://shop.example/p");
    CHECK(ev.user_data.fbp == "fb.1.1596403881668.1116446470");
    CHECK_FALSE(ev.user_data.fbc);
    CHECK(cookies.empty());

    capi::Event given;
    given.user_data.client_ip_address = "198.51.100.1";
    given.user_data.client_user_agent = "Other";
    given.event_source_url = "https://shop.example/own";
    given.user_data.fbp = "fb.1.1.99";
    given.user_data.fbc = "fb.1.1.click";
    capi::pixel::apply_context(r, o, given, cookies);
    CHECK(given.user_data.client_ip_address == "198.51.100.1");
    CHECK(given.user_data.client_user_agent == "Other");
    CHECK(given.event_source_url == "https://shop.example/own");
    CHECK(given.user_data.fbp == "fb.1.1.99");
    CHECK(given.user_data.fbc == "fb.1.1.click");
    CHECK(cookies.empty());
}

TEST_CASE("apply_context: a new _fbp, Set-Cookie attributes", "[pixel][context]") {
    capi::ManualClock clock{t0 + milliseconds{123}};
    Options o;
    o.clock = clock.as_clock();
    Request r = from("203.0.113.9");

    capi::Event a, b;
    std::vector<std::string> cookies;
    capi::pixel::apply_context(r, o, a, cookies);
    REQUIRE(a.user_data.fbp);
    const std::string fbp = *a.user_data.fbp;
    const std::string prefix = "fb.1.1780000000123.";
    REQUIRE(fbp.rfind(prefix, 0) == 0);
    const std::string random = fbp.substr(prefix.size());
    CHECK(random.size() == 10);
    CHECK(random.find_first_not_of("0123456789") == std::string::npos);
    REQUIRE(cookies.size() == 1);
    CHECK(cookies[0] == "_fbp=" + fbp + "; Max-Age=7776000; Path=/; SameSite=Lax");
    // Another request, another browser id.
    capi::pixel::apply_context(r, o, b, cookies);
    CHECK(b.user_data.fbp != a.user_data.fbp);

    o.cookie_domain = ".shop.example";
    o.cookie_max_age = seconds{3600};
    r.tls = true;
    cookies.clear();
    capi::Event c;
    capi::pixel::apply_context(r, o, c, cookies);
    REQUIRE(cookies.size() == 1);
    CHECK(cookies[0] == "_fbp=" + *c.user_data.fbp + "; Max-Age=3600; Path=/; SameSite=Lax; Domain=.shop.example; Secure");

    // Behind a proxy that terminated TLS: X-Forwarded-Proto is believed from a
    // trusted proxy only, as X-Forwarded-For is.
    r.tls = false;
    r.x_forwarded_proto = "https";
    const auto secure_cookie = [&](const Options& opts) {
        std::vector<std::string> set;
        capi::Event e;
        capi::pixel::apply_context(r, opts, e, set);
        REQUIRE(set.size() == 1);
        return set[0].ends_with("; Secure");
    };
    CHECK_FALSE(secure_cookie(o));  // no trusted proxy: the header is anyone's
    Options behind = o;
    behind.trusted_proxies = {*Cidr::parse("10.0.0.0/8")};
    CHECK_FALSE(secure_cookie(behind));  // the peer (203.0.113.9) is not the proxy
    r.peer_address = "10.1.2.3";
    CHECK(secure_cookie(behind));
    r.x_forwarded_proto = "HTTPS, http";  // the first hop is the visitor's side
    CHECK(secure_cookie(behind));
    r.x_forwarded_proto = "http";
    CHECK_FALSE(secure_cookie(behind));
    r.x_forwarded_proto = "httpsx";
    CHECK_FALSE(secure_cookie(behind));
    r.x_forwarded_proto = {};

    // A cookie that is not an _fbp is replaced.
    r.cookie = "_fbp=garbage; x=1";
    cookies.clear();
    capi::Event d;
    capi::pixel::apply_context(r, o, d, cookies);
    CHECK(d.user_data.fbp != "garbage");
    CHECK(cookies.size() == 1);
}

TEST_CASE("apply_context: _fbc from the cookie, or from fbclid byte-exact", "[pixel][context]") {
    capi::ManualClock clock{t0};
    Options o;
    o.clock = clock.as_clock();
    Request r = from("203.0.113.9");
    r.cookie = "a=b; _fbp=fb.1.1596403881668.1116446470; _fbc=fb.1.1554763741205.AbCdEfGhIjKlMnOpQrStUvWxYz1234567890";

    capi::Event ev;
    std::vector<std::string> cookies;
    capi::pixel::apply_context(r, o, ev, cookies);
    CHECK(ev.user_data.fbc == "fb.1.1554763741205.AbCdEfGhIjKlMnOpQrStUvWxYz1234567890");
    CHECK(cookies.empty());

    // The same click id in the page URL: the cookie stays.
    capi::Event same;
    same.event_source_url = "https://shop.example/?fbclid=AbCdEfGhIjKlMnOpQrStUvWxYz1234567890";
    capi::pixel::apply_context(r, o, same, cookies);
    CHECK(same.user_data.fbc == "fb.1.1554763741205.AbCdEfGhIjKlMnOpQrStUvWxYz1234567890");
    CHECK(cookies.empty());

    // No _fbc: built from the page URL's fbclid, case and escapes kept.
    r.cookie = "_fbp=fb.1.1596403881668.1116446470";
    capi::Event click;
    click.event_source_url = "https://shop.example/l?utm=x&fbclid=IwAR2_xY-Z%2Fq&b=2#frag";
    capi::pixel::apply_context(r, o, click, cookies);
    CHECK(click.user_data.fbc == "fb.1.1780000000000.IwAR2_xY-Z%2Fq");
    REQUIRE(cookies.size() == 1);
    CHECK(cookies[0] == "_fbc=fb.1.1780000000000.IwAR2_xY-Z%2Fq; Max-Age=7776000; Path=/; SameSite=Lax");
    CHECK(capi::validate(click, t0).size() > 0);  // (no event_name etc.), but not for fbc:
    for (const auto& e : capi::validate(click, t0)) CHECK(e.path != "user_data.fbc");

    // A new click id replaces an old cookie.
    r.cookie = "_fbc=fb.1.1554763741205.OLD";
    cookies.clear();
    capi::Event fresh;
    fresh.event_source_url = "https://shop.example/?fbclid=NEW";
    capi::pixel::apply_context(r, o, fresh, cookies);
    CHECK(fresh.user_data.fbc == "fb.1.1780000000000.NEW");
    CHECK(cookies.size() == 2);  // _fbp (none sent) and _fbc

    // fbclid in the fragment only, or empty: no fbc.
    cookies.clear();
    r.cookie = "";
    capi::Event none;
    none.event_source_url = "https://shop.example/#fbclid=X";
    capi::pixel::apply_context(r, o, none, cookies);
    CHECK_FALSE(none.user_data.fbc);
    capi::Event empty;
    empty.event_source_url = "https://shop.example/?fbclid=";
    capi::pixel::apply_context(r, o, empty, cookies);
    CHECK_FALSE(empty.user_data.fbc);
}

TEST_CASE("one _fbp per answer for several events of one request", "[pixel][context]") {
    capi::ManualClock clock{t0};
    Options o;
    o.pixels = {"1"};
    o.clock = clock.as_clock();
    const capi::pixel::Endpoint endpoint(o);
    Request r = from("203.0.113.9");
    r.method = "POST";
    r.target = "/events";
    r.user_agent = "UA";
    r.body = R"({"data":[{"event_name":"A","event_source_url":"https://s.example/?fbclid=C1"},)"
             R"({"event_name":"B","event_source_url":"https://s.example/?fbclid=C1"}]})";
    const auto resp = endpoint.handle(r);
    INFO(resp.body);
    REQUIRE(resp.events.size() == 2);
    CHECK(resp.events[0].event.user_data.fbp == resp.events[1].event.user_data.fbp);
    CHECK(resp.events[0].event.user_data.fbc == "fb.1.1780000000000.C1");
    CHECK(resp.events[1].event.user_data.fbc == "fb.1.1780000000000.C1");
    int set_cookies = 0;
    for (const auto& [k, v] : resp.headers) set_cookies += k == "Set-Cookie";
    CHECK(set_cookies == 2);
}
