// The caller's path (include/capi/event.hpp: capi::assign, capi::refill): an
// Event kept by the caller and refilled for each event encodes to the same bytes
// as a freshly built one, allocates nothing once warm, and a field can go from
// set to unset and back.
#include <capi/encode.hpp>
#include <capi/event.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "replace_new.hpp"

namespace {

thread_local std::size_t allocations = 0;

} // namespace

void* test_malloc(std::size_t n) noexcept {
    ++allocations;
    return std::malloc(n == 0 ? 1 : n);
}

namespace {

// What a server holds for one order: views of its own strings. Optional parts
// are absent when empty / unset.
struct Order {
    std::string_view id, url, email, phone, first_name, ip, user_agent, currency;
    std::vector<std::string_view> external_ids;
    std::optional<double> value;
    std::vector<std::pair<std::string_view, std::int64_t>> items;
    std::optional<std::vector<std::string_view>> dpo;
    std::string_view name = "Purchase";
};

const std::int64_t now_s =
    std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();

// The way without the helpers: a fresh Event, every value a new string.
capi::Event fresh(const Order& o) {
    capi::Event ev;
    ev.event_name = std::string(o.name);
    ev.event_time = now_s - 60;
    ev.action_source = o.url.empty() ? capi::ActionSource::system_generated : capi::ActionSource::website;
    ev.event_id = std::string(o.id);
    if (!o.url.empty()) ev.event_source_url = std::string(o.url);
    ev.user_data.em = {std::string(o.email)};
    if (!o.phone.empty()) ev.user_data.ph = {std::string(o.phone)};
    if (!o.first_name.empty()) ev.user_data.fn = {std::string(o.first_name)};
    for (auto x : o.external_ids) ev.user_data.external_id.emplace_back(x);
    ev.user_data.client_ip_address = std::string(o.ip);
    ev.user_data.client_user_agent = std::string(o.user_agent);
    if (o.value || !o.items.empty()) {
        capi::CustomData cd;
        cd.value = o.value;
        if (!o.currency.empty()) cd.currency = std::string(o.currency);
        for (auto [id, q] : o.items) {
            capi::Content c;
            c.id = std::string(id);
            c.quantity = q;
            cd.contents.push_back(std::move(c));
        }
        ev.custom_data = std::move(cd);
    }
    if (o.dpo) ev.data_processing_options = std::vector<std::string>(o.dpo->begin(), o.dpo->end());
    return ev;
}

// The caller's path: `ev` refilled, unsetting what this order lacks.
void refill(capi::Event& ev, const Order& o) {
    capi::assign(ev.event_name, o.name);
    ev.event_time = now_s - 60;
    ev.action_source = o.url.empty() ? capi::ActionSource::system_generated : capi::ActionSource::website;
    capi::assign(ev.event_id, o.id);
    if (o.url.empty()) ev.event_source_url.reset(); else capi::assign(ev.event_source_url, o.url);
    capi::assign(ev.user_data.em, {o.email});
    if (o.phone.empty()) ev.user_data.ph.clear(); else capi::assign(ev.user_data.ph, {o.phone});
    if (o.first_name.empty()) ev.user_data.fn.clear(); else capi::assign(ev.user_data.fn, {o.first_name});
    capi::assign(ev.user_data.external_id, o.external_ids);
    capi::assign(ev.user_data.client_ip_address, o.ip);
    capi::assign(ev.user_data.client_user_agent, o.user_agent);
    if (o.value || !o.items.empty()) {
        auto& cd = capi::refill(ev.custom_data);
        cd.value = o.value;
        if (o.currency.empty()) cd.currency.reset(); else capi::assign(cd.currency, o.currency);
        auto items = capi::refill(cd.contents, o.items.size());
        for (std::size_t i = 0; i < items.size(); ++i) {
            capi::assign(items[i].id, o.items[i].first);
            items[i].quantity = o.items[i].second;
        }
    } else {
        ev.custom_data.reset();
    }
    if (o.dpo) capi::assign(capi::refill(ev.data_processing_options), *o.dpo);
    else ev.data_processing_options.reset();
}

std::string encode(const capi::Event& ev) {
    capi::BatchEncoder encoder;
    const auto r = encoder.add(ev, std::chrono::system_clock::now());
    for (const auto& e : r.errors) UNSCOPED_INFO(e.path << ": " << e.reason);
    REQUIRE(r.status == capi::EncodeStatus::added);
    return std::string(encoder.json_body());
}

const std::string long_ua(300, 'u');  // past any small-string buffer

std::vector<Order> orders() {
    std::vector<Order> v(4);
    v[0] = {"order-1", "https://shop.example.com/a", "  A@Example.com ", "+1 650 555 0100", "Mary",
            "203.0.113.7", long_ua, "USD", {"cust-1", "cust-1b"}, 12.5, {{"sku-1", 2}, {"sku-2", 1}}, std::nullopt};
    // Fewer of everything, unset url and phone: fields go from set to unset.
    v[1] = {"order-2-much-longer-than-sixteen", "", "b@example.com", "", "José", "2001:db8::1", long_ua, "EUR",
            {"cust-2"}, 3.0, {{"sku-3", 1}}, std::vector<std::string_view>{}};
    // No custom_data at all (not a Purchase then), LDU set.
    v[2] = {"order-3", "https://shop.example.com/c", "c@example.com", "+44 20 7946 0000", "", "198.51.100.2",
            long_ua, "", {}, std::nullopt, {}, std::vector<std::string_view>{"LDU"}};
    v[2].name = "Lead";
    // Back to everything: unset fields set again.
    v[3] = {"order-4", "https://shop.example.com/d", "d@example.com", "+1 650 555 0199", "Ana", "203.0.113.9",
            long_ua, "EUR", {"cust-4", "cust-4b"}, 99.0, {{"sku-9", 3}, {"sku-8", 1}}, std::nullopt};
    return v;
}

} // namespace

