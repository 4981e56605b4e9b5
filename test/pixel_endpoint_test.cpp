// Endpoint::handle: routes, status codes, CORS, cookies on the answer, the
// events handed over, and validation errors mapped back to hit parameters.
#include <capi/encode.hpp>
#include <capi/pixel.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono;
using capi::pixel::Endpoint;
using capi::pixel::Options;
using capi::pixel::Outcome;
using capi::pixel::Request;
using capi::pixel::Response;

namespace {

const system_clock::time_point t0{seconds{1780000000}};

struct Fixture {
    capi::ManualClock clock{t0};
    Endpoint endpoint{make_options()};

    Options make_options() {
        Options o;
        o.pixels = {"1234567890"};
        o.allow_origins = {"https://shop.example"};
        o.clock = clock.as_clock();
        return o;
    }
};

Request browser(std::string_view method, std::string_view target) {
    Request r;
    r.method = method;
    r.target = target;
    r.peer_address = "203.0.113.9";
    r.user_agent = "Mozilla/5.0 (X11; Linux x86_64) Chrome/120";
    r.referer = "https://shop.example/product/1";
    return r;
}

std::vector<std::string> header(const Response& r, std::string_view name) {
    std::vector<std::string> out;
    for (const auto& [k, v] : r.headers) {
        if (k == name) out.push_back(v);
    }
    return out;
}

} // namespace

TEST_CASE("GET /tr: the seed's hit becomes one event and a 1x1 GIF", "[pixel][endpoint]") {
    Fixture f;
    const Request req = browser("GET",
        "/tr?id=1234567890&ev=ViewContent&cd[content_type]=product&cd[content_ids]=1234&cd[value]=0.50&cd[currency]=USD&noscript=1");
    const Response r = f.endpoint.handle(req);
    INFO(r.body);
    CHECK(r.status == 200);
    CHECK(r.outcome == Outcome::accepted);
    CHECK(r.content_type == "image/gif");
    CHECK(r.body.size() == 43);
    CHECK(r.body.substr(0, 6) == "GIF89a");
    CHECK(header(r, "Cache-Control") == std::vector<std::string>{"no-store"});
    REQUIRE(r.events.size() == 1);
    const capi::Event& ev = r.events[0].event;
    CHECK(r.events[0].pixel_id == "1234567890");
    CHECK(ev.event_name == "ViewContent");
    CHECK(ev.event_time == 1780000000);
    CHECK(ev.event_source_url == "https://shop.example/product/1");  // from the Referer
    CHECK(ev.user_data.client_ip_address == "203.0.113.9");
    CHECK(ev.user_data.client_user_agent == "Mozilla/5.0 (X11; Linux x86_64) Chrome/120");
    REQUIRE(ev.user_data.fbp);
    CHECK(ev.user_data.fbp->rfind("fb.1.1780000000000.", 0) == 0);
    const auto cookies = header(r, "Set-Cookie");
    REQUIRE(cookies.size() == 1);
    CHECK(cookies[0] == "_fbp=" + *ev.user_data.fbp + "; Max-Age=7776000; Path=/; SameSite=Lax");
    CHECK(capi::validate(ev, t0).empty());
}

