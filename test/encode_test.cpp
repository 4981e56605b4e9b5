// BatchEncoder: what it writes parses back (simdjson) to the values it was given,
// PII hashed exactly as OpenSSL hashes the normalized value, bad events leave the
// batch untouched, and batches respect their caps.
#include <capi/encode.hpp>
#include <capi/ndjson.hpp>
#include <capi/normalize.hpp>
#include <capi/validate.hpp>

#include <catch2/catch.hpp>
#include <openssl/evp.h>
#include <simdjson.h>

#include "json/prepared.hpp"
#include "replace_new.hpp"

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <iterator>
#include <limits>
#include <new>
#include <string>
#include <vector>

using capi::detail::batch_access;

// Fails one chosen heap allocation on this thread, for the exception-safety
// tests (the encoder's buffers use realloc; its vectors and strings use new).
namespace {
thread_local bool allocation_armed = false;
thread_local std::size_t allocations_before_failure = 0;
// Arms the failure of the n-th allocation from now (0: the next one) for its lifetime.
struct FailAllocation {
    explicit FailAllocation(std::size_t n) {
        allocations_before_failure = n;
        allocation_armed = true;
    }
    ~FailAllocation() { allocation_armed = false; }
    FailAllocation(const FailAllocation&) = delete;
    FailAllocation& operator=(const FailAllocation&) = delete;
};
} // namespace

void* test_malloc(std::size_t n) noexcept {
    if (allocation_armed && allocations_before_failure-- == 0) {
        allocation_armed = false;
        return nullptr;
    }
    return std::malloc(n == 0 ? 1 : n);
}

