// parse_hit: hand-written hits, the seed's image URL, every standard event of the
// seed's table with its object properties, encodings and every rejection.
#include <capi/ndjson.hpp>
#include <capi/pixel.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

using namespace std::chrono;
using capi::pixel::Hit;
using capi::pixel::HitError;
using capi::pixel::HitOptions;

namespace {

const system_clock::time_point t0{seconds{1780000000}};
using strings = std::vector<std::string>;

Hit parse_ok(std::string_view params, system_clock::time_point now = t0, const HitOptions& o = {}) {
    Hit h;
    HitError e;
    const bool ok = capi::pixel::parse_hit(params, h, e, now, o);
    INFO(params);
    INFO(e.parameter << ": " << e.reason);
    REQUIRE(ok);
    return h;
}

HitError parse_error(std::string_view params, system_clock::time_point now = t0, const HitOptions& o = {}) {
    Hit h;
    HitError e;
    h.pixel_id = "junk";
    INFO(params);
    REQUIRE_FALSE(capi::pixel::parse_hit(params, h, e, now, o));
    CHECK(h.pixel_id.empty());  // no half-read hit
    return e;
}

std::string custom(const capi::Event& ev, std::string_view key) {
    for (const auto& m : ev.custom_data->custom_properties) {
        if (m.key == key) return m.json;
    }
    return "<absent>";
}

} // namespace

TEST_CASE("the seed's image pixel URL", "[pixel][hit]") {
    const std::string seed =
        "id=PIXEL-ID&ev=ViewContent&cd[content_type]=product&cd[content_ids]=1234&cd[value]=0.50&cd[currency]=USD&noscript=1";
    // PIXEL-ID is the seed's placeholder: not a pixel id.
    const HitError e = parse_error(seed);
    CHECK(e.parameter == "id");
    CHECK(e.reason == "expected a pixel id (digits)");

    const Hit h = parse_ok("id=1234567890&ev=ViewContent&cd[content_type]=product&cd[content_ids]=1234&cd[value]=0.50&cd[currency]=USD&noscript=1");
    CHECK(h.pixel_id == "1234567890");
    CHECK(h.noscript);
    const capi::Event& ev = h.event;
    CHECK(ev.event_name == "ViewContent");
    CHECK(ev.event_time == 1780000000);
    CHECK(ev.action_source == capi::ActionSource::website);
    REQUIRE(ev.custom_data);
    CHECK(ev.custom_data->content_type == "product");
    CHECK(ev.custom_data->content_ids == strings{"1234"});
    CHECK(ev.custom_data->value == 0.5);
    CHECK(ev.custom_data->currency == "USD");
    CHECK(ev.custom_data->custom_properties.empty());
    CHECK_FALSE(ev.event_id);
    CHECK_FALSE(ev.event_source_url);
}

