// The wire schema (lib/wire/schema.hpp) against the structs it describes, the
// encoder and reader derived from it, the mock's own key lists and the key
// table of docs/event-model.md.
#include "json/prepared.hpp"
#include "wire/schema.hpp"
#include "wire/window.hpp"

#include "testing/graph_rules.hpp"

#include <capi/encode.hpp>
#include <capi/ndjson.hpp>
#include <capi/normalize.hpp>

#include <boost/pfr.hpp>
#include <catch2/catch.hpp>
#include <openssl/evp.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

using capi::detail::batch_access;

// Field-by-field equality for the round trip, independent of the schema (a
// member the schema forgets must still be compared).
namespace capi {
bool operator==(const RawMember& a, const RawMember& b) { return boost::pfr::eq_fields(a, b); }
bool operator==(const UserData& a, const UserData& b) { return boost::pfr::eq_fields(a, b); }
bool operator==(const Content& a, const Content& b) { return boost::pfr::eq_fields(a, b); }
bool operator==(const CustomData& a, const CustomData& b) { return boost::pfr::eq_fields(a, b); }
bool operator==(const AppData& a, const AppData& b) { return boost::pfr::eq_fields(a, b); }
bool operator==(const OriginalEventData& a, const OriginalEventData& b) { return boost::pfr::eq_fields(a, b); }
bool operator==(const AttributionSetting& a, const AttributionSetting& b) { return boost::pfr::eq_fields(a, b); }
bool operator==(const AttributionData& a, const AttributionData& b) { return boost::pfr::eq_fields(a, b); }
bool operator==(const Event& a, const Event& b) { return boost::pfr::eq_fields(a, b); }
} // namespace capi

namespace {

namespace wire = capi::wire;
using wire::Kind;

// Every member of T has exactly one row, and every row a member: the rows'
// member addresses are the struct's field addresses, as Boost.PFR sees them.
template <class T>
void rows_cover_members() {
    INFO("schema of " << (wire::schema<T>::name.empty() ? "the event or request" : wire::schema<T>::name));
    CHECK(boost::pfr::tuple_size_v<T> == wire::schema<T>::size);
    T obj{};
    const auto* base = reinterpret_cast<const char*>(&obj);
    std::set<std::ptrdiff_t> fields, rows;
    boost::pfr::for_each_field(obj, [&](const auto& f) {
        fields.insert(reinterpret_cast<const char*>(&f) - base);
    });
    std::set<std::string_view> keys;
    wire::schema<T>::each([&](auto r) {
        using R = decltype(r);
        CHECK(rows.insert(reinterpret_cast<const char*>(&(obj.*R::member)) - base).second);
        CAPTURE(R::key);
        CHECK(keys.insert(R::key).second);  // no key twice in one object
    });
    CHECK(fields == rows);
}

TEST_CASE("every struct member has exactly one row", "[wire]") {
    rows_cover_members<capi::Event>();
    rows_cover_members<capi::UserData>();
    rows_cover_members<capi::CustomData>();
    rows_cover_members<capi::Content>();
    rows_cover_members<capi::AppData>();
    rows_cover_members<capi::OriginalEventData>();
    rows_cover_members<capi::AttributionData>();
    rows_cover_members<capi::AttributionSetting>();
    rows_cover_members<capi::RequestFields>();
}

// ---- a fully populated event ------------------------------------------------------

// A valid value for each normalized key (the rules refuse arbitrary text).
std::string value_for(capi::Field f) {
    using F = capi::Field;
    switch (f) {
    case F::em: return "Ana@Example.com";
    case F::ph: return "+1 (650) 555-1212";
    case F::ge: return "female";
    case F::db: return "19900214";
    case F::fn: return "Ana";
    case F::ln: return "Silva";
    case F::ct: return "Menlo Park";
    case F::st: return "CA";
    case F::zp: return "94025";
    case F::country: return "US";
    case F::external_id: return "Cust-42";
    case F::f5first: return "Anabela";
    case F::f5last: return "Silvestre";
    case F::fi: return "A";
    case F::dobd: return "7";
    case F::dobm: return "2";
    case F::doby: return "1990";
    case F::currency: return " EUR ";
    }
    return {};
}

struct Filler {
    std::int64_t now_s;
    int n = 0;  // makes every value distinct