namespace {

using namespace std::chrono_literals;
using sys = std::chrono::system_clock;

const sys::time_point now = sys::time_point(std::chrono::seconds(1'800'000'000));
const std::int64_t now_s = 1'800'000'000;

std::string openssl_hex(std::string_view v) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    REQUIRE(EVP_Digest(v.data(), v.size(), md, &len, EVP_sha256(), nullptr) == 1);
    static constexpr char hex[] = "0123456789abcdef";
    std::string s;
    for (unsigned i = 0; i < len; ++i) {
        s += hex[md[i] >> 4];
        s += hex[md[i] & 15];
    }
    return s;
}

// Owns the parser and the padded text so the element stays valid.
struct Parsed {
    simdjson::dom::parser parser;
    simdjson::padded_string text;
    simdjson::dom::element root;

    explicit Parsed(std::string_view json) : text(json) {
        auto err = parser.parse(text).get(root);
        INFO(json);
        REQUIRE(err == simdjson::SUCCESS);
    }
    simdjson::dom::element event(std::size_t i) {
        simdjson::dom::element e;
        REQUIRE(root["data"].at(i).get(e) == simdjson::SUCCESS);
        return e;
    }
};

std::string str(simdjson::simdjson_result<simdjson::dom::element> r) {
    std::string_view s;
    auto err = r.get_string().get(s);
    REQUIRE(err == simdjson::SUCCESS);
    return std::string(s);
}

std::vector<std::string> strings(simdjson::simdjson_result<simdjson::dom::element> r) {
    simdjson::dom::array a;
    REQUIRE(r.get_array().get(a) == simdjson::SUCCESS);
    std::vector<std::string> out;
    for (simdjson::dom::element v : a) out.push_back(str(std::move(v)));
    return out;
}

std::int64_t i64(simdjson::simdjson_result<simdjson::dom::element> r) {
    std::int64_t v = 0;
    REQUIRE(r.get_int64().get(v) == simdjson::SUCCESS);
    return v;
}

double dbl(simdjson::simdjson_result<simdjson::dom::element> r) {
    double v = 0;
    REQUIRE(r.get_double().get(v) == simdjson::SUCCESS);
    return v;
}

bool boolean(simdjson::simdjson_result<simdjson::dom::element> r) {
    bool v = false;
    REQUIRE(r.get_bool().get(v) == simdjson::SUCCESS);
    return v;
}

bool has(simdjson::simdjson_result<simdjson::dom::element> e, std::string_view key) {
    return e[key].error() == simdjson::SUCCESS;
}

bool has(const simdjson::dom::element& e, std::string_view key) {
    return e[key].error() == simdjson::SUCCESS;
}

std::size_t count(simdjson::simdjson_result<simdjson::dom::element> r) {
    simdjson::dom::array a;
    REQUIRE(r.get_array().get(a) == simdjson::SUCCESS);
    return a.size();
}

capi::Event purchase() {
    capi::Event ev;
    ev.event_name = "Purchase";
    ev.event_time = now_s - 60;
    ev.event_id = "event.id.123";
    ev.event_source_url = "http://jaspers-market.com/product/123";
    ev.action_source = capi::ActionSource::website;
    ev.opt_out = false;
    ev.user_data.em = {"  Joe@Example.COM "};
    ev.user_data.ph = {"+1 (650) 555-1212"};
    ev.user_data.client_ip_address = "192.19.9.9";
    ev.user_data.client_user_agent = "test ua";
    ev.user_data.fbc = "fb.1.1554763741205.AbCdEfGhIjKlMnOpQrStUvWxYz1234567890";
    ev.user_data.fbp = "fb.1.1558571054389.1098115397";
    ev.custom_data.emplace();
    ev.custom_data->value = 100.2;
    ev.custom_data->currency = " USD ";
    ev.custom_data->content_ids = {"product.id.123"};
    ev.custom_data->content_type = "product";
    return ev;
}

} // namespace

TEST_CASE("a Purchase serializes to Meta's shape with PII hashed", "[encoder]") {
    capi::BatchEncoder enc;
    auto r = enc.add(purchase(), now);
    REQUIRE(r.status == capi::EncodeStatus::added);
    CHECK(r.errors.empty());
    CHECK(r.dropped.empty());
    CHECK(enc.size() == 1);

    Parsed p(enc.json_body());
    auto e = p.event(0);
    CHECK(str(e["event_name"]) == "Purchase");
    CHECK(i64(e["event_time"]) == now_s - 60);
    CHECK(str(e["event_id"]) == "event.id.123");
    CHECK(str(e["action_source"]) == "website");
    CHECK(boolean(e["opt_out"]) == false);
    auto u = e["user_data"];
    CHECK(strings(u["em"]) == std::vector<std::string>{openssl_hex("joe@example.com")});
    CHECK(strings(u["ph"]) == std::vector<std::string>{openssl_hex("16505551212")});
    CHECK(str(u["client_ip_address"]) == "192.19.9.9");
    CHECK(str(u["fbc"]) == "fb.1.1554763741205.AbCdEfGhIjKlMnOpQrStUvWxYz1234567890");
    auto c = e["custom_data"];
    CHECK(dbl(c["value"]) == 100.2);
    CHECK(str(c["currency"]) == "usd");
    CHECK(strings(c["content_ids"]) == std::vector<std::string>{"product.id.123"});
    CHECK_FALSE(has(p.root, "access_token"));
}

TEST_CASE("every hashed key is normalized then hashed like OpenSSL", "[encoder]") {
    capi::Event ev = purchase();
    auto& u = ev.user_data;
    u.fn = {"  Valéry "};
    u.ln = {"SMITH"};
    u.ge = {"Female"};
    u.db = {"19900101"};
    u.ct = {"San José"};
    u.st = {"North Carolina"};
    u.zp = {"98 121-9431"};
    u.country = {"  US! "};
    u.f5first = "Washington";
    u.f5last = "Élodie";
    u.fi = " G ";
    u.dobd = "1";
    u.dobm = "5";
    u.doby = "1995";
    capi::BatchEncoder enc;
    REQUIRE(enc.add(ev, now).status == capi::EncodeStatus::added);
    Parsed p(enc.json_body());
    auto ud = p.event(0)["user_data"];
    struct Case { const char* key; const char* normalized; bool array; };
    const Case cases[] = {
        {"fn", "valéry", true}, {"ln", "smith", true}, {"ge", "f", true}, {"db", "19900101", true},
        {"ct", "sanjosé", true}, {"st", "northcarolina", true}, {"zp", "98121", true},
        {"country", "us", true}, {"f5first", "washi", false}, {"f5last", "élodi", false},
        {"fi", "g", false}, {"dobd", "01", false}, {"dobm", "05", false}, {"doby", "1995", false},
    };
    for (const auto& c : cases) {
        INFO(c.key);
        if (c.array)
            CHECK(strings(ud[c.key]) == std::vector<std::string>{openssl_hex(c.normalized)});
        else
            CHECK(str(ud[c.key]) == openssl_hex(c.normalized));
    }
}

TEST_CASE("already-hashed values pass through, lowercased, never hashed twice", "[encoder]") {
    const std::string sha = "309A0A5C3E211326AE75CA18196D301A9BDBD1A882A4D2569511033DA23F0ABD";
    const std::string md5 = "0CC175B9C0F1B6A831C399E269772661";
    capi::Event ev = purchase();
    ev.user_data.em = {sha, " " + md5 + " "};
    capi::BatchEncoder enc;
    REQUIRE(enc.add(ev, now).status == capi::EncodeStatus::added);
    Parsed p(enc.json_body());
    auto em = strings(p.event(0)["user_data"]["em"]);
    REQUIRE(em.size() == 2);
    CHECK(em[0] == "309a0a5c3e211326ae75ca18196d301a9bdbd1a882a4d2569511033da23f0abd");
    CHECK(em[1] == "0cc175b9c0f1b6a831c399e269772661");
}

TEST_CASE("duplicates after normalization are sent once, order kept", "[encoder]") {
    capi::Event ev = purchase();
    ev.user_data.em = {"B@x.com", " a@X.com", "b@X.COM ", "a@x.com"};
    ev.user_data.ph = {"(650) 555-1212", "650.555.1212", "6505551213"};
    capi::BatchEncoder enc;
    REQUIRE(enc.add(ev, now).status == capi::EncodeStatus::added);
    Parsed p(enc.json_body());
    auto u = p.event(0)["user_data"];
    CHECK(strings(u["em"]) == std::vector<std::string>{openssl_hex("b@x.com"), openssl_hex("a@x.com")});
    CHECK(strings(u["ph"]) ==
          std::vector<std::string>{openssl_hex("6505551212"), openssl_hex("6505551213")});
}

TEST_CASE("external_id is sent raw by default and hashed on request", "[encoder]") {
    capi::Event ev = purchase();
    ev.user_data.external_id = {"Ext-1", "Ext-1", "ext-2"};
    {
        capi::BatchEncoder enc;
        REQUIRE(enc.add(ev, now).status == capi::EncodeStatus::added);
        Parsed p(enc.json_body());
        CHECK(strings(p.event(0)["user_data"]["external_id"]) ==
              std::vector<std::string>{"Ext-1", "ext-2"});
    }
    {
        capi::EncodeOptions o;
        o.hash_external_id = true;
        capi::BatchEncoder enc(o);
        REQUIRE(enc.add(ev, now).status == capi::EncodeStatus::added);
        Parsed p(enc.json_body());
        CHECK(strings(p.event(0)["user_data"]["external_id"]) ==
              std::vector<std::string>{openssl_hex("Ext-1"), openssl_hex("ext-2")});
    }
    {
        // A digest is not hashed a second time, even with hashing on.
        capi::EncodeOptions o;
        o.hash_external_id = true;
        capi::BatchEncoder enc(o);
        const std::string digest = openssl_hex("cust-7");
        std::string upper = digest;
        for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        ev.user_data.external_id = {upper, digest, "cust-8"};
        REQUIRE(enc.add(ev, now).status == capi::EncodeStatus::added);
        Parsed p(enc.json_body());
        CHECK(strings(p.event(0)["user_data"]["external_id"]) ==
              std::vector<std::string>{digest, openssl_hex("cust-8")});
    }
}

TEST_CASE("a rejected PII value is dropped and reported, or rejects the event", "[encoder]") {
    capi::Event ev = purchase();
    ev.user_data.em = {"good@example.com", "not-an-email", "  "};
    ev.user_data.dobd = "32";
    SECTION("drop_value (default) keeps the event") {
        capi::BatchEncoder enc;
        auto r = enc.add(ev, now);
        REQUIRE(r.status == capi::EncodeStatus::added);
        REQUIRE(r.dropped.size() == 2);
        CHECK(r.dropped[0].path == "user_data.em[1]");
        CHECK(r.dropped[1].path == "user_data.dobd");
        CHECK_FALSE(r.dropped[0].reason.empty());
        Parsed p(enc.json_body());
        auto u = p.event(0)["user_data"];
        CHECK(strings(u["em"]) == std::vector<std::string>{openssl_hex("good@example.com")});
        CHECK_FALSE(has(u, "dobd"));
    }
    SECTION("reject_event") {
        capi::EncodeOptions o;
        o.invalid_pii = capi::InvalidPiiPolicy::reject_event;
        capi::BatchEncoder enc(o);
        auto r = enc.add(ev, now);
        REQUIRE(r.status == capi::EncodeStatus::invalid);
        REQUIRE(r.errors.size() == 2);
        CHECK(r.errors[0].path == "user_data.em[1]");
        CHECK(enc.size() == 0);
    }
}

TEST_CASE("an event whose PII is all dropped is invalid", "[encoder]") {
    capi::Event ev;
    ev.event_name = "Lead";
    ev.event_time = now_s;
    ev.action_source = capi::ActionSource::system_generated;
    ev.user_data.em = {"nope"};
    capi::BatchEncoder enc;
    auto r = enc.add(ev, now);
    CHECK(r.status == capi::EncodeStatus::invalid);
    REQUIRE_FALSE(r.errors.empty());
    CHECK(r.errors.back().path == "user_data");
    CHECK(enc.size() == 0);
}

TEST_CASE("an event left with only raw user_data members after normalization is invalid", "[encoder]") {
    // fuzz_ndjson_reader finding: both em values are dropped, the unknown key
    // "pd" passed through as a raw member; the encoder counted it as customer
    // information and wrote an event that validate() rejects once read back.
    const std::string line =
        R"({"event_name":"AddToCart","eveevent_name":"Lead","event_time":"1799999999",)"
        R"("action_source":"system_generated","user_data":{"em":["_so  Foo@Test.COM ","bad@"],"pd":"7"}})";
    capi::EventReader reader(capi::ReaderOptions{.pass_unknown_keys = true});
    capi::Event ev;
    capi::FieldError error;
    REQUIRE(reader.parse(line, ev, error));
    REQUIRE(ev.user_data.extra.size() == 1);
    capi::EncodeOptions options;
    options.validation.require_website_fields = false;
    capi::BatchEncoder enc(options);
    const auto r = enc.add(ev, now);
    CHECK(r.status == capi::EncodeStatus::invalid);
    REQUIRE_FALSE(r.errors.empty());
    CHECK(r.errors.back().path == "user_data");
    CHECK(enc.size() == 0);

    // With one typed parameter left beside it, the raw member goes through.
    ev.user_data.em.push_back("joe@example.com");
    REQUIRE(enc.add(ev, now).status == capi::EncodeStatus::added);
    CHECK(batch_access::event_json(enc, 0).find(R"("pd":"7")") != std::string_view::npos);
}

TEST_CASE("an invalid event leaves the batch byte for byte as it was", "[encoder]") {
    capi::BatchEncoder enc;
    REQUIRE(enc.add(purchase(), now).status == capi::EncodeStatus::added);
    const std::string before(enc.json_body());

    capi::Event old = purchase();
    old.event_time = now_s - 8 * 24 * 3600;
    auto r = enc.add(old, now);
    CHECK(r.status == capi::EncodeStatus::invalid);
    REQUIRE_FALSE(r.errors.empty());
    CHECK(r.errors[0].path == "event_time");

    capi::Event huge = purchase();
    huge.custom_data->content_name = std::string(70 * 1024, 'x');
    r = enc.add(huge, now);
    CHECK(r.status == capi::EncodeStatus::invalid);
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].reason.find("cap") != std::string::npos);

    CHECK(enc.size() == 1);
    CHECK(std::string(enc.json_body()) == before);
    // And the batch still takes good events after the failures.
    REQUIRE(enc.add(purchase(), now).status == capi::EncodeStatus::added);
    Parsed p(enc.json_body());
    CHECK(count(p.root["data"]) == 2);
}

