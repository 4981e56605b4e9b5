// EventReader: Meta's wire format into capi::Event, and every way a line can be wrong.
#include <capi/ndjson.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace Catch {
template <>
struct StringMaker<capi::FieldError> {
    static std::string convert(const capi::FieldError& e) { return "{'" + e.path + "', '" + e.reason + "'}"; }
};
} // namespace Catch

using capi::Event;
using capi::EventReader;
using capi::FieldError;
using capi::ReaderOptions;

namespace {

struct result {
    bool ok = false;
    Event ev;
    FieldError err;
};

result read(std::string_view json, ReaderOptions options = {}) {
    EventReader reader(options);
    result r;
    r.ok = reader.parse(json, r.ev, r.err);
    return r;
}

Event read_ok(std::string_view json, ReaderOptions options = {}) {
    auto r = read(json, options);
    INFO(json);
    INFO("error at '" << r.err.path << "': " << r.err.reason);
    REQUIRE(r.ok);
    return r.ev;
}

FieldError read_error(std::string_view json, ReaderOptions options = {}) {
    auto r = read(json, options);
    INFO(json);
    REQUIRE_FALSE(r.ok);
    return r.err;
}

FieldError fe(std::string path, std::string reason) { return {std::move(path), std::move(reason)}; }

using strings = std::vector<std::string>;

// A minimal valid prefix, so each test shows only the field it is about.
std::string with(std::string_view members) {
    std::string s = R"({"event_name":"Purchase","event_time":1633552688,"action_source":"website")";
    if (!members.empty()) {
        s += ',';
        s += members;
    }
    s += '}';
    return s;
}

} // namespace

// ---------------------------------------------------------------------------
// Meta's public examples (seed-conversions-api.md), verbatim.

TEST_CASE("reader: Meta's example request body, first event", "[reader]") {
    const auto ev = read_ok(R"({
      "event_name": "Purchase",
      "event_time": 1633552688,
      "event_id": "event.id.123",
      "event_source_url": "http://jaspers-market.com/product/123",
      "action_source": "website",
      "user_data": {
        "client_ip_address": "192.19.9.9",
        "client_user_agent": "test ua",
        "em": [
          "309a0a5c3e211326ae75ca18196d301a9bdbd1a882a4d2569511033da23f0abd"
        ],
        "ph": [
          "254aa248acb47dd654ca3ea53f48c2c26d641d23d7e2e93a1ec56258df7674c4",
          "6f4fcb9deaeadc8f9746ae76d97ce1239e98b404efe5da3ee0b7149740f89ad6"
        ],
        "fbc": "fb.1.1554763741205.AbCdEfGhIjKlMnOpQrStUvWxYz1234567890",
        "fbp": "fb.1.1558571054389.1098115397"
      },
      "custom_data": {
        "value": 100.2,
        "currency": "USD",
        "content_ids": ["product.id.123"],
        "content_type": "product"
      },
      "opt_out": false
    })");
    CHECK(ev.event_name == "Purchase");
    CHECK(ev.event_time == 1633552688);
    CHECK(ev.event_id == "event.id.123");
    CHECK(ev.event_source_url == "http://jaspers-market.com/product/123");
    CHECK(ev.action_source == capi::ActionSource::website);
    CHECK(ev.user_data.client_ip_address == "192.19.9.9");
    CHECK(ev.user_data.client_user_agent == "test ua");
    CHECK(ev.user_data.em == strings{"309a0a5c3e211326ae75ca18196d301a9bdbd1a882a4d2569511033da23f0abd"});
    CHECK(ev.user_data.ph == strings{"254aa248acb47dd654ca3ea53f48c2c26d641d23d7e2e93a1ec56258df7674c4",
                                     "6f4fcb9deaeadc8f9746ae76d97ce1239e98b404efe5da3ee0b7149740f89ad6"});
    CHECK(ev.user_data.fbc == "fb.1.1554763741205.AbCdEfGhIjKlMnOpQrStUvWxYz1234567890");
    CHECK(ev.user_data.fbp == "fb.1.1558571054389.1098115397");
    REQUIRE(ev.custom_data);
    CHECK(ev.custom_data->value == 100.2);
    CHECK(ev.custom_data->currency == "USD");
    CHECK(ev.custom_data->content_ids == strings{"product.id.123"});
    CHECK(ev.custom_data->content_type == "product");
    CHECK(ev.custom_data->custom_properties.empty());
    CHECK(ev.opt_out == false);
    CHECK_FALSE(ev.referrer_url);
    CHECK_FALSE(ev.app_data);
    CHECK(ev.extra.empty());
}

TEST_CASE("reader: Meta's example request body, second event", "[reader]") {
    const auto ev = read_ok(R"({
      "event_name": "Purchase",
      "event_time": 1633552688,
      "user_data": {
        "client_ip_address": "192.88.9.9",
        "client_user_agent": "test ua2"
      },
      "custom_data": {
        "value": 50.5,
        "currency": "USD"
      },
      "opt_out": false
    })");
    CHECK(ev.event_name == "Purchase");
    CHECK(ev.event_time == 1633552688);
    CHECK_FALSE(ev.event_id);
    // Missing action_source is validation's business, not the reader's.
    CHECK(ev.action_source == capi::ActionSource::unset);
    CHECK(ev.user_data.client_ip_address == "192.88.9.9");
    CHECK(ev.user_data.client_user_agent == "test ua2");
    CHECK(ev.user_data.em.empty());
    REQUIRE(ev.custom_data);
    CHECK(ev.custom_data->value == 50.5);
    CHECK(ev.custom_data->currency == "USD");
    CHECK(ev.opt_out == false);
}

