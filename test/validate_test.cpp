// Tests for capi::validate (lib/validate/validate.cpp).
#include <capi/validate.hpp>

#include <capi/clock.hpp>
#include <capi/event.hpp>

#include <catch2/catch.hpp>

#include "replace_new.hpp"

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <limits>
#include <new>
#include <string>
#include <string_view>
#include <vector>

// Counts heap allocations on this thread, to hold validate() to its promise of
// no allocation for a valid event.
namespace {
thread_local std::size_t allocation_count = 0;
} // namespace

void* test_malloc(std::size_t n) noexcept {
    ++allocation_count;
    return std::malloc(n == 0 ? 1 : n);
}

namespace {

using namespace std::chrono_literals;
using capi::ActionSource;
using capi::Event;
using capi::FieldError;
using capi::ValidationOptions;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

constexpr std::int64_t t0 = 1'700'000'000;  // 2023-11-14T22:13:20Z
constexpr std::int64_t day = 86'400;
// Sub-second part on purpose: validate() must floor `now` to whole seconds.
const std::chrono::system_clock::time_point now =
    std::chrono::system_clock::time_point(std::chrono::seconds(t0)) + 999ms;

const std::string bad_utf8 = "ok\xff";        // 0xFF never appears in UTF-8
const std::string overlong_utf8 = "\xc0\xaf";  // overlong '/'
const std::string surrogate_utf8 = "\xed\xa0\x80";  // U+D800

// A minimal valid website event.
Event website_event() {
    Event ev;
    ev.event_name = "ViewContent";
    ev.event_time = t0 - 60;
    ev.action_source = ActionSource::website;
    ev.event_source_url = "https://shop.example.com/p/42";
    ev.user_data.client_user_agent = "Mozilla/5.0 (X11; Linux x86_64)";
    ev.user_data.em = {"jane@example.com"};
    return ev;
}

// A minimal valid non-website event (no website-only requirements).
Event system_event() {
    Event ev;
    ev.event_name = "Lead";
    ev.event_time = t0 - 60;
    ev.action_source = ActionSource::system_generated;
    ev.user_data.external_id = {"crm-1"};
    return ev;
}

std::vector<std::string> extinfo16() {
    return {"a2", "com.example.app", "1.0", "1.0 long", "13.0", "Pixel 7", "en_US", "UTC",
            "Carrier", "1080", "2400", "2.75", "8", "128", "64", "Europe/Paris"};
}

Event app_event() {
    Event ev;
    ev.event_name = "AddToCart";
    ev.event_time = t0 - 60;
    ev.action_source = ActionSource::app;
    ev.user_data.madid = "38400000-8cf0-11bd-b23e-10b96e40000d";
    ev.app_data.emplace();
    ev.app_data->advertiser_tracking_enabled = true;
    ev.app_data->application_tracking_enabled = true;
    ev.app_data->extinfo = extinfo16();
    return ev;
}

// A complete, realistic Purchase touching every object of the model.
Event full_purchase() {
    Event ev;
    ev.event_name = "Purchase";
    ev.event_time = t0 - 3600;
    ev.event_id = "order-2023-0001";
    ev.event_source_url = "https://shop.example.com/checkout/thanks?o=0001";
    ev.referrer_url = "https://shop.example.com/checkout";
    ev.action_source = ActionSource::website;
    ev.opt_out = false;
    ev.data_processing_options = std::vector<std::string>{"LDU"};
    ev.data_processing_options_country = 1;
    ev.data_processing_options_state = 1000;

    auto& u = ev.user_data;
    u.em = {"Jane.Doe@Example.com", "jane@work.example"};
    u.ph = {"+1 (650) 555-0100"};
    u.fn = {"Jane"};
    u.ln = {"Doe"};
    u.ct = {"Menlo Park"};
    u.st = {"CA"};
    u.zp = {"94025"};
    u.country = {"us"};
    u.external_id = {"cust-0042"};
    u.client_ip_address = "2001:db8::42";
    u.client_user_agent = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) Safari/605.1.15";
    u.fbc = "fb.1.1554763741205.IwAR2F4-dbP0l7Mn1IawQQGCINEz7PYXQvwjNwB_qa2ofrHyiLjcbCRxTDMgE";
    u.fbp = "fb.1.1596403881668.1116446470";

    auto& cd = ev.custom_data.emplace();
    cd.value = 142.52;
    cd.currency = "USD";
    cd.net_revenue = 120.0;
    cd.content_type = "product";
    cd.content_ids = {"sku-1", "sku-2"};
    cd.order_id = "0001";
    cd.num_items = 3;
    cd.contents.resize(2);
    cd.contents[0].id = "sku-1";
    cd.contents[0].quantity = 2;
    cd.contents[0].item_price = 50.0;
    cd.contents[0].title = "Crème brûlée torch";
    cd.contents[0].delivery_category = capi::DeliveryCategory::home_delivery;
    cd.contents[1].id = "sku-2";
    cd.contents[1].quantity = 1;
    cd.contents[1].item_price = 42.52;
    cd.contents[1].extra = {{"color", "\"red\""}};
    cd.custom_properties = {{"coupon", "\"WINTER\""}, {"loyalty", "{\"tier\":2,\"points\":[1,2]}"}};

    ev.original_event_data.emplace();
    ev.original_event_data->event_name = "Purchase";
    ev.original_event_data->event_time = t0 - 7200;

    auto& ad = ev.attribution_data.emplace();
    ad.scope = "click";
    ad.ad_id = "1234";
    ad.attribution_share = 0.5;
    ad.attribution_method = "deeplink";

    ev.extra = {{"partner_flag", "true"}};
    return ev;
}

std::vector<std::string> paths_of(const std::vector<FieldError>& errors) {
    std::vector<std::string> out;
    for (const auto& e : errors) out.push_back(e.path);
    return out;
}

// Every error has a path and a reason; returns the paths.
std::vector<std::string> checked_paths(const std::vector<FieldError>& errors) {
    for (const auto& e : errors) {
        CAPTURE(e.path, e.reason);
        CHECK_FALSE(e.path.empty());
        CHECK_FALSE(e.reason.empty());
    }
    return paths_of(errors);
}

// The reason of the only error; fails unless exactly one error at `path`.
std::string only_error_at(const std::vector<FieldError>& errors, const std::string& path) {
    const auto paths = checked_paths(errors);
    CAPTURE(paths);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].path == path);
    return errors[0].reason;
}

struct Case {
    const char* name;
    std::function<void(Event&)> mutate;
    std::vector<std::string> paths;  // expected, in order; empty = valid
};

void run_cases(const std::vector<Case>& cases, const std::function<Event()>& make,
               const ValidationOptions& options = {}) {
    for (const auto& c : cases) {
        Event ev = make();
        c.mutate(ev);
        const auto errors = capi::validate(ev, now, options);
        INFO(c.name);
        for (const auto& e : errors) UNSCOPED_INFO(e.path << ": " << e.reason);
        CHECK(checked_paths(errors) == c.paths);
    }
}

} // namespace

TEST_CASE("valid events pass", "[validate]") {
    CHECK(capi::validate(website_event(), now).empty());
    CHECK(capi::validate(system_event(), now).empty());
    CHECK(capi::validate(app_event(), now).empty());
    const auto errors = capi::validate(full_purchase(), now);
    for (const auto& e : errors) UNSCOPED_INFO(e.path << ": " << e.reason);
    CHECK(errors.empty());
}