TEST_CASE("a batch holds at most max_batch_events", "[encoder]") {
    capi::BatchEncoder enc;
    CHECK(enc.options().max_batch_events == 1000);
    auto ev = purchase();
    for (int i = 0; i < 1000; ++i) {
        ev.event_id = "id-" + std::to_string(i);
        REQUIRE(enc.add(ev, now).status == capi::EncodeStatus::added);
    }
    CHECK(enc.full());
    CHECK(enc.add(ev, now).status == capi::EncodeStatus::batch_full);
    Parsed p(enc.json_body());
    CHECK(count(p.root["data"]) == 1000);
    CHECK(str(p.event(999)["event_id"]) == "id-999");
    enc.clear();
    CHECK(enc.empty());
    CHECK(enc.add(ev, now).status == capi::EncodeStatus::added);

    capi::EncodeOptions o;
    o.max_batch_events = 3;
    capi::BatchEncoder small(o);
    for (int i = 0; i < 3; ++i) REQUIRE(small.add(ev, now).status == capi::EncodeStatus::added);
    CHECK(small.add(ev, now).status == capi::EncodeStatus::batch_full);
}

TEST_CASE("hostile strings cannot break out of their JSON string", "[encoder]") {
    capi::Event ev = purchase();
    ev.event_id = R"("},{"event_name":"x)";
    ev.custom_data->content_name = std::string("nul\0and\\back\"slash\n\xE2\x80\xA8", 22);
    ev.user_data.client_user_agent = "ua \"quoted\" \\ \t";
    capi::BatchEncoder enc;
    REQUIRE(enc.add(ev, now).status == capi::EncodeStatus::added);
    Parsed p(enc.json_body());
    CHECK(count(p.root["data"]) == 1);
    CHECK(str(p.event(0)["event_id"]) == *ev.event_id);
    CHECK(str(p.event(0)["custom_data"]["content_name"]) == *ev.custom_data->content_name);
    CHECK(str(p.event(0)["user_data"]["client_user_agent"]) == *ev.user_data.client_user_agent);
}

TEST_CASE("request-level fields and the access token", "[encoder]") {
    capi::BatchEncoder enc;
    REQUIRE(enc.add(purchase(), now).status == capi::EncodeStatus::added);
    capi::RequestFields f;
    f.test_event_code = "TEST123";
    f.partner_agent = "capi-cpp";
    f.namespace_id = "ns";
    f.upload_id = "u1";
    f.upload_tag = "tag";
    f.upload_source = "src";
    Parsed p(enc.json_body(f, "tok\"en"));
    CHECK(str(p.root["test_event_code"]) == "TEST123");
    CHECK(str(p.root["partner_agent"]) == "capi-cpp");
    CHECK(str(p.root["namespace_id"]) == "ns");
    CHECK(str(p.root["upload_id"]) == "u1");
    CHECK(str(p.root["upload_tag"]) == "tag");
    CHECK(str(p.root["upload_source"]) == "src");
    CHECK(str(p.root["access_token"]) == "tok\"en");
    // json_body can be called again, and add() after it continues the batch.
    CHECK(enc.json_body() != enc.json_body(f));
    REQUIRE(enc.add(purchase(), now).status == capi::EncodeStatus::added);
    Parsed q(enc.json_body());
    CHECK(count(q.root["data"]) == 2);
    CHECK_FALSE(has(q.root, "test_event_code"));
}

namespace {
std::string url_decode(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '+') {
            out += ' ';
        } else if (s[i] == '%' && i + 2 < s.size()) {
            out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
            i += 2;
        } else {
            out += s[i];
        }
    }
    return out;
}
} // namespace

