// Enhanced normalization (opt-in) as the encoder and the client apply it, and
// the match-quality report: what each value became, per field, from the
// encoder's totals to Client::stats() over real TLS to MockGraphServer.
// The tables and the date parser have their own vectors
// (enhanced_tables_test.cpp, enhanced_dates_test.cpp); this file checks the
// rules composed: the event's country as context, the outcomes, and that the
// default path is unchanged.
#include <capi/client.hpp>
#include <capi/encode.hpp>
#include <capi/normalize.hpp>
#include <capi/sha256.hpp>
#include <capi/testing/mock_graph.hpp>

#include "client/outcomes.hpp"
#include "json/prepared.hpp"
#include "support/fixtures.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <mutex>
#include <thread>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using capi::Field;
using capi::MatchOutcome;
using capi::NormalizeStatus;

namespace {

struct Out {
    NormalizeStatus status;
    std::string value;
    MatchOutcome outcome;
    std::string reason;
};

Out run(Field f, std::string_view value, const capi::EnhancedNormalization* enhanced, std::string_view country = {}) {
    Out o;
    std::string_view reason;
    o.status = capi::normalize_into(f, value, o.value, reason, {enhanced, country}, o.outcome);
    o.reason = std::string(reason);
    return o;
}

capi::EnhancedNormalization on(std::string phone_country = {}, capi::DateOrder order = capi::DateOrder::unspecified) {
    capi::EnhancedNormalization e;
    e.enabled = true;
    e.default_phone_country = std::move(phone_country);
    e.date_order = order;
    return e;
}

std::string hex(std::string_view v) {
    std::string h(64, '0');
    capi::sha256::to_hex(capi::sha256::hash(v), h.data());
    return h;
}

struct Vector {
    Field field;
    const char* in;
    const char* country;  // the event's, normalized ("" unknown)
    const char* out;      // "" when rejected or omitted
    MatchOutcome outcome;
};

} // namespace

