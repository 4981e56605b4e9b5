// The page's side of a server event: fbq() calls and the noscript image, with
// hostile values that must not leave their string, the script, the URL or the
// attribute; and the noscript URL read back by parse_hit.
#include <capi/pixel.hpp>

#include <catch2/catch.hpp>
#include <simdjson.h>

#include <chrono>
#include <string>
#include <vector>

using namespace std::chrono;
using capi::pixel::Call;

namespace {

const system_clock::time_point t0{seconds{1780000000}};

capi::Event purchase() {
    capi::Event ev;
    ev.event_name = "Purchase";
    ev.event_time = 1780000000;
    ev.event_id = "order-1234";
    ev.action_source = capi::ActionSource::website;
    ev.user_data.em = {"secret@example.com"};
    auto& cd = ev.custom_data.emplace();
    cd.value = 25.0;
    cd.currency = "USD";
    cd.content_type = "product";
    auto& first = cd.contents.emplace_back();
    first.id = "1234";
    first.quantity = 2;
    auto& second = cd.contents.emplace_back();
    second.id = "4642";
    second.quantity = 1;
    second.item_price = 9.5;
    return ev;
}

const std::string hostile = "a'b\"c\\d</script><script>alert(1)</script><!--&amp;\xE2\x80\xA8\xE2\x80\xA9\n\r\t\x01 caf\xC3\xA9 \xF0\x9F\x98\x80";

/// The JSON object argument of a rendered fbq call.
std::string object_of(const std::string& call) {
    const auto open = call.find('{');
    REQUIRE(open != std::string::npos);
    // The object ends where the 4th argument or the call ends.
    auto end = call.rfind(", {eventID:");
    if (end == std::string::npos) end = call.rfind(");");
    return call.substr(open, end - open);
}

std::string percent_decode(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%') {
            out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
            i += 2;
        } else {
            out += s[i];
        }
    }
    return out;
}

} // namespace

TEST_CASE("render_fbq: the seed's Purchase", "[pixel][snippet]") {
    const capi::Event ev = purchase();
    CHECK(capi::pixel::render_fbq(ev) ==
          R"(fbq('track', 'Purchase', {"value":25,"currency":"USD","contents":[{"id":"1234","quantity":2},{"id":"4642","quantity":1,"item_price":9.5}],"content_type":"product"}, {eventID: 'order-1234'});)");
    // user_data never reaches the page.
    CHECK(capi::pixel::render_fbq(ev).find("secret") == std::string::npos);
    CHECK(capi::pixel::render_fbq(ev, "123", Call::track_single) ==
          R"(fbq('trackSingle', '123', 'Purchase', {"value":25,"currency":"USD","contents":[{"id":"1234","quantity":2},{"id":"4642","quantity":1,"item_price":9.5}],"content_type":"product"}, {eventID: 'order-1234'});)");
}

TEST_CASE("render_fbq: the call, custom events, no properties, no event id", "[pixel][snippet]") {
    capi::Event ev;
    ev.event_name = "PageView";
    CHECK(capi::pixel::render_fbq(ev) == "fbq('trackCustom', 'PageView');");
    CHECK(capi::pixel::render_fbq(ev, "123", Call::track_single_custom) ==
          "fbq('trackSingleCustom', '123', 'PageView');");
    ev.event_name = "Lead";
    CHECK(capi::pixel::render_fbq(ev) == "fbq('track', 'Lead');");
    CHECK(capi::pixel::render_fbq(ev, {}, Call::track_custom) == "fbq('trackCustom', 'Lead');");
    ev.event_id = "e1";
    CHECK(capi::pixel::render_fbq(ev) == "fbq('track', 'Lead', {}, {eventID: 'e1'});");
    ev.event_id.reset();
    auto& cd = ev.custom_data.emplace();
    cd.value = 40;
    cd.currency = "USD";
    cd.content_ids = {"1234", "2424"};
    cd.num_items = 2;
    cd.search_string = "leather sandals";
    cd.predicted_ltv = 1.5;
    cd.status = "done";
    cd.content_name = "n";
    cd.content_category = "c";
    cd.order_id = "o";
    cd.delivery_category = capi::DeliveryCategory::home_delivery;
    cd.custom_properties = {{"level", "3"}, {"tags", R"(["a","b"])"}, {"bad", "not json"}, {"value", "1"}};
    CHECK(capi::pixel::render_fbq(ev) ==
          R"(fbq('track', 'Lead', {"value":40,"currency":"USD","content_name":"n","content_category":"c","content_ids":["1234","2424"],"order_id":"o","predicted_ltv":1.5,"num_items":2,"status":"done","search_string":"leather sandals","delivery_category":"home_delivery","level":3,"tags":["a","b"]});)");
}