TEST_CASE("the form-encoded body carries the same data array", "[encoder]") {
    capi::BatchEncoder enc;
    auto ev = purchase();
    ev.custom_data->content_name = "a&b=c+d %e";
    REQUIRE(enc.add(ev, now).status == capi::EncodeStatus::added);
    REQUIRE(enc.add(purchase(), now).status == capi::EncodeStatus::added);
    capi::RequestFields f;
    f.test_event_code = "T 1";
    const std::string json(enc.json_body());
    const std::string form(enc.form_body(f, "secret"));
    REQUIRE(form.rfind("data=", 0) == 0);
    auto amp = form.find('&');
    REQUIRE(amp != std::string::npos);
    const std::string array = url_decode(std::string_view(form).substr(5, amp - 5));
    CHECK("{\"data\":" + array + "}" == json);
    CHECK(form.substr(amp) == "&test_event_code=T+1&access_token=secret");
}

TEST_CASE("every typed field and raw member survives the round trip", "[encoder]") {
    capi::Event ev;
    ev.event_name = "MyCustomEvent";
    ev.event_time = now_s - 100;
    ev.event_id = "e1";
    ev.event_source_url = "https://example.com/a";
    ev.referrer_url = "https://ref.example.com/";
    ev.action_source = capi::ActionSource::app;
    ev.opt_out = true;
    ev.messaging_channel = capi::MessagingChannel::whatsapp;
    ev.data_processing_options = std::vector<std::string>{"LDU"};
    ev.data_processing_options_country = 1;
    ev.data_processing_options_state = 1000;
    ev.advanced_measurement_table = "amt";
    ev.user_data.madid = "madid-1";
    ev.user_data.anon_id = "anon-1";
    ev.user_data.extra = {{"whatsapp_business_account_id", "\"wa-1\""}};
    capi::AppData app;
    app.advertiser_tracking_enabled = true;
    app.application_tracking_enabled = false;
    app.extinfo = {"a2", "com.example", "771", "Version 7.7.1", "10.1.1", "OnePlus6", "en_US",
                   "GMT-1", "TMobile", "1920", "1080", "2.00", "2", "128", "8", "USA/New York"};
    app.url_schemes = {"example://"};
    app.campaign_ids = "c1";
    ev.app_data = app;
    capi::CustomData cd;
    cd.value = 0.5;
    cd.currency = "eur";
    cd.net_revenue = 0.25;
    cd.predicted_ltv = 12;
    cd.num_items = 3;
    cd.order_id = "o1";
    cd.status = "done";
    cd.search_string = "shoes";
    cd.item_number = "i1";
    cd.delivery_category = capi::DeliveryCategory::curbside;
    capi::Content item;
    item.id = "p1";
    item.quantity = 2;
    item.item_price = 9.99;
    item.title = "t";
    item.description = "d";
    item.brand = "b";
    item.category = "c";
    item.delivery_category = capi::DeliveryCategory::home_delivery;
    cd.contents = {item};
    cd.custom_properties = {{"color", "\"red\""}, {"sizes", "[1,2]"}};
    ev.custom_data = cd;
    ev.original_event_data = capi::OriginalEventData{"Purchase", now_s - 200, "o0", "e0", {}};
    capi::AttributionData ad;
    ad.scope = "click";
    ad.visit_time = now_s - 300;
    ad.ad_id = "ad";
    ad.attribution_share = 0.3;
    ad.attribution_method = "srn";
    ad.attribution_setting = capi::AttributionSetting{24, 48};
    ev.attribution_data = ad;
    ev.extra = {{"new_meta_field", "{\"x\":[true,null]}"}};

    capi::BatchEncoder enc;
    auto r = enc.add(ev, now);
    INFO((r.errors.empty() ? "" : r.errors[0].path + ": " + r.errors[0].reason));
    REQUIRE(r.status == capi::EncodeStatus::added);
    const std::string first(enc.json_body());

    Parsed p(first);
    auto e = p.event(0);
    CHECK(str(e["messaging_channel"]) == "whatsapp");
    CHECK(strings(e["data_processing_options"]) == std::vector<std::string>{"LDU"});
    CHECK(i64(e["data_processing_options_state"]) == 1000);
    CHECK(str(e["user_data"]["whatsapp_business_account_id"]) == "wa-1");
    CHECK(strings(e["app_data"]["extinfo"]).size() == 16);
    CHECK(str(e["custom_data"]["color"]) == "red");
    CHECK(str(e["custom_data"]["contents"].at(0)["delivery_category"]) == "home_delivery");
    CHECK(i64(e["attribution_data"]["attribution_setting"]["reattribution_window_hours"]) == 48);
    CHECK(boolean(e["new_meta_field"]["x"].at(0)) == true);

    // Read the written event back and encode it again: the same bytes.
    capi::ReaderOptions ro;
    ro.pass_unknown_keys = true;
    capi::EventReader reader(ro);
    capi::Event back;
    capi::FieldError err;
    simdjson::dom::element el = p.event(0);
    const std::string one = simdjson::minify(el);
    INFO(err.path + ": " + err.reason);
    REQUIRE(reader.parse(one, back, err));
    capi::BatchEncoder again;
    REQUIRE(again.add(back, now).status == capi::EncodeStatus::added);
    CHECK(std::string(again.json_body()) == first);
}

TEST_CASE("data_processing_options empty is sent as an explicit []", "[encoder]") {
    auto ev = purchase();
    ev.data_processing_options = std::vector<std::string>{};
    capi::BatchEncoder enc;
    REQUIRE(enc.add(ev, now).status == capi::EncodeStatus::added);
    CHECK(std::string(enc.json_body()).find("\"data_processing_options\":[]") != std::string::npos);
}

TEST_CASE("deferred hashing survives rollbacks and bodies taken mid-batch", "[encoder]") {
    capi::BatchEncoder enc;
    auto with_email = [](std::string em) {
        auto ev = purchase();
        ev.user_data.em = {std::move(em)};
        ev.user_data.ph.clear();
        return ev;
    };
    REQUIRE(enc.add(with_email("a@example.com"), now).status == capi::EncodeStatus::added);

    // Fails after its PII was normalized and its holes were written.
    auto huge = with_email("huge@example.com");
    huge.custom_data->content_name = std::string(70 * 1024, 'x');
    REQUIRE(enc.add(huge, now).status == capi::EncodeStatus::invalid);
    // Fails in normalization (reject_event would be needed to fail here; with
    // drop_value it is the all-dropped rule): PII of a failed event never lands.
    capi::Event none = with_email("not an email");
    none.user_data.client_user_agent.reset();
    none.user_data.client_ip_address.reset();
    none.user_data.fbc.reset();
    none.user_data.fbp.reset();
    none.action_source = capi::ActionSource::email;
    REQUIRE(enc.add(none, now).status == capi::EncodeStatus::invalid);

    REQUIRE(enc.add(with_email("b@example.com"), now).status == capi::EncodeStatus::added);
    {
        Parsed p(enc.json_body());
        CHECK(strings(p.event(0)["user_data"]["em"]) == std::vector<std::string>{openssl_hex("a@example.com")});
        CHECK(strings(p.event(1)["user_data"]["em"]) == std::vector<std::string>{openssl_hex("b@example.com")});
    }
    // More events after a body was taken: old digests stay, new ones are filled,
    // whichever body is asked for first.
    auto email = [](int i) {
        std::string e = "c";
        e += std::to_string(i);
        e += "@example.com";
        return e;
    };
    for (int i = 0; i < 50; ++i)
        REQUIRE(enc.add(with_email(email(i)), now).status == capi::EncodeStatus::added);
    const std::string form(enc.form_body());
    CHECK(form.find(openssl_hex(email(49))) != std::string::npos);
    Parsed p(enc.json_body());
    REQUIRE(count(p.root["data"]) == 52);
    CHECK(strings(p.event(0)["user_data"]["em"]) == std::vector<std::string>{openssl_hex("a@example.com")});
    CHECK(strings(p.event(1)["user_data"]["em"]) == std::vector<std::string>{openssl_hex("b@example.com")});
    for (int i = 0; i < 50; ++i)
        CHECK(strings(p.event(static_cast<std::size_t>(i) + 2)["user_data"]["em"]) ==
              std::vector<std::string>{openssl_hex(email(i))});
    CHECK(std::string(enc.json_body()).find("0000000000000000000000000000000000000000000000000000000000000000") ==
          std::string::npos);
}

