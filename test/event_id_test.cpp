// EventIdMode::deterministic's id (lib/json/event_id.cpp), as docs/client.md
// ("Event ids") defines it: recomputed here from that definition with OpenSSL,
// and pinned by a known answer, so a change of the encoding that would change
// every id (and break the idempotence of re-runs across versions) fails here.
#include "json/prepared.hpp"

#include <capi/encode.hpp>
#include <capi/event.hpp>

#include <catch2/catch.hpp>
#include <openssl/sha.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>

namespace {

using capi::detail::batch_access;
using capi::detail::derived_id_placeholder;
using capi::detail::PreparedEvent;

const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1'767'225'600));  // 2026-01-01

capi::Event purchase(const std::string& email) {
    capi::Event ev;
    ev.event_name = "Purchase";
    ev.event_time = 1'767'225'000;
    ev.action_source = capi::ActionSource::website;
    ev.event_source_url = "https://shop.example.com/checkout";
    ev.user_data.client_user_agent = "Mozilla/5.0";
    ev.user_data.em = {email};
    ev.custom_data.emplace();
    ev.custom_data->value = 12.5;
    ev.custom_data->currency = "USD";
    return ev;
}

/// Prepares `ev` as capi::Client does in EventIdMode::deterministic and derives its id.
std::string derive(const capi::Event& ev, std::string_view pixel, PreparedEvent& p) {
    capi::BatchEncoder enc;
    auto r = batch_access::prepare(enc, ev, now, p, derived_id_placeholder);
    REQUIRE(r.status == capi::EncodeStatus::added);
    std::string id;
    CHECK(batch_access::derive_event_id(p, pixel, id) == !ev.event_id);
    return id;
}

std::string sha256_raw(std::string_view s) {
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), d);
    return std::string(reinterpret_cast<const char*>(d), sizeof d);
}

std::string hex(std::string_view raw) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string h;
    for (unsigned char c : raw) {
        h += digits[c >> 4];
        h += digits[c & 15];
    }
    return h;
}

void put_u32le(std::string& out, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}

} // namespace

TEST_CASE("a derived id is what docs/client.md says is hashed", "[event_id]") {
    PreparedEvent p;
    const auto id = derive(purchase(" User@Example.com "), "1234567890", p);
    const std::string json(p.json_with_holes());
    const auto at = json.find("\"event_id\":\"" + id + "\"");
    REQUIRE(at != std::string::npos);  // written into the event, in place of the placeholder

    // The message: the pixel, a newline, the JSON without the id and without
    // the digest's 64-character hole, then the normalized value after its
    // length (4 bytes, little-endian).
    const std::string value = "user@example.com";
    const auto hole = json.find("\"em\":[\"" + std::string(64, '0') + "\"]");
    REQUIRE(hole != std::string::npos);
    REQUIRE(at < hole);
    std::string msg = "1234567890\n";
    msg += json.substr(0, at + 12);                          // ... "event_id":"
    msg += json.substr(at + 44, hole + 7 - (at + 44));       // ", ... "em":["
    msg += json.substr(hole + 7 + 64);                        // "], ...
    put_u32le(msg, static_cast<std::uint32_t>(value.size()));
    msg += value;
    const auto outer = sha256_raw(msg);
    CHECK(id == hex(outer).substr(0, 32));
}

TEST_CASE("derived ids: same event same id, any difference another id", "[event_id]") {
    PreparedEvent p;
    const auto a = derive(purchase("user@example.com"), "1234567890", p);
    // Known answer: the scheme never changes silently (every user's re-run
    // across an upgrade depends on it).
    CHECK(a == "8bcd32d12fe5a5ff1fb4536cdcb20787");
    CHECK(derive(purchase("user@example.com"), "1234567890", p) == a);
    CHECK(derive(purchase(" USER@example.com"), "1234567890", p) == a);  // the same once normalized
    CHECK(derive(purchase("other@example.com"), "1234567890", p) != a);  // PII counts, though hashed later
    CHECK(derive(purchase("user@example.com"), "1234567891", p) != a);   // so does the pixel
    auto later = purchase("user@example.com");
    later.event_time += 1;
    CHECK(derive(later, "1234567890", p) != a);
    // Two values that concatenate alike are still told apart (the lengths are hashed).
    auto two = purchase("ab@example.com");
    two.user_data.fn = {"cd"};
    auto other_split = purchase("ab@example.comc");
    other_split.user_data.fn = {"d"};
    CHECK(derive(two, "1", p) != derive(other_split, "1", p));
    // An event with its own id keeps it: nothing is derived.
    auto own = purchase("user@example.com");
    own.event_id = "order-1";
    CHECK(derive(own, "1234567890", p).empty());
    CHECK(std::string(p.json_with_holes()).find("\"event_id\":\"order-1\"") != std::string::npos);
}