TEST_CASE("required fields", "[validate]") {
    run_cases(
        {
            {"no event_name", [](Event& e) { e.event_name.clear(); }, {"event_name"}},
            {"event_time zero", [](Event& e) { e.event_time = 0; }, {"event_time"}},
            {"event_time negative", [](Event& e) { e.event_time = -5; }, {"event_time"}},
            {"no action_source", [](Event& e) { e.action_source = ActionSource::unset; },
             {"action_source"}},
            {"website without url", [](Event& e) { e.event_source_url.reset(); },
             {"event_source_url"}},
            {"website with empty url", [](Event& e) { e.event_source_url = ""; },
             {"event_source_url"}},
            {"website without user agent", [](Event& e) { e.user_data.client_user_agent.reset(); },
             {"user_data.client_user_agent"}},
            {"website without both",
             [](Event& e) {
                 e.event_source_url.reset();
                 e.user_data.client_user_agent = "";
             },
             {"event_source_url", "user_data.client_user_agent"}},
            {"non-website without url or agent",
             [](Event& e) {
                 e.action_source = ActionSource::email;
                 e.event_source_url.reset();
                 e.user_data.client_user_agent.reset();
             },
             {}},
            {"no customer information",
             [](Event& e) {
                 e.user_data.em.clear();
                 e.action_source = ActionSource::chat;
                 e.user_data.client_user_agent.reset();
             },
             {"user_data"}},
            {"only empty customer information",
             [](Event& e) {
                 e.action_source = ActionSource::chat;
                 e.user_data.client_user_agent = "";
                 e.user_data.em = {"", ""};
                 e.user_data.fbp = "";
             },
             {"user_data"}},
        },
        website_event);

    SECTION("require_website_fields = false") {
        ValidationOptions options;
        options.require_website_fields = false;
        Event ev = website_event();
        ev.event_source_url.reset();
        ev.user_data.client_user_agent.reset();
        CHECK(capi::validate(ev, now, options).empty());
        ev.user_data.em.clear();
        CHECK(paths_of(capi::validate(ev, now, options)) == std::vector<std::string>{"user_data"});
    }
    SECTION("the customer-information message") {
        Event ev = system_event();
        ev.user_data.external_id.clear();
        CHECK_THAT(only_error_at(capi::validate(ev, now), "user_data"),
                   Contains("customer information"));
        CHECK_THAT(only_error_at(capi::validate(ev, now), "user_data"), Contains("at least one"));
    }
}

TEST_CASE("any one customer information parameter suffices", "[validate]") {
    using U = capi::UserData;
    const std::vector<std::pair<const char*, std::function<void(U&)>>> setters = {
        {"em", [](U& u) { u.em = {"a@b.c"}; }},
        {"ph", [](U& u) { u.ph = {"16505550100"}; }},
        {"fn", [](U& u) { u.fn = {"jane"}; }},
        {"ln", [](U& u) { u.ln = {"doe"}; }},
        {"ge", [](U& u) { u.ge = {"f"}; }},
        {"db", [](U& u) { u.db = {"19900101"}; }},
        {"ct", [](U& u) { u.ct = {"paris"}; }},
        {"st", [](U& u) { u.st = {"ca"}; }},
        {"zp", [](U& u) { u.zp = {"94025"}; }},
        {"country", [](U& u) { u.country = {"fr"}; }},
        {"external_id", [](U& u) { u.external_id = {"x"}; }},
        {"f5first", [](U& u) { u.f5first = "janed"; }},
        {"f5last", [](U& u) { u.f5last = "doeaa"; }},
        {"fi", [](U& u) { u.fi = "j"; }},
        {"dobd", [](U& u) { u.dobd = "01"; }},
        {"dobm", [](U& u) { u.dobm = "02"; }},
        {"doby", [](U& u) { u.doby = "1990"; }},
        {"client_ip_address", [](U& u) { u.client_ip_address = "192.0.2.1"; }},
        {"client_user_agent", [](U& u) { u.client_user_agent = "curl/8"; }},
        {"fbc", [](U& u) { u.fbc = "fb.1.1554763741205.AbCd"; }},
        {"fbp", [](U& u) { u.fbp = "fb.1.1596403881668.1116446470"; }},
        {"subscription_id", [](U& u) { u.subscription_id = "s"; }},
        {"fb_login_id", [](U& u) { u.fb_login_id = "1"; }},
        {"lead_id", [](U& u) { u.lead_id = "2"; }},
        {"anon_id", [](U& u) { u.anon_id = "3"; }},
        {"madid", [](U& u) { u.madid = "4"; }},
        {"page_id", [](U& u) { u.page_id = "5"; }},
        {"page_scoped_user_id", [](U& u) { u.page_scoped_user_id = "6"; }},
        {"ctwa_clid", [](U& u) { u.ctwa_clid = "7"; }},
        {"ig_account_id", [](U& u) { u.ig_account_id = "8"; }},
        {"ig_sid", [](U& u) { u.ig_sid = "9"; }},
    };
    CHECK(setters.size() == 31);
    for (const auto& [name, set] : setters) {
        INFO(name);
        Event ev = system_event();
        ev.user_data = {};
        REQUIRE(paths_of(capi::validate(ev, now)) == std::vector<std::string>{"user_data"});
        set(ev.user_data);
        CHECK(capi::validate(ev, now).empty());
    }
    SECTION("raw user_data members are not customer information") {
        Event ev = system_event();
        ev.user_data = {};
        ev.user_data.extra = {{"new_id", "\"x\""}};
        CHECK(paths_of(capi::validate(ev, now)) == std::vector<std::string>{"user_data"});
    }
}

TEST_CASE("app events need app_data, advertiser_tracking_enabled and a 16-value extinfo",
          "[validate]") {
    run_cases(
        {
            {"complete", [](Event&) {}, {}},
            {"no app_data", [](Event& e) { e.app_data.reset(); }, {"app_data"}},
            {"no advertiser_tracking_enabled",
             [](Event& e) { e.app_data->advertiser_tracking_enabled.reset(); },
             {"app_data.advertiser_tracking_enabled"}},
            {"advertiser_tracking_enabled false is a value",
             [](Event& e) { e.app_data->advertiser_tracking_enabled = false; }, {}},
            {"no extinfo", [](Event& e) { e.app_data->extinfo.clear(); }, {"app_data.extinfo"}},
            {"15 values", [](Event& e) { e.app_data->extinfo.pop_back(); }, {"app_data.extinfo"}},
            {"17 values", [](Event& e) { e.app_data->extinfo.push_back(""); },
             {"app_data.extinfo"}},
            {"16 empty placeholders",
             [](Event& e) { e.app_data->extinfo = std::vector<std::string>(16); }, {}},
            {"both missing",
             [](Event& e) {
                 e.app_data->extinfo.clear();
                 e.app_data->advertiser_tracking_enabled.reset();
             },
             {"app_data.advertiser_tracking_enabled", "app_data.extinfo"}},
            {"non-app event without app_data",
             [](Event& e) {
                 e.action_source = ActionSource::other;
                 e.app_data.reset();
             },
             {}},
            {"non-app event with partial app_data",
             [](Event& e) {
                 e.action_source = ActionSource::other;
                 e.app_data->extinfo.clear();
                 e.app_data->advertiser_tracking_enabled.reset();
             },
             {}},
            {"non-app event with a 3-value extinfo",
             [](Event& e) {
                 e.action_source = ActionSource::other;
                 e.app_data->extinfo.resize(3);
             },
             {"app_data.extinfo"}},
        },
        app_event);

    SECTION("the reason says how many values there are") {
        Event ev = app_event();
        ev.app_data->extinfo.resize(15);
        const auto reason = only_error_at(capi::validate(ev, now), "app_data.extinfo");
        CHECK_THAT(reason, Contains("16"));
        CHECK_THAT(reason, Contains("15"));
        ev.app_data->extinfo.resize(20);
        CHECK_THAT(only_error_at(capi::validate(ev, now), "app_data.extinfo"), Contains("20"));
    }
}