TEST_CASE("prepared events build the same body as add(), hashed in one pass", "[encoder]") {
    // A mix: hashed multi-values with duplicates and a dropped value, hashed
    // singles, raw external_id, non-hashed keys, an event without hashed values.
    std::vector<capi::Event> events;
    for (int i = 0; i < 40; ++i) {
        auto ev = purchase();
        // Built piecewise: g++ 12 warns falsely on "x" + std::to_string(i) + "y".
        const std::string n = std::to_string(i);
        ev.event_id = std::string("p").append(n);
        ev.user_data.em = {std::string("  User").append(n).append("@Example.com"),
                           std::string("user").append(n).append("@example.com"), "not an email"};
        ev.user_data.fn = {"Zoë"};
        ev.user_data.ct = {"San José"};
        ev.user_data.dobd = "7";
        ev.user_data.external_id = {std::string("cust-").append(n)};
        if (i % 7 == 3) {  // no hashed value at all
            ev.user_data.em.clear();
            ev.user_data.ph.clear();
            ev.user_data.fn.clear();
            ev.user_data.ct.clear();
            ev.user_data.dobd.reset();
        }
        events.push_back(std::move(ev));
    }
    for (bool hash_external_id : {false, true}) {
        capi::EncodeOptions o;
        o.hash_external_id = hash_external_id;
        capi::BatchEncoder direct(o), batch(o), staging(o);
        // The staging encoder holds a batch of its own: prepare must not disturb it.
        REQUIRE(staging.add(purchase(), now).status == capi::EncodeStatus::added);
        const std::string staged_before(staging.json_body());
        for (const auto& ev : events) {
            auto a = direct.add(ev, now);
            REQUIRE(a.status == capi::EncodeStatus::added);
            capi::detail::PreparedEvent p;
            auto r = batch_access::prepare(staging, ev, now, p);
            REQUIRE(r.status == capi::EncodeStatus::added);
            CHECK(r.dropped.size() == a.dropped.size());  // the invalid email, reported at prepare
            CHECK(!p.empty());
            CHECK(p.json_with_holes().front() == '{');
            REQUIRE(batch_access::add_prepared(batch, p, now).status == capi::EncodeStatus::added);
        }
        CHECK(std::string(staging.json_body()) == staged_before);
        CHECK(staging.size() == 1);
        CHECK(batch.size() == direct.size());
        CHECK(std::string(batch.json_body({}, "tok")) == std::string(direct.json_body({}, "tok")));
        // Spot check: the digest in the body is OpenSSL's of the normalized email.
        Parsed parsed(batch.json_body());
        CHECK(strings(parsed.event(0)["user_data"]["em"]).front() == openssl_hex("user0@example.com"));
    }
}

TEST_CASE("prepare reports invalid events; add_prepared re-checks the window and the cap", "[encoder]") {
    capi::BatchEncoder enc;
    capi::detail::PreparedEvent p;
    auto bad = purchase();
    bad.event_name.clear();
    auto r = batch_access::prepare(enc, bad, now, p);
    CHECK(r.status == capi::EncodeStatus::invalid);
    CHECK(!r.errors.empty());
    CHECK(p.empty());
    CHECK(enc.empty());

    REQUIRE(batch_access::prepare(enc, purchase(), now, p).status == capi::EncodeStatus::added);
    // Eight days later the event is past Meta's 7-day window.
    auto late = batch_access::add_prepared(enc, p, now + std::chrono::hours(24 * 8));
    CHECK(late.status == capi::EncodeStatus::invalid);
    REQUIRE(late.errors.size() == 1);
    CHECK(late.errors[0].path == "event_time");
    CHECK(enc.empty());

    capi::EncodeOptions o;
    o.max_batch_events = 2;
    capi::BatchEncoder small(o);
    CHECK(batch_access::add_prepared(small, p, now).status == capi::EncodeStatus::added);
    CHECK(batch_access::add_prepared(small, p, now).status == capi::EncodeStatus::added);
    CHECK(batch_access::add_prepared(small, p, now).status == capi::EncodeStatus::batch_full);
    // A full batch can still prepare (it is only used as scratch).
    capi::detail::PreparedEvent q;
    CHECK(batch_access::prepare(small, purchase(), now, q).status == capi::EncodeStatus::added);
    CHECK(small.size() == 2);
    capi::BatchEncoder fresh;
    CHECK(batch_access::add_prepared(fresh, capi::detail::PreparedEvent{}, now).status == capi::EncodeStatus::invalid);
}

namespace {
// Many hashed values (and so many holes): the pending list grows mid-event.
capi::Event many_hashed(int i) {
    auto ev = purchase();
    const std::string n = std::to_string(i);
    ev.event_id = std::string("many-").append(n);
    for (int k = 0; k < 5; ++k)
        ev.user_data.em.push_back(std::string("user").append(n).append(".").append(std::to_string(k)).append(
            "@example.com"));
    ev.user_data.fn = {"Zoë"};
    ev.user_data.ln = {"García"};
    ev.user_data.ct = {"San José"};
    ev.user_data.st = {"CA"};
    ev.user_data.zp = {"94025"};
    ev.user_data.country = {"US"};
    ev.user_data.dobd = "7";
    return ev;
}

// No customer information left once the invalid email is dropped: fails after
// the event was written.
capi::Event nothing_left() {
    auto ev = purchase();
    ev.user_data.em = {"not an email"};
    ev.user_data.ph.clear();
    ev.user_data.client_user_agent.reset();
    ev.user_data.client_ip_address.reset();
    ev.user_data.fbc.reset();
    ev.user_data.fbp.reset();
    ev.action_source = capi::ActionSource::email;
    return ev;
}
} // namespace