TEST_CASE("a refilled Event encodes to the same bytes as a freshly built one", "[event][reuse]") {
    const auto list = orders();
    capi::Event ev;
    for (int round = 0; round < 2; ++round) {
        for (const auto& o : list) {
            INFO("round " << round << ", " << o.id);
            refill(ev, o);
            CHECK(encode(ev) == encode(fresh(o)));
        }
    }
}

TEST_CASE("a field switches from set to unset and back", "[event][reuse]") {
    capi::Event ev;
    capi::assign(ev.event_id, "x");
    REQUIRE(ev.event_id == "x");
    ev.event_id.reset();
    CHECK_FALSE(ev.event_id.has_value());
    const std::string y = "order-" + std::to_string(ev.event_time);  // not a literal: GCC 12's -Wrestrict
    capi::assign(ev.event_id, y);                                     // misfires on assign("y", 1)
    CHECK(ev.event_id == y);

    capi::assign(ev.user_data.em, {"a@example.com", "b@example.com"});
    capi::assign(ev.user_data.em, {"c@example.com"});
    CHECK(ev.user_data.em == std::vector<std::string>{"c@example.com"});
    capi::assign(ev.user_data.em, {});
    CHECK(ev.user_data.em.empty());

    auto& cd = capi::refill(ev.custom_data);
    cd.value = 1.0;
    CHECK(capi::refill(ev.custom_data).value == 1.0);  // kept, not reset
    ev.custom_data.reset();
    CHECK_FALSE(capi::refill(ev.custom_data).value.has_value());  // engaged afresh
    CHECK(capi::refill(ev.custom_data.emplace().contents, 3).size() == 3);
    CHECK(capi::refill(ev.custom_data->contents, 1).size() == 1);
}

TEST_CASE("a warm Event is refilled without allocating", "[event][reuse]") {
    // Same shape every time (the usual server), values of varying length within
    // what the buffers already held.
    std::vector<Order> list = orders();
    for (auto& o : list) o = list[0];
    list[1].id = "order-22";
    list[1].email = "bb@example.com";
    list[2].ip = "2001:db8::2";
    list[3].items[0].first = "sku-x";
    capi::Event ev;
    refill(ev, orders()[1]);  // warms on the longest id first
    refill(ev, list[0]);
    for (const auto& o : list) {
        const std::size_t before = allocations;
        refill(ev, o);
        CHECK(allocations == before);
    }
    // Checks the counter counts: a fresh Event allocates.
    const std::size_t before = allocations;
    { const auto made = fresh(list[0]); }
    CHECK(allocations > before);
}