TEST_CASE("render_fbq: hostile values cannot leave the string or the script", "[pixel][snippet]") {
    capi::Event ev = purchase();
    ev.event_name = hostile;
    ev.event_id = hostile;
    ev.custom_data->content_name = hostile;
    ev.custom_data->contents[0].title = hostile;
    ev.custom_data->content_ids = {hostile};
    ev.custom_data->custom_properties = {{hostile, "\"" + std::string("</script><!--\\u2028") + "\""}};
    for (Call call : {Call::track, Call::track_single_custom}) {
        const std::string js = capi::pixel::render_fbq(ev, hostile, call);
        INFO(js);
        CHECK(js.find("</") == std::string::npos);
        CHECK(js.find("<!--") == std::string::npos);
        CHECK(js.find('<') == std::string::npos);
        CHECK(js.find('>') == std::string::npos);
        CHECK(js.find('&') == std::string::npos);
        CHECK(js.find("\xE2\x80\xA8") == std::string::npos);
        CHECK(js.find("\xE2\x80\xA9") == std::string::npos);
        CHECK(js.find('\n') == std::string::npos);
        CHECK(js.find('\r') == std::string::npos);
        // Outside the JSON object the only quotes are the call's own.
        const std::string obj = object_of(js);
        std::string outside = js;
        outside.erase(outside.find(obj), obj.size());
        const auto quotes = std::count(outside.begin(), outside.end(), '\'');
        CHECK(quotes == (call == Call::track ? 4 + 2 : 6 + 2));
        CHECK(std::count(outside.begin(), outside.end(), '"') == 0);
        // The object is JSON and reads back to the values.
        simdjson::dom::parser parser;
        simdjson::dom::element root;
        REQUIRE_FALSE(parser.parse(obj).get(root));
        CHECK(std::string_view(root["content_name"].get_string().value()) == hostile);
        CHECK(std::string_view(root["content_ids"].at(0).get_string().value()) == hostile);
        CHECK(std::string_view(root["contents"].at(0)["title"].get_string().value()) == hostile);
        CHECK(std::string_view(root[hostile].get_string().value()) == "</script><!--\xE2\x80\xA8");
        CHECK(root["value"].get_double().value() == 25.0);
        // Non-ASCII stays as it is (UTF-8 in the page), only the line terminators escaped.
        CHECK(js.find("caf\xC3\xA9 \xF0\x9F\x98\x80") != std::string::npos);
    }
    // Bytes that are not UTF-8 come out as U+FFFD, never raw.
    capi::Event bad;
    bad.event_name = "x\xFF<";
    CHECK(capi::pixel::render_fbq(bad) == R"(fbq('trackCustom', 'x\ufffd\u003c');)");
}