TEST_CASE("a PreparedEvent keeps its buffer across prepares, larger and smaller events alike", "[encoder]") {
    auto big = many_hashed(1);
    big.custom_data->content_name = std::string(3000, 'n');
    auto small = purchase();
    small.event_id = "small";
    capi::BatchEncoder direct, batch, staging;
    capi::detail::PreparedEvent p;  // big first: then everything fits
    capi::detail::PreparedEvent q;  // small first: grows once, for the big one
    for (const capi::Event* ev : {&big, &small, &big, &small}) {
        const auto cap = p.capacity();
        const char* data = p.json_with_holes().data();
        REQUIRE(batch_access::prepare(staging, *ev, now, p).status == capi::EncodeStatus::added);
        if (cap != 0) {
            CHECK(p.capacity() == cap);  // neither shrunk nor reallocated
            CHECK(p.json_with_holes().data() == data);
        }
        REQUIRE(direct.add(*ev, now).status == capi::EncodeStatus::added);
        REQUIRE(batch_access::add_prepared(batch, p, now).status == capi::EncodeStatus::added);
    }
    for (const capi::Event* ev : {&small, &big, &small}) {
        REQUIRE(batch_access::prepare(staging, *ev, now, q).status == capi::EncodeStatus::added);
        REQUIRE(direct.add(*ev, now).status == capi::EncodeStatus::added);
        REQUIRE(batch_access::add_prepared(batch, q, now).status == capi::EncodeStatus::added);
    }
    CHECK(q.capacity() >= big.custom_data->content_name->size());
    CHECK(staging.empty());
    CHECK(std::string(batch.json_body({}, "tok")) == std::string(direct.json_body({}, "tok")));

    // Copies hold the same event in their own buffer; moved-from ones are empty.
    capi::detail::PreparedEvent copy(q);
    CHECK(copy.json_with_holes() == q.json_with_holes());
    CHECK(copy.json_with_holes().data() != q.json_with_holes().data());
    capi::detail::PreparedEvent moved(std::move(copy));
    CHECK(copy.empty());
    CHECK(copy.capacity() == 0);
    copy = p;  // p holds small, as q does
    capi::BatchEncoder from_copies, from_originals;
    for (const auto* e : {&moved, &copy}) REQUIRE(batch_access::add_prepared(from_copies, *e, now).status == capi::EncodeStatus::added);
    for (const auto* e : {&q, &p}) REQUIRE(batch_access::add_prepared(from_originals, *e, now).status == capi::EncodeStatus::added);
    CHECK(std::string(from_copies.json_body()) == std::string(from_originals.json_body()));
    p = std::move(moved);
    CHECK(moved.empty());
    CHECK(p.json_with_holes() == q.json_with_holes());
}

TEST_CASE("prepare on a batch in progress leaves it as it was, digests pending or filled", "[encoder]") {
    capi::BatchEncoder enc, twin;
    for (int i = 0; i < 3; ++i) {
        REQUIRE(enc.add(many_hashed(i), now).status == capi::EncodeStatus::added);
        REQUIRE(twin.add(many_hashed(i), now).status == capi::EncodeStatus::added);
    }
    capi::BatchEncoder scratch;
    for (int round = 0; round < 2; ++round) {  // digests pending, then filled (a body's tail after the events)
        const auto ev = many_hashed(10 + round);
        capi::detail::PreparedEvent p, expected;
        REQUIRE(batch_access::prepare(enc, ev, now, p, "id-if-absent").status == capi::EncodeStatus::added);
        REQUIRE(batch_access::prepare(scratch, ev, now, expected, "id-if-absent").status == capi::EncodeStatus::added);
        CHECK(p.json_with_holes() == expected.json_with_holes());
        CHECK(enc.size() == twin.size());
        CHECK(enc.data_bytes() == twin.data_bytes());
        // The batch goes on as if nothing happened, prepared events included.
        REQUIRE(enc.add(many_hashed(20 + round), now).status == capi::EncodeStatus::added);
        REQUIRE(twin.add(many_hashed(20 + round), now).status == capi::EncodeStatus::added);
        REQUIRE(batch_access::add_prepared(enc, p, now).status == capi::EncodeStatus::added);
        REQUIRE(twin.add(ev, now).status == capi::EncodeStatus::added);
        CHECK(std::string(enc.json_body({}, "tok")) == std::string(twin.json_body({}, "tok")));
    }
}

TEST_CASE("a failed prepare leaves out empty with its buffer, and the encoder usable", "[encoder]") {
    capi::BatchEncoder staging, batch, direct;
    REQUIRE(staging.add(purchase(), now).status == capi::EncodeStatus::added);
    const std::string staged(staging.json_body());
    capi::detail::PreparedEvent p;
    REQUIRE(batch_access::prepare(staging, many_hashed(0), now, p).status == capi::EncodeStatus::added);
    const auto cap = p.capacity();
    const char* data = p.json_with_holes().data();

    auto unnamed = purchase();  // fails validation, before anything is written
    unnamed.event_name.clear();
    auto huge = purchase();     // over the byte cap
    huge.custom_data->content_name = std::string(70 * 1024, 'x');
    const capi::Event bad[] = {unnamed, nothing_left(), huge};
    for (const auto& ev : bad) {
        auto r = batch_access::prepare(staging, ev, now, p);
        CHECK(r.status == capi::EncodeStatus::invalid);
        CHECK(!r.errors.empty());
        CHECK(p.empty());
        CHECK(p.json_with_holes().empty());
        CHECK(batch_access::add_prepared(batch, p, now).status == capi::EncodeStatus::invalid);
        CHECK(staging.size() == 1);
        if (&ev != &bad[2]) {  // the huge one may have grown it
            CHECK(p.capacity() == cap);
            CHECK(p.json_with_holes().data() == data);
        }
        // Usable straight after.
        REQUIRE(batch_access::prepare(staging, many_hashed(1), now, p).status == capi::EncodeStatus::added);
        REQUIRE(batch_access::add_prepared(batch, p, now).status == capi::EncodeStatus::added);
        REQUIRE(direct.add(many_hashed(1), now).status == capi::EncodeStatus::added);
    }
    CHECK(std::string(staging.json_body()) == staged);
    CHECK(std::string(batch.json_body()) == std::string(direct.json_body()));
}