TEST_CASE("event_time window", "[validate][time]") {
    const auto at = [](ActionSource src, std::int64_t t, const ValidationOptions& o = {}) {
        Event ev = system_event();
        ev.action_source = src;
        ev.event_time = t;
        return capi::validate(ev, now, o);
    };

    SECTION("7 days for everything but physical_store") {
        for (const auto src : {ActionSource::system_generated, ActionSource::email,
                               ActionSource::app, ActionSource::other}) {
            INFO(static_cast<int>(src));
            const auto only_time = [&](std::int64_t t) {
                auto errors = at(src, t);
                std::erase_if(errors, [](const FieldError& e) { return e.path != "event_time"; });
                return errors;
            };
            CHECK(only_time(t0 - 7 * day).empty());
            CHECK(only_time(t0 - 7 * day + 1).empty());
            CHECK(only_time(t0 - 7 * day - 1).size() == 1);
        }
        CHECK(at(ActionSource::system_generated, t0 - 7 * day).empty());
        CHECK(at(ActionSource::system_generated, t0 - 7 * day + 1).empty());
        const auto reason =
            only_error_at(at(ActionSource::system_generated, t0 - 7 * day - 1), "event_time");
        CHECK_THAT(reason, Contains("older than 7 days"));
        CHECK_THAT(reason, Contains("system_generated"));
        // A physical_store-aged website event is still too old.
        CHECK(at(ActionSource::system_generated, t0 - 10 * day).size() == 1);
    }
    SECTION("website wording") {
        Event ev = website_event();
        ev.event_time = t0 - 8 * day;
        CHECK(only_error_at(capi::validate(ev, now), "event_time") ==
              "event_time is older than 7 days (the limit for website events)");
    }
    SECTION("62 days for physical_store") {
        CHECK(at(ActionSource::physical_store, t0 - 62 * day).empty());
        CHECK(at(ActionSource::physical_store, t0 - 62 * day + 1).empty());
        CHECK(at(ActionSource::physical_store, t0 - 10 * day).empty());
        const auto reason =
            only_error_at(at(ActionSource::physical_store, t0 - 62 * day - 1), "event_time");
        CHECK_THAT(reason, Contains("62 days"));
        CHECK_THAT(reason, Contains("physical_store"));
    }
    SECTION("future skew: +300 s accepted, +301 s rejected (now floored to seconds)") {
        CHECK(at(ActionSource::system_generated, t0).empty());
        CHECK(at(ActionSource::system_generated, t0 + 300).empty());
        const auto reason = only_error_at(at(ActionSource::system_generated, t0 + 301), "event_time");
        CHECK_THAT(reason, Contains("future by more than 300 s"));
        CHECK(at(ActionSource::physical_store, t0 + 301).size() == 1);
    }
    SECTION("milliseconds get a hint") {
        const auto reason =
            only_error_at(at(ActionSource::system_generated, (t0 - 60) * 1000), "event_time");
        CHECK_THAT(reason, Contains("milliseconds"));
    }
    SECTION("custom limits are honoured and named") {
        ValidationOptions o;
        o.max_age = 24h;
        o.physical_store_max_age = 90 * 24h;
        o.max_future_skew = 0s;
        CHECK(at(ActionSource::chat, t0 - day, o).empty());
        CHECK_THAT(only_error_at(at(ActionSource::chat, t0 - day - 1, o), "event_time"),
                   Contains("older than 1 day "));
        CHECK(at(ActionSource::physical_store, t0 - 90 * day, o).empty());
        CHECK_THAT(only_error_at(at(ActionSource::physical_store, t0 - 90 * day - 1, o),
                                 "event_time"),
                   Contains("90 days"));
        CHECK(at(ActionSource::chat, t0, o).empty());
        CHECK_THAT(only_error_at(at(ActionSource::chat, t0 + 1, o), "event_time"),
                   Contains("more than 0 s"));

        o.max_age = 90min;
        CHECK(at(ActionSource::chat, t0 - 5400, o).empty());
        CHECK_THAT(only_error_at(at(ActionSource::chat, t0 - 5401, o), "event_time"),
                   Contains("5400 s"));
        o.max_age = 2h;
        CHECK_THAT(only_error_at(at(ActionSource::chat, t0 - 7201, o), "event_time"),
                   Contains("2 hours"));
    }
    SECTION("absurd options saturate instead of overflowing") {
        ValidationOptions o;
        o.max_age = std::chrono::seconds(std::numeric_limits<std::int64_t>::max());
        o.max_future_skew = std::chrono::seconds(std::numeric_limits<std::int64_t>::max());
        CHECK(at(ActionSource::chat, 1, o).empty());
        CHECK(at(ActionSource::chat, std::numeric_limits<std::int64_t>::max(), o).empty());
    }
    SECTION("with a ManualClock") {
        capi::ManualClock clock{std::chrono::system_clock::time_point{std::chrono::seconds{t0}}};
        Event ev = system_event();
        ev.event_time = t0 - 7 * day;
        CHECK(capi::validate(ev, clock.now()).empty());
        clock.advance(999ms);
        CHECK(capi::validate(ev, clock.now()).empty());
        clock.advance(1ms);
        CHECK(paths_of(capi::validate(ev, clock.now())) == std::vector<std::string>{"event_time"});
    }
}

TEST_CASE("Purchase needs currency and value", "[validate]") {
    run_cases(
        {
            {"complete", [](Event&) {}, {}},
            {"no currency", [](Event& e) { e.custom_data->currency.reset(); },
             {"custom_data.currency"}},
            {"blank currency", [](Event& e) { e.custom_data->currency = "  "; },
             {"custom_data.currency"}},
            {"no value", [](Event& e) { e.custom_data->value.reset(); }, {"custom_data.value"}},
            {"no custom_data", [](Event& e) { e.custom_data.reset(); },
             {"custom_data.currency", "custom_data.value"}},
            {"zero value", [](Event& e) { e.custom_data->value = 0.0; }, {}},
            {"refund: negative value and net_revenue",
             [](Event& e) {
                 e.custom_data->value = -142.52;
                 e.custom_data->net_revenue = -120.0;
             },
             {}},
            {"other events need neither",
             [](Event& e) {
                 e.event_name = "AddToCart";
                 e.custom_data.reset();
             },
             {}},
            {"case-sensitive event name",
             [](Event& e) {
                 e.event_name = "purchase";
                 e.custom_data->value.reset();
             },
             {}},
        },
        full_purchase);
}