TEST_CASE("POST /tr: query and form body, sendBeacon's text/plain", "[pixel][endpoint]") {
    Fixture f;
    for (const char* type : {"application/x-www-form-urlencoded", "text/plain;charset=UTF-8", ""}) {
        CAPTURE(type);
        Request req = browser("POST", "/tr/?id=1234567890");
        req.content_type = type;
        req.body = "ev=Purchase&eid=order-1&cd[value]=25&cd[currency]=USD&dl=https%3A%2F%2Fshop.example%2Fthanks";
        req.cookie = "_fbp=fb.1.1596403881668.1116446470; other=1";
        const Response r = f.endpoint.handle(req);
        INFO(r.body);
        CHECK(r.status == 204);
        CHECK(r.body.empty());
        CHECK(r.outcome == Outcome::accepted);
        CHECK(header(r, "Set-Cookie").empty());  // the browser has its _fbp
        REQUIRE(r.events.size() == 1);
        CHECK(r.events[0].event.event_id == "order-1");
        CHECK(r.events[0].event.event_source_url == "https://shop.example/thanks");
        CHECK(r.events[0].event.user_data.fbp == "fb.1.1596403881668.1116446470");
    }
    Request json = browser("POST", "/tr?id=1234567890&ev=Lead");
    json.content_type = "application/json";
    json.body = "{}";
    const Response r = f.endpoint.handle(json);
    CHECK(r.status == 415);
    CHECK(r.outcome == Outcome::unsupported_media_type);
    CHECK(r.events.empty());
    // A parameter both in the query and in the body: refused.
    Request twice = browser("POST", "/tr?id=1234567890&ev=Lead");
    twice.body = "ev=Purchase";
    const Response t = f.endpoint.handle(twice);
    CHECK(t.status == 400);
    CHECK(t.body == "ev: repeated parameter\n");
}

TEST_CASE("refused hits: malformed, foreign pixel, invalid event", "[pixel][endpoint]") {
    Fixture f;
    const Response bad = f.endpoint.handle(browser("GET", "/tr?id=1234567890&ev=Purchase&cd[value]=%G1"));
    CHECK(bad.status == 400);
    CHECK(bad.outcome == Outcome::rejected);
    CHECK(bad.content_type.rfind("text/plain", 0) == 0);
    CHECK(bad.body == "cd[value]: malformed percent escape\n");
    CHECK(bad.events.empty());
    REQUIRE(bad.rejected.size() == 1);
    CHECK(bad.rejected[0].errors.at(0).path == "cd[value]");
    CHECK(header(bad, "Set-Cookie").empty());

    const Response foreign = f.endpoint.handle(browser("GET", "/tr?id=999&ev=PageView"));
    CHECK(foreign.status == 403);
    CHECK(foreign.outcome == Outcome::foreign_pixel);
    CHECK(foreign.events.empty());
    CHECK(header(foreign, "Set-Cookie").empty());

    // Valid as a hit, refused by validate(): Purchase without currency, an
    // event_time too old, a page URL that is not http(s). Named as the hit names them.
    const Response invalid = f.endpoint.handle(
        browser("GET", "/tr?id=1234567890&ev=Purchase&cd[value]=-&ts=1000&dl=ftp%3A%2F%2Fx"));
    CHECK(invalid.status == 400);
    CHECK(invalid.body == "cd[value]: expected a finite decimal number\n");
    const Response invalid2 = f.endpoint.handle(
        browser("GET", "/tr?id=1234567890&ev=Purchase&cd[value]=5&ts=1000&dl=ftp%3A%2F%2Fx"));
    INFO(invalid2.body);
    CHECK(invalid2.status == 400);
    CHECK(invalid2.outcome == Outcome::rejected);
    CHECK(invalid2.events.empty());
    CHECK(header(invalid2, "Set-Cookie").empty());
    REQUIRE(invalid2.rejected.size() == 1);
    std::vector<std::string> paths;
    for (const auto& e : invalid2.rejected[0].errors) paths.push_back(e.path);
    CHECK(std::find(paths.begin(), paths.end(), "ts") != paths.end());
    CHECK(std::find(paths.begin(), paths.end(), "dl") != paths.end());
    CHECK(std::find(paths.begin(), paths.end(), "cd[currency]") != paths.end());
    CHECK(invalid2.body.find("ts: ") != std::string::npos);
    CHECK(invalid2.body.find("dl: must be an absolute http(s) URL\n") != std::string::npos);
}