TEST_CASE("reader: Meta's cURL example event", "[reader]") {
    const auto ev = read_ok(R"({
                 "event_name": "Purchase",
                 "event_time": 1761263694,
                 "user_data": {
                     "em": [
                         "309a0a5c3e211326ae75ca18196d301a9bdbd1a882a4d2569511033da23f0abd"
                     ],
                     "ph": [
                         "254aa248acb47dd654ca3ea53f48c2c26d641d23d7e2e93a1ec56258df7674c4",
                         "6f4fcb9deaeadc8f9746ae76d97ce1239e98b404efe5da3ee0b7149740f89ad6"
                     ],
                     "client_ip_address": "123.123.123.123",
                     "client_user_agent": "$CLIENT_USER_AGENT",
                     "fbc": "fb.1.1554763741205.AbCdEfGhIjKlMnOpQrStUvWxYz1234567890",
                     "fbp": "fb.1.1558571054389.1098115397"
                 },
                 "custom_data": {
                     "currency": "usd",
                     "value": 123.45,
                     "contents": [
                         {
                             "id": "product123",
                             "quantity": 1,
                             "delivery_category": "home_delivery"
                         }
                     ]
                 },
                 "event_source_url": "http://jaspers-market.com/product/123",
                 "action_source": "website"
             })");
    CHECK(ev.event_time == 1761263694);
    REQUIRE(ev.custom_data);
    REQUIRE(ev.custom_data->contents.size() == 1);
    const auto& c = ev.custom_data->contents[0];
    CHECK(c.id == "product123");
    CHECK(c.quantity == 1);
    CHECK(c.delivery_category == capi::DeliveryCategory::home_delivery);
    CHECK(ev.custom_data->value == 123.45);
    CHECK(ev.action_source == capi::ActionSource::website);
}

// ---------------------------------------------------------------------------
// Every modelled field.

TEST_CASE("reader: every top-level field", "[reader]") {
    const auto ev = read_ok(R"({
        "event_name": "Lead", "event_time": 1700000000, "event_id": "e-1",
        "event_source_url": "https://example.com/a", "referrer_url": "https://example.com/r",
        "action_source": "business_messaging", "opt_out": true, "messaging_channel": "instagram",
        "data_processing_options": ["LDU"], "data_processing_options_country": 1,
        "data_processing_options_state": 1000, "advanced_measurement_table": "amt"})");
    CHECK(ev.event_name == "Lead");
    CHECK(ev.event_time == 1700000000);
    CHECK(ev.event_id == "e-1");
    CHECK(ev.event_source_url == "https://example.com/a");
    CHECK(ev.referrer_url == "https://example.com/r");
    CHECK(ev.action_source == capi::ActionSource::business_messaging);
    CHECK(ev.opt_out == true);
    CHECK(ev.messaging_channel == capi::MessagingChannel::instagram);
    REQUIRE(ev.data_processing_options);
    CHECK(*ev.data_processing_options == strings{"LDU"});
    CHECK(ev.data_processing_options_country == 1);
    CHECK(ev.data_processing_options_state == 1000);
    CHECK(ev.advanced_measurement_table == "amt");
}

TEST_CASE("reader: every action_source, delivery_category and messaging_channel value", "[reader]") {
    using A = capi::ActionSource;
    const std::pair<const char*, A> sources[] = {
        {"email", A::email}, {"website", A::website}, {"app", A::app},
        {"phone_call", A::phone_call}, {"chat", A::chat}, {"physical_store", A::physical_store},
        {"system_generated", A::system_generated}, {"business_messaging", A::business_messaging},
        {"other", A::other}};
    for (const auto& [name, value] : sources) {
        CHECK(read_ok(std::string(R"({"action_source":")") + name + "\"}").action_source == value);
    }
    using D = capi::DeliveryCategory;
    for (const auto& [name, value] : {std::pair{"in_store", D::in_store}, std::pair{"curbside", D::curbside},
                                      std::pair{"home_delivery", D::home_delivery}}) {
        const auto ev = read_ok(with(std::string(R"("custom_data":{"delivery_category":")") + name + "\"}"));
        CHECK(ev.custom_data->delivery_category == value);
    }
    using M = capi::MessagingChannel;
    for (const auto& [name, value] : {std::pair{"whatsapp", M::whatsapp}, std::pair{"messenger", M::messenger},
                                      std::pair{"instagram", M::instagram}}) {
        CHECK(read_ok(with(std::string(R"("messaging_channel":")") + name + "\"")).messaging_channel == value);
    }
}

TEST_CASE("reader: bad enum values", "[reader]") {
    CHECK(read_error(R"({"action_source":"Website"})") ==
          fe("action_source", "expected one of email, website, app, phone_call, chat, physical_store, "
                              "system_generated, business_messaging, other"));
    CHECK(read_error(R"({"action_source":""})").path == "action_source");
    CHECK(read_error(R"({"action_source":3})") == fe("action_source", "expected a string"));
    CHECK(read_error(with(R"("messaging_channel":"sms")")) ==
          fe("messaging_channel", "expected one of whatsapp, messenger, instagram"));
    CHECK(read_error(with(R"("custom_data":{"delivery_category":"drone"})")) ==
          fe("custom_data.delivery_category", "expected one of in_store, curbside, home_delivery"));
    CHECK(read_error(with(R"("custom_data":{"contents":[{},{"delivery_category":"x"}]})")) ==
          fe("custom_data.contents[1].delivery_category", "expected one of in_store, curbside, home_delivery"));
}

TEST_CASE("reader: data_processing_options", "[reader]") {
    CHECK_FALSE(read_ok(with("")).data_processing_options);
    const auto empty = read_ok(with(R"("data_processing_options":[])"));
    REQUIRE(empty.data_processing_options);  // [] is an explicit choice, kept engaged
    CHECK(empty.data_processing_options->empty());
    CHECK_FALSE(read_ok(with(R"("data_processing_options":null)")).data_processing_options);
    CHECK(read_error(with(R"("data_processing_options":"LDU")")) ==
          fe("data_processing_options", "expected an array of strings"));
    CHECK(read_error(with(R"("data_processing_options":["LDU",1])")) ==
          fe("data_processing_options[1]", "expected a string"));
    CHECK(read_error(with(R"("data_processing_options_country":"1")")) ==
          fe("data_processing_options_country", "expected an integer"));
    CHECK(read_error(with(R"("data_processing_options_state":1.5)")) ==
          fe("data_processing_options_state", "expected an integer"));
}