TEST_CASE("every standard event of the seed's table, with its object properties", "[pixel][hit]") {
    const std::string ids = "cd[content_ids]=%5B%221234%22%2C%222424%22%5D";
    const std::string contents = "cd[contents]=%5B%7B%22id%22%3A%221234%22%2C%22quantity%22%3A2%7D%2C%7B%22id%22%3A%224642%22%2C%22quantity%22%3A1%2C%22item_price%22%3A9.5%7D%5D";
    struct Case {
        std::string name, props;
    };
    const std::vector<Case> cases = {
        {"AddPaymentInfo", ids + "&" + contents + "&cd[currency]=USD&cd[value]=25"},
        {"AddToCart", ids + "&cd[content_type]=product&" + contents + "&cd[currency]=USD&cd[value]=25"},
        {"AddToWishlist", ids + "&" + contents + "&cd[currency]=USD&cd[value]=25"},
        {"CompleteRegistration", "cd[currency]=USD&cd[value]=25&cd[status]=true"},
        {"Contact", ""},
        {"CustomizeProduct", ""},
        {"Donate", "cd[currency]=USD&cd[value]=25"},
        {"FindLocation", ""},
        {"InitiateCheckout", ids + "&" + contents + "&cd[currency]=USD&cd[num_items]=3&cd[value]=25"},
        {"Lead", "cd[currency]=USD&cd[value]=40.0"},
        {"Purchase", ids + "&cd[content_type]=product&" + contents + "&cd[currency]=USD&cd[num_items]=3&cd[value]=25"},
        {"Schedule", ""},
        {"Search", ids + "&cd[content_type]=product&" + contents + "&cd[currency]=USD&cd[search_string]=leather+sandals&cd[value]=0.5"},
        {"StartTrial", "cd[currency]=USD&cd[predicted_ltv]=120.5&cd[value]=0"},
        {"SubmitApplication", ""},
        {"Subscribe", "cd[currency]=USD&cd[predicted_ltv]=120.5&cd[value]=9.99"},
        {"ViewContent", ids + "&cd[content_type]=product&" + contents + "&cd[currency]=USD&cd[value]=0.5"},
    };
    REQUIRE(cases.size() == capi::event_names::standard.size());
    for (const Case& c : cases) {
        CAPTURE(c.name);
        CHECK(capi::is_standard_event(c.name));
        const Hit h = parse_ok("id=1&ev=" + c.name + "&eid=e-" + c.name + (c.props.empty() ? "" : "&" + c.props));
        const capi::Event& ev = h.event;
        CHECK(ev.event_name == c.name);
        CHECK(ev.event_id == "e-" + c.name);
        if (c.props.empty()) {
            CHECK_FALSE(ev.custom_data);
            continue;
        }
        REQUIRE(ev.custom_data);
        const capi::CustomData& cd = *ev.custom_data;
        CHECK(cd.currency == "USD");
        if (c.props.find("content_ids") != std::string::npos) CHECK(cd.content_ids == strings{"1234", "2424"});
        if (c.props.find("contents") != std::string::npos) {
            REQUIRE(cd.contents.size() == 2);
            CHECK(cd.contents[0].id == "1234");
            CHECK(cd.contents[0].quantity == 2);
            CHECK(cd.contents[1].id == "4642");
            CHECK(cd.contents[1].quantity == 1);
            CHECK(cd.contents[1].item_price == 9.5);
        }
        if (c.props.find("content_type") != std::string::npos) CHECK(cd.content_type == "product");
        if (c.props.find("num_items") != std::string::npos) CHECK(cd.num_items == 3);
        if (c.props.find("search_string") != std::string::npos) CHECK(cd.search_string == "leather sandals");
        if (c.props.find("predicted_ltv") != std::string::npos) CHECK(cd.predicted_ltv == 120.5);
        if (c.props.find("status") != std::string::npos) CHECK(cd.status == "true");
        CHECK(cd.value.has_value());
        CHECK(cd.custom_properties.empty());
    }
}

TEST_CASE("the other typed custom_data keys and custom properties", "[pixel][hit]") {
    const Hit h = parse_ok(
        "id=1&ev=Purchase&cd[content_name]=Sandals&cd[content_category]=Shoes&cd[order_id]=o-1"
        "&cd[net_revenue]=20.5&cd[item_number]=7&cd[delivery_category]=curbside"
        "&cd[color]=red&cd[size]=%2242%22&cd[note]=a%5Cb");
    const capi::CustomData& cd = *h.event.custom_data;
    CHECK(cd.content_name == "Sandals");
    CHECK(cd.content_category == "Shoes");
    CHECK(cd.order_id == "o-1");
    CHECK(cd.net_revenue == 20.5);
    CHECK(cd.item_number == "7");
    CHECK(cd.delivery_category == capi::DeliveryCategory::curbside);
    // Custom properties: JSON strings, escaped.
    CHECK(custom(h.event, "color") == R"("red")");
    CHECK(custom(h.event, "size") == R"("\"42\"")");
    CHECK(custom(h.event, "note") == R"("a\\b")");
}