TEST_CASE("a hit without a page URL or a user agent: named as the request gives them", "[pixel][endpoint]") {
    Fixture f;
    Request curl = browser("GET", "/tr?id=1234567890&ev=ViewContent&cd[content_type]=product&cd[content_ids]=1234&cd[value]=0.50&cd[currency]=USD&noscript=1");
    curl.referer = "";
    curl.user_agent = "";
    const Response r = f.endpoint.handle(curl);
    CHECK(r.status == 400);
    CHECK(r.body == "dl: required (website events)\nUser-Agent: required (website events)\n");
    // The page URL as dl instead of a Referer: accepted.
    curl.target = "/tr?id=1234567890&ev=PageView&dl=https%3A%2F%2Fshop.example%2F";
    curl.user_agent = "curl/7.88.1";
    const Response ok = f.endpoint.handle(curl);
    CHECK(ok.status == 200);
    REQUIRE(ok.events.size() == 1);
    CHECK(ok.events[0].event.event_source_url == "https://shop.example/");
    CHECK(ok.events[0].event.user_data.client_user_agent == "curl/7.88.1");
}

TEST_CASE("routes: 404, 405 with Allow, 413", "[pixel][endpoint]") {
    Fixture f;
    const Response nf = f.endpoint.handle(browser("GET", "/healthz"));
    CHECK(nf.status == 404);
    CHECK(nf.outcome == Outcome::not_found);
    CHECK(f.endpoint.handle(browser("GET", "/trx?id=1")).status == 404);

    const Response put = f.endpoint.handle(browser("PUT", "/tr?id=1234567890&ev=X"));
    CHECK(put.status == 405);
    CHECK(put.outcome == Outcome::method_not_allowed);
    CHECK(header(put, "Allow") == std::vector<std::string>{"GET, POST"});
    const Response get_events = f.endpoint.handle(browser("GET", "/events"));
    CHECK(get_events.status == 405);
    CHECK(header(get_events, "Allow") == std::vector<std::string>{"POST, OPTIONS"});

    Options o;
    o.pixels = {"1"};
    o.max_body_bytes = 10;
    const Endpoint small(o);
    Request big = browser("POST", "/tr?id=1&ev=X");
    big.body = "cd[a]=12345";
    CHECK(small.handle(big).status == 413);
    CHECK(small.handle(big).outcome == Outcome::too_large);
    big.body = "cd[a]=1234";
    CHECK(small.handle(big).status == 204);
}