TEST_CASE("enhanced rules, composed with the event's country", "[enhanced]") {
    const auto e = on();
    const Vector vectors[] = {
        // st: US names and abbreviations, Canadian provinces; the country decides.
        {Field::st, "California", "us", "ca", MatchOutcome::converted},
        {Field::st, "Calif.", "", "ca", MatchOutcome::converted},
        {Field::st, "CA", "us", "ca", MatchOutcome::as_given},
        {Field::st, "New York", "us", "ny", MatchOutcome::converted},
        {Field::st, "Ontario", "ca", "on", MatchOutcome::converted},
        {Field::st, "Québec", "", "qc", MatchOutcome::converted},
        {Field::st, "Ontario", "us", "ontario", MatchOutcome::unmatchable},  // not a US state
        {Field::st, "Bayern", "de", "bayern", MatchOutcome::as_given},        // other countries as today
        // country: names, alpha-3, variants; ambiguous names stay rejected.
        {Field::country, "United States", "", "us", MatchOutcome::converted},
        {Field::country, "USA", "", "us", MatchOutcome::converted},
        {Field::country, "U.S.", "", "us", MatchOutcome::as_given},
        {Field::country, "Germany", "", "de", MatchOutcome::converted},
        {Field::country, "DEU", "", "de", MatchOutcome::converted},
        {Field::country, "United Kingdom", "", "gb", MatchOutcome::converted},
        {Field::country, "UK", "", "gb", MatchOutcome::converted},
        {Field::country, "gb", "", "gb", MatchOutcome::as_given},
        {Field::country, "Congo", "", "", MatchOutcome::dropped},
        {Field::country, "Atlantis", "", "", MatchOutcome::dropped},
        // ge: the documented words.
        {Field::ge, "Woman", "", "f", MatchOutcome::converted},
        {Field::ge, "Herr", "", "", MatchOutcome::omitted},
        {Field::ge, "male", "", "m", MatchOutcome::as_given},
        {Field::ge, "Männlich", "", "m", MatchOutcome::converted},
        // ph: the event's country's calling code, trunk prefix removed.
        {Field::ph, "(650) 555-1234", "us", "16505551234", MatchOutcome::converted},
        {Field::ph, "1 650 555 1234", "us", "16505551234", MatchOutcome::as_given},
        {Field::ph, "07911 123456", "gb", "447911123456", MatchOutcome::converted},
        {Field::ph, "+44 7911 123456", "us", "447911123456", MatchOutcome::as_given},
        {Field::ph, "0044 7911 123456", "fr", "447911123456", MatchOutcome::as_given},
        {Field::ph, "06 12 34 56 78", "fr", "33612345678", MatchOutcome::converted},
        {Field::ph, "030 1234567", "de", "49301234567", MatchOutcome::converted},
        {Field::ph, "12345678", "us", "12345678", MatchOutcome::unmatchable},  // no US number is 7 digits after 1
        // zp: ZIP+4 and 9-digit ZIPs in the US.
        {Field::zp, "94025-1234", "us", "94025", MatchOutcome::as_given},
        {Field::zp, "940251234", "us", "94025", MatchOutcome::converted},
        {Field::zp, "94025 1234", "us", "94025", MatchOutcome::converted},
        {Field::zp, "940251234", "de", "940251234", MatchOutcome::as_given},
        {Field::zp, "SW1A 1AA", "gb", "sw1a1aa", MatchOutcome::as_given},
        // db: common forms (the parser's own vectors: enhanced_dates_test.cpp).
        {Field::db, "1990-01-31", "", "19900131", MatchOutcome::converted},
        {Field::db, "19900131", "", "19900131", MatchOutcome::as_given},
        {Field::db, "31/01/1990", "", "19900131", MatchOutcome::converted},
        {Field::db, "January 31, 1990", "", "19900131", MatchOutcome::converted},
        {Field::db, "02/03/1990", "", "", MatchOutcome::dropped},  // ambiguous without an order
        {Field::db, "1990-02-30", "", "", MatchOutcome::dropped},  // no such day
        // Untouched by the enhanced rules.
        {Field::em, "User@Example.com", "us", "user@example.com", MatchOutcome::as_given},
        {Field::fn, "Zoë", "", "zoë", MatchOutcome::as_given},
    };
    for (const auto& v : vectors) {
        CAPTURE(capi::to_string(v.field), v.in, v.country);
        const auto o = run(v.field, v.in, &e, v.country);
        CHECK(o.value == v.out);
        CHECK(capi::to_string(o.outcome) == capi::to_string(v.outcome));
        if (o.outcome == MatchOutcome::dropped) CHECK(o.status == NormalizeStatus::rejected);
        if (o.outcome == MatchOutcome::dropped || o.outcome == MatchOutcome::unmatchable) CHECK(!o.reason.empty());
    }
    CHECK(run(Field::country, "Congo", &e).reason.find("ambiguous") != std::string::npos);
}

TEST_CASE("enhanced: the phone country and the date order", "[enhanced]") {
    const auto gb = on("GB");
    CHECK(run(Field::ph, "07911 123456", &gb).value == "447911123456");
    // The event's country comes before the default.
    CHECK(run(Field::ph, "(650) 555-1234", &gb, "us").value == "16505551234");
    const auto none = on();
    const auto no_country = run(Field::ph, "07911 123456", &none);
    CHECK(no_country.value == "07911123456");
    CHECK(no_country.outcome == MatchOutcome::unmatchable);  // starts with 0

    // Digits alone: in a country dialed with a trunk prefix a number is national
    // only with it; in one dialed without, a national number's length is national
    // (numbers of other countries are written with + or 00 to be left alone).
    CHECK(run(Field::ph, "447911123456", &none, "de").value == "447911123456");
    CHECK(run(Field::ph, "15112345678", &none, "de").outcome == MatchOutcome::as_given);
    CHECK(run(Field::ph, "4712345678", &none, "us").value == "14712345678");
    CHECK(run(Field::ph, "+47 12345678", &none, "us").value == "4712345678");
    // So the rule is idempotent on a number written with + only when it is run
    // again with the +: the digits alone are the 10 of a US number (found by
    // fuzz_normalize: "+44 (0183-8750").
    for (const char* v : {"+47 23456789", "+44 (0183-8750", "0047 23456789"}) {
        CAPTURE(v);
        const auto once = run(Field::ph, v, &none, "us");
        REQUIRE(once.status == NormalizeStatus::ok);
        CHECK(once.outcome == MatchOutcome::as_given);
        CHECK(run(Field::ph, once.value, &none, "us").value == "1" + once.value);
        const auto plus = run(Field::ph, "+" + once.value, &none, "us");
        CHECK(plus.value == once.value);
        CHECK(plus.outcome == MatchOutcome::as_given);
    }
    CHECK(run(Field::ph, "1125551234", &none, "us").value == "1125551234");  // no NANP area code starts with 1

    const auto dmy = on({}, capi::DateOrder::dmy);
    const auto mdy = on({}, capi::DateOrder::mdy);
    const auto ymd = on({}, capi::DateOrder::ymd);
    CHECK(run(Field::db, "02/03/1990", &dmy).value == "19900302");
    CHECK(run(Field::db, "02/03/1990", &mdy).value == "19900203");
    CHECK(run(Field::db, "01/31/1990", &dmy).status == NormalizeStatus::rejected);
    CHECK(run(Field::db, "01/31/1990", &mdy).value == "19900131");
    CHECK(run(Field::db, "31/01/1990", &ymd).status == NormalizeStatus::rejected);
    CHECK(run(Field::db, "1990/01/31", &ymd).value == "19900131");
}