TEST_CASE("an allocation failing anywhere in add() or prepare() leaves the batch as it was", "[encoder]") {
    // The n-th allocation of the call fails, for every n until the call makes
    // fewer: each time the batch (with digests pending, so a stale hole would
    // show) goes on to a body byte-identical to its twin's.
    for (bool prepare : {false, true}) {
        std::size_t n = 0;
        for (bool threw = true; threw; ++n) {
            REQUIRE(n < 200);
            capi::BatchEncoder enc, twin;
            REQUIRE(enc.add(many_hashed(0), now).status == capi::EncodeStatus::added);
            REQUIRE(twin.add(many_hashed(0), now).status == capi::EncodeStatus::added);
            capi::detail::PreparedEvent p;
            const auto ev = many_hashed(1);
            capi::EncodeStatus status{};
            threw = false;
            try {
                // Catch would report the exception itself: called outside REQUIRE.
                FailAllocation fail(n);
                status = prepare ? batch_access::prepare(enc, ev, now, p).status : enc.add(ev, now).status;
            } catch (const std::bad_alloc&) {
                threw = true;
            }
            INFO("allocation " << n << (threw ? " failed" : " not reached"));
            if (!threw) REQUIRE(status == capi::EncodeStatus::added);
            if (threw) {
                CHECK(enc.size() == 1);
                CHECK(p.empty());
                if (prepare) {  // usable afterwards
                    REQUIRE(batch_access::prepare(enc, many_hashed(1), now, p).status == capi::EncodeStatus::added);
                    REQUIRE(enc.size() == 1);
                }
            }
            if (prepare) {
                REQUIRE(batch_access::add_prepared(enc, p, now).status == capi::EncodeStatus::added);
            } else if (threw) {
                REQUIRE(enc.add(many_hashed(1), now).status == capi::EncodeStatus::added);
            }
            REQUIRE(twin.add(many_hashed(1), now).status == capi::EncodeStatus::added);
            REQUIRE(enc.add(many_hashed(2), now).status == capi::EncodeStatus::added);
            REQUIRE(twin.add(many_hashed(2), now).status == capi::EncodeStatus::added);
            CHECK(std::string(enc.json_body()) == std::string(twin.json_body()));
        }
        CHECK(n > 1);  // some allocation did fail
    }
}

// A batch hashes its pending values in waves as it grows (a few hundred at a
// time, a multiple of 16, the rest kept for the next wave): every event must
// come out as it does alone, whatever was added, rolled back or taken between
// two waves, and an allocation failing in a wave must leave the batch as it was.
TEST_CASE("a batch hashed in waves as it grows: each event's bytes as alone, through rollbacks and failures",
          "[encoder]") {
    auto event = [](int i) {
        auto ev = many_hashed(i);
        ev.user_data.em.resize(static_cast<std::size_t>(i % 5 + 1));  // 9 to 13 hashed values
        if (i % 4 == 1) ev.user_data.ph.clear();
        if (i % 6 == 2) ev.user_data.em.push_back(ev.user_data.em.front());  // a duplicate, sent once
        return ev;
    };
    capi::BatchEncoder enc, staging;
    std::vector<std::string> alone;
    std::string taken;
    for (int i = 0; i < 300; ++i) {
        const auto ev = event(i);
        {
            capi::BatchEncoder one;
            REQUIRE(one.add(ev, now).status == capi::EncodeStatus::added);
            alone.emplace_back(batch_access::event_json(one, 0));
        }
        if (i % 3 == 0) {
            capi::detail::PreparedEvent p;
            REQUIRE(batch_access::prepare(staging, ev, now, p).status == capi::EncodeStatus::added);
            REQUIRE(batch_access::add_prepared(enc, p, now).status == capi::EncodeStatus::added);
        } else {
            REQUIRE(enc.add(ev, now).status == capi::EncodeStatus::added);
        }
        if (i % 37 == 5) REQUIRE(enc.add(nothing_left(), now).status == capi::EncodeStatus::invalid);
        if (i == 150) taken = std::string(enc.json_body());  // mid-batch: holes all filled
    }
    REQUIRE(enc.size() == alone.size());
    for (std::size_t i = 0; i < alone.size(); ++i) {
        INFO("event " << i);
        REQUIRE(std::string(batch_access::event_json(enc, i)) == alone[i]);
    }
    const std::string body(enc.json_body());
    CHECK(body.find("0000000000000000000000000000000000000000000000000000000000000000") == std::string::npos);
    CHECK(taken.find("0000000000000000000000000000000000000000000000000000000000000000") == std::string::npos);
    CHECK(body.compare(0, taken.size() - 2, taken, 0, taken.size() - 2) == 0);  // all but "]}"

    // 19 of these events hold more pending values than a wave (14 each): the
    // next add() or add_prepared() hashes the batch's first wave before it
    // changes anything, and its n-th allocation fails.
    for (bool prepare : {false, true}) {
        std::size_t n = 0;
        for (bool threw = true; threw; ++n) {
            REQUIRE(n < 200);
            capi::BatchEncoder batch, twin;
            for (int i = 0; i < 19; ++i) {
                REQUIRE(batch.add(many_hashed(i), now).status == capi::EncodeStatus::added);
                REQUIRE(twin.add(many_hashed(i), now).status == capi::EncodeStatus::added);
            }
            capi::detail::PreparedEvent p;
            REQUIRE(batch_access::prepare(staging, many_hashed(19), now, p).status == capi::EncodeStatus::added);
            capi::EncodeStatus status{};
            threw = false;
            try {
                FailAllocation fail(n);
                status = prepare ? batch_access::add_prepared(batch, p, now).status
                                 : batch.add(many_hashed(19), now).status;
            } catch (const std::bad_alloc&) {
                threw = true;
            }
            INFO("allocation " << n << (threw ? " failed" : " not reached"));
            if (!threw) REQUIRE(status == capi::EncodeStatus::added);
            if (threw) {
                REQUIRE(batch.size() == 19);
                REQUIRE(batch.add(many_hashed(19), now).status == capi::EncodeStatus::added);
            }
            REQUIRE(twin.add(many_hashed(19), now).status == capi::EncodeStatus::added);
            CHECK(std::string(batch.json_body()) == std::string(twin.json_body()));
        }
        CHECK(n > 1);  // some allocation did fail
    }
}