TEST_CASE("reader: every user_data key", "[reader]") {
    const auto ev = read_ok(with(R"("user_data":{
        "em":["a@example.com","b@example.com"], "ph":"+1 650 555 1234", "fn":"mary", "ln":["smith"],
        "ge":"f", "db":"19900102", "ct":"menlo park", "st":"ca", "zp":"94025", "country":"us",
        "external_id":["x1","x2"], "f5first":"maryj", "f5last":"smith", "fi":"m",
        "dobd":"02", "dobm":"01", "doby":"1990",
        "client_ip_address":"1.2.3.4", "client_user_agent":"ua", "fbc":"fbc.v", "fbp":"fbp.v",
        "subscription_id":"sub", "fb_login_id":"fbl", "lead_id":"lead", "anon_id":"anon",
        "madid":"madid", "page_id":"page", "page_scoped_user_id":"psid", "ctwa_clid":"ctwa",
        "ig_account_id":"iga", "ig_sid":"igsid"})"));
    const auto& u = ev.user_data;
    CHECK(u.em == strings{"a@example.com", "b@example.com"});
    CHECK(u.ph == strings{"+1 650 555 1234"});
    CHECK(u.fn == strings{"mary"});
    CHECK(u.ln == strings{"smith"});
    CHECK(u.ge == strings{"f"});
    CHECK(u.db == strings{"19900102"});
    CHECK(u.ct == strings{"menlo park"});
    CHECK(u.st == strings{"ca"});
    CHECK(u.zp == strings{"94025"});
    CHECK(u.country == strings{"us"});
    CHECK(u.external_id == strings{"x1", "x2"});
    CHECK(u.f5first == "maryj");
    CHECK(u.f5last == "smith");
    CHECK(u.fi == "m");
    CHECK(u.dobd == "02");
    CHECK(u.dobm == "01");
    CHECK(u.doby == "1990");
    CHECK(u.client_ip_address == "1.2.3.4");
    CHECK(u.client_user_agent == "ua");
    CHECK(u.fbc == "fbc.v");
    CHECK(u.fbp == "fbp.v");
    CHECK(u.subscription_id == "sub");
    CHECK(u.fb_login_id == "fbl");
    CHECK(u.lead_id == "lead");
    CHECK(u.anon_id == "anon");
    CHECK(u.madid == "madid");
    CHECK(u.page_id == "page");
    CHECK(u.page_scoped_user_id == "psid");
    CHECK(u.ctwa_clid == "ctwa");
    CHECK(u.ig_account_id == "iga");
    CHECK(u.ig_sid == "igsid");
    CHECK(u.extra.empty());
}

TEST_CASE("reader: multi-valued user_data keys take a string or an array", "[reader]") {
    for (const char* key : {"em", "ph", "fn", "ln", "ge", "db", "ct", "st", "zp", "country", "external_id"}) {
        INFO(key);
        const std::string k(key);
        const auto one = read_ok(with(R"("user_data":{")" + k + R"(":"v"})"));
        const auto many = read_ok(with(R"("user_data":{")" + k + R"(":["v","w"]})"));
        const auto none = read_ok(with(R"("user_data":{")" + k + R"(":[]})"));
        const auto get = [&](const Event& e) -> const strings& {
            const auto& u = e.user_data;
            if (k == "em") return u.em;
            if (k == "ph") return u.ph;
            if (k == "fn") return u.fn;
            if (k == "ln") return u.ln;
            if (k == "ge") return u.ge;
            if (k == "db") return u.db;
            if (k == "ct") return u.ct;
            if (k == "st") return u.st;
            if (k == "zp") return u.zp;
            if (k == "country") return u.country;
            return u.external_id;
        };
        CHECK(get(one) == strings{"v"});
        CHECK(get(many) == strings{"v", "w"});
        CHECK(get(none).empty());
        const auto bad = read_error(with(R"("user_data":{")" + k + R"(":["v",{}]})"));
        CHECK(bad.path == "user_data." + k + "[1]");
        const auto obj = read_error(with(R"("user_data":{")" + k + R"(":{}})"));
        CHECK(obj.path == "user_data." + k);
    }
}