TEST_CASE("POST /events: one event or {data: [...]}, accepted and rejected", "[pixel][endpoint]") {
    Fixture f;
    Request req = browser("POST", "/events");
    req.content_type = "application/json";
    req.cookie = "_fbp=fb.1.1596403881668.1116446470";
    req.body = R"({"event_name":"Purchase","event_id":"o-1","custom_data":{"value":25,"currency":"USD"}})";
    const Response one = f.endpoint.handle(req);
    INFO(one.body);
    CHECK(one.status == 200);
    CHECK(one.outcome == Outcome::accepted);
    CHECK(one.content_type == "application/json");
    CHECK(one.body == R"({"accepted":1,"rejected":[]})");
    REQUIRE(one.events.size() == 1);
    CHECK(one.events[0].pixel_id == "1234567890");  // the only pixel served
    const capi::Event& ev = one.events[0].event;
    CHECK(ev.event_time == 1780000000);
    CHECK(ev.action_source == capi::ActionSource::website);
    CHECK(ev.user_data.client_ip_address == "203.0.113.9");
    CHECK(ev.user_data.fbp == "fb.1.1596403881668.1116446470");

    req.body = R"({"data":[{"event_name":"Lead"},{"event_name":"Purchase","custom_data":{"value":"x"}},{"event_name":"Purchase"}]})";
    const Response some = f.endpoint.handle(req);
    CHECK(some.status == 200);
    CHECK(some.outcome == Outcome::partial);
    CHECK(some.events.size() == 1);
    CHECK(some.body.rfind(
              R"({"accepted":1,"rejected":[{"index":1,"errors":[{"field":"custom_data.value","reason":"expected a number"}]},)"
              R"({"index":2,"errors":[{"field":"custom_data)", 0) == 0);
    REQUIRE(some.rejected.size() == 2);
    CHECK(some.rejected[0].index == 1);
    CHECK(some.rejected[1].index == 2);

    req.body = R"({"data":[{"event_name":"Purchase"}]})";
    const Response none = f.endpoint.handle(req);
    CHECK(none.status == 400);
    CHECK(none.outcome == Outcome::rejected);
    CHECK(none.events.empty());
    CHECK(header(none, "Set-Cookie").empty());

    req.body = "{nope";
    const Response garbage = f.endpoint.handle(req);
    CHECK(garbage.status == 400);
    CHECK(garbage.body.find(R"("field":"","reason":"invalid JSON)") != std::string::npos);

    Request foreign = req;
    foreign.target = "/events?id=999";
    CHECK(f.endpoint.handle(foreign).status == 403);
    CHECK(f.endpoint.handle(foreign).outcome == Outcome::foreign_pixel);
}

TEST_CASE("CORS: preflight and POST /events by Origin", "[pixel][endpoint]") {
    Fixture f;
    Request pre = browser("OPTIONS", "/events");
    pre.origin = "https://shop.example";
    const Response ok = f.endpoint.handle(pre);
    CHECK(ok.status == 204);
    CHECK(ok.outcome == Outcome::preflight);
    CHECK(header(ok, "Access-Control-Allow-Origin") == std::vector<std::string>{"https://shop.example"});
    CHECK(header(ok, "Access-Control-Allow-Credentials") == std::vector<std::string>{"true"});
    CHECK(header(ok, "Access-Control-Allow-Methods") == std::vector<std::string>{"POST"});
    CHECK(header(ok, "Access-Control-Allow-Headers") == std::vector<std::string>{"Content-Type"});
    CHECK(header(ok, "Access-Control-Max-Age").size() == 1);
    CHECK(header(ok, "Vary") == std::vector<std::string>{"Origin"});

    pre.origin = "https://evil.example";
    const Response no = f.endpoint.handle(pre);
    CHECK(no.status == 204);
    CHECK(header(no, "Access-Control-Allow-Origin").empty());

    Request post = browser("POST", "/events");
    post.body = R"({"event_name":"Lead"})";
    post.origin = "https://evil.example";
    const Response evil = f.endpoint.handle(post);
    CHECK(evil.status == 403);
    CHECK(evil.outcome == Outcome::forbidden_origin);
    CHECK(evil.events.empty());

    post.origin = "https://shop.example";
    const Response good = f.endpoint.handle(post);
    CHECK(good.status == 200);
    CHECK(header(good, "Access-Control-Allow-Origin") == std::vector<std::string>{"https://shop.example"});
    CHECK(header(good, "Access-Control-Allow-Credentials") == std::vector<std::string>{"true"});
    CHECK(header(good, "Set-Cookie").size() == 1);
}

TEST_CASE("Endpoint refuses bad options, naming them", "[pixel][endpoint]") {
    auto refuses = [](Options o, std::string_view what) {
        try {
            Endpoint e(std::move(o));
            FAIL("accepted");
        } catch (const std::invalid_argument& e) {
            CHECK(std::string(e.what()).find(what) != std::string::npos);
        }
    };
    Options o;
    refuses(o, "Options::pixels");
    o.pixels = {"PIXEL-ID"};
    refuses(o, "Options::pixels");
    o.pixels = {"1"};
    o.cookie_domain = "a b";
    refuses(o, "Options::cookie_domain");
    o.cookie_domain = ".example.com";
    o.allow_origins = {"*"};
    refuses(o, "Options::allow_origins");
    o.allow_origins = {};
    o.max_body_bytes = 0;
    refuses(o, "Options::max_body_bytes");
    o.max_body_bytes = 1;
    const Endpoint ok(o);
    CHECK(to_string(Outcome::foreign_pixel) == "foreign_pixel");
}

TEST_CASE("POST /events: the pixel from ?id=, bad ids, bad bodies", "[pixel][endpoint]") {
    capi::ManualClock clock{t0};
    Options o;
    o.pixels = {"111", "222"};
    o.clock = clock.as_clock();
    const Endpoint endpoint(o);
    Request req = browser("POST", "/events?id=222");
    req.body = R"({"event_name":"Lead"})";
    const Response ok = endpoint.handle(req);
    REQUIRE(ok.events.size() == 1);
    CHECK(ok.events[0].pixel_id == "222");

    req.target = "/events";
    const Response which = endpoint.handle(req);
    CHECK(which.status == 400);
    CHECK(which.body == "id: required when several pixels are served\n");
    req.target = "/events?id=22x";
    CHECK(endpoint.handle(req).status == 400);
    req.target = "/events?id=333";
    CHECK(endpoint.handle(req).status == 403);

    req.target = "/events?id=111";
    req.content_type = "application/x-www-form-urlencoded";
    const Response form = endpoint.handle(req);
    CHECK(form.status == 415);
    CHECK(form.outcome == Outcome::unsupported_media_type);
    req.content_type = "application/json; charset=utf-8";
    CHECK(endpoint.handle(req).status == 200);

    req.body = R"({"data":{"event_name":"Lead"}})";
    const Response notarray = endpoint.handle(req);
    CHECK(notarray.status == 400);
    CHECK(notarray.body == R"({"accepted":0,"rejected":[{"index":0,"errors":[{"field":"data","reason":"expected an array of events"}]}]})");
    req.body = R"({"data":[]})";
    const Response empty = endpoint.handle(req);
    CHECK(empty.status == 400);
    CHECK(empty.body == R"({"accepted":0,"rejected":[]})");
    req.body = R"({"event_name":"Lead","bogus":1})";
    const Response unknown = endpoint.handle(req);
    CHECK(unknown.status == 400);
    CHECK(unknown.body == R"({"accepted":0,"rejected":[{"index":0,"errors":[{"field":"bogus","reason":"unknown key"}]}]})");
    // Given event_time and action_source are kept.
    req.body = R"({"event_name":"Lead","event_time":1779999000,"action_source":"other","event_source_url":"https://a.example/"})";
    const Response kept = endpoint.handle(req);
    REQUIRE(kept.events.size() == 1);
    CHECK(kept.events[0].event.event_time == 1779999000);
    CHECK(kept.events[0].event.action_source == capi::ActionSource::other);
}

TEST_CASE("handle() from several threads at once", "[pixel][endpoint]") {
    Fixture f;
    constexpr int threads = 4, per_thread = 200;
    std::vector<std::vector<std::string>> fbps(threads);
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
            const std::string target = "/tr?id=1234567890&ev=Purchase&cd[value]=" + std::to_string(t) +
                                       "&cd[currency]=USD&cd[contents]=%5B%7B%22id%22%3A%22a%22%2C%22quantity%22%3A1%7D%5D";
            for (int i = 0; i < per_thread; ++i) {
                const Response r = f.endpoint.handle(browser("GET", target));
                if (r.status == 200 && r.events.size() == 1 && r.events[0].event.custom_data->value == t)
                    fbps[t].push_back(*r.events[0].event.user_data.fbp);
            }
        });
    }
    for (auto& th : pool) th.join();
    std::vector<std::string> all;
    for (const auto& v : fbps) {
        CHECK(v.size() == per_thread);
        all.insert(all.end(), v.begin(), v.end());
    }
    std::sort(all.begin(), all.end());
    // Browser ids from per-thread generators: threads seeded alike would repeat
    // each other's ids (3 in 4 duplicates). One chance collision among 800 ten-digit
    // ids (about 1 in 30,000) must not fail the test.
    const auto unique = static_cast<std::size_t>(std::unique(all.begin(), all.end()) - all.begin());
    CHECK(unique + 1 >= std::size_t{threads * per_thread});
}