TEST_CASE("currency is normalized and must be ISO 4217", "[validate]") {
    const auto with_currency = [](const std::string& cur, const char* name = "AddToCart") {
        Event ev = system_event();
        ev.event_name = name;
        ev.custom_data.emplace();
        ev.custom_data->currency = cur;
        return capi::validate(ev, now);
    };
    for (const char* ok : {"USD", "usd", "Eur", " usd ", "\tJPY\n", "U.S.D", "gbp "}) {
        INFO(ok);
        CHECK(with_currency(ok).empty());
    }
    for (const char* bad : {"US Dollars", "XYZ", "us", "dollars", "usdd", "123", "$", "ABC"}) {
        INFO(bad);
        const auto reason = only_error_at(with_currency(bad), "custom_data.currency");
        CHECK_THAT(reason, Contains("ISO 4217"));
    }
    // Blank: omitted by the encoder, an error only where currency is required.
    CHECK(with_currency("").empty());
    CHECK(with_currency("   ").empty());
    const auto p = with_currency("", "Purchase");
    CHECK(paths_of(p) == std::vector<std::string>{"custom_data.currency", "custom_data.value"});
}

TEST_CASE("numbers must be finite; counts not negative", "[validate]") {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const double inf = std::numeric_limits<double>::infinity();
    run_cases(
        {
            {"value NaN", [=](Event& e) { e.custom_data->value = nan; }, {"custom_data.value"}},
            {"value +inf", [=](Event& e) { e.custom_data->value = inf; }, {"custom_data.value"}},
            {"net_revenue -inf", [=](Event& e) { e.custom_data->net_revenue = -inf; },
             {"custom_data.net_revenue"}},
            {"predicted_ltv NaN", [=](Event& e) { e.custom_data->predicted_ltv = nan; },
             {"custom_data.predicted_ltv"}},
            {"predicted_ltv finite", [=](Event& e) { e.custom_data->predicted_ltv = 1e300; }, {}},
            {"item_price NaN", [=](Event& e) { e.custom_data->contents[1].item_price = nan; },
             {"custom_data.contents[1].item_price"}},
            {"item_price negative is allowed",
             [=](Event& e) { e.custom_data->contents[1].item_price = -1.0; }, {}},
            {"attribution_share inf",
             [=](Event& e) { e.attribution_data->attribution_share = inf; },
             {"attribution_data.attribution_share"}},
            {"attribution_value NaN",
             [=](Event& e) { e.attribution_data->attribution_value = nan; },
             {"attribution_data.attribution_value"}},
            {"total_credit NaN", [=](Event& e) { e.attribution_data->total_credit = nan; },
             {"attribution_data.total_credit"}},
            {"quantity negative", [](Event& e) { e.custom_data->contents[1].quantity = -1; },
             {"custom_data.contents[1].quantity"}},
            {"quantity zero", [](Event& e) { e.custom_data->contents[0].quantity = 0; }, {}},
            {"num_items negative", [](Event& e) { e.custom_data->num_items = -3; },
             {"custom_data.num_items"}},
            {"num_items zero", [](Event& e) { e.custom_data->num_items = 0; }, {}},
        },
        full_purchase);

    Event ev = full_purchase();
    ev.custom_data->value = nan;
    CHECK(only_error_at(capi::validate(ev, now), "custom_data.value") == "must be a finite number");
}