TEST_CASE("content_ids: a JSON array, one id, a comma list; contents: one object", "[pixel][hit]") {
    CHECK(parse_ok("id=1&ev=X&cd[content_ids]=[\"a\",12]").event.custom_data->content_ids == strings{"a", "12"});
    CHECK(parse_ok("id=1&ev=X&cd[content_ids]=ABC123").event.custom_data->content_ids == strings{"ABC123"});
    CHECK(parse_ok("id=1&ev=X&cd[content_ids]=1,2,%203").event.custom_data->content_ids == strings{"1", "2", "3"});
    const Hit one = parse_ok("id=1&ev=X&cd[contents]={\"id\":\"a\",\"quantity\":1}");
    REQUIRE(one.event.custom_data->contents.size() == 1);
    CHECK(one.event.custom_data->contents[0].id == "a");
}

namespace {

std::string percent_encoded(std::string_view s) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) out += ch;
        else out.append({'%', hex[c >> 4], hex[c & 0xF]});
    }
    return out;
}

void same_content(const capi::Content& a, const capi::Content& b) {
    CHECK(a.id == b.id);
    CHECK(a.quantity == b.quantity);
    CHECK(a.item_price == b.item_price);
    CHECK(a.title == b.title);
    CHECK(a.description == b.description);
    CHECK(a.brand == b.brand);
    CHECK(a.category == b.category);
    CHECK(a.delivery_category == b.delivery_category);
    REQUIRE(a.extra.size() == b.extra.size());
    for (std::size_t i = 0; i < a.extra.size(); ++i) {
        CHECK(a.extra[i].key == b.extra[i].key);
        CHECK(a.extra[i].json == b.extra[i].json);
    }
}

} // namespace

// cd[contents] has a reader of its own for the common shape (no JSON document
// built per hit) and the EventReader for the rest: both must read the same.
TEST_CASE("cd[contents]: what `capi send`'s reader reads, whatever the shape", "[pixel][hit]") {
    const std::vector<std::string> inputs = {
        // the common shape (read without the JSON reader)
        R"([{"id":"1234","quantity":2,"item_price":9.5},{"id":"4642","quantity":1,"item_price":80.05}])",
        R"([{"id":"a"}])", R"({"id":"a","quantity":1})", R"([])", R"([{}])", R"({})",
        R"( [ { "id" : "a" , "quantity" : 0 , "item_price" : 0 } ] )",
        "[\n{\"id\":\"a\",\r\n\t\"item_price\":0.1}\n]",
        R"([{"id":"","title":"T","description":"D","brand":"B","category":"C"}])",
        R"([{"id":"Jos\u00e9 caf\u00e9","item_price":123456789012345678}])",
        R"([{"item_price":24.950000000000000000000000001,"quantity":999999999999999999}])",
        R"([{"id":"caf)" "\xc3\xa9" R"("}])",
        // for the JSON reader: escapes, other types, other keys, odd numbers
        R"([{"id":"a\"b","quantity":2}])", R"([{"id":"a\\b"}])", R"([{"id":"\u0041"}])",
        R"([{"id":1234,"quantity":2}])", R"([{"id":12.50}])", R"([{"id":"a","item_price":"9.5"}])",
        R"([{"id":"a","quantity":"2"}])", R"([{"id":"a","quantity":2.0}])", R"([{"id":"a","quantity":-1}])",
        R"([{"id":"a","item_price":-9.5}])", R"([{"id":"a","item_price":1e2}])", R"([{"id":"a","item_price":1.5E-1}])",
        R"([{"id":"a","quantity":12345678901234567890}])", R"([{"id":"a","quantity":1234567890123456789}])",
        R"([{"id":"a","item_price":01}])", R"([{"id":"a","item_price":1.}])", R"([{"id":"a","item_price":.5}])",
        R"([{"id":null,"quantity":null}])", R"([{"id":"a","color":"red"}])", R"([{"id":"a","extra":1}])",
        R"([{"id":"a","delivery_category":"home_delivery"}])", R"([{"id":"a","delivery_category":"drone"}])",
        R"([{"id":"a","nested":{"x":[1,2]}}])", R"([{"id":{"x":1}}])", R"([{"id":"a","id":"b"}])",
        R"([{"id":"a"},])", R"([{"id":"a"}]])", R"([{"id":"a"}] )", "[{\"id\":\"a\"}]\n", "\n[{\"id\":\"a\"}]",
        R"([{"id":"a"} {"id":"b"}])", R"([{"id":"a",}])", R"([{"id" "a"}])", R"([1,2])", R"(["a"])",
        R"([{"id":"a"}, null])", R"([{"id":"a")", R"([{"id":"a}])", R"({"id":"a"}{"id":"b"})", R"([{"id":true}])",
        R"([{"quantity":2x}])", R"([{"title":"tab	in"}])"};
    for (const std::string& json : inputs) {
        INFO(json);
        // The reference: the reader on the document read_json builds.
        std::string doc = R"({"custom_data":{"contents":)";
        const std::size_t first = json.find_first_not_of(" \t");
        const bool object = first != std::string::npos && json[first] == '{';
        doc.append(object ? "[" + json + "]" : json).append("}}");
        capi::EventReader reader;
        capi::Event expected;
        capi::FieldError expected_error;
        const bool expected_ok = reader.parse(doc, expected, expected_error);

        Hit h;
        HitError e;
        const bool ok = capi::pixel::parse_hit("id=1&ev=X&cd[contents]=" + percent_encoded(json), h, e, t0);
        const std::vector<std::string> not_one_container = {
            "[{\"id\":\"a\"}]\n", "\n[{\"id\":\"a\"}]", R"([{"id":"a"}]])", R"({"id":"a"}{"id":"b"})",
            R"([{"id":"a")", R"([{"id":"a}])"};
        if (std::find(not_one_container.begin(), not_one_container.end(), json) != not_one_container.end()) {
            // Not one JSON container: refused before the reader sees it.
            CHECK_FALSE(ok);
            CHECK(e.reason == "expected JSON");
            continue;
        }
        REQUIRE(ok == expected_ok);
        if (!ok) {
            CHECK(e.parameter == "cd[contents]");
            CHECK_THAT(e.reason, Catch::EndsWith(expected_error.reason));
            continue;
        }
        const std::vector<capi::Content> none;
        const auto& got = h.event.custom_data ? h.event.custom_data->contents : none;
        const auto& want = expected.custom_data ? expected.custom_data->contents : none;
        REQUIRE(got.size() == want.size());
        for (std::size_t i = 0; i < got.size(); ++i) same_content(got[i], want[i]);
    }
}