TEST_CASE("the default rules are unchanged, byte for byte, whatever the context", "[enhanced][default]") {
    capi::EnhancedNormalization off;  // enabled = false, however the rest is set
    off.default_phone_country = "gb";
    off.date_order = capi::DateOrder::dmy;
    const char* values[] = {"California", "United States", "USA", "Woman", "07911 123456", "(650) 555-1234",
                            "+44 7911 123456", "94025-1234", "940251234", "1990-01-31", "31/01/1990",
                            "User@Example.com", "  Zoë  ", "CA", "us", "f", "Ontario", "", "   ", "é",
                            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"};
    const char* countries[] = {"", "us", "gb", "ca", "de"};
    for (std::size_t f = 0; f < capi::field_count; ++f) {
        for (const char* v : values) {
            for (const char* c : countries) {
                const auto field = static_cast<Field>(f);
                CAPTURE(capi::to_string(field), v, c);
                const auto plain = capi::normalize(field, v);
                for (const capi::EnhancedNormalization* e : {static_cast<const capi::EnhancedNormalization*>(nullptr), static_cast<const capi::EnhancedNormalization*>(&off)}) {
                    const auto o = run(field, v, e, c);
                    CHECK(o.status == plain.status);
                    CHECK(o.value == plain.value);
                    CHECK(o.outcome != MatchOutcome::converted);
                }
            }
        }
    }
}

TEST_CASE("enhanced normalization is idempotent and leaves Meta's form alone", "[enhanced][property]") {
    const auto e = on("US");
    const char* values[] = {"California", "Calif.", "ny", "Ontario", "Québec", "United States", "USA", "Deutschland",
                            "U.K.", "Woman", "Frau", "m", "(650) 555-1234", "07911 123456", "+44 20 7183 8750",
                            "06 12 34 56 78", "030 1234567", "94025-1234", "940251234", "1990-01-31", "31/01/1990",
                            "January 31, 1990", "19900131", "User@Example.com", "Zoë", "Paris", "SW1A 1AA"};
    const char* countries[] = {"", "us", "gb", "ca", "de", "fr"};
    // The fields with enhanced rules, and those beside them whose default rule is
    // idempotent (f5first, f5last and fi are not: a prefix can end in a space,
    // which the next pass trims, as Meta's SDKs do).
    for (const Field field : {Field::db, Field::st, Field::country, Field::ge, Field::ph, Field::zp, Field::em,
                              Field::fn, Field::ln, Field::ct, Field::dobd, Field::dobm, Field::doby}) {
        for (const char* v : values) {
            for (const char* c : countries) {
                CAPTURE(capi::to_string(field), v, c);
                const auto once = run(field, v, &e, c);
                if (once.status != NormalizeStatus::ok) continue;
                const auto twice = run(field, once.value, &e, c);
                CHECK(twice.status == NormalizeStatus::ok);
                CHECK(twice.value == once.value);
                CHECK(twice.outcome != MatchOutcome::converted);
            }
        }
    }
    // Values already in Meta's form for their country: never changed.
    const Vector meta_form[] = {
        {Field::st, "ca", "us", "ca", MatchOutcome::as_given},
        {Field::st, "on", "ca", "on", MatchOutcome::as_given},
        {Field::country, "de", "", "de", MatchOutcome::as_given},
        {Field::ge, "f", "", "f", MatchOutcome::as_given},
        {Field::db, "20000229", "", "20000229", MatchOutcome::as_given},
        {Field::ph, "16505551234", "us", "16505551234", MatchOutcome::as_given},
        {Field::ph, "447911123456", "gb", "447911123456", MatchOutcome::as_given},
        {Field::ph, "33612345678", "fr", "33612345678", MatchOutcome::as_given},
        {Field::ph, "4915112345678", "de", "4915112345678", MatchOutcome::as_given},
        {Field::ph, "447911123456", "", "447911123456", MatchOutcome::as_given},
        {Field::zp, "94025", "us", "94025", MatchOutcome::as_given},
    };
    for (const auto& v : meta_form) {
        CAPTURE(capi::to_string(v.field), v.in, v.country);
        const auto o = run(v.field, v.in, &e, v.country);
        CHECK(o.value == v.out);
        CHECK(capi::to_string(o.outcome) == capi::to_string(v.outcome));
    }
}

TEST_CASE("the default path reports what will not match, knowing the country", "[enhanced][default]") {
    CHECK(run(Field::st, "California", nullptr, "us").outcome == MatchOutcome::unmatchable);
    CHECK(run(Field::st, "California", nullptr, "").outcome == MatchOutcome::as_given);
    CHECK(run(Field::zp, "940251234", nullptr, "us").outcome == MatchOutcome::unmatchable);
    CHECK(run(Field::ph, "(650) 555-1234", nullptr, "us").outcome == MatchOutcome::unmatchable);
    CHECK(run(Field::ph, "+1 (650) 555-1234", nullptr, "us").outcome == MatchOutcome::as_given);
    CHECK(run(Field::ph, "+65 1234 5678", nullptr, "us").outcome == MatchOutcome::as_given);  // written international
    CHECK(run(Field::db, "1990-01-31", nullptr).outcome == MatchOutcome::unmatchable);
    CHECK(run(Field::country, "United States", nullptr).outcome == MatchOutcome::dropped);
    CHECK(run(Field::ge, "Woman", nullptr).outcome == MatchOutcome::omitted);
    CHECK(run(Field::em, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", nullptr).outcome ==
          MatchOutcome::already_hashed);
    // The public form without the raw value agrees for national numbers.
    CHECK(!capi::match_warning(Field::ph, "6505551234", "us").empty());
    CHECK(capi::match_warning(Field::ph, "16505551234", "us").empty());
    CHECK(!capi::match_warning(Field::st, "california", "us").empty());
    CHECK(capi::match_warning(Field::st, "california", "").empty());
}

namespace {

capi::Event enhanced_event(const std::string& id) {
    auto ev = capi_test::purchase_event(id);
    auto& u = ev.user_data;
    u.st = {"California"};
    u.country = {"United States"};
    u.ph = {"(650) 555-1234"};
    u.db = {"1990-01-31"};
    u.ge = {"Woman"};
    u.zp = {"94025 1234"};
    return ev;
}

} // namespace

TEST_CASE("the encoder counts every value's outcome, per field, for the events it adds", "[enhanced][encode]") {
    const auto now = std::chrono::system_clock::now();
    capi::EncodeOptions o;
    o.enhanced = on();
    capi::BatchEncoder enc(o);
    auto r = enc.add(enhanced_event("e1"), now);
    REQUIRE(r.status == capi::EncodeStatus::added);
    CHECK(r.unmatchable.empty());
    const auto body = std::string(enc.json_body());
    for (const char* v : {"ca", "us", "16505551234", "19900131", "f", "94025"}) {
        CAPTURE(v);
        CHECK(body.find(hex(v)) != std::string::npos);
    }
    auto q = enc.match_quality();
    for (Field f : {Field::st, Field::country, Field::ph, Field::db, Field::ge, Field::zp}) {
        CAPTURE(capi::to_string(f));
        CHECK(q.count(f, MatchOutcome::converted) == 1);
        CHECK(q.values(f) == 1);
    }
    CHECK(q.count(Field::em, MatchOutcome::as_given) == 1);
    CHECK(q.total(MatchOutcome::converted) == 6);

    // The same event without the enhanced rules: what will not match is named,
    // the country name is dropped (so the US-only checks have no country).
    capi::BatchEncoder plain;
    auto p = plain.add(enhanced_event("e2"), now);
    REQUIRE(p.status == capi::EncodeStatus::added);
    REQUIRE(p.dropped.size() == 1);
    CHECK(p.dropped[0].path == "user_data.country[0]");
    // Without a country nothing is known against st, zp or a phone not starting with 0.
    REQUIRE(p.unmatchable.size() == 1);
    CHECK(p.unmatchable[0].path == "user_data.db[0]");
    CHECK(p.unmatchable[0].reason.find("YYYYMMDD") != std::string::npos);
    auto us = enhanced_event("e4");
    us.user_data.country = {"US"};
    us.user_data.ph.push_back("+44 7911 123456");  // written international: nothing against it
    auto pu = plain.add(us, now);
    REQUIRE(pu.status == capi::EncodeStatus::added);
    std::vector<std::string> paths;
    for (const auto& u : pu.unmatchable) paths.push_back(u.path);
    CHECK(paths == std::vector<std::string>{"user_data.ph[0]", "user_data.db[0]", "user_data.st[0]",
                                            "user_data.zp[0]"});
    const auto pq = plain.match_quality();
    CHECK(pq.count(Field::country, MatchOutcome::dropped) == 1);
    CHECK(pq.count(Field::ge, MatchOutcome::omitted) == 2);
    CHECK(pq.count(Field::db, MatchOutcome::unmatchable) == 2);
    CHECK(pq.count(Field::country, MatchOutcome::as_given) == 1);
    CHECK(pq.total(MatchOutcome::unmatchable) == 5);
    CHECK(pq.count(Field::ph, MatchOutcome::as_given) == 2);  // e2's (no country) and e4's +44
    CHECK(pq.total(MatchOutcome::converted) == 0);

    // An invalid event counts nothing; clear() keeps the totals.
    auto bad = enhanced_event("e3");
    bad.event_name.clear();
    CHECK(enc.add(bad, now).status == capi::EncodeStatus::invalid);
    enc.clear();
    q = enc.match_quality();
    CHECK(q.total(MatchOutcome::converted) == 6);
}

TEST_CASE("an event counts once, and only when it is accepted, whichever walk takes it", "[encode][default]") {
    const auto now = std::chrono::system_clock::now();
    const auto values = [](const capi::MatchQuality& q) {
        std::uint64_t n = 0;
        for (std::size_t f = 0; f < capi::field_count; ++f) n += q.values(static_cast<Field>(f));
        return n;
    };
    // purchase_event's user_data: em, ph, country ... once each; a US event
    // with a state name, so a warning rule reads the country.
    auto us = [&](const std::string& id) {
        auto ev = capi_test::purchase_event(id, now);
        ev.user_data.country = {"US"};
        ev.user_data.st = {"California"};
        return ev;
    };
    capi::BatchEncoder enc;
    REQUIRE(enc.add(us("a1"), now).status == capi::EncodeStatus::added);
    const auto q1 = enc.match_quality();
    const auto per_event = values(q1);
    REQUIRE(per_event > 0);
    CHECK(q1.count(Field::st, MatchOutcome::unmatchable) == 1);

    SECTION("the fused walk gives up after normalizing (a raw member): the second walk counts, once") {
        auto ev = us("a2");
        ev.user_data.extra.push_back({"future_key", "\"x\""});
        const auto r = enc.add(ev, now);
        REQUIRE(r.status == capi::EncodeStatus::added);
        CHECK(r.unmatchable.size() == 1);
        const auto q = enc.match_quality();
        CHECK(values(q) == 2 * per_event);
        CHECK(q.count(Field::st, MatchOutcome::unmatchable) == 2);
    }
    SECTION("rejected after its values were normalized: nothing of it stays counted") {
        auto big = us("a3");
        big.custom_data->content_ids = std::vector<std::string>(400, std::string(200, 'x'));
        CHECK(enc.add(big, now).status == capi::EncodeStatus::invalid);

        capi::EncodeOptions strict;
        strict.invalid_pii = capi::InvalidPiiPolicy::reject_event;
        capi::BatchEncoder senc(strict);
        REQUIRE(senc.add(us("s1"), now).status == capi::EncodeStatus::added);
        auto bad = us("s2");
        bad.user_data.em.push_back("not an email");  // after the valid ones
        CHECK(senc.add(bad, now).status == capi::EncodeStatus::invalid);
        CHECK(values(senc.match_quality()) == per_event);

        auto empty = us("a4");  // only values that are dropped: no customer information left
        empty.user_data = {};
        empty.user_data.em = {"not an email"};
        empty.user_data.client_user_agent = {};
        empty.action_source = capi::ActionSource::email;
        CHECK(enc.add(empty, now).status == capi::EncodeStatus::invalid);
        CHECK(values(enc.match_quality()) == per_event);
        CHECK(enc.match_quality().count(Field::em, MatchOutcome::dropped) == 0);
    }
    SECTION("prepare() counts like add()") {
        capi::BatchEncoder penc;
        capi::detail::PreparedEvent out;
        REQUIRE(capi::detail::batch_access::prepare(penc, us("p1"), now, out).status == capi::EncodeStatus::added);
        auto big = us("p2");
        big.custom_data->content_ids = std::vector<std::string>(400, std::string(200, 'x'));
        CHECK(capi::detail::batch_access::prepare(penc, big, now, out).status == capi::EncodeStatus::invalid);
        CHECK(values(penc.match_quality()) == per_event);
    }
}

TEST_CASE("Client::stats() reports match quality over TLS, the converted values delivered hashed", "[enhanced][client]") {
    std::mutex mu;
    std::vector<std::string> received;
    capi::testing::MockOptions mo;
    mo.on_accepted = [&](std::string_view, const std::vector<std::string>& events) {
        std::lock_guard lock(mu);
        received.insert(received.end(), events.begin(), events.end());
    };
    capi::testing::MockGraphServer mock(mo);
    auto opts = capi_test::client_options(mock);
    opts.encode.enhanced = on();
    capi::Client client(opts);
    constexpr int n = 25;
    for (int i = 0; i < n; ++i) REQUIRE(client.enqueue(enhanced_event(capi_test::numbered("q", i))));
    REQUIRE(client.flush(20s));
    const auto s = client.stats();
    CHECK(s.delivered == n);
    for (Field f : {Field::st, Field::country, Field::ph, Field::db, Field::ge, Field::zp}) {
        CAPTURE(capi::to_string(f));
        CHECK(s.match_quality.count(f, MatchOutcome::converted) == n);
    }
    CHECK(s.match_quality.count(Field::em, MatchOutcome::as_given) == n);
    std::lock_guard lock(mu);
    REQUIRE(received.size() == n);
    for (const auto& ev : received) {
        CHECK(ev.find(hex("ca")) != std::string::npos);
        CHECK(ev.find(hex("16505551234")) != std::string::npos);
        CHECK(ev.find(hex("19900131")) != std::string::npos);
    }
}

TEST_CASE("a thread per request: the client's report keeps every event, and no entry per dead thread", "[client]") {
    // The registry alone: an encoder that is gone is folded into one total.
    capi::pipeline::MatchRegistry reg;
    std::vector<std::shared_ptr<capi::detail::MatchCounters>> live;
    for (int i = 0; i < 100; ++i) {
        auto c = std::make_shared<capi::detail::MatchCounters>();
        c->add(capi::detail::MatchCounters::index(Field::em, MatchOutcome::as_given));
        reg.add(c);
        if (i % 10 == 0) live.push_back(c);  // these encoders are still alive
    }
    CHECK(reg.live() <= live.size() + 1);
    capi::MatchQuality q;
    reg.add_to(q);
    CHECK(q.count(Field::em, MatchOutcome::as_given) == 100);

    // A client fed by 40 short-lived threads, over TLS to the mock.
    capi::testing::MockGraphServer mock;
    capi::Client client(capi_test::client_options(mock));
    constexpr int threads = 40, each = 5;
    for (int t = 0; t < threads; ++t) {
        std::thread([&, t] {
            for (int i = 0; i < each; ++i) (void)client.enqueue(capi_test::purchase_event(capi_test::numbered("t", t * each + i)));
        }).join();
    }
    REQUIRE(client.flush(20s));
    const auto s = client.stats();
    REQUIRE(s.delivered == threads * each);
    CHECK(s.match_quality.count(Field::em, MatchOutcome::as_given) == threads * each);
    CHECK(s.match_quality.values(Field::em) == threads * each);
}