TEST_CASE("every string must be valid UTF-8", "[validate][utf8]") {
    const std::string& b = bad_utf8;
    run_cases(
        {
            {"event_name", [&](Event& e) { e.event_name = b; }, {"event_name"}},
            {"event_id", [&](Event& e) { e.event_id = overlong_utf8; }, {"event_id"}},
            {"event_source_url", [&](Event& e) { e.event_source_url = "https://x.com/" + b; },
             {"event_source_url"}},
            {"referrer_url", [&](Event& e) { e.referrer_url = "https://x.com/" + b; },
             {"referrer_url"}},
            {"data_processing_options",
             [&](Event& e) { e.data_processing_options = std::vector<std::string>{"LDU", b}; },
             {"data_processing_options[1]", "data_processing_options[1]"}},
            {"advanced_measurement_table", [&](Event& e) { e.advanced_measurement_table = b; },
             {"advanced_measurement_table"}},
            {"user_data.em[1]", [&](Event& e) { e.user_data.em[1] = surrogate_utf8; },
             {"user_data.em[1]"}},
            {"user_data.ph[0]", [&](Event& e) { e.user_data.ph[0] = b; }, {"user_data.ph[0]"}},
            {"user_data.fn[0]", [&](Event& e) { e.user_data.fn[0] = b; }, {"user_data.fn[0]"}},
            {"user_data.ln[0]", [&](Event& e) { e.user_data.ln[0] = b; }, {"user_data.ln[0]"}},
            {"user_data.ge[0]", [&](Event& e) { e.user_data.ge = {b}; }, {"user_data.ge[0]"}},
            {"user_data.db[0]", [&](Event& e) { e.user_data.db = {b}; }, {"user_data.db[0]"}},
            {"user_data.ct[0]", [&](Event& e) { e.user_data.ct[0] = b; }, {"user_data.ct[0]"}},
            {"user_data.st[0]", [&](Event& e) { e.user_data.st[0] = b; }, {"user_data.st[0]"}},
            {"user_data.zp[0]", [&](Event& e) { e.user_data.zp[0] = b; }, {"user_data.zp[0]"}},
            {"user_data.country[0]", [&](Event& e) { e.user_data.country[0] = b; },
             {"user_data.country[0]"}},
            {"user_data.external_id[2]",
             [&](Event& e) { e.user_data.external_id = {"a", "b", b}; },
             {"user_data.external_id[2]"}},
            {"user_data.f5first", [&](Event& e) { e.user_data.f5first = b; },
             {"user_data.f5first"}},
            {"user_data.f5last", [&](Event& e) { e.user_data.f5last = b; }, {"user_data.f5last"}},
            {"user_data.fi", [&](Event& e) { e.user_data.fi = b; }, {"user_data.fi"}},
            {"user_data.dobd", [&](Event& e) { e.user_data.dobd = b; }, {"user_data.dobd"}},
            {"user_data.dobm", [&](Event& e) { e.user_data.dobm = b; }, {"user_data.dobm"}},
            {"user_data.doby", [&](Event& e) { e.user_data.doby = b; }, {"user_data.doby"}},
            {"user_data.client_user_agent", [&](Event& e) { e.user_data.client_user_agent = b; },
             {"user_data.client_user_agent"}},
            {"user_data.fbc (also malformed)", [&](Event& e) { e.user_data.fbc = b; },
             {"user_data.fbc", "user_data.fbc"}},
            {"user_data.fbp id part", [&](Event& e) { e.user_data.fbp = "fb.1.123." + b; },
             {"user_data.fbp"}},
            {"user_data.subscription_id", [&](Event& e) { e.user_data.subscription_id = b; },
             {"user_data.subscription_id"}},
            {"user_data.fb_login_id", [&](Event& e) { e.user_data.fb_login_id = b; },
             {"user_data.fb_login_id"}},
            {"user_data.lead_id", [&](Event& e) { e.user_data.lead_id = b; },
             {"user_data.lead_id"}},
            {"user_data.anon_id", [&](Event& e) { e.user_data.anon_id = b; },
             {"user_data.anon_id"}},
            {"user_data.madid", [&](Event& e) { e.user_data.madid = b; }, {"user_data.madid"}},
            {"user_data.page_id", [&](Event& e) { e.user_data.page_id = b; },
             {"user_data.page_id"}},
            {"user_data.page_scoped_user_id",
             [&](Event& e) { e.user_data.page_scoped_user_id = b; },
             {"user_data.page_scoped_user_id"}},
            {"user_data.ctwa_clid", [&](Event& e) { e.user_data.ctwa_clid = b; },
             {"user_data.ctwa_clid"}},
            {"user_data.ig_account_id", [&](Event& e) { e.user_data.ig_account_id = b; },
             {"user_data.ig_account_id"}},
            {"user_data.ig_sid", [&](Event& e) { e.user_data.ig_sid = b; }, {"user_data.ig_sid"}},
            {"custom_data.content_name", [&](Event& e) { e.custom_data->content_name = b; },
             {"custom_data.content_name"}},
            {"custom_data.content_category",
             [&](Event& e) { e.custom_data->content_category = b; },
             {"custom_data.content_category"}},
            {"custom_data.content_type", [&](Event& e) { e.custom_data->content_type = b; },
             {"custom_data.content_type"}},
            {"custom_data.order_id", [&](Event& e) { e.custom_data->order_id = b; },
             {"custom_data.order_id"}},
            {"custom_data.status", [&](Event& e) { e.custom_data->status = b; },
             {"custom_data.status"}},
            {"custom_data.search_string", [&](Event& e) { e.custom_data->search_string = b; },
             {"custom_data.search_string"}},
            {"custom_data.item_number", [&](Event& e) { e.custom_data->item_number = b; },
             {"custom_data.item_number"}},
            {"custom_data.content_ids[0]", [&](Event& e) { e.custom_data->content_ids[0] = b; },
             {"custom_data.content_ids[0]"}},
            {"custom_data.contents[1].id", [&](Event& e) { e.custom_data->contents[1].id = b; },
             {"custom_data.contents[1].id"}},
            {"custom_data.contents[3].title",
             [&](Event& e) {
                 e.custom_data->contents.resize(4);
                 e.custom_data->contents[3].title = b;
             },
             {"custom_data.contents[3].title"}},
            {"custom_data.contents[0].description",
             [&](Event& e) { e.custom_data->contents[0].description = b; },
             {"custom_data.contents[0].description"}},
            {"custom_data.contents[0].brand",
             [&](Event& e) { e.custom_data->contents[0].brand = b; },
             {"custom_data.contents[0].brand"}},
            {"custom_data.contents[0].category",
             [&](Event& e) { e.custom_data->contents[0].category = b; },
             {"custom_data.contents[0].category"}},
            {"original_event_data.event_name",
             [&](Event& e) { e.original_event_data->event_name = b; },
             {"original_event_data.event_name"}},
            {"original_event_data.order_id",
             [&](Event& e) { e.original_event_data->order_id = b; },
             {"original_event_data.order_id"}},
            {"original_event_data.event_id",
             [&](Event& e) { e.original_event_data->event_id = b; },
             {"original_event_data.event_id"}},
            {"attribution_data.scope", [&](Event& e) { e.attribution_data->scope = b; },
             {"attribution_data.scope"}},
            {"attribution_data.ad_id", [&](Event& e) { e.attribution_data->ad_id = b; },
             {"attribution_data.ad_id"}},
            {"attribution_data.adset_id", [&](Event& e) { e.attribution_data->adset_id = b; },
             {"attribution_data.adset_id"}},
            {"attribution_data.campaign_id",
             [&](Event& e) { e.attribution_data->campaign_id = b; },
             {"attribution_data.campaign_id"}},
            {"attribution_data.attribution_model",
             [&](Event& e) { e.attribution_data->attribution_model = b; },
             {"attribution_data.attribution_model"}},
            {"attribution_data.attribution_source",
             [&](Event& e) { e.attribution_data->attribution_source = b; },
             {"attribution_data.attribution_source"}},
            {"attribution_data.touchpoint_type",
             [&](Event& e) { e.attribution_data->touchpoint_type = b; },
             {"attribution_data.touchpoint_type"}},
            {"attribution_data.decline_reason",
             [&](Event& e) { e.attribution_data->decline_reason = b; },
             {"attribution_data.decline_reason"}},
            {"attribution_data.auditing_token",
             [&](Event& e) { e.attribution_data->auditing_token = b; },
             {"attribution_data.auditing_token"}},
            {"attribution_data.linkage_key",
             [&](Event& e) { e.attribution_data->linkage_key = b; },
             {"attribution_data.linkage_key"}},
            {"attribution_data.touchpoint_id",
             [&](Event& e) { e.attribution_data->touchpoint_id = b; },
             {"attribution_data.touchpoint_id"}},
            {"attribution_data.partner_client_id",
             [&](Event& e) { e.attribution_data->partner_client_id = b; },
             {"attribution_data.partner_client_id"}},
            {"custom_properties key",
             [&](Event& e) { e.custom_data->custom_properties.push_back({b, "1"}); },
             {"custom_data.custom_properties[2]"}},
            {"event extra key", [&](Event& e) { e.extra = {{b, "1"}}; }, {"extra[0]"}},
            {"content extra key",
             [&](Event& e) { e.custom_data->contents[1].extra.push_back({b, "1"}); },
             {"custom_data.contents[1].extra[1]"}},
            {"user_data extra key", [&](Event& e) { e.user_data.extra = {{"ok", "1"}, {b, "1"}}; },
             {"user_data.extra[1]"}},
            {"JSON text", [&](Event& e) { e.user_data.extra = {{"k", "\"" + b + "\""}}; },
             {"user_data.k"}},
        },
        full_purchase);

    SECTION("app_data strings") {
        run_cases(
            {
                {"extinfo[3]", [&](Event& e) { e.app_data->extinfo[3] = b; },
                 {"app_data.extinfo[3]"}},
                {"url_schemes[1]", [&](Event& e) { e.app_data->url_schemes = {"x://", b}; },
                 {"app_data.url_schemes[1]"}},
                {"campaign_ids", [&](Event& e) { e.app_data->campaign_ids = b; },
                 {"app_data.campaign_ids"}},
                {"install_referrer", [&](Event& e) { e.app_data->install_referrer = b; },
                 {"app_data.install_referrer"}},
                {"installer_package", [&](Event& e) { e.app_data->installer_package = b; },
                 {"app_data.installer_package"}},
                {"receipt_data", [&](Event& e) { e.app_data->receipt_data = b; },
                 {"app_data.receipt_data"}},
                {"windows_attribution_id",
                 [&](Event& e) { e.app_data->windows_attribution_id = b; },
                 {"app_data.windows_attribution_id"}},
                {"anon_id", [&](Event& e) { e.app_data->anon_id = b; }, {"app_data.anon_id"}},
                {"app_user_id", [&](Event& e) { e.app_data->app_user_id = b; },
                 {"app_data.app_user_id"}},
                {"extra key", [&](Event& e) { e.app_data->extra = {{b, "1"}}; },
                 {"app_data.extra[0]"}},
            },
            app_event);
    }
    SECTION("the reason") {
        Event ev = website_event();
        ev.user_data.em = {"a@b.c", b};
        CHECK(only_error_at(capi::validate(ev, now), "user_data.em[1]") == "invalid UTF-8");
    }
    SECTION("multi-byte text is fine") {
        Event ev = website_event();
        ev.event_name = "Réservation \xe2\x9c\x93 \xf0\x9f\x9b\x92";
        ev.user_data.fn = {"Zoë", "José", "山田"};
        CHECK(capi::validate(ev, now).empty());
    }
}