// The encoder checks an event in the same walk that normalizes and writes it,
// and leaves to validate() any event that walk cannot vouch for: whatever the
// event, add() must accept exactly what validate() accepts and report exactly
// its errors. One mutation per rule the fused walk checks, and the parts it
// leaves to validate().
TEST_CASE("add() accepts what validate() accepts and reports its errors, rule by rule", "[encoder]") {
    using Mutation = void (*)(capi::Event&);
    const Mutation mutations[] = {
        [](capi::Event&) {},
        [](capi::Event& e) { e.event_name.clear(); },
        [](capi::Event& e) { e.event_name = "Lead"; e.custom_data.reset(); },
        [](capi::Event& e) { e.event_name = "Le\xffLead"; },
        [](capi::Event& e) { e.event_time = 0; },
        [](capi::Event& e) { e.event_time = now_s - 9 * 86400; },
        [](capi::Event& e) { e.event_time = now_s + 3600; },
        [](capi::Event& e) { e.event_time = now_s * 1000; },
        [](capi::Event& e) { e.action_source = capi::ActionSource::unset; },
        [](capi::Event& e) { e.action_source = capi::ActionSource::app; },
        [](capi::Event& e) { e.action_source = capi::ActionSource::email; e.event_source_url.reset(); },
        [](capi::Event& e) { e.event_source_url.reset(); },
        [](capi::Event& e) { e.event_source_url = ""; },
        [](capi::Event& e) { e.event_source_url = "ftp://x.example"; },
        [](capi::Event& e) { e.event_source_url = "https://x.example/a b"; },
        [](capi::Event& e) { e.referrer_url = "https://"; },
        [](capi::Event& e) { e.referrer_url = "HTTPS://ok.example/"; },
        [](capi::Event& e) { e.event_id = "id\xc3"; },
        [](capi::Event& e) { e.event_id = "caf\xc3\xa9 \"quoted\" \\ \x01"; },
        [](capi::Event& e) { e.advanced_measurement_table = "\xed\xa0\x80"; },
        [](capi::Event& e) { e.data_processing_options = std::vector<std::string>{"LDU"}; },
        [](capi::Event& e) { e.data_processing_options = std::vector<std::string>{"ldu"}; },
        [](capi::Event& e) { e.data_processing_options = std::vector<std::string>{}; },
        [](capi::Event& e) { e.data_processing_options_country = -1; },
        [](capi::Event& e) { e.data_processing_options_state = -1; e.data_processing_options = std::vector<std::string>{"LDU"}; },
        [](capi::Event& e) { e.extra.push_back({"x_custom", "{\"a\":1}"}); },
        [](capi::Event& e) { e.extra.push_back({"x_custom", "{bad"}); },
        [](capi::Event& e) { e.user_data.client_user_agent.reset(); },
        [](capi::Event& e) { e.user_data.client_user_agent = "ua \xf0\x9f\x98\x80"; },
        [](capi::Event& e) { e.user_data.client_user_agent = "ua \xf0\x9f\x98"; },
        [](capi::Event& e) { e.user_data.client_ip_address = "1.2.3"; },
        [](capi::Event& e) { e.user_data.client_ip_address = "2001:db8::1"; },
        [](capi::Event& e) { e.user_data.client_ip_address = ""; },
        [](capi::Event& e) { e.user_data.fbc = "fb.1.x.abc"; },
        [](capi::Event& e) { e.user_data.fbp = "fb.1.123."; },
        [](capi::Event& e) { e.user_data.subscription_id = "sub\x80"; },
        [](capi::Event& e) { e.user_data.em = {"bad\xff@example.com"}; },
        [](capi::Event& e) { e.user_data.em = {"not-an-email"}; },
        [](capi::Event& e) { e.user_data.em = {"   "}; },
        [](capi::Event& e) { e.user_data.ph = {"call me"}; },
        [](capi::Event& e) { e.user_data.external_id = {"ext\xfe"}; },
        [](capi::Event& e) { e.user_data.f5first = "Jos\xc3"; },
        [](capi::Event& e) { e.user_data.dobd = "32"; },
        [](capi::Event& e) { e.user_data.extra.push_back({"x_pii", "\"v\""}); },
        [](capi::Event& e) {
            e.user_data = {};
            e.user_data.em = {"nope"};
            e.event_source_url.reset();
            e.action_source = capi::ActionSource::system_generated;
        },
        [](capi::Event& e) { e.user_data = {}; },
        [](capi::Event& e) { e.custom_data.reset(); },
        [](capi::Event& e) { e.custom_data->currency.reset(); },
        [](capi::Event& e) { e.custom_data->currency = "usd"; },
        [](capi::Event& e) { e.custom_data->currency = "XYZ"; },
        [](capi::Event& e) { e.custom_data->currency = "$"; },
        [](capi::Event& e) { e.custom_data->currency = "   "; },
        [](capi::Event& e) { e.custom_data->currency = "\xc3\xa9ur"; },
        [](capi::Event& e) { e.custom_data->value.reset(); },
        [](capi::Event& e) { e.custom_data->value = std::numeric_limits<double>::quiet_NaN(); },
        [](capi::Event& e) { e.custom_data->predicted_ltv = std::numeric_limits<double>::infinity(); },
        [](capi::Event& e) { e.custom_data->num_items = -2; },
        [](capi::Event& e) { e.custom_data->content_name = "n\xc0\xaf"; },
        [](capi::Event& e) { e.custom_data->content_ids = {"ok", "b\xff"}; },
        [](capi::Event& e) { e.custom_data->custom_properties.push_back({"color", "\"red\""}); },
        [](capi::Event& e) {
            capi::Content c;
            c.id = "sku";
            c.quantity = -1;
            e.custom_data->contents.push_back(c);
        },
        [](capi::Event& e) {
            capi::Content c;
            c.item_price = -std::numeric_limits<double>::infinity();
            e.custom_data->contents.push_back(c);
        },
        [](capi::Event& e) {
            capi::Content c;
            c.title = "t\xe2\x82";
            e.custom_data->contents.push_back(c);
        },
        [](capi::Event& e) {
            capi::Content c;
            c.extra.push_back({"k", "1"});
            e.custom_data->contents.push_back(c);
        },
        [](capi::Event& e) { e.app_data.emplace(); },
        [](capi::Event& e) { e.original_event_data.emplace(); },
        [](capi::Event& e) { e.attribution_data.emplace(); e.attribution_data->attribution_method = "nope"; },
    };
    for (const auto policy : {capi::InvalidPiiPolicy::drop_value, capi::InvalidPiiPolicy::reject_event}) {
        for (const std::size_t cap : {std::size_t{1} << 20, std::size_t{600}}) {
            capi::EncodeOptions o;
            o.invalid_pii = policy;
            o.validation.max_event_bytes = cap;
            for (std::size_t i = 0; i < std::size(mutations); ++i) {
                INFO("mutation " << i << ", cap " << cap << ", policy " << static_cast<int>(policy));
                capi::Event ev = purchase();
                ev.custom_data->currency = "USD";  // what the fused walk takes without validate()
                mutations[i](ev);
                const auto expected = capi::validate(ev, now, o.validation);
                capi::BatchEncoder enc(o);
                const auto r = enc.add(ev, now);
                if (!expected.empty()) {
                    CHECK(r.status == capi::EncodeStatus::invalid);
                    CHECK(r.errors == expected);
                }
                // prepare() takes the same walk.
                capi::detail::PreparedEvent pe;
                capi::BatchEncoder enc2(o);
                const auto rp = batch_access::prepare(enc2, ev, now, pe);
                CHECK(rp.status == r.status);
                CHECK(rp.errors == r.errors);
                CHECK(rp.dropped == r.dropped);
                if (r.status == capi::EncodeStatus::added) {
                    REQUIRE(batch_access::add_prepared(enc2, pe, now).status == capi::EncodeStatus::added);
                    CHECK(enc2.json_body() == enc.json_body());
                }
            }
        }
    }
}