TEST_CASE("reader: numbers are decimal text where people send them as numbers", "[reader]") {
    const auto ev = read_ok(with(R"("user_data":{
        "ph":16505551234, "zp":[94025, "94026", 9.4027e4], "db":19900102,
        "external_id":[18446744073709551615, -7, 1.5], "dobd":2, "dobm":1, "doby":1990})"));
    const auto& u = ev.user_data;
    CHECK(u.ph == strings{"16505551234"});
    CHECK(u.zp == strings{"94025", "94026", "94027"});
    CHECK(u.db == strings{"19900102"});
    CHECK(u.external_id == strings{"18446744073709551615", "-7", "1.5"});
    CHECK(u.dobd == "2");
    CHECK(u.dobm == "1");
    CHECK(u.doby == "1990");

    const auto cd = read_ok(with(R"("custom_data":{"content_ids":[123,"abc",4.0],"contents":[{"id":77}]})"));
    CHECK(cd.custom_data->content_ids == strings{"123", "abc", "4"});
    CHECK(cd.custom_data->contents[0].id == "77");

    const auto ad = read_ok(with(R"("app_data":{"extinfo":["a2","com.x","1.0","1.0 long","13","Pixel",
        "en_US","PST","carrier",1080,2400,2.75,8,"128","64","America/Los_Angeles"]})"));
    REQUIRE(ad.app_data);
    REQUIRE(ad.app_data->extinfo.size() == capi::extinfo_size);
    CHECK(ad.app_data->extinfo[9] == "1080");
    CHECK(ad.app_data->extinfo[10] == "2400");
    CHECK(ad.app_data->extinfo[11] == "2.75");
    CHECK(ad.app_data->extinfo[12] == "8");

    // Where a number can only be a mistake it stays an error.
    for (const char* key : {"em", "fn", "ln", "ge", "ct", "st", "country"}) {
        INFO(key);
        const auto err = read_error(with(std::string(R"("user_data":{")") + key + R"(":5})"));
        CHECK(err == fe(std::string("user_data.") + key, "expected a string or an array of strings"));
        const auto in_array = read_error(with(std::string(R"("user_data":{")") + key + R"(":["a",5]})"));
        CHECK(in_array == fe(std::string("user_data.") + key + "[1]", "expected a string"));
    }
    CHECK(read_error(with(R"("user_data":{"ph":true})")) ==
          fe("user_data.ph", "expected a string, a number or an array of them"));
    CHECK(read_error(with(R"("user_data":{"zp":[1,null]})")) ==
          fe("user_data.zp[1]", "expected a string or a number"));
    CHECK(read_error(with(R"("user_data":{"dobd":[2]})")) ==
          fe("user_data.dobd", "expected a string or a number"));
    CHECK(read_error(with(R"("user_data":{"fi":1})")) == fe("user_data.fi", "expected a string"));
    CHECK(read_error(with(R"("user_data":{"client_ip_address":1})")) ==
          fe("user_data.client_ip_address", "expected a string"));
    CHECK(read_error(with(R"("app_data":{"url_schemes":["a",1]})")) ==
          fe("app_data.url_schemes[1]", "expected a string"));
    CHECK(read_error(with(R"("app_data":{"extinfo":["a",false]})")) ==
          fe("app_data.extinfo[1]", "expected a string or a number"));
    CHECK(read_error(with(R"("custom_data":{"content_ids":"abc"})")) ==
          fe("custom_data.content_ids", "expected an array of strings or numbers"));
    CHECK(read_error(with(R"("custom_data":{"content_ids":["a",[1]]})")) ==
          fe("custom_data.content_ids[1]", "expected a string or a number"));
}

TEST_CASE("reader: every custom_data key, contents and custom properties", "[reader]") {
    const auto ev = read_ok(with(R"("custom_data":{
        "value":10, "net_revenue":7.5, "predicted_ltv":100.25, "currency":"EUR",
        "content_name":"shoe", "content_category":"shoes", "content_type":"product_group",
        "order_id":"o-1", "status":"done", "search_string":"red shoe", "item_number":"i-9",
        "content_ids":["a","b"], "num_items":3, "delivery_category":"curbside",
        "contents":[{"id":"a","quantity":2,"item_price":9.99,"title":"t","description":"d",
                     "brand":"b","category":"c","delivery_category":"in_store"},
                    {"id":"b"}],
        "loyalty_tier":"gold", "nested":{ "a" : [1, 2, {"b":null}] }, "flag":true,
        "score":1.5, "nothing":null, "esc":"a\"b\u00e9"})"));
    REQUIRE(ev.custom_data);
    const auto& c = *ev.custom_data;
    CHECK(c.value == 10.0);
    CHECK(c.net_revenue == 7.5);
    CHECK(c.predicted_ltv == 100.25);
    CHECK(c.currency == "EUR");
    CHECK(c.content_name == "shoe");
    CHECK(c.content_category == "shoes");
    CHECK(c.content_type == "product_group");
    CHECK(c.order_id == "o-1");
    CHECK(c.status == "done");
    CHECK(c.search_string == "red shoe");
    CHECK(c.item_number == "i-9");
    CHECK(c.content_ids == strings{"a", "b"});
    CHECK(c.num_items == 3);
    CHECK(c.delivery_category == capi::DeliveryCategory::curbside);
    REQUIRE(c.contents.size() == 2);
    const auto& a = c.contents[0];
    CHECK(a.id == "a");
    CHECK(a.quantity == 2);
    CHECK(a.item_price == 9.99);
    CHECK(a.title == "t");
    CHECK(a.description == "d");
    CHECK(a.brand == "b");
    CHECK(a.category == "c");
    CHECK(a.delivery_category == capi::DeliveryCategory::in_store);
    CHECK(c.contents[1].id == "b");
    CHECK_FALSE(c.contents[1].quantity);

    REQUIRE(c.custom_properties.size() == 6);
    CHECK(c.custom_properties[0].key == "loyalty_tier");
    CHECK(c.custom_properties[0].json == R"("gold")");
    CHECK(c.custom_properties[1].key == "nested");
    CHECK(c.custom_properties[1].json == R"({"a":[1,2,{"b":null}]})");
    CHECK(c.custom_properties[2].json == "true");
    CHECK(c.custom_properties[3].json == "1.5");
    CHECK(c.custom_properties[4].key == "nothing");
    CHECK(c.custom_properties[4].json == "null");
    CHECK(c.custom_properties[5].key == "esc");
    CHECK(c.custom_properties[5].json == "\"a\\\"b\xc3\xa9\"");
}

TEST_CASE("reader: custom_data type errors", "[reader]") {
    CHECK(read_error(with(R"("custom_data":{"value":"10"})")) == fe("custom_data.value", "expected a number"));
    CHECK(read_error(with(R"("custom_data":{"currency":1})")) == fe("custom_data.currency", "expected a string"));
    CHECK(read_error(with(R"("custom_data":{"num_items":2.5})")) == fe("custom_data.num_items", "expected an integer"));
    CHECK(read_error(with(R"("custom_data":{"contents":{}})")) ==
          fe("custom_data.contents", "expected an array of objects"));
    CHECK(read_error(with(R"("custom_data":{"contents":[{},{},{},"x"]})")) ==
          fe("custom_data.contents[3]", "expected an object"));
    CHECK(read_error(with(R"("custom_data":{"contents":[{},{},{},{"quantity":"2"}]})")) ==
          fe("custom_data.contents[3].quantity", "expected an integer"));
    CHECK(read_error(with(R"("custom_data":{"contents":[{"item_price":"9"}]})")) ==
          fe("custom_data.contents[0].item_price", "expected a number"));
    CHECK(read_error(with(R"("custom_data":{"contents":[{"id":true}]})")) ==
          fe("custom_data.contents[0].id", "expected a string or a number"));
    CHECK(read_error(with(R"("custom_data":[])")) == fe("custom_data", "expected an object"));
    CHECK(read_error(with(R"("custom_data":"x")")) == fe("custom_data", "expected an object"));
}

TEST_CASE("reader: every app_data key", "[reader]") {
    const auto ev = read_ok(with(R"("app_data":{
        "application_tracking_enabled":true, "advertiser_tracking_enabled":1, "consider_views":false,
        "include_dwell_data":0, "include_video_data":true, "campaign_ids":"c1,c2",
        "install_referrer":"ref", "installer_package":"com.android.vending", "receipt_data":"rcpt",
        "windows_attribution_id":"win", "anon_id":"anon", "app_user_id":"u1",
        "url_schemes":["fb123://","x://"], "extinfo":["i2","","","","","","","","","","","","","","",""]})"));
    REQUIRE(ev.app_data);
    const auto& a = *ev.app_data;
    CHECK(a.application_tracking_enabled == true);
    CHECK(a.advertiser_tracking_enabled == true);  // Meta's app examples send 1
    CHECK(a.consider_views == false);
    CHECK(a.include_dwell_data == false);
    CHECK(a.include_video_data == true);
    CHECK(a.campaign_ids == "c1,c2");
    CHECK(a.install_referrer == "ref");
    CHECK(a.installer_package == "com.android.vending");
    CHECK(a.receipt_data == "rcpt");
    CHECK(a.windows_attribution_id == "win");
    CHECK(a.anon_id == "anon");
    CHECK(a.app_user_id == "u1");
    CHECK(a.url_schemes == strings{"fb123://", "x://"});
    REQUIRE(a.extinfo.size() == 16);
    CHECK(a.extinfo[0] == "i2");
    CHECK(a.extra.empty());

    CHECK(read_error(with(R"("app_data":{"consider_views":2})")) ==
          fe("app_data.consider_views", "expected a boolean"));
    CHECK(read_error(with(R"("app_data":{"consider_views":"true"})")) ==
          fe("app_data.consider_views", "expected a boolean"));
    CHECK(read_error(with(R"("opt_out":"false")")) == fe("opt_out", "expected a boolean"));
    CHECK(read_error(with(R"("app_data":{"extinfo":"a2"})")) ==
          fe("app_data.extinfo", "expected an array of strings or numbers"));
    CHECK(read_error(with(R"("app_data":true)")) == fe("app_data", "expected an object"));
}

TEST_CASE("reader: original_event_data and attribution_data", "[reader]") {
    const auto ev = read_ok(with(R"(
        "original_event_data":{"event_name":"Purchase","event_time":"1633552000","order_id":"o","event_id":"e"},
        "attribution_data":{"scope":"click","visit_time":1633550000,"ad_id":"1","adset_id":"2",
            "campaign_id":"3","attribution_share":0.3,"attribution_model":"last_click","attr_window":7,
            "attribution_value":12.5,"attribution_source":"src","touchpoint_type":"click",
            "touchpoint_ts":1633549000,"attribution_method":"ard","decline_reason":"none",
            "auditing_token":"tok","linkage_key":"lk","touchpoint_id":"tp",
            "attribution_setting":{"inactivity_window_hours":24,"reattribution_window_hours":48},
            "total_credit":1,"partner_client_id":"pc"})"));
    REQUIRE(ev.original_event_data);
    const auto& o = *ev.original_event_data;
    CHECK(o.event_name == "Purchase");
    CHECK(o.event_time == 1633552000);
    CHECK(o.order_id == "o");
    CHECK(o.event_id == "e");
    REQUIRE(ev.attribution_data);
    const auto& a = *ev.attribution_data;
    CHECK(a.scope == "click");
    CHECK(a.visit_time == 1633550000);
    CHECK(a.ad_id == "1");
    CHECK(a.adset_id == "2");
    CHECK(a.campaign_id == "3");
    CHECK(a.attribution_share == 0.3);
    CHECK(a.attribution_model == "last_click");
    CHECK(a.attr_window == 7);
    CHECK(a.attribution_value == 12.5);
    CHECK(a.attribution_source == "src");
    CHECK(a.touchpoint_type == "click");
    CHECK(a.touchpoint_ts == 1633549000);
    CHECK(a.attribution_method == "ard");
    CHECK(a.decline_reason == "none");
    CHECK(a.auditing_token == "tok");
    CHECK(a.linkage_key == "lk");
    CHECK(a.touchpoint_id == "tp");
    REQUIRE(a.attribution_setting);
    CHECK(a.attribution_setting->inactivity_window_hours == 24);
    CHECK(a.attribution_setting->reattribution_window_hours == 48);
    CHECK(a.total_credit == 1.0);
    CHECK(a.partner_client_id == "pc");

    CHECK(read_error(with(R"("original_event_data":{"event_time":1.5})")) ==
          fe("original_event_data.event_time", "expected an integer"));
    CHECK(read_error(with(R"("original_event_data":{"event_name":1})")) ==
          fe("original_event_data.event_name", "expected a string"));
    CHECK(read_error(with(R"("attribution_data":{"visit_time":"x"})")) ==
          fe("attribution_data.visit_time", "expected an integer"));
    CHECK(read_error(with(R"("attribution_data":{"attribution_share":"0.3"})")) ==
          fe("attribution_data.attribution_share", "expected a number"));
    CHECK(read_error(with(R"("attribution_data":{"attribution_setting":{"inactivity_window_hours":"24"}})")) ==
          fe("attribution_data.attribution_setting.inactivity_window_hours", "expected an integer"));
    CHECK(read_error(with(R"("attribution_data":{"attribution_setting":[]})")) ==
          fe("attribution_data.attribution_setting", "expected an object"));
}

// ---------------------------------------------------------------------------
// event_time.

TEST_CASE("reader: event_time", "[reader]") {
    CHECK(read_ok(R"({"event_time":1633552688})").event_time == 1633552688);
    CHECK(read_ok(R"({"event_time":"1633552688"})").event_time == 1633552688);
    CHECK(read_ok(R"({"event_time":0})").event_time == 0);
    CHECK(read_ok(R"({"event_time":null})").event_time == 0);
    CHECK(read_ok(R"({"event_time":"9223372036854775807"})").event_time == INT64_MAX);

    for (const char* bad : {R"("")", R"("abc")", R"("-5")", R"("+5")", R"(" 5")", R"("5 ")", R"("1.5")",
                            R"("1e9")", R"("99999999999999999999")", "1.5", "1e30", "-1e30", "1633552688.0",
                            "true", "[]", "{}"}) {
        INFO(bad);
        CHECK(read_error(std::string(R"({"event_time":)") + bad + "}") == fe("event_time", "expected an integer"));
    }
    CHECK(read_error(R"({"event_time":18446744073709551615})") == fe("event_time", "integer out of range"));
    // Beyond uint64 simdjson refuses the number itself: a syntax error of the line.
    const auto big = read_error(R"({"event_time":1000000000000000000000000000000})");
    CHECK(big.path.empty());
    CHECK(big.reason.rfind("invalid JSON: ", 0) == 0);
    CHECK(read_ok(R"({"event_time":-5})").event_time == -5);  // range is validation's job
}

// ---------------------------------------------------------------------------
// Unknown and duplicate keys.

TEST_CASE("reader: unknown keys are errors at every object level", "[reader]") {
    const std::pair<std::string, std::string> cases[] = {
        {with(R"("event_nmae":"x")"), "event_nmae"},
        {with(R"("user_data":{"email":"a@b.c"})"), "user_data.email"},
        {with(R"("app_data":{"extinfo2":[]})"), "app_data.extinfo2"},
        {with(R"("custom_data":{"contents":[{"id":"a"},{"sku":"b"}]})"), "custom_data.contents[1].sku"},
        {with(R"("original_event_data":{"time":1})"), "original_event_data.time"},
        {with(R"("attribution_data":{"share":1})"), "attribution_data.share"},
    };
    for (const auto& [json, path] : cases) {
        INFO(json);
        CHECK(read_error(json) == fe(path, "unknown key"));
    }
}

TEST_CASE("reader: pass_unknown_keys keeps them as raw members", "[reader]") {
    const ReaderOptions pass{true};
    const auto ev = read_ok(with(R"(
        "new_field":{"a" : [1, 2.5, "x"]}, "flag":false,
        "user_data":{"em":"a@b.c","new_ud":"v"},
        "app_data":{"new_app":[ ]},
        "custom_data":{"contents":[{"id":"a","sku":"s-1"}], "tier":"gold"},
        "original_event_data":{"event_name":"Purchase","new_oed":null},
        "attribution_data":{"scope":"click","new_attr":7})"), pass);
    REQUIRE(ev.extra.size() == 2);
    CHECK(ev.extra[0].key == "new_field");
    CHECK(ev.extra[0].json == R"({"a":[1,2.5,"x"]})");
    CHECK(ev.extra[1].key == "flag");
    CHECK(ev.extra[1].json == "false");
    REQUIRE(ev.user_data.extra.size() == 1);
    CHECK(ev.user_data.extra[0].key == "new_ud");
    CHECK(ev.user_data.extra[0].json == R"("v")");
    CHECK(ev.user_data.em == strings{"a@b.c"});
    REQUIRE(ev.app_data);
    REQUIRE(ev.app_data->extra.size() == 1);
    CHECK(ev.app_data->extra[0].json == "[]");
    REQUIRE(ev.custom_data);
    REQUIRE(ev.custom_data->contents.size() == 1);
    REQUIRE(ev.custom_data->contents[0].extra.size() == 1);
    CHECK(ev.custom_data->contents[0].extra[0].key == "sku");
    CHECK(ev.custom_data->contents[0].extra[0].json == R"("s-1")");
    REQUIRE(ev.custom_data->custom_properties.size() == 1);  // custom_data is unchanged by the option
    CHECK(ev.custom_data->custom_properties[0].key == "tier");
    REQUIRE(ev.original_event_data);
    REQUIRE(ev.original_event_data->extra.size() == 1);
    CHECK(ev.original_event_data->extra[0].json == "null");
    REQUIRE(ev.attribution_data);
    REQUIRE(ev.attribution_data->extra.size() == 1);
    CHECK(ev.attribution_data->extra[0].key == "new_attr");
    CHECK(ev.attribution_data->extra[0].json == "7");

    // With the option off the same line fails at the first unknown key.
    CHECK(read_error(with(R"("new_field":1,"user_data":{"new_ud":"v"})")) == fe("new_field", "unknown key"));

    // attribution_setting has nowhere to keep extras: still an error.
    CHECK(read_error(with(R"("attribution_data":{"attribution_setting":{"x":1}})"), pass) ==
          fe("attribution_data.attribution_setting.x", "unknown key"));

    // Type errors in known keys stay errors with the option on.
    CHECK(read_error(with(R"("user_data":{"em":1,"new":2})"), pass).path == "user_data.em");
}

TEST_CASE("reader: duplicate keys at every object level", "[reader]") {
    const std::pair<std::string, std::string> cases[] = {
        {R"({"event_name":"a","event_name":"b"})", "event_name"},
        {with(R"("user_data":{"em":"a","ph":"1","em":"b"})"), "user_data.em"},
        {with(R"("custom_data":{"value":1,"value":2})"), "custom_data.value"},
        {with(R"("custom_data":{"tier":1,"tier":2})"), "custom_data.tier"},
        {with(R"("custom_data":{"contents":[{"id":"a","id":"b"}]})"), "custom_data.contents[0].id"},
        {with(R"("app_data":{"extinfo":[],"extinfo":[]})"), "app_data.extinfo"},
        {with(R"("original_event_data":{"event_id":"a","event_id":"a"})"), "original_event_data.event_id"},
        {with(R"("attribution_data":{"scope":"a","scope":"b"})"), "attribution_data.scope"},
        {with(R"("attribution_data":{"attribution_setting":{"attr":1,"attr":1}})"),
         "attribution_data.attribution_setting.attr"},
        {with(R"("user_data":{"em":null,"em":"a"})"), "user_data.em"},
    };
    for (const auto& [json, path] : cases) {
        INFO(json);
        CHECK(read_error(json) == fe(path, "duplicate key"));
        CHECK(read_error(json, ReaderOptions{true}) == fe(path, "duplicate key"));
    }
    // Unknown keys repeated under pass_unknown_keys are duplicates too.
    CHECK(read_error(with(R"("x":1,"x":2)"), ReaderOptions{true}) == fe("x", "duplicate key"));

    // Many keys (the check sorts rather than comparing every pair).
    std::string many = R"({"custom_data":{)";
    for (int i = 0; i < 5000; ++i) many += "\"k" + std::to_string(i) + "\":" + std::to_string(i) + ",";
    many += R"("k4999":0}})";
    CHECK(read_error(many) == fe("custom_data.k4999", "duplicate key"));
}

// ---------------------------------------------------------------------------
// null, and wrong types at the object level.

TEST_CASE("reader: null means absent for modelled fields", "[reader]") {
    const auto ev = read_ok(R"({"event_name":null,"event_time":null,"event_id":null,"action_source":null,
        "opt_out":null,"messaging_channel":null,"user_data":null,"custom_data":null,"app_data":null,
        "original_event_data":null,"attribution_data":null,"data_processing_options_country":null})");
    CHECK(ev.event_name.empty());
    CHECK(ev.event_time == 0);
    CHECK_FALSE(ev.event_id);
    CHECK(ev.action_source == capi::ActionSource::unset);
    CHECK_FALSE(ev.opt_out);
    CHECK_FALSE(ev.custom_data);
    CHECK_FALSE(ev.app_data);
    CHECK_FALSE(ev.original_event_data);
    CHECK_FALSE(ev.attribution_data);
    CHECK_FALSE(ev.data_processing_options_country);

    const auto ud = read_ok(with(R"("user_data":{"em":null,"fbc":null,"dobd":null},
        "custom_data":{"value":null,"contents":null,"content_ids":null},
        "app_data":{"extinfo":null,"url_schemes":null,"consider_views":null})"));
    CHECK(ud.user_data.em.empty());
    CHECK_FALSE(ud.user_data.fbc);
    CHECK_FALSE(ud.user_data.dobd);
    REQUIRE(ud.custom_data);
    CHECK_FALSE(ud.custom_data->value);
    CHECK(ud.custom_data->custom_properties.empty());
    REQUIRE(ud.app_data);
    CHECK(ud.app_data->extinfo.empty());
    CHECK_FALSE(ud.app_data->consider_views);

    // Inside arrays a null is a value of the wrong type.
    CHECK(read_error(with(R"("user_data":{"em":["a",null]})")) == fe("user_data.em[1]", "expected a string"));
}

TEST_CASE("reader: wrong types at each level", "[reader]") {
    CHECK(read_error(R"({"event_name":1})") == fe("event_name", "expected a string"));
    CHECK(read_error(with(R"("event_id":1)")) == fe("event_id", "expected a string"));
    CHECK(read_error(with(R"("event_source_url":[])")) == fe("event_source_url", "expected a string"));
    CHECK(read_error(with(R"("user_data":[])")) == fe("user_data", "expected an object"));
    CHECK(read_error(with(R"("user_data":{"em":["a","b",3]})")) == fe("user_data.em[2]", "expected a string"));
    CHECK(read_error(with(R"("original_event_data":"x")")) == fe("original_event_data", "expected an object"));
    CHECK(read_error(with(R"("attribution_data":1)")) == fe("attribution_data", "expected an object"));
    // Keys with odd characters are reported as given.
    CHECK(read_error(with(R"("user_data":{"a.b[0]":1})")).path == "user_data.a.b[0]");
}

// ---------------------------------------------------------------------------
// Hostile input.

TEST_CASE("reader: the top-level value must be an object", "[reader]") {
    for (const char* json : {"[]", "[{}]", R"("event")", "42", "null", "true"}) {
        INFO(json);
        CHECK(read_error(json) == fe("", "expected an object"));
    }
    CHECK(read_ok("{}").event_name.empty());
    CHECK(read_ok(" \t\r\n{}\n").event_name.empty());
}

TEST_CASE("reader: syntax errors name the whole line", "[reader]") {
    for (const char* json : {"", "   ", "{", R"({"event_name":)", R"({"event_name":"Purch)", R"({"a":1,})",
                             R"({'a':1})", "{} {}", "{}x", R"({"a":01})", R"({"a":NaN})", R"({"a":tru})",
                             "\xef\xbb\xbf{}x", R"({"a":"\x"})"}) {
        INFO(json);
        const auto err = read_error(json);
        CHECK(err.path.empty());
        CHECK(err.reason.rfind("invalid JSON: ", 0) == 0);
        CHECK(err.reason.size() > std::string("invalid JSON: ").size());
    }
    // Raw control characters in strings.
    for (std::string json : {std::string("{\"event_name\":\"a\0b\"}", 17),
                             std::string("{\"event_name\":\"a\nb\"}")}) {
        const auto err = read_error(json);
        CHECK(err.path.empty());
        CHECK(err.reason.rfind("invalid JSON: ", 0) == 0);
    }
}

TEST_CASE("reader: invalid UTF-8 names the byte, its offset and the field holding it", "[reader][utf8]") {
    // In a value: the field, as the reader names fields.
    CHECK(read_error("{\"event_name\":\"\xff\"}") ==
          fe("event_name", "invalid UTF-8 (byte 0xff at offset 15 of the line)"));
    CHECK(read_error("{\"event_name\":\"ab\xc3\"}") ==
          fe("event_name", "invalid UTF-8 (byte 0xc3 at offset 17 of the line)"));
    CHECK(read_error("{\"event_name\":\"x\",\"user_data\":{\"em\":[\"a@b.c\",\"\\\"\xe9t\xe9\"]}}") ==
          fe("user_data.em[1]", "invalid UTF-8 (byte 0xe9 at offset 48 of the line)"));
    CHECK(read_error("{\"custom_data\":{\"contents\":[{\"id\":\"1\"},{\"id\":\"2\",\"title\":\"\xc0\xaf\"}]}}")
              .path == "custom_data.contents[1].title");
    // Overlong, surrogate and past U+10FFFF forms are invalid; valid multi-byte text before them is not.
    CHECK(read_error("{\"event_id\":\"\xc3\xa9\xed\xa0\x80\"}") ==
          fe("event_id", "invalid UTF-8 (byte 0xed at offset 15 of the line)"));
    CHECK(read_error("{\"event_id\":\"\xf4\x90\x80\x80\"}").path == "event_id");
    CHECK(read_error("{\"event_id\":\"\xf0\x9f\x98\x80\xe0\x80\xaf\"}") ==
          fe("event_id", "invalid UTF-8 (byte 0xe0 at offset 17 of the line)"));
    // In a key: the object holding it.
    CHECK(read_error("{\"user_data\":{\"e\xffm\":[\"x\"]}}") ==
          fe("user_data", "a member's key is not valid UTF-8 (byte 0xff at offset 16 of the line)"));
    // After a backslash: a byte past 0x7f is no escape, and is checked as any
    // other (found by fuzz_ndjson_reader: the key's bad byte went unseen, the
    // fault was placed later, and its path carried the bad byte).
    CHECK(read_error("{\"ev\":{\"a\\\xe8" "b\":\"x\xff\"}}") ==
          fe("ev", "a member's key is not valid UTF-8 (byte 0xe8 at offset 10 of the line)"));
    CHECK(read_error("{\"event_name\":\"\\\xff\"}") ==
          fe("event_name", "invalid UTF-8 (byte 0xff at offset 16 of the line)"));
    CHECK(read_error("{\"custom_data\":{\"k\\\"\":\"\xff\"}}").path == "custom_data.k\\\"");
    CHECK(read_error("{\"ev,\":{\"cnkig_,{\\\xe8" "evop\":\"({v\x95\\\":\\\"z\"}}") ==
          fe("ev,", "a member's key is not valid UTF-8 (byte 0xe8 at offset 18 of the line)"));
    // Outside any string: the whole line, with the offset.
    const auto outside = read_error("{\"value\":1\xff}");
    CHECK(outside.path.empty());
    CHECK(outside.reason == "invalid JSON: The input is not valid UTF-8 (byte 0xff at offset 10 of the line)");
    // A sequence cut short by the closing quote.
    CHECK(read_error("{\"event_name\":\"\xe2\x82\"}") ==
          fe("event_name", "invalid UTF-8 (byte 0xe2 at offset 15 of the line)"));
}

TEST_CASE("reader: strings keep their bytes, NUL included", "[reader]") {
    const auto ev = read_ok(R"({"event_name":"a\u0000b","user_data":{"em":["x\u0000"]},
        "custom_data":{"k\u0000":"\u0000"},"event_id":"\ud83d\ude00 \u00e9 caf\u00c3"})");
    CHECK(ev.event_name == std::string("a\0b", 3));
    CHECK(ev.user_data.em == strings{std::string("x\0", 2)});
    REQUIRE(ev.custom_data->custom_properties.size() == 1);
    CHECK(ev.custom_data->custom_properties[0].key == std::string("k\0", 2));
    CHECK(ev.custom_data->custom_properties[0].json.size() > 2);
    CHECK(ev.event_id == "\xf0\x9f\x98\x80 \xc3\xa9 caf\xc3\x83");
    // A lone surrogate is not text.
    CHECK(read_error(R"({"event_name":"\ud83d"})").path.empty());
}

TEST_CASE("reader: deep nesting", "[reader]") {
    // Inside simdjson's depth limit a nested custom property is read and kept.
    const int depth = 1000;
    std::string nested = std::string(depth, '[') + std::string(depth, ']');
    const auto ev = read_ok(R"({"custom_data":{"deep":)" + nested + "}}");
    REQUIRE(ev.custom_data->custom_properties.size() == 1);
    CHECK(ev.custom_data->custom_properties[0].json == nested);

    // Beyond it the whole line is refused, without a crash.
    const int too_deep = 100000;
    const auto err = read_error(R"({"custom_data":{"deep":)" + std::string(too_deep, '[') +
                                std::string(too_deep, ']') + "}}");
    CHECK(err.path.empty());
    CHECK(err.reason.rfind("invalid JSON: ", 0) == 0);

    // Deep objects in places that are not custom are type errors, not crashes.
    CHECK(read_error(with(R"("user_data":{"em":[[["x"]]]})")) == fe("user_data.em[0]", "expected a string"));
}

TEST_CASE("reader: large input", "[reader]") {
    std::string big(1 << 20, 'x');
    const auto ev = read_ok(R"({"event_name":")" + big + R"(","custom_data":{"blob":")" + big + R"("}})");
    CHECK(ev.event_name.size() == big.size());
    CHECK(ev.custom_data->custom_properties[0].json.size() == big.size() + 2);
}

// ---------------------------------------------------------------------------
// One reader, many lines.

TEST_CASE("reader: one reader reused for many lines", "[reader]") {
    EventReader reader;
    Event ev;
    FieldError err;

    // Lines as views into one buffer, not NUL-terminated, as an NDJSON splitter gives them.
    const std::string ndjson =
        R"({"event_name":"A","event_time":1,"user_data":{"em":"a@x.com"},"custom_data":{"p":1}})" "\n"
        R"({"event_name":"B","event_time":"2"})" "\n"
        R"({"event_name":"C","event_time":1.5})" "\n"
        R"({"event_name":)" "\n"
        R"({"event_name":"E","event_time":5,"action_source":"app"})";
    std::vector<std::string_view> lines;
    for (std::size_t start = 0; start <= ndjson.size();) {
        auto end = ndjson.find('\n', start);
        if (end == std::string::npos) end = ndjson.size();
        lines.emplace_back(ndjson.data() + start, end - start);
        start = end + 1;
    }
    REQUIRE(lines.size() == 5);

    REQUIRE(reader.parse(lines[0], ev, err));
    CHECK(ev.event_name == "A");
    CHECK(ev.user_data.em == strings{"a@x.com"});
    REQUIRE(ev.custom_data);

    REQUIRE(reader.parse(lines[1], ev, err));
    CHECK(ev.event_name == "B");
    CHECK(ev.event_time == 2);
    CHECK(ev.user_data.em.empty());  // reset between lines
    CHECK_FALSE(ev.custom_data);
    CHECK(err == FieldError{});

    CHECK_FALSE(reader.parse(lines[2], ev, err));
    CHECK(err == fe("event_time", "expected an integer"));
    CHECK(ev.event_name.empty());  // nothing half-read survives a failure

    CHECK_FALSE(reader.parse(lines[3], ev, err));
    CHECK(err.path.empty());

    REQUIRE(reader.parse(lines[4], ev, err));
    CHECK(ev.event_name == "E");
    CHECK(ev.action_source == capi::ActionSource::app);
    CHECK(err == FieldError{});

    // Thousands of lines of varying sizes through the same buffers.
    std::size_t good = 0;
    for (int i = 0; i < 3000; ++i) {
        std::string line = R"({"event_name":"N)" + std::to_string(i) + R"(","event_time":)" + std::to_string(i) +
                           R"(,"custom_data":{"pad":")" + std::string(static_cast<std::size_t>((i * 37) % 5000), 'p') +
                           "\"}}";
        if (i % 10 == 9) line.pop_back();  // truncated
        if (reader.parse(line, ev, err)) {
            ++good;
            if (ev.event_time != i || ev.event_name != std::string("N").append(std::to_string(i))) FAIL("line " << i);
        } else if (i % 10 != 9) {
            FAIL("line " << i << ": " << err.reason);
        }
    }
    CHECK(good == 2700);

    // A moved reader keeps working.
    EventReader moved(std::move(reader));
    CHECK(moved.parse(R"({"event_name":"M"})", ev, err));
    CHECK(ev.event_name == "M");
    EventReader assigned(ReaderOptions{true});
    assigned = std::move(moved);
    CHECK(assigned.parse(R"({"event_name":"N"})", ev, err));
}