TEST_CASE("trackSingleCustom-style custom events", "[pixel][hit]") {
    const Hit h = parse_ok("id=42&ev=MyCustomEvent&eid=abc&cd[level]=3&cd[value]=1.5&cd[currency]=EUR");
    CHECK(h.event.event_name == "MyCustomEvent");
    CHECK_FALSE(capi::is_standard_event(h.event.event_name));
    CHECK(custom(h.event, "level") == R"("3")");
    CHECK(h.event.custom_data->value == 1.5);
    // The seed's trackSingleCustom example: PageView as a custom call, no properties.
    const Hit pv = parse_ok("id=42&ev=PageView");
    CHECK(pv.event.event_name == "PageView");
    CHECK_FALSE(pv.event.custom_data);
}

TEST_CASE("eid, dl, rl, ts, ud and ignored parameters", "[pixel][hit]") {
    const Hit h = parse_ok(
        "v=2.9.1&id=1&ev=Lead&eid=order-1234&dl=https%3A%2F%2Fshop.example%2Fa%3Fb%3D1%26fbclid%3DAbC&rl=https%3A%2F%2Fref.example%2F"
        "&ts=1779999990123&ud[em]=A%40B.example&ud[ph]=%2B1+555&ud[external_id]=u1&ud[fn]=" +
        std::string(64, 'a') + "&ud[doby]=1990&ud[fbp]=fb.1.1.2&sw=1920&it=1&coo=false&r=stable");
    const capi::Event& ev = h.event;
    CHECK(ev.event_id == "order-1234");
    CHECK(ev.event_source_url == "https://shop.example/a?b=1&fbclid=AbC");
    CHECK(ev.referrer_url == "https://ref.example/");
    CHECK(ev.event_time == 1779999990);
    // As given: normalization and hashing happen when the event is encoded.
    CHECK(ev.user_data.em == strings{"A@B.example"});
    CHECK(ev.user_data.ph == strings{"+1 555"});
    CHECK(ev.user_data.external_id == strings{"u1"});
    CHECK(ev.user_data.fn == strings{std::string(64, 'a')});
    CHECK(ev.user_data.doby == "1990");
    CHECK(ev.user_data.fbp == "fb.1.1.2");
    CHECK_FALSE(h.noscript);
}