TEST_CASE("handle into one reused Response: every answer as handle(request) gives it", "[pixel][endpoint]") {
    Fixture f;
    const std::string fbp = "_fbp=fb.1.1596403881668.1116446470";  // present: no cookie minted at random
    Request hit = browser("GET", "/tr?id=1234567890&ev=Purchase&eid=o-1&cd[value]=25&cd[currency]=USD&ud[em]=a%40b.example");
    hit.cookie = fbp;
    Request events = browser("POST", "/events");
    events.origin = "https://shop.example";
    events.content_type = "application/json";
    events.cookie = fbp;
    events.body = R"({"data":[{"event_name":"Lead"},{"event_name":"Purchase","custom_data":{"value":"x"}}]})";
    const Request malformed = browser("GET", "/tr?id=1234567890&ev=Purchase&ev=Lead");
    const Request invalid = browser("GET", "/tr?id=1234567890&ev=Purchase&cd[currency]=USD");
    Request beacon = browser("POST", "/tr?id=1234567890");
    beacon.content_type = "text/plain";
    beacon.body = "ev=Lead&eid=l-1";
    beacon.cookie = fbp;
    Request preflight = browser("OPTIONS", "/events");
    preflight.origin = "https://shop.example";
    // Each answer lands in a Response still holding the previous one's headers,
    // body, events and rejections.
    const std::vector<Request> sequence = {hit,       events, hit,     malformed,                  hit,
                                           invalid,   beacon, hit,     browser("GET", "/nope"),    preflight,
                                           hit,       browser("PUT", "/tr"), events, hit};
    Response reused;
    for (std::size_t i = 0; i < sequence.size(); ++i) {
        INFO("request " << i << ": " << sequence[i].method << " " << sequence[i].target);
        const Response fresh = f.endpoint.handle(sequence[i]);
        f.endpoint.handle(sequence[i], reused);
        CHECK(reused.status == fresh.status);
        CHECK(reused.outcome == fresh.outcome);
        CHECK(reused.content_type == fresh.content_type);
        CHECK(reused.body == fresh.body);
        CHECK(reused.headers == fresh.headers);
        REQUIRE(reused.events.size() == fresh.events.size());
        for (std::size_t e = 0; e < fresh.events.size(); ++e) {
            const capi::Event& a = reused.events[e].event;
            const capi::Event& b = fresh.events[e].event;
            CHECK(reused.events[e].pixel_id == fresh.events[e].pixel_id);
            CHECK(a.event_name == b.event_name);
            CHECK(a.event_id == b.event_id);
            CHECK(a.event_time == b.event_time);
            CHECK(a.event_source_url == b.event_source_url);
            CHECK(a.user_data.em == b.user_data.em);
            CHECK(a.user_data.fbp == b.user_data.fbp);
            CHECK(a.user_data.client_ip_address == b.user_data.client_ip_address);
            CHECK(a.user_data.client_user_agent == b.user_data.client_user_agent);
            CHECK(capi::pixel::render_fbq(a) == capi::pixel::render_fbq(b));  // custom_data as rendered
        }
        REQUIRE(reused.rejected.size() == fresh.rejected.size());
        for (std::size_t r = 0; r < fresh.rejected.size(); ++r) {
            CHECK(reused.rejected[r].index == fresh.rejected[r].index);
            CHECK(reused.rejected[r].errors == fresh.rejected[r].errors);
        }
    }
    // The sequence covered what it means to: an accepted hit after refusals.
    CHECK(reused.status == 200);
    CHECK(reused.content_type == "image/gif");
    REQUIRE(reused.events.size() == 1);
    CHECK(reused.events[0].event.event_id == "o-1");
    CHECK(reused.rejected.empty());
}