TEST_CASE("data_processing_options", "[validate]") {
    run_cases(
        {
            {"LDU", [](Event& e) { e.data_processing_options = std::vector<std::string>{"LDU"}; },
             {}},
            {"explicit opt-out []",
             [](Event& e) { e.data_processing_options = std::vector<std::string>{}; }, {}},
            {"lowercase ldu",
             [](Event& e) { e.data_processing_options = std::vector<std::string>{"ldu"}; },
             {"data_processing_options[0]"}},
            {"unknown second entry",
             [](Event& e) {
                 e.data_processing_options = std::vector<std::string>{"LDU", "GDPR"};
             },
             {"data_processing_options[1]"}},
            {"country 0 and state 0",
             [](Event& e) {
                 e.data_processing_options = std::vector<std::string>{"LDU"};
                 e.data_processing_options_country = 0;
                 e.data_processing_options_state = 0;
             },
             {}},
            {"country 1 and state 1000",
             [](Event& e) {
                 e.data_processing_options_country = 1;
                 e.data_processing_options_state = 1000;
             },
             {}},
            {"negative country", [](Event& e) { e.data_processing_options_country = -1; },
             {"data_processing_options_country"}},
            {"negative state", [](Event& e) { e.data_processing_options_state = -1000; },
             {"data_processing_options_state"}},
        },
        website_event);
    Event ev = website_event();
    ev.data_processing_options = std::vector<std::string>{"Ldu"};
    CHECK_THAT(only_error_at(capi::validate(ev, now), "data_processing_options[0]"),
               Contains("LDU"));
}

TEST_CASE("attribution_method is one of Meta's six", "[validate]") {
    for (const char* ok : {"ard", "deeplink", "gpir", "invalid_response", "mir", "srn"}) {
        Event ev = website_event();
        ev.attribution_data.emplace().attribution_method = ok;
        INFO(ok);
        CHECK(capi::validate(ev, now).empty());
    }
    for (const char* bad : {"ARD", "", "deep_link", "other", "srn "}) {
        Event ev = website_event();
        ev.attribution_data.emplace().attribution_method = bad;
        INFO(bad);
        CHECK_THAT(only_error_at(capi::validate(ev, now), "attribution_data.attribution_method"),
                   Contains("deeplink"));
    }
    Event ev = website_event();
    ev.attribution_data.emplace();  // unset method is fine
    CHECK(capi::validate(ev, now).empty());
}

TEST_CASE("event_source_url and referrer_url are absolute http(s) URLs", "[validate]") {
    const std::vector<std::string> good = {
        "https://shop.example.com",
        "http://example.com/x?y=1#z",
        "HTTPS://EXAMPLE.COM/A",
        "https://example.com:8443/p",
        "https://user@example.com/",
        "https://[2001:db8::1]/p",
    };
    const std::vector<std::string> bad = {
        "example.com",  "www.example.com/p", "ftp://example.com", "https://",
        "https:///path", "//example.com",    "/relative/path",    "https://exa mple.com",
        "javascript:alert(1)", "https:example.com", "http://?q", "https://example.com/a\tb",
        "mailto:a@b.c", " https://example.com",
    };
    for (const auto& url : good) {
        INFO(url);
        Event ev = website_event();
        ev.event_source_url = url;
        ev.referrer_url = url;
        CHECK(capi::validate(ev, now).empty());
    }
    for (const auto& url : bad) {
        INFO(url);
        Event ev = website_event();
        ev.event_source_url = url;
        CHECK(only_error_at(capi::validate(ev, now), "event_source_url") ==
              "must be an absolute http(s) URL");
        ev = website_event();
        ev.referrer_url = url;
        CHECK(only_error_at(capi::validate(ev, now), "referrer_url") ==
              "must be an absolute http(s) URL");
    }
}

TEST_CASE("client_ip_address is IPv4 or IPv6", "[validate]") {
    for (const char* ok : {"203.0.113.7", "0.0.0.0", "::1", "2001:db8::1", "::ffff:192.0.2.1",
                           "2001:0db8:0000:0000:0000:ff00:0042:8329", "FE80::1"}) {
        INFO(ok);
        Event ev = website_event();
        ev.user_data.client_ip_address = ok;
        CHECK(capi::validate(ev, now).empty());
    }
    const std::vector<std::string> bad = {
        "256.1.1.1",     "1.2.3",       "1.2.3.4.5",     "fe80::1%eth0", "localhost",
        " 1.2.3.4",      "1.2.3.4 ",    "1.2.3.4:80",    "[::1]",        "2001:db8::g",
        std::string("1.2.3.4\0junk", 12), std::string(100, '1'),
    };
    for (const auto& ip : bad) {
        INFO(ip);
        Event ev = website_event();
        ev.user_data.client_ip_address = ip;
        CHECK_THAT(only_error_at(capi::validate(ev, now), "user_data.client_ip_address"),
                   Contains("IP"));
    }
}

TEST_CASE("fbc and fbp look like fb.<digit>.<digits>.<id>", "[validate]") {
    const std::vector<std::string> good = {
        "fb.1.1554763741205.AbCdEfGhIjKlMnOp", "fb.0.1.x", "fb.2.1596403881668.1116446470",
        "fb.1.1554763741205.IwAR2F4-dbP0l7Mn1IawQQ.with.dots",
    };
    const std::vector<std::string> bad = {
        "fb.12.123.x", "fb.1.123.", "fb.1..x",  "FB.1.123.x", "fb.1.123", "fb.x.123.y",
        "fb.1.12a.x",  "1554763741205.abc", "fb..123.x", "fb.1.123x", "IwAR2F4",
    };
    for (const auto& v : good) {
        INFO(v);
        Event ev = website_event();
        ev.user_data.fbc = v;
        ev.user_data.fbp = v;
        CHECK(capi::validate(ev, now).empty());
    }
    for (const auto& v : bad) {
        INFO(v);
        Event ev = website_event();
        ev.user_data.fbc = v;
        CHECK_THAT(only_error_at(capi::validate(ev, now), "user_data.fbc"), Contains("fb."));
        ev = website_event();
        ev.user_data.fbp = v;
        CHECK_THAT(only_error_at(capi::validate(ev, now), "user_data.fbp"), Contains("fb."));
    }
}