    template <class R>
    std::string text() {
        if constexpr (R::kind == Kind::hashed || R::kind == Kind::hashed_list || R::kind == Kind::normalized)
            return value_for(R::field);
        else if constexpr (R::has(wire::http_url))
            return "https://shop.example.com/" + std::string(R::key);
        else if constexpr (R::has(wire::ip_address))
            return "203.0.113.7";
        else if constexpr (R::has(wire::fb_click_cookie) || R::has(wire::fb_browser_cookie))
            return "fb.1.1554763741205." + std::string(R::key);
        else if constexpr (R::has(wire::attribution_method))
            return "deeplink";
        else
            return std::string(R::key) + "-" + std::to_string(++n);
    }

    template <class T>
    void fill(T& obj) {
        wire::schema<T>::each([&](auto r) {
            using R = decltype(r);
            using V = typename R::value;
            auto& v = obj.*R::member;
            if constexpr (wire::is_member<R, &capi::Event::event_time>) {
                v = now_s - 60;
            } else if constexpr (std::is_same_v<V, std::string> || std::is_same_v<V, std::optional<std::string>>) {
                v = text<R>();
            } else if constexpr (std::is_same_v<V, std::optional<std::int64_t>>) {
                v = 1000 + ++n;
            } else if constexpr (std::is_same_v<V, std::optional<double>>) {
                v = 10.25 + ++n;
            } else if constexpr (std::is_same_v<V, std::optional<bool>>) {
                v = true;
            } else if constexpr (std::is_same_v<V, capi::ActionSource>) {
                v = capi::ActionSource::website;
            } else if constexpr (std::is_same_v<V, std::optional<capi::DeliveryCategory>>) {
                v = capi::DeliveryCategory::curbside;
            } else if constexpr (std::is_same_v<V, std::optional<capi::MessagingChannel>>) {
                v = capi::MessagingChannel::messenger;
            } else if constexpr (std::is_same_v<V, std::optional<std::vector<std::string>>>) {
                static_assert(R::has(wire::ldu));
                v = std::vector<std::string>{"LDU"};
            } else if constexpr (std::is_same_v<V, std::vector<std::string>>) {
                if constexpr (wire::is_member<R, &capi::AppData::extinfo>) {
                    for (std::size_t i = 0; i < capi::extinfo_size; ++i) {
                        std::string x = "x";  // appended: g++ 12 warns falsely (-Wrestrict) on "x" + to_string
                        x += std::to_string(++n);
                        v.push_back(std::move(x));
                    }
                } else {
                    v = {text<R>(), text<R>() + " "};  // hashed: a second spelling, sent once
                    if constexpr (!R::is_hashed()) v[1] = text<R>();
                }
            } else if constexpr (std::is_same_v<V, capi::RawMembers>) {
                v.push_back({"x_" + std::string(R::key), std::to_string(++n)});
            } else if constexpr (R::kind == Kind::object_list) {
                fill(v.emplace_back());
                fill(v.emplace_back());
            } else if constexpr (R::kind == Kind::object && std::is_same_v<V, capi::UserData>) {
                fill(v);
            } else {
                static_assert(R::kind == Kind::object, "a member type the test does not fill");
                fill(v.emplace());
            }
        });
    }
};

std::string sha256_hex(std::string_view s) {
    unsigned char md[32];
    unsigned len = 0;
    EVP_Digest(s.data(), s.size(), md, &len, EVP_sha256(), nullptr);
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    for (unsigned i = 0; i < len; ++i) {
        out += hex[md[i] >> 4];
        out += hex[md[i] & 15];
    }
    return out;
}

// What Meta receives of a value: normalized, hashed unless the key is sent raw.
std::string on_the_wire(capi::Field f, const std::string& value) {
    const auto n = capi::normalize(f, value);
    REQUIRE(n.ok());
    if (f == capi::Field::currency || f == capi::Field::external_id) return n.value;
    return sha256_hex(n.value);
}

// The event as the reader gives it back: normalized keys as sent, duplicates
// after normalization once.
template <class T>
void expect_as_sent(T& obj) {
    wire::schema<T>::each([&](auto r) {
        using R = decltype(r);
        using V = typename R::value;
        auto& v = obj.*R::member;
        if constexpr (R::kind == Kind::hashed_list) {
            std::vector<std::string> sent;
            for (const auto& s : v) {
                auto w = on_the_wire(R::field, s);
                if (std::find(sent.begin(), sent.end(), w) == sent.end()) sent.push_back(std::move(w));
            }
            v = std::move(sent);
        } else if constexpr (R::kind == Kind::hashed || R::kind == Kind::normalized) {
            if (v) v = on_the_wire(R::field, *v);
        } else if constexpr (R::kind == Kind::object_list) {
            for (auto& item : v) expect_as_sent(item);
        } else if constexpr (R::kind == Kind::object && std::is_same_v<V, capi::UserData>) {
            expect_as_sent(v);
        } else if constexpr (R::kind == Kind::object) {
            if (v) expect_as_sent(*v);
        }
    });
}

TEST_CASE("a fully populated event round-trips encoder -> reader, every field", "[wire]") {
    const auto now = std::chrono::system_clock::now();
    capi::Event ev;
    Filler{wire::unix_seconds(now)}.fill(ev);

    capi::BatchEncoder enc;
    const auto r = enc.add(ev, now);
    for (const auto& e : r.errors) UNSCOPED_INFO(e.path << ": " << e.reason);
    for (const auto& e : r.dropped) UNSCOPED_INFO("dropped " << e.path << ": " << e.reason);
    REQUIRE(r.status == capi::EncodeStatus::added);
    REQUIRE(r.dropped.empty());
    const std::string json(batch_access::event_json(enc, 0));
    INFO(json);

    capi::ReaderOptions options;
    options.pass_unknown_keys = true;  // the raw members come back as extra members
    capi::EventReader reader(options);
    capi::Event back;
    capi::FieldError error;
    REQUIRE(reader.parse(json, back, error));

    capi::Event expected = ev;
    expect_as_sent(expected);
    CHECK(back.user_data == expected.user_data);
    CHECK(back.custom_data == expected.custom_data);
    CHECK(back.app_data == expected.app_data);
    CHECK(back.original_event_data == expected.original_event_data);
    CHECK(back.attribution_data == expected.attribution_data);
    CHECK(back == expected);

    // Every key of every object is on the wire.
    std::size_t keys = 0;
    auto count = [&](auto r) {
        using R = decltype(r);
        if constexpr (R::kind != Kind::raw) {
            CAPTURE(R::key);
            CHECK(json.find("\"" + std::string(R::key) + "\":") != std::string::npos);
            ++keys;
        }
    };
    wire::schema<capi::Event>::each(count);
    wire::schema<capi::UserData>::each(count);
    wire::schema<capi::CustomData>::each(count);
    wire::schema<capi::Content>::each(count);
    wire::schema<capi::AppData>::each(count);
    wire::schema<capi::OriginalEventData>::each(count);
    wire::schema<capi::AttributionData>::each(count);
    wire::schema<capi::AttributionSetting>::each(count);
    CHECK(keys > 100);
}

TEST_CASE("request fields are written from the schema, in JSON and form bodies", "[wire]") {
    capi::RequestFields f;
    int n = 0;
    wire::schema<capi::RequestFields>::each([&](auto r) {
        using R = decltype(r);
        f.*R::member = std::string(R::key) + "-" + std::to_string(++n);
    });
    capi::BatchEncoder enc;
    const std::string json(enc.json_body(f, "tok"));
    const std::string form(enc.form_body(f, "tok"));
    n = 0;
    wire::schema<capi::RequestFields>::each([&](auto r) {
        using R = decltype(r);
        const std::string value = std::string(R::key) + "-" + std::to_string(++n);
        CHECK(json.find("\"" + std::string(R::key) + "\":\"" + value + "\"") != std::string::npos);
        CHECK(form.find("&" + std::string(R::key) + "=" + value) != std::string::npos);
    });
}

// ---- the window rule ------------------------------------------------------------

TEST_CASE("one window rule: verdicts, bounds and expiry", "[wire][window]") {
    using namespace std::chrono;
    const capi::ValidationOptions o;
    const auto now = system_clock::time_point(seconds(1'800'000'000));
    const std::int64_t t = 1'800'000'000;
    using V = wire::WindowVerdict;
    const auto web = capi::ActionSource::website;
    const auto store = capi::ActionSource::physical_store;
    CHECK(wire::check_window(t, web, now, o) == V::ok);
    CHECK(wire::check_window(0, web, now, o) == V::invalid);
    CHECK(wire::check_window(-5, web, now, o) == V::invalid);
    CHECK(wire::check_window(t - 7 * 86400, web, now, o) == V::ok);  // the whole second at the limit
    CHECK(wire::check_window(t - 7 * 86400 - 1, web, now, o) == V::expired);
    CHECK(wire::check_window(t - 7 * 86400 - 1, store, now, o) == V::ok);
    CHECK(wire::check_window(t - 62 * 86400 - 1, store, now, o) == V::expired);
    CHECK(wire::check_window(t + 300, web, now, o) == V::ok);
    CHECK(wire::check_window(t + 301, web, now, o) == V::too_far_in_future);

    // expiry(): the first instant at which expired_at() holds.
    const auto e = wire::expiry(t, web, o);
    CHECK(e == system_clock::time_point(seconds(t + 7 * 86400 + 1)));
    CHECK_FALSE(wire::expired_at(t, web, e - nanoseconds(1), o));
    CHECK(wire::expired_at(t, web, e, o));
    CHECK(wire::expiry(t, store, o) == system_clock::time_point(seconds(t + 62 * 86400 + 1)));

    // Absurd options saturate instead of overflowing.
    capi::ValidationOptions huge;
    huge.max_age = seconds(INT64_MAX);
    huge.max_future_skew = seconds(INT64_MAX);
    CHECK(wire::check_window(1, web, now, huge) == V::ok);
    CHECK(wire::check_window(INT64_MAX, web, now, huge) == V::ok);
    CHECK(wire::expiry(t, web, huge) == system_clock::time_point::max());
}

TEST_CASE("window errors carry a typed kind", "[wire][window]") {
    using namespace std::chrono;
    const auto now = system_clock::time_point(seconds(1'800'000'000));
    capi::Event ev;
    Filler{1'800'000'000}.fill(ev);
    auto kind_at_event_time = [&](std::int64_t t) {
        ev.event_time = t;
        for (const auto& e : capi::validate(ev, now))
            if (e.path == "event_time") return std::optional(e.kind);
        return std::optional<capi::FieldErrorKind>{};
    };
    CHECK(kind_at_event_time(1'800'000'000 - 60) == std::nullopt);
    CHECK(kind_at_event_time(1'800'000'000 - 8 * 86400) == capi::FieldErrorKind::expired);
    CHECK(kind_at_event_time(1'800'000'000 + 3600) == capi::FieldErrorKind::too_far_in_future);
    CHECK(kind_at_event_time(0) == capi::FieldErrorKind::invalid);
    ev.user_data.fbc = "not a cookie";
    ev.event_time = 1'800'000'000;
    const auto errors = capi::validate(ev, now);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].kind == capi::FieldErrorKind::invalid);

    // The encoder's second look, when a batch is built: expired, typed.
    ev.user_data.fbc.reset();
    capi::BatchEncoder enc;
    capi::detail::PreparedEvent pe;
    REQUIRE(batch_access::prepare(enc, ev, now, pe).status == capi::EncodeStatus::added);
    const auto late = batch_access::add_prepared(enc, pe, wire::expiry(ev.event_time, ev.action_source, {}));
    REQUIRE(late.status == capi::EncodeStatus::invalid);
    REQUIRE(late.errors.size() == 1);
    CHECK(late.errors[0].kind == capi::FieldErrorKind::expired);
    CHECK(batch_access::add_prepared(enc, pe, wire::expiry(ev.event_time, ev.action_source, {}) - nanoseconds(1)).status ==
          capi::EncodeStatus::added);
}

// ---- the mock's own lists ----------------------------------------------------------

std::set<std::string_view> as_set(std::span<const std::string_view> keys) { return {keys.begin(), keys.end()}; }

template <class T, class Pred>
std::set<std::string_view> schema_keys(Pred pred) {
    std::set<std::string_view> out;
    wire::schema<T>::each([&](auto r) {
        using R = decltype(r);
        if (R::kind != Kind::raw && pred(R{})) out.insert(R::key);
    });
    return out;
}

std::set<std::string_view> minus(const std::set<std::string_view>& a, const std::set<std::string_view>& b) {
    std::set<std::string_view> out;
    std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::inserter(out, out.end()));
    return out;
}

TEST_CASE("the mock's key lists differ from the schema only where intended", "[wire][mock]") {
    const auto mock = capi::testing::rules::known_keys();
    using Set = std::set<std::string_view>;
    const auto all = [](auto) { return true; };

    // Meta documents customer_segmentation; capi does not model it (a raw member).
    const auto event = schema_keys<capi::Event>(all);
    CHECK(minus(as_set(mock.event), event) == Set{"customer_segmentation"});
    CHECK(minus(event, as_set(mock.event)) == Set{});

    // Meta requires these hashed; the schema's hashed keys but external_id,
    // which capi sends raw unless EncodeOptions::hash_external_id.
    const auto hashed = schema_keys<capi::UserData>([](auto r) { return decltype(r)::is_hashed(); });
    CHECK(minus(as_set(mock.hashed_user_data), hashed) == Set{});
    CHECK(minus(hashed, as_set(mock.hashed_user_data)) == Set{"external_id"});

    // Sent as they are: the schema's plain keys, external_id (Meta takes it in
    // either form), and whatsapp_business_account_id, which capi does not
    // model (a raw member).
    const auto plain = schema_keys<capi::UserData>([](auto r) { return decltype(r)::kind == Kind::string; });
    CHECK(minus(as_set(mock.plain_user_data), plain) == Set{"external_id", "whatsapp_business_account_id"});
    CHECK(minus(plain, as_set(mock.plain_user_data)) == Set{});
}

// ---- docs/event-model.md ------------------------------------------------------------

std::string read_doc() {
    std::vector<std::string> candidates;
    if (const char* root = std::getenv("CAPI_SOURCE_ROOT")) candidates.push_back(std::string(root) + "/docs/event-model.md");
    const std::string here = __FILE__;
    candidates.push_back(here.substr(0, here.rfind('/') + 1) + "../docs/event-model.md");
    char exe[PATH_MAX] = {};
    if (const auto n = readlink("/proc/self/exe", exe, sizeof exe - 1); n > 0) {
        std::string dir(exe, static_cast<std::size_t>(n));
        dir.resize(dir.rfind('/') + 1);
        if (here.front() != '/') candidates.push_back(dir + "../" + here.substr(0, here.rfind('/') + 1) + "../docs/event-model.md");
    }
    for (const auto& path : candidates) {
        std::ifstream in(path);
        if (!in) continue;
        std::ostringstream s;
        s << in.rdbuf();
        return s.str();
    }
    FAIL("docs/event-model.md not found (set CAPI_SOURCE_ROOT)");
    return {};
}

template <class T>
void table_rows(std::string_view object, std::vector<std::string>& out) {
    wire::schema<T>::each([&](auto r) {
        using R = decltype(r);
        out.push_back("| `" + std::string(object) + "` | `" + std::string(R::key) + "` | " +
                      std::string(wire::to_string(R::kind)) + " |");
    });
}

TEST_CASE("docs/event-model.md lists every key of the schema with its kind", "[wire][docs]") {
    std::vector<std::string> expected;
    table_rows<capi::Event>("event", expected);
    table_rows<capi::UserData>("user_data", expected);
    table_rows<capi::CustomData>("custom_data", expected);
    table_rows<capi::Content>("custom_data.contents[]", expected);
    table_rows<capi::AppData>("app_data", expected);
    table_rows<capi::OriginalEventData>("original_event_data", expected);
    table_rows<capi::AttributionData>("attribution_data", expected);
    table_rows<capi::AttributionSetting>("attribution_data.attribution_setting", expected);
    table_rows<capi::RequestFields>("request", expected);

    // The table between its heading and the next one, row by row.
    const std::string doc = read_doc();
    const auto start = doc.find("\n## Every wire key\n");
    REQUIRE(start != std::string::npos);
    const auto end = doc.find("\n## ", start + 1);
    std::istringstream section(doc.substr(start, end - start));
    std::vector<std::string> documented;
    for (std::string line; std::getline(section, line);)
        if (line.starts_with("| `")) documented.push_back(line);

    std::string table;
    for (const auto& row : expected) table += row + "\n";
    INFO("the table as the schema has it:\n" << table);
    CHECK(documented == expected);
}

} // namespace