// handle(request, out) keeps the previous event's storage for the next hit:
// nothing of the previous event may show through, whatever it had.
TEST_CASE("a reused Response: a bare hit after rich ones is the bare hit, field by field", "[pixel][endpoint]") {
    Fixture f;
    const std::string fbp = "_fbp=fb.1.1596403881668.1116446470";
    auto with_cookie = [&](Request r) {
        r.cookie = fbp;
        return r;
    };
    const Request rich = with_cookie(browser("GET",
        "/tr?id=1234567890&ev=Purchase&eid=o-1&dl=https%3A%2F%2Fshop.example%2Fa&rl=https%3A%2F%2Fshop.example%2Fb"
        "&ts=1780000000000&cd[value]=25&cd[currency]=USD&cd[content_type]=product&cd[content_name]=Sandals"
        "&cd[content_category]=Shoes&cd[order_id]=o-1&cd[num_items]=2&cd[status]=ok&cd[search_string]=s"
        "&cd[predicted_ltv]=9&cd[content_ids]=%5B%221%22%2C%222%22%5D&cd[color]=red"
        "&cd[contents]=%5B%7B%22id%22%3A%221%22%2C%22quantity%22%3A2%2C%22item_price%22%3A9.5%2C%22title%22%3A%22T%22%7D%5D"
        "&ud[em]=a%40b.example&ud[ph]=16505551234&ud[fn]=jo&ud[ln]=ga&ud[ct]=sj&ud[st]=ca&ud[zp]=94025"
        "&ud[country]=us&ud[external_id]=u-1&ud[ge]=f&ud[db]=19900101&ud[fbc]=fb.1.1554763741205.AbC"));
    Request rich_json = with_cookie(browser("POST", "/events"));
    rich_json.origin = "https://shop.example";
    rich_json.content_type = "application/json";
    rich_json.body = R"({"event_name":"Lead","event_id":"j-1","opt_out":true,"data_processing_options":["LDU"],)"
                     R"("data_processing_options_country":1,"data_processing_options_state":1000,)"
                     R"("user_data":{"em":["c@d.example"],"lead_id":"123","external_id":["x"]},)"
                     R"("custom_data":{"value":3,"currency":"EUR","contents":[{"id":"9","quantity":1}]}})";
    const Request bare = with_cookie(browser("GET", "/tr?id=1234567890&ev=PageView"));
    const Request bare_cd = with_cookie(browser("GET", "/tr?id=1234567890&ev=ViewContent&cd[content_type]=product"));

    auto encoded = [&](const capi::Event& ev) {
        capi::BatchEncoder enc;
        const capi::EncodeResult r = enc.add(ev, t0);
        INFO(r.errors.size());
        REQUIRE(r.status == capi::EncodeStatus::added);
        return std::string(enc.json_body());
    };
    for (const Request* first : {&rich, static_cast<const Request*>(&rich_json)}) {
        for (const Request* second : {&bare, &bare_cd}) {
            INFO(first->target << " then " << second->target);
            Response reused;
            f.endpoint.handle(*first, reused);
            REQUIRE(reused.outcome == Outcome::accepted);
            REQUIRE(reused.events.size() == 1);
            const std::string rich_body = encoded(reused.events[0].event);
            f.endpoint.handle(*second, reused);
            const Response fresh = f.endpoint.handle(*second);
            REQUIRE(reused.outcome == Outcome::accepted);
            REQUIRE(reused.events.size() == 1);
            REQUIRE(fresh.events.size() == 1);
            const capi::Event& a = reused.events[0].event;
            const capi::Event& b = fresh.events[0].event;
            CHECK(reused.events[0].pixel_id == fresh.events[0].pixel_id);
            CHECK(a.custom_data.has_value() == b.custom_data.has_value());
            CHECK(a.user_data.em.empty());
            CHECK_FALSE(a.opt_out.has_value());
            CHECK_FALSE(a.data_processing_options.has_value());
            const std::string body = encoded(a);
            CHECK(body == encoded(b));
            CHECK(body != rich_body);  // the comparison sees what the rich event had
        }
    }
}