TEST_CASE("ts: milliseconds, the clock skew bound", "[pixel][hit]") {
    HitOptions o;
    o.max_clock_skew = seconds{300};
    // Ahead by less than the skew: now.
    CHECK(parse_ok("id=1&ev=X&ts=1780000299999", t0, o).event.event_time == 1780000000);
    // In the past: as given (validate() checks the window).
    CHECK(parse_ok("id=1&ev=X&ts=1779990000500", t0, o).event.event_time == 1779990000);
    const HitError e = parse_error("id=1&ev=X&ts=1780000300001", t0, o);
    CHECK(e.parameter == "ts");
    CHECK(e.reason == "ahead of the server's clock by more than 300 s");
    CHECK(parse_error("id=1&ev=X&ts=-5").parameter == "ts");
    CHECK(parse_error("id=1&ev=X&ts=1.5e12").parameter == "ts");
    CHECK(parse_error("id=1&ev=X&ts=").parameter == "ts");
    CHECK(parse_error("id=1&ev=X&ts=12345678901234567").parameter == "ts");
}

TEST_CASE("encodings: %XX, UTF-8, '+', %2B, encoded names", "[pixel][hit]") {
    const Hit h = parse_ok("id=1&ev=X&cd[content_name]=Caf%C3%A9+cr%C3%A8me&cd[search_string]=a%2Bb+c&cd%5Bcurrency%5D=USD&eid=%E2%9C%93");
    CHECK(h.event.custom_data->content_name == "Caf\xC3\xA9 cr\xC3\xA8me");
    CHECK(h.event.custom_data->search_string == "a+b c");
    CHECK(h.event.custom_data->currency == "USD");
    CHECK(h.event.event_id == "\xE2\x9C\x93");
    // Raw UTF-8 (a hand-written tag) is fine too.
    CHECK(parse_ok("id=1&ev=Caf\xC3\xA9").event.event_name == "Caf\xC3\xA9");
    // An unknown parameter is ignored, its value unread.
    CHECK(parse_ok("id=1&ev=X&cd%5Bvalue=%G").event.custom_data == std::nullopt);
    // Empty values are absent, and so is a custom_data left empty.
    CHECK_FALSE(parse_ok("id=1&ev=X&cd[color]=&cd[value]=&eid=&dl=&ud[em]=").event.custom_data);
    CHECK(parse_ok("id=1&ev=X&cd[color]=&cd[value]=&eid=&dl=&ud[em]=").event.user_data.em.empty());
    CHECK_FALSE(parse_ok("id=1&ev=X&eid=").event.event_id);
    // Empty pairs and a trailing '&' are skipped.
    CHECK(parse_ok("&&id=1&&ev=X&").event.event_name == "X");
}