TEST_CASE("render_noscript_url and _img: the seed's image tag", "[pixel][snippet]") {
    capi::Event ev;
    ev.event_name = "ViewContent";
    auto& cd = ev.custom_data.emplace();
    cd.content_type = "product";
    cd.content_ids = {"1234"};
    cd.value = 0.5;
    cd.currency = "USD";
    CHECK(capi::pixel::render_noscript_url(ev, "1234567890") ==
          "https://www.facebook.com/tr?id=1234567890&ev=ViewContent&cd[value]=0.5&cd[currency]=USD"
          "&cd[content_ids]=%5B%221234%22%5D&cd[content_type]=product&noscript=1");
    CHECK(capi::pixel::render_noscript_img(ev, "1234567890", "https://px.shop.example/tr") ==
          R"(<img height="1" width="1" style="display:none" src="https://px.shop.example/tr?id=1234567890&amp;ev=ViewContent&amp;cd[value]=0.5&amp;cd[currency]=USD&amp;cd[content_ids]=%5B%221234%22%5D&amp;cd[content_type]=product&amp;noscript=1" alt=""/>)");
    CHECK(capi::pixel::render_noscript_url(ev, "1", "https://gw.example/tr?x=1").rfind("https://gw.example/tr?x=1&id=1&", 0) == 0);
}

TEST_CASE("noscript: hostile values stay inside the URL and the attribute", "[pixel][snippet]") {
    capi::Event ev = purchase();
    ev.event_name = hostile;
    ev.event_id = hostile + "&ev=Other";
    ev.custom_data->content_name = hostile;
    const std::string u = capi::pixel::render_noscript_url(ev, "1");
    INFO(u);
    for (char c : u) {
        const bool ok = std::isalnum(static_cast<unsigned char>(c)) || std::string_view("-._~%&=?/:[]").find(c) != std::string_view::npos;
        CHECK(ok);
    }
    // Each component decodes back to its value.
    const auto eid = u.find("&eid=") + 5;
    CHECK(percent_decode(u.substr(eid, u.find('&', eid) - eid)) == hostile + "&ev=Other");
    const std::string img = capi::pixel::render_noscript_img(ev, "1");
    const std::string attr = img.substr(img.find("src=\"") + 5, img.rfind("\" alt") - img.find("src=\"") - 5);
    CHECK(attr.find('"') == std::string::npos);
    CHECK(attr.find('<') == std::string::npos);
    CHECK(attr.find('>') == std::string::npos);
    CHECK(attr.find('\'') == std::string::npos);
    // Hostile base: escaped in the attribute too.
    const std::string img2 = capi::pixel::render_noscript_img(ev, "1", "https://x.example/\"><script>'");
    CHECK(img2.find("<script>") == std::string::npos);
    CHECK(img2.find("&quot;&gt;&lt;script&gt;&#39;") != std::string::npos);
}

TEST_CASE("round trip: render_noscript_url, then parse_hit", "[pixel][snippet]") {
    capi::Event ev = purchase();
    ev.event_source_url = "https://shop.example/thanks?order=1&x=a+b";
    ev.referrer_url = "https://shop.example/cart";
    auto& cd = *ev.custom_data;
    cd.content_ids = {"1234", "a,b", hostile};
    cd.content_name = hostile;
    cd.search_string = "a+b c%20";
    cd.num_items = 3;
    cd.predicted_ltv = 0.1;
    cd.delivery_category = capi::DeliveryCategory::in_store;
    cd.contents[0].title = hostile;
    cd.custom_properties = {{"color", R"("red \"dark\"")"}};

    const std::string u = capi::pixel::render_noscript_url(ev, "1234567890");
    capi::pixel::Hit h;
    capi::pixel::HitError e;
    REQUIRE(capi::pixel::parse_hit(u.substr(u.find('?') + 1), h, e, t0));
    INFO(e.parameter << ": " << e.reason);
    CHECK(h.pixel_id == "1234567890");
    CHECK(h.noscript);
    CHECK(h.event.event_name == ev.event_name);
    CHECK(h.event.event_id == ev.event_id);
    CHECK(h.event.event_source_url == ev.event_source_url);
    CHECK(h.event.referrer_url == ev.referrer_url);
    REQUIRE(h.event.custom_data);
    const auto& got = *h.event.custom_data;
    CHECK(got.value == cd.value);
    CHECK(got.currency == cd.currency);
    CHECK(got.content_ids == cd.content_ids);
    CHECK(got.content_name == cd.content_name);
    CHECK(got.search_string == cd.search_string);
    CHECK(got.num_items == cd.num_items);
    CHECK(got.predicted_ltv == cd.predicted_ltv);
    CHECK(got.delivery_category == cd.delivery_category);
    CHECK(got.content_type == cd.content_type);
    REQUIRE(got.contents.size() == 2);
    CHECK(got.contents[0].id == "1234");
    CHECK(got.contents[0].quantity == 2);
    CHECK(got.contents[0].title == hostile);
    CHECK(got.contents[1].item_price == 9.5);
    REQUIRE(got.custom_properties.size() == 1);
    CHECK(got.custom_properties[0].key == "color");
    CHECK(got.custom_properties[0].json == R"("red \"dark\"")");
}