TEST_CASE("raw members must be well-formed JSON", "[validate][raw]") {
    for (const char* ok : {"\"x\"", "42", "-0.5e3", "{\"a\":1}", "[1,2,{\"b\":null}]", " true ",
                           "null", "{}", "[]", "\"\xc3\xa9\"", "{\"a\":1,\"a\":2}"}) {
        INFO(ok);
        Event ev = full_purchase();
        ev.custom_data->custom_properties = {{"foo", ok}};
        CHECK(capi::validate(ev, now).empty());
    }
    for (const char* bad : {"", "  ", "{", "1 2", "{\"a\":1,}", "nul", "'x'", "x", "\"\xff\"",
                            "{\"a\" 1}", "[1,2]]", "{} x", "NaN"}) {
        INFO(bad);
        Event ev = full_purchase();
        ev.custom_data->custom_properties = {{"foo", bad}};
        CHECK_THAT(only_error_at(capi::validate(ev, now), "custom_data.foo"),
                   StartsWith("not well-formed JSON: "));
    }

    run_cases(
        {
            {"event extra", [](Event& e) { e.extra = {{"foo", "{"}}; }, {"foo"}},
            {"user_data extra", [](Event& e) { e.user_data.extra = {{"foo", "{"}}; },
             {"user_data.foo"}},
            {"content extra",
             [](Event& e) { e.custom_data->contents[1].extra.push_back({"foo", "{"}); },
             {"custom_data.contents[1].foo"}},
            {"original_event_data extra",
             [](Event& e) { e.original_event_data->extra = {{"foo", "{"}}; },
             {"original_event_data.foo"}},
            {"attribution_data extra",
             [](Event& e) { e.attribution_data->extra = {{"foo", "{"}}; },
             {"attribution_data.foo"}},
            {"app_data extra",
             [](Event& e) {
                 e.app_data.emplace();
                 e.app_data->extra = {{"foo", "{"}};
             },
             {"app_data.foo"}},
            {"two bad members, one good",
             [](Event& e) {
                 e.custom_data->custom_properties = {{"a", "["}, {"b", "1"}, {"c", "}"}};
             },
             {"custom_data.a", "custom_data.c"}},
        },
        full_purchase);

    SECTION("big values take the one-off parser") {
        Event ev = full_purchase();
        std::string big = "[";
        for (int i = 0; i < 300'000; ++i) big += "1234,";
        big += "0]";
        REQUIRE(big.size() > (1u << 20));
        capi::ValidationOptions big_cap;  // the default 64 KiB event cap would refuse it
        big_cap.max_event_bytes = 4u << 20;
        ev.custom_data->custom_properties = {{"big", big}};
        CHECK(capi::validate(ev, now, big_cap).empty());
        big.back() = ',';
        ev.custom_data->custom_properties = {{"big", big}};
        CHECK(paths_of(capi::validate(ev, now, big_cap)) == std::vector<std::string>{"custom_data.big"});
        // And the per-thread parser still works after growing.
        ev.custom_data->custom_properties = {{"small", "{\"x\":[1]}"}};
        CHECK(capi::validate(ev, now).empty());
    }
    SECTION("the per-thread buffer grows and shrinks with no stale bytes") {
        Event ev = full_purchase();
        ev.custom_data->custom_properties = {{"a", std::string(10'000, ' ') + "{\"x\":1}"},
                                             {"b", "1"},
                                             {"c", "[1"}};
        CHECK(paths_of(capi::validate(ev, now)) == std::vector<std::string>{"custom_data.c"});
    }
}

TEST_CASE("raw member keys: non-empty, unique, never a typed key", "[validate][raw]") {
    SECTION("empty key") {
        run_cases(
            {
                {"custom_properties",
                 [](Event& e) { e.custom_data->custom_properties.push_back({"", "1"}); },
                 {"custom_data.custom_properties[2]"}},
                {"event", [](Event& e) { e.extra = {{"", "1"}}; }, {"extra[0]"}},
                {"content", [](Event& e) { e.custom_data->contents[0].extra = {{"", "1"}}; },
                 {"custom_data.contents[0].extra[0]"}},
                {"empty key and bad JSON",
                 [](Event& e) { e.user_data.extra = {{"", "{"}}; },
                 {"user_data.extra[0]", "user_data.extra[0]"}},
            },
            full_purchase);
    }
    SECTION("repeated key") {
        Event ev = full_purchase();
        ev.custom_data->custom_properties = {{"foo", "1"}, {"bar", "2"}, {"foo", "3"}};
        const auto reason = only_error_at(capi::validate(ev, now), "custom_data.foo");
        CHECK_THAT(reason, Contains("repeats"));
        // Three times: one error per repeat.
        ev.custom_data->custom_properties.push_back({"foo", "4"});
        CHECK(paths_of(capi::validate(ev, now)) ==
              std::vector<std::string>{"custom_data.foo", "custom_data.foo"});
        // The same key in different objects is fine.
        ev = full_purchase();
        ev.extra = {{"foo", "1"}};
        ev.user_data.extra = {{"foo", "1"}};
        ev.custom_data->custom_properties = {{"foo", "1"}};
        CHECK(capi::validate(ev, now).empty());
    }

    // The typed keys, listed independently of the implementation.
    const std::vector<std::string> event_keys = {
        "event_name", "event_time", "event_id", "event_source_url", "referrer_url",
        "action_source", "opt_out", "messaging_channel", "data_processing_options",
        "data_processing_options_country", "data_processing_options_state",
        "advanced_measurement_table", "user_data", "custom_data", "app_data",
        "original_event_data", "attribution_data"};
    const std::vector<std::string> user_data_keys = {
        "em", "ph", "fn", "ln", "ge", "db", "ct", "st", "zp", "country", "external_id",
        "f5first", "f5last", "fi", "dobd", "dobm", "doby", "client_ip_address",
        "client_user_agent", "fbc", "fbp", "subscription_id", "fb_login_id", "lead_id",
        "anon_id", "madid", "page_id", "page_scoped_user_id", "ctwa_clid", "ig_account_id",
        "ig_sid"};
    const std::vector<std::string> content_keys = {
        "id", "quantity", "item_price", "title", "description", "brand", "category",
        "delivery_category"};
    const std::vector<std::string> custom_data_keys = {
        "value", "net_revenue", "predicted_ltv", "currency", "content_name",
        "content_category", "content_type", "order_id", "status", "search_string",
        "item_number", "content_ids", "contents", "num_items", "delivery_category"};
    const std::vector<std::string> app_data_keys = {
        "application_tracking_enabled", "advertiser_tracking_enabled", "consider_views",
        "include_dwell_data", "include_video_data", "campaign_ids", "install_referrer",
        "installer_package", "receipt_data", "windows_attribution_id", "anon_id",
        "app_user_id", "url_schemes", "extinfo"};
    const std::vector<std::string> original_event_data_keys = {"event_name", "event_time",
                                                               "order_id", "event_id"};
    const std::vector<std::string> attribution_data_keys = {
        "scope", "visit_time", "ad_id", "adset_id", "campaign_id", "attribution_share",
        "attribution_model", "attr_window", "attribution_value", "attribution_source",
        "touchpoint_type", "touchpoint_ts", "attribution_method", "decline_reason",
        "auditing_token", "linkage_key", "touchpoint_id", "attribution_setting",
        "total_credit", "partner_client_id"};

    struct Target {
        const char* object;
        const std::vector<std::string>* keys;
        std::function<capi::RawMembers&(Event&)> raw;
        std::string prefix;
    };
    const std::vector<Target> targets = {
        {"event", &event_keys, [](Event& e) -> capi::RawMembers& { return e.extra; }, ""},
        {"user_data", &user_data_keys,
         [](Event& e) -> capi::RawMembers& { return e.user_data.extra; }, "user_data."},
        {"contents[0]", &content_keys,
         [](Event& e) -> capi::RawMembers& { return e.custom_data->contents[0].extra; },
         "custom_data.contents[0]."},
        {"custom_data", &custom_data_keys,
         [](Event& e) -> capi::RawMembers& { return e.custom_data->custom_properties; },
         "custom_data."},
        {"app_data", &app_data_keys,
         [](Event& e) -> capi::RawMembers& {
             if (!e.app_data) e.app_data.emplace();
             return e.app_data->extra;
         },
         "app_data."},
        {"original_event_data", &original_event_data_keys,
         [](Event& e) -> capi::RawMembers& { return e.original_event_data->extra; },
         "original_event_data."},
        {"attribution_data", &attribution_data_keys,
         [](Event& e) -> capi::RawMembers& { return e.attribution_data->extra; },
         "attribution_data."},
    };
    for (const auto& t : targets) {
        for (const auto& key : *t.keys) {
            INFO(t.object << " key " << key);
            Event ev = full_purchase();
            t.raw(ev) = {{key, "1"}};
            CHECK(only_error_at(capi::validate(ev, now), t.prefix + key) ==
                  "overrides the typed field " + key);
        }
        // A key that is not typed here passes.
        INFO(t.object);
        Event ev = full_purchase();
        t.raw(ev) = {{"not_a_typed_key", "1"}};
        CHECK(capi::validate(ev, now).empty());
    }
    SECTION("typed keys of other objects are fine") {
        Event ev = full_purchase();
        ev.custom_data->custom_properties = {{"em", "1"}, {"event_name", "\"x\""}};
        ev.user_data.extra = {{"value", "1"}};
        CHECK(capi::validate(ev, now).empty());
    }
}

TEST_CASE("every error is reported at once, with exact paths", "[validate]") {
    Event ev;
    ev.custom_data.emplace();
    ev.custom_data->currency = "US Dollars";
    ev.custom_data->value = std::numeric_limits<double>::quiet_NaN();
    ev.custom_data->contents.resize(4);
    ev.custom_data->contents[3].quantity = -2;
    ev.custom_data->contents[3].title = bad_utf8;
    ev.custom_data->custom_properties = {{"value", "1"}, {"x", "{"}};
    ev.user_data.em = {"a@b.c", bad_utf8};  // still customer information
    ev.user_data.client_ip_address = "fe80::1%eth0";
    ev.referrer_url = "example.com";
    ev.data_processing_options = std::vector<std::string>{"ldu"};
    ev.extra = {{"event_name", "\"Purchase\""}};

    const auto errors = capi::validate(ev, now);
    for (const auto& e : errors) UNSCOPED_INFO(e.path << ": " << e.reason);
    CHECK(checked_paths(errors) == std::vector<std::string>{
                                       "event_name",
                                       "event_time",
                                       "action_source",
                                       "referrer_url",
                                       "data_processing_options[0]",
                                       "user_data.em[1]",
                                       "user_data.client_ip_address",
                                       "custom_data.value",
                                       "custom_data.currency",
                                       "custom_data.contents[3].title",
                                       "custom_data.contents[3].quantity",
                                       "custom_data.value",
                                       "custom_data.x",
                                       "event_name",
                                   });
    REQUIRE(errors.size() == 14);
    CHECK(errors[0].reason == "required");
    CHECK(errors[2].reason == "required");
    CHECK(errors[5].reason == "invalid UTF-8");
    CHECK(errors[7].reason == "must be a finite number");
    CHECK(errors[11].reason == "overrides the typed field value");
    CHECK_THAT(errors[12].reason, StartsWith("not well-formed JSON: "));
    CHECK(errors[13].reason == "overrides the typed field event_name");

    SECTION("the same event as an app Purchase without custom_data or app_data") {
        ev.event_name = "Purchase";
        ev.event_time = t0;
        ev.action_source = ActionSource::app;
        ev.custom_data.reset();
        ev.extra.clear();
        const auto more = capi::validate(ev, now);
        CHECK(checked_paths(more) == std::vector<std::string>{
                                         "referrer_url",
                                         "data_processing_options[0]",
                                         "user_data.em[1]",
                                         "user_data.client_ip_address",
                                         "custom_data.currency",
                                         "custom_data.value",
                                         "app_data",
                                     });
    }
}

TEST_CASE("an event whose verbatim text passes max_event_bytes is refused, naming the heaviest field",
          "[validate][size]") {
    capi::ValidationOptions options;
    options.max_event_bytes = 4096;
    SECTION("one value over the cap") {
        Event ev = full_purchase();
        ev.custom_data->content_name = std::string(5000, 'x');
        const auto reason = only_error_at(capi::validate(ev, now, options), "custom_data.content_name");
        CHECK(reason.find("too large") == 0);
        CHECK(reason.find("4096") != std::string::npos);
    }
    SECTION("several values of one list, none over the cap alone: the list is named") {
        Event ev = full_purchase();
        ev.custom_data->content_ids = {std::string(1500, 'a'), std::string(1600, 'b'), std::string(1500, 'c')};
        const auto reason = only_error_at(capi::validate(ev, now, options), "custom_data.content_ids");
        CHECK(reason.find("too large: 4600 bytes serialized in its 3 elements") == 0);
    }
    SECTION("many small contents: the list is named, not the longest single string") {
        Event ev = full_purchase();
        ev.event_source_url = "https://shop.example/" + std::string(300, 'p');
        ev.custom_data->contents.resize(500);
        for (auto& c : ev.custom_data->contents) c.id = "sku-123456";
        const auto reason = only_error_at(capi::validate(ev, now, options), "custom_data.contents");
        CHECK(reason.find("too large: ") == 0);
        CHECK(reason.find("in its 500 elements") != std::string::npos);
    }
    SECTION("one value heavier than any list: the value is named") {
        Event ev = full_purchase();
        ev.custom_data->content_ids = {std::string(1000, 'a'), std::string(1000, 'b')};
        ev.custom_data->content_name = std::string(3000, 'x');
        CHECK(only_error_at(capi::validate(ev, now, options), "custom_data.content_name").find("too large: 3000 bytes serialized here") == 0);
    }
    SECTION("many small raw members: the object's raw list is named") {
        Event ev = full_purchase();
        for (int i = 0; i < 600; ++i) ev.custom_data->custom_properties.push_back({"k" + std::to_string(i), "12345"});
        CHECK(only_error_at(capi::validate(ev, now, options), "custom_data.custom_properties").find("too large") == 0);
    }
    SECTION("escaping counts: control characters take 6 bytes each") {
        Event ev = full_purchase();
        ev.custom_data->search_string = std::string(1000, '\x01');  // 1000 raw, 6000 escaped
        CHECK(only_error_at(capi::validate(ev, now, options), "custom_data.search_string").find("too large") == 0);
    }
    SECTION("raw members count") {
        Event ev = full_purchase();
        ev.custom_data->custom_properties = {{"blob", "\"" + std::string(5000, 'y') + "\""}};
        CHECK(only_error_at(capi::validate(ev, now, options), "custom_data.blob").find("too large") == 0);
    }
    SECTION("hashed PII does not count: it is sent as 64 hex digits") {
        Event ev = full_purchase();
        ev.user_data.fn = {std::string(10'000, 'n')};
        ev.user_data.em = {std::string(10'000, 'e') + "@example.com"};
        CHECK(capi::validate(ev, now, options).empty());
    }
}

TEST_CASE("a valid event costs no heap allocation", "[validate][perf]") {
    const Event purchase = full_purchase();
    const Event app = app_event();
    // Warm up: the per-thread JSON parser and buffer are allocated once.
    REQUIRE(capi::validate(purchase, now).empty());
    REQUIRE(capi::validate(app, now).empty());

    const std::size_t before = allocation_count;
    for (int i = 0; i < 100; ++i) {
        const auto a = capi::validate(purchase, now);
        const auto b = capi::validate(app, now);
        if (!a.empty() || !b.empty()) break;
    }
    CHECK(allocation_count - before == 0);

    // An invalid event does allocate (its error report), which the counter sees.
    Event bad = purchase;
    bad.event_name.clear();
    const std::size_t before_bad = allocation_count;
    CHECK(capi::validate(bad, now).size() == 1);
    CHECK(allocation_count > before_bad);
}