TEST_CASE("every rejection names the parameter and the reason", "[pixel][hit]") {
    struct Case {
        std::string hit, parameter, reason;
    };
    const std::vector<Case> cases = {
        {"ev=X", "id", "required"},
        {"id=1", "ev", "required"},
        {"id=&ev=X", "id", "expected a pixel id (digits)"},
        {"id=12a&ev=X", "id", "expected a pixel id (digits)"},
        {"id=1&ev=", "ev", "empty event name"},
        {"id=1&ev=X&cd[value]=%G1", "cd[value]", "malformed percent escape"},
        {"id=1&ev=X&cd[value]=1%4", "cd[value]", "truncated percent escape"},
        {"id=1&ev=X&cd[content_name]=%FF%FE", "cd[content_name]", "not valid UTF-8"},
        {"id=1&ev=X&ud[em]=%C3", "ud[em]", "not valid UTF-8"},
        {"id=1&ev=X&cd[value]=abc", "cd[value]", "expected a finite decimal number"},
        {"id=1&ev=X&cd[value]=inf", "cd[value]", "expected a finite decimal number"},
        {"id=1&ev=X&cd[value]=nan", "cd[value]", "expected a finite decimal number"},
        {"id=1&ev=X&cd[value]=1e999", "cd[value]", "expected a finite decimal number"},
        {"id=1&ev=X&cd[value]=0x10", "cd[value]", "expected a finite decimal number"},
        {"id=1&ev=X&cd[value]=.5", "cd[value]", "expected a finite decimal number"},
        {"id=1&ev=X&cd[num_items]=2.5", "cd[num_items]", "expected an integer"},
        {"id=1&ev=X&cd[num_items]=99999999999999999999", "cd[num_items]", "expected an integer"},
        {"id=1&ev=X&cd[delivery_category]=drone", "cd[delivery_category]", "expected one of in_store, curbside, home_delivery"},
        {"id=1&ev=X&cd[content_ids]=1,,2", "cd[content_ids]", "empty id in the list"},
        {"id=1&ev=X&cd[content_ids]=[1,2", "cd[content_ids]", "expected JSON"},
        {"id=1&ev=X&cd[content_ids]=[1]},\"event_name\":\"Y\"", "cd[content_ids]", "expected JSON"},
        {"id=1&ev=X&cd[content_ids]=[{}]", "cd[content_ids]", "[0]: expected a string or a number"},
        {"id=1&ev=X&cd[contents]=12", "cd[contents]", "expected JSON"},
        {"id=1&ev=X&cd[contents]=[{\"id\":\"a\",\"quantity\":\"2\"}]", "cd[contents]", "[0].quantity: expected an integer"},
        {"id=1&ev=X&cd[contents]=[{\"id\":\"a\",\"id\":\"b\"}]", "cd[contents]", "[0].id: duplicate key"},
        {"id=1&ev=X&cd[]=1", "cd[]", "empty key"},
        {"id=1&ev=X&ud[nickname]=bob", "ud[nickname]", "unknown user_data key"},
        {"id=1&ev=X&ud[extra]=1", "ud[extra]", "unknown user_data key"},
        {"id=1&ev=X&ud[client_ip_address]=1.2.3.4", "ud[client_ip_address]", "taken from the request, not from the hit"},
        {"id=1&ev=X&ud[client_user_agent]=x", "ud[client_user_agent]", "taken from the request, not from the hit"},
        {"id=1&ev=X&ev=Y", "ev", "repeated parameter"},
        {"id=1&id=2&ev=X", "id", "repeated parameter"},
        {"id=1&ev=X&cd[value]=1&cd[value]=2", "cd[value]", "repeated parameter"},
        {"id=1&ev=X&cd[color]=a&cd[color]=b", "cd[color]", "repeated parameter"},
        {"id=1&ev=X&ud[em]=a&ud[em]=b", "ud[em]", "repeated parameter"},
        {"id=1&ev=X&cd%5Bva%G1lue=1", "cd%5Bva%G1lue", "malformed percent escape"},
        {"id%4=1&ev=X", "id%4", "truncated percent escape"},
    };
    for (const Case& c : cases) {
        const HitError e = parse_error(c.hit);
        CHECK(e.parameter == c.parameter);
        CHECK(e.reason == c.reason);
    }
}

TEST_CASE("the bounds: parameter count, value size", "[pixel][hit]") {
    HitOptions o;
    o.max_parameters = 4;
    o.max_value_bytes = 8;
    CHECK(parse_ok("id=1&ev=X&a=1&b=2", t0, o).event.event_name == "X");
    const HitError many = parse_error("id=1&ev=X&a=1&b=2&c=3", t0, o);
    CHECK(many.parameter.empty());
    CHECK(many.reason == "more than 4 parameters");
    CHECK(parse_ok("id=1&ev=12345678", t0, o).event.event_name == "12345678");
    const HitError big = parse_error("id=1&ev=123456789", t0, o);
    CHECK(big.parameter == "ev");
    CHECK(big.reason == "value too long");
    // The bound is on the decoded value: %41 is one byte.
    CHECK(parse_ok("id=1&ev=%41%41%41%41%41%41%41%41", t0, o).event.event_name == "AAAAAAAA");
}
