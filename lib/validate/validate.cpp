// Per-event validation against Meta's rules (docs: graph-api.md §3, normalization.md).
//
// This runs once per event on the producer's thread, at millions of events per
// second, so a valid event must cost no heap allocation: paths and reasons are
// built only when an error is reported, the currency is normalized into a string
// short enough for the small-string buffer, and raw JSON is parsed with a
// per-thread parser and padded buffer that keep their capacity between calls.
#include <capi/validate.hpp>

#include <capi/normalize.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <simdjson.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace capi {

namespace {

namespace chr = std::chrono;
using namespace std::string_view_literals;

// Wire keys of the typed fields of each object. A raw member may not reuse one:
// it would either duplicate the key on the wire or silently override the typed
// value, and Meta's handling of duplicate keys is unspecified.
constexpr std::array<std::string_view, 17> event_keys = {
    "event_name", "event_time", "event_id", "event_source_url", "referrer_url",
    "action_source", "opt_out", "messaging_channel", "data_processing_options",
    "data_processing_options_country", "data_processing_options_state",
    "advanced_measurement_table", "user_data", "custom_data", "app_data",
    "original_event_data", "attribution_data"};

constexpr std::array<std::string_view, 31> user_data_keys = {
    "em", "ph", "fn", "ln", "ge", "db", "ct", "st", "zp", "country", "external_id",
    "f5first", "f5last", "fi", "dobd", "dobm", "doby",
    "client_ip_address", "client_user_agent", "fbc", "fbp", "subscription_id",
    "fb_login_id", "lead_id", "anon_id", "madid", "page_id", "page_scoped_user_id",
    "ctwa_clid", "ig_account_id", "ig_sid"};

constexpr std::array<std::string_view, 8> content_keys = {
    "id", "quantity", "item_price", "title", "description", "brand", "category",
    "delivery_category"};

constexpr std::array<std::string_view, 15> custom_data_keys = {
    "value", "net_revenue", "predicted_ltv", "currency", "content_name",
    "content_category", "content_type", "order_id", "status", "search_string",
    "item_number", "content_ids", "contents", "num_items", "delivery_category"};

constexpr std::array<std::string_view, 14> app_data_keys = {
    "application_tracking_enabled", "advertiser_tracking_enabled", "consider_views",
    "include_dwell_data", "include_video_data", "campaign_ids", "install_referrer",
    "installer_package", "receipt_data", "windows_attribution_id", "anon_id",
    "app_user_id", "url_schemes", "extinfo"};

constexpr std::array<std::string_view, 4> original_event_data_keys = {
    "event_name", "event_time", "order_id", "event_id"};

constexpr std::array<std::string_view, 20> attribution_data_keys = {
    "scope", "visit_time", "ad_id", "adset_id", "campaign_id", "attribution_share",
    "attribution_model", "attr_window", "attribution_value", "attribution_source",
    "touchpoint_type", "touchpoint_ts", "attribution_method", "decline_reason",
    "auditing_token", "linkage_key", "touchpoint_id", "attribution_setting",
    "total_credit", "partner_client_id"};

constexpr std::array<std::string_view, 6> attribution_methods = {
    "ard", "deeplink", "gpir", "invalid_response", "mir", "srn"};

template <std::size_t N>
constexpr bool contains(const std::array<std::string_view, N>& keys, std::string_view k) {
    return std::find(keys.begin(), keys.end(), k) != keys.end();
}

// A JSON path held as views until an error needs it as a string:
// head[index]mid[index2]tail, each index omitted when negative.
struct Path {
    std::string_view head;
    std::ptrdiff_t index = -1;
    std::string_view mid = {};
    std::ptrdiff_t index2 = -1;
    std::string_view tail = {};

    std::string str() const {
        std::string s;
        s.reserve(head.size() + mid.size() + tail.size() + 16);
        s += head;
        if (index >= 0) {
            s += '[';
            s += std::to_string(index);
            s += ']';
        }
        s += mid;
        if (index2 >= 0) {
            s += '[';
            s += std::to_string(index2);
            s += ']';
        }
        s += tail;
        return s;
    }
};

// An object of the event, as the prefix of its members' paths:
// `head[index]`, or the event itself when head is empty.
struct Object {
    std::string_view head;
    std::ptrdiff_t index = -1;

    Path member(std::string_view key) const {
        if (head.empty()) return Path{key};
        return Path{head, index, ".", -1, key};
    }
    // A raw member by position, for keys that cannot appear in a path
    // (empty, or not UTF-8: the error report itself must stay valid UTF-8).
    Path raw_at(std::string_view list, std::size_t i) const {
        return Path{head, index, head.empty() ? list.substr(1) : list,
                    static_cast<std::ptrdiff_t>(i)};
    }
};

std::string describe_age(chr::seconds d) {
    const auto s = d.count();
    if (s > 0 && s % 86400 == 0) {
        const auto days = s / 86400;
        return std::to_string(days) + (days == 1 ? " day" : " days");
    }
    if (s > 0 && s % 3600 == 0) {
        const auto hours = s / 3600;
        return std::to_string(hours) + (hours == 1 ? " hour" : " hours");
    }
    return std::to_string(s) + " s";
}

bool is_ascii_digit(char c) noexcept { return c >= '0' && c <= '9'; }

bool istarts_with(std::string_view s, std::string_view prefix) noexcept {
    if (s.size() < prefix.size()) return false;
    for (std::size_t i = 0; i < prefix.size(); ++i) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        if (c != prefix[i]) return false;
    }
    return true;
}

// Absolute http(s) URL with a non-empty authority and no spaces or control
// characters (a browser's location.href is always percent-encoded).
bool is_http_url(std::string_view s) noexcept {
    std::size_t scheme = 0;
    if (istarts_with(s, "https://")) {
        scheme = 8;
    } else if (istarts_with(s, "http://")) {
        scheme = 7;
    } else {
        return false;
    }
    const std::string_view rest = s.substr(scheme);
    if (rest.empty() || rest.front() == '/' || rest.front() == '?' || rest.front() == '#')
        return false;
    const char* p = s.data();
    const char* const end = p + s.size();
#if defined(__SSE2__)
    // 16 bytes at a time while none is <= 0x20 or 0x7f (signed: bytes >= 0x80 are
    // negative and fail the > 0x20 test, so they take the exact loop below).
    while (end - p >= 16) {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        const __m128i bad = _mm_or_si128(_mm_cmplt_epi8(v, _mm_set1_epi8(0x21)),
                                         _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7f)));
        if (_mm_movemask_epi8(bad) != 0) break;
        p += 16;
    }
#endif
    for (const char c : std::string_view(p, static_cast<std::size_t>(end - p))) {
        const auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u == 0x7f) return false;
    }
    return true;
}

// Dotted-quad IPv4 exactly as glibc's inet_pton(AF_INET) accepts it: four
// decimal octets <= 255, no leading zeros, single dots. The common case,
// checked without the copy and the two library calls.
bool is_plain_ipv4(std::string_view s) noexcept {
    int octets = 0;
    std::size_t i = 0;
    while (true) {
        const std::size_t start = i;
        unsigned value = 0;
        while (i < s.size() && is_ascii_digit(s[i]) && i - start < 3) value = value * 10 + unsigned(s[i++] - '0');
        const std::size_t digits = i - start;
        if (digits == 0 || value > 255 || (digits > 1 && s[start] == '0')) return false;
        if (++octets == 4) return i == s.size();
        if (i == s.size() || s[i] != '.') return false;
        ++i;
    }
}

bool is_ip_address(std::string_view s) noexcept {
    if (is_plain_ipv4(s)) return true;
    // The longest textual IPv6 address (with an embedded IPv4) is 45 characters.
    char buf[64];
    if (s.empty() || s.size() >= sizeof buf) return false;
    // inet_pton stops at a NUL: "1.2.3.4\0junk" must not pass as 1.2.3.4.
    if (std::memchr(s.data(), '\0', s.size()) != nullptr) return false;
    std::memcpy(buf, s.data(), s.size());
    buf[s.size()] = '\0';
    unsigned char addr[sizeof(in6_addr)];
    // inet_pton rejects IPv6 zone ids (fe80::1%eth0): Meta wants the address alone.
    return inet_pton(AF_INET, buf, addr) == 1 || inet_pton(AF_INET6, buf, addr) == 1;
}

// fb.<subdomain index>.<creation time>.<id>; the id is case-sensitive and left alone.
bool looks_like_fb_cookie(std::string_view s) noexcept {
    if (!s.starts_with("fb.")) return false;
    s.remove_prefix(3);
    if (s.size() < 2 || !is_ascii_digit(s[0]) || s[1] != '.') return false;
    s.remove_prefix(2);
    std::size_t i = 0;
    while (i < s.size() && is_ascii_digit(s[i])) ++i;
    if (i == 0 || i == s.size() || s[i] != '.') return false;
    return i + 1 < s.size();
}

// Raw JSON of up to this many bytes is parsed with the per-thread parser; a
// bigger one (the encoder's event cap makes it an error anyway) gets a one-off
// parser, so a single huge value does not pin memory in every thread.
constexpr std::size_t reusable_json_limit = 1 << 20;

struct JsonScratch {
    simdjson::dom::parser parser;
    std::unique_ptr<char[]> buffer;
    std::size_t capacity = 0;  // bytes usable for text; the buffer adds padding
};

simdjson::error_code parse_json(std::string_view json) {
    if (json.size() > reusable_json_limit) {
        simdjson::dom::parser parser;
        const simdjson::padded_string padded(json);
        return parser.parse(padded).error();
    }
    thread_local JsonScratch scratch;
    if (scratch.capacity < json.size()) {
        const std::size_t cap = std::max<std::size_t>(json.size(), 4096);
        scratch.buffer = std::make_unique<char[]>(cap + simdjson::SIMDJSON_PADDING);
        scratch.capacity = cap;
        if (const auto err = scratch.parser.allocate(cap)) return err;
    }
    std::memcpy(scratch.buffer.get(), json.data(), json.size());
    std::memset(scratch.buffer.get() + json.size(), 0, simdjson::SIMDJSON_PADDING);
    return scratch.parser.parse(scratch.buffer.get(), json.size(), false).error();
}

// Bytes `s` takes inside a JSON string as lib/json/writer.hpp escapes it.
std::size_t escaped_size(std::string_view s) noexcept {
    std::size_t n = s.size();
    for (std::size_t i = 0; i < s.size(); ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t') {
            n += 1;
        } else if (c < 0x20) {
            n += 5;  // \u00XX
        } else if (c == 0xE2 && i + 2 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0x80 &&
                   (static_cast<unsigned char>(s[i + 2]) & 0xFE) == 0xA8) {
            n += 3;  // U+2028/U+2029 as \u2028
        }
    }
    return n;
}

// Strings shorter than this count their raw size towards the size bound (a
// lower bound); longer ones their exact escaped size.
constexpr std::size_t long_text = 256;

// Where a value sits, kept as views until an error (or the size bound) needs
// the Path: building a Path for each of an event's ~50 fields was a measurable
// part of validating one.
struct Where {
    std::string_view head;
    std::ptrdiff_t index = -1;
    std::string_view tail = {};
};
inline Path to_path(const Path& p) { return p; }
inline Path to_path(std::string_view p) { return Path{p}; }
inline Path to_path(const char* p) { return Path{p}; }
inline Path to_path(const Where& w) { return Path{w.head, w.index, w.tail}; }

class Checker {
public:
    explicit Checker(std::vector<FieldError>& errors) : errors_(errors) {}

    void error(const Path& path, std::string reason) {
        errors_.push_back(FieldError{path.str(), std::move(reason)});
    }

    template <typename P>
    void utf8(std::string_view s, const P& path) {
        if (!is_valid_utf8(s)) error(to_path(path), "invalid UTF-8");
        if (counting_) text(s.size() < long_text ? s.size() : escaped_size(s), path);
    }
    // Exact match for std::string: without it the call could build a temporary
    // std::optional<std::string>, a copy and possibly an allocation.
    template <typename P>
    void utf8(const std::string& s, const P& path) { utf8(std::string_view(s), path); }
    template <typename P>
    void utf8(const std::optional<std::string>& s, const P& path) {
        if (s) utf8(std::string_view(*s), path);
    }
    void utf8(const std::vector<std::string>& v, std::string_view head) {
        for (std::size_t i = 0; i < v.size(); ++i)
            utf8(std::string_view(v[i]), Where{head, static_cast<std::ptrdiff_t>(i)});
    }

    template <typename P>
    void finite(const std::optional<double>& d, const P& path) {
        if (d && !std::isfinite(*d)) error(to_path(path), "must be a finite number");
    }
    template <typename P>
    void non_negative(const std::optional<std::int64_t>& n, const P& path) {
        if (n && *n < 0) error(to_path(path), "must not be negative");
    }

    template <std::size_t N>
    void raw_members(const RawMembers& raw, const Object& obj, std::string_view list,
                     const std::array<std::string_view, N>& typed) {
        for (std::size_t i = 0; i < raw.size(); ++i) {
            const RawMember& m = raw[i];
            const bool key_ok = !m.key.empty() && is_valid_utf8(m.key);
            if (m.key.empty()) {
                error(obj.raw_at(list, i), "raw member key must not be empty");
            } else if (!key_ok) {
                error(obj.raw_at(list, i), "raw member key: invalid UTF-8");
            } else {
                if (contains(typed, m.key))
                    error(obj.member(m.key), "overrides the typed field " + m.key);
                // Quadratic, but raw members are a handful per object and this
                // needs no scratch allocation.
                for (std::size_t j = 0; j < i; ++j) {
                    if (raw[j].key == m.key) {
                        error(obj.member(m.key), "repeats the raw member key " + m.key);
                        break;
                    }
                }
            }
            if (const auto err = parse_json(m.json)) {
                error(key_ok ? obj.member(m.key) : obj.raw_at(list, i),
                      std::string("not well-formed JSON: ") + simdjson::error_message(err));
            }
            text(m.key.size() + m.json.size(), key_ok ? obj.member(m.key) : obj.raw_at(list, i));
        }
    }

    // A lower bound of the serialized event's size: the text written verbatim
    // (not the PII, which is sent hashed), so an event over the encoder's byte cap
    // is refused at intake with the field that weighs most, not later in a batch.
    template <typename P>
    void text(std::size_t bytes, const P& path) noexcept {
        text_bytes_ += bytes;
        if (bytes > heaviest_bytes_) {
            heaviest_bytes_ = bytes;
            heaviest_ = to_path(path);
        }
    }
    void count_text(bool on) noexcept { counting_ = on; }
    void check_size(std::size_t cap) {
        if (text_bytes_ <= cap) return;
        error(heaviest_, "too large: " + std::to_string(heaviest_bytes_) +
                             " bytes serialized here, and the event at least " +
                             std::to_string(text_bytes_) + ", over the " + std::to_string(cap) +
                             "-byte event cap (max_event_bytes)");
    }

private:
    std::vector<FieldError>& errors_;
    bool counting_ = true;
    std::size_t text_bytes_ = 0, heaviest_bytes_ = 0;
    Path heaviest_{"(event)"};
};

bool is_three_ascii_letters(std::string_view s) noexcept {
    return s.size() == 3 && std::all_of(s.begin(), s.end(), [](char ch) {
               return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
           });
}

bool is_blank(std::string_view s) noexcept {
    return std::all_of(s.begin(), s.end(), [](char ch) {
        return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' || ch == '\v';
    });
}

bool has_value(const std::optional<std::string>& s) noexcept { return s && !s->empty(); }

bool has_value(const std::vector<std::string>& v) noexcept {
    return std::any_of(v.begin(), v.end(), [](const std::string& s) { return !s.empty(); });
}

bool has_customer_information(const UserData& u) noexcept {
    return has_value(u.em) || has_value(u.ph) || has_value(u.fn) || has_value(u.ln) ||
           has_value(u.ge) || has_value(u.db) || has_value(u.ct) || has_value(u.st) ||
           has_value(u.zp) || has_value(u.country) || has_value(u.external_id) ||
           has_value(u.f5first) || has_value(u.f5last) || has_value(u.fi) ||
           has_value(u.dobd) || has_value(u.dobm) || has_value(u.doby) ||
           has_value(u.client_ip_address) || has_value(u.client_user_agent) ||
           has_value(u.fbc) || has_value(u.fbp) || has_value(u.subscription_id) ||
           has_value(u.fb_login_id) || has_value(u.lead_id) || has_value(u.anon_id) ||
           has_value(u.madid) || has_value(u.page_id) || has_value(u.page_scoped_user_id) ||
           has_value(u.ctwa_clid) || has_value(u.ig_account_id) || has_value(u.ig_sid);
}

void check_event_time(Checker& c, const Event& ev, chr::system_clock::time_point now,
                      const ValidationOptions& options) {
    if (ev.event_time <= 0) {
        c.error(Path{"event_time"}, "required (Unix time in seconds)");
        return;
    }
    const bool store = ev.action_source == ActionSource::physical_store;
    const chr::seconds max_age = store ? options.physical_store_max_age : options.max_age;
    const std::int64_t now_s = chr::floor<chr::seconds>(now.time_since_epoch()).count();

    // Saturate rather than overflow on absurd options.
    std::int64_t oldest = 0;
    if (__builtin_sub_overflow(now_s, max_age.count(), &oldest))
        oldest = max_age.count() > 0 ? INT64_MIN : INT64_MAX;
    std::int64_t newest = 0;
    if (__builtin_add_overflow(now_s, options.max_future_skew.count(), &newest))
        newest = options.max_future_skew.count() > 0 ? INT64_MAX : INT64_MIN;

    if (ev.event_time < oldest) {
        std::string reason = "event_time is older than " + describe_age(max_age) + " (the limit for ";
        if (store) {
            reason += "physical_store events)";
        } else if (ev.action_source == ActionSource::unset) {
            reason += "events other than physical_store)";
        } else {
            reason += to_string(ev.action_source);
            reason += " events)";
        }
        c.error(Path{"event_time"}, std::move(reason));
    } else if (ev.event_time > newest) {
        std::string reason = "event_time is in the future by more than " +
                             std::to_string(options.max_future_skew.count()) + " s";
        // The classic bug: milliseconds where Meta wants seconds.
        if (ev.event_time / 1000 <= newest && ev.event_time / 1000 >= oldest)
            reason += " (milliseconds instead of seconds?)";
        c.error(Path{"event_time"}, std::move(reason));
    }
}

void check_user_data(Checker& c, const UserData& u) {
    if (!has_customer_information(u))
        c.error(Path{"user_data"}, "needs at least one customer information parameter");

    // Hashed (or, for external_id, possibly hashed) when sent: not verbatim text.
    c.count_text(false);
    c.utf8(u.em, "user_data.em"sv);
    c.utf8(u.ph, "user_data.ph"sv);
    c.utf8(u.fn, "user_data.fn"sv);
    c.utf8(u.ln, "user_data.ln"sv);
    c.utf8(u.ge, "user_data.ge"sv);
    c.utf8(u.db, "user_data.db"sv);
    c.utf8(u.ct, "user_data.ct"sv);
    c.utf8(u.st, "user_data.st"sv);
    c.utf8(u.zp, "user_data.zp"sv);
    c.utf8(u.country, "user_data.country"sv);
    c.utf8(u.external_id, "user_data.external_id"sv);
    c.utf8(u.f5first, "user_data.f5first"sv);
    c.utf8(u.f5last, "user_data.f5last"sv);
    c.utf8(u.fi, "user_data.fi"sv);
    c.utf8(u.dobd, "user_data.dobd"sv);
    c.utf8(u.dobm, "user_data.dobm"sv);
    c.utf8(u.doby, "user_data.doby"sv);
    c.count_text(true);
    c.utf8(u.client_ip_address, "user_data.client_ip_address"sv);
    c.utf8(u.client_user_agent, "user_data.client_user_agent"sv);
    c.utf8(u.fbc, "user_data.fbc"sv);
    c.utf8(u.fbp, "user_data.fbp"sv);
    c.utf8(u.subscription_id, "user_data.subscription_id"sv);
    c.utf8(u.fb_login_id, "user_data.fb_login_id"sv);
    c.utf8(u.lead_id, "user_data.lead_id"sv);
    c.utf8(u.anon_id, "user_data.anon_id"sv);
    c.utf8(u.madid, "user_data.madid"sv);
    c.utf8(u.page_id, "user_data.page_id"sv);
    c.utf8(u.page_scoped_user_id, "user_data.page_scoped_user_id"sv);
    c.utf8(u.ctwa_clid, "user_data.ctwa_clid"sv);
    c.utf8(u.ig_account_id, "user_data.ig_account_id"sv);
    c.utf8(u.ig_sid, "user_data.ig_sid"sv);

    // Empty strings count as absent here, as in the customer-information rule.
    if (has_value(u.client_ip_address) && !is_ip_address(*u.client_ip_address))
        c.error(Path{"user_data.client_ip_address"}, "must be an IPv4 or IPv6 address");
    if (has_value(u.fbc) && !looks_like_fb_cookie(*u.fbc))
        c.error(Path{"user_data.fbc"},
                "must look like fb.<subdomain index>.<creation time ms>.<fbclid>");
    if (has_value(u.fbp) && !looks_like_fb_cookie(*u.fbp))
        c.error(Path{"user_data.fbp"},
                "must look like fb.<subdomain index>.<creation time ms>.<random>");

    c.raw_members(u.extra, Object{"user_data"}, ".extra", user_data_keys);
}

void check_content(Checker& c, const Content& item, std::ptrdiff_t i) {
    constexpr std::string_view head = "custom_data.contents";
    c.utf8(item.id, Where{head, i, ".id"});
    c.utf8(item.title, Where{head, i, ".title"});
    c.utf8(item.description, Where{head, i, ".description"});
    c.utf8(item.brand, Where{head, i, ".brand"});
    c.utf8(item.category, Where{head, i, ".category"});
    c.finite(item.item_price, Where{head, i, ".item_price"});
    c.non_negative(item.quantity, Where{head, i, ".quantity"});
    c.raw_members(item.extra, Object{head, i}, ".extra", content_keys);
}

void check_custom_data(Checker& c, const CustomData& cd, bool purchase) {
    c.finite(cd.value, "custom_data.value"sv);
    c.finite(cd.net_revenue, "custom_data.net_revenue"sv);
    c.finite(cd.predicted_ltv, "custom_data.predicted_ltv"sv);
    c.non_negative(cd.num_items, "custom_data.num_items"sv);

    if (cd.currency && is_three_ascii_letters(*cd.currency)) {
        // The common case, already normalized but for case (which is_iso4217
        // ignores): skip normalize(), whose Unicode path may allocate.
        if (!is_iso4217(*cd.currency))
            c.error(Path{"custom_data.currency"}, "must be an ISO 4217 currency code");
    } else if (cd.currency) {
        // Short enough for the small-string buffer in practice: no allocation.
        std::string code;
        std::string_view why;
        const NormalizeStatus st = normalize_into(Field::currency, *cd.currency, code, why);
        if (st == NormalizeStatus::omitted && is_blank(*cd.currency)) {
            // Blank: the encoder omits it, which matters only where it is required.
            if (purchase) c.error(Path{"custom_data.currency"}, "required (Purchase events)");
        } else if (st == NormalizeStatus::omitted) {
            // Something was given ("$", "123") but no letters survive: not a code.
            c.error(Path{"custom_data.currency"}, "must be an ISO 4217 currency code");
        } else if (st == NormalizeStatus::rejected || !is_iso4217(code)) {
            std::string reason = "must be an ISO 4217 currency code";
            if (st == NormalizeStatus::rejected && !why.empty()) {
                reason += " (";
                reason += why;
                reason += ')';
            }
            c.error(Path{"custom_data.currency"}, std::move(reason));
        }
    } else if (purchase) {
        c.error(Path{"custom_data.currency"}, "required (Purchase events)");
    }
    if (purchase && !cd.value) c.error(Path{"custom_data.value"}, "required (Purchase events)");

    c.count_text(false);  // normalized (trimmed) when sent
    c.utf8(cd.currency, "custom_data.currency"sv);
    c.count_text(true);
    c.utf8(cd.content_name, "custom_data.content_name"sv);
    c.utf8(cd.content_category, "custom_data.content_category"sv);
    c.utf8(cd.content_type, "custom_data.content_type"sv);
    c.utf8(cd.order_id, "custom_data.order_id"sv);
    c.utf8(cd.status, "custom_data.status"sv);
    c.utf8(cd.search_string, "custom_data.search_string"sv);
    c.utf8(cd.item_number, "custom_data.item_number"sv);
    c.utf8(cd.content_ids, "custom_data.content_ids"sv);
    for (std::size_t i = 0; i < cd.contents.size(); ++i)
        check_content(c, cd.contents[i], static_cast<std::ptrdiff_t>(i));

    c.raw_members(cd.custom_properties, Object{"custom_data"}, ".custom_properties",
                  custom_data_keys);
}

void check_app_data(Checker& c, const AppData& a, bool app_event) {
    if (app_event && !a.advertiser_tracking_enabled)
        c.error(Path{"app_data.advertiser_tracking_enabled"}, "required (app events)");
    if (a.extinfo.empty()) {
        if (app_event)
            c.error(Path{"app_data.extinfo"},
                    "required (app events): exactly " + std::to_string(extinfo_size) +
                        " values");
    } else if (a.extinfo.size() != extinfo_size) {
        c.error(Path{"app_data.extinfo"},
                "must have exactly " + std::to_string(extinfo_size) + " values, has " +
                    std::to_string(a.extinfo.size()));
    }

    c.utf8(a.campaign_ids, "app_data.campaign_ids"sv);
    c.utf8(a.install_referrer, "app_data.install_referrer"sv);
    c.utf8(a.installer_package, "app_data.installer_package"sv);
    c.utf8(a.receipt_data, "app_data.receipt_data"sv);
    c.utf8(a.windows_attribution_id, "app_data.windows_attribution_id"sv);
    c.utf8(a.anon_id, "app_data.anon_id"sv);
    c.utf8(a.app_user_id, "app_data.app_user_id"sv);
    c.utf8(a.url_schemes, "app_data.url_schemes"sv);
    c.utf8(a.extinfo, "app_data.extinfo"sv);

    c.raw_members(a.extra, Object{"app_data"}, ".extra", app_data_keys);
}

void check_original_event_data(Checker& c, const OriginalEventData& o) {
    c.utf8(o.event_name, "original_event_data.event_name"sv);
    c.utf8(o.order_id, "original_event_data.order_id"sv);
    c.utf8(o.event_id, "original_event_data.event_id"sv);
    c.raw_members(o.extra, Object{"original_event_data"}, ".extra", original_event_data_keys);
}

void check_attribution_data(Checker& c, const AttributionData& a) {
    c.utf8(a.scope, "attribution_data.scope"sv);
    c.utf8(a.ad_id, "attribution_data.ad_id"sv);
    c.utf8(a.adset_id, "attribution_data.adset_id"sv);
    c.utf8(a.campaign_id, "attribution_data.campaign_id"sv);
    c.utf8(a.attribution_model, "attribution_data.attribution_model"sv);
    c.utf8(a.attribution_source, "attribution_data.attribution_source"sv);
    c.utf8(a.touchpoint_type, "attribution_data.touchpoint_type"sv);
    c.utf8(a.attribution_method, "attribution_data.attribution_method"sv);
    c.utf8(a.decline_reason, "attribution_data.decline_reason"sv);
    c.utf8(a.auditing_token, "attribution_data.auditing_token"sv);
    c.utf8(a.linkage_key, "attribution_data.linkage_key"sv);
    c.utf8(a.touchpoint_id, "attribution_data.touchpoint_id"sv);
    c.utf8(a.partner_client_id, "attribution_data.partner_client_id"sv);

    c.finite(a.attribution_share, "attribution_data.attribution_share"sv);
    c.finite(a.attribution_value, "attribution_data.attribution_value"sv);
    c.finite(a.total_credit, "attribution_data.total_credit"sv);

    if (a.attribution_method && !contains(attribution_methods, *a.attribution_method))
        c.error(Path{"attribution_data.attribution_method"},
                "must be one of ard, deeplink, gpir, invalid_response, mir, srn");

    c.raw_members(a.extra, Object{"attribution_data"}, ".extra", attribution_data_keys);
}

} // namespace

std::vector<FieldError> validate(const Event& ev, std::chrono::system_clock::time_point now,
                                 const ValidationOptions& options) {
    std::vector<FieldError> errors;
    Checker c(errors);

    if (ev.event_name.empty()) c.error(Path{"event_name"}, "required");
    c.utf8(ev.event_name, "event_name"sv);
    check_event_time(c, ev, now, options);
    if (ev.action_source == ActionSource::unset) c.error(Path{"action_source"}, "required");

    const bool website = ev.action_source == ActionSource::website;
    const bool app = ev.action_source == ActionSource::app;

    c.utf8(ev.event_id, "event_id"sv);
    if (website && options.require_website_fields && !has_value(ev.event_source_url))
        c.error(Path{"event_source_url"}, "required (website events)");
    c.utf8(ev.event_source_url, "event_source_url"sv);
    if (has_value(ev.event_source_url) && !is_http_url(*ev.event_source_url))
        c.error(Path{"event_source_url"}, "must be an absolute http(s) URL");
    c.utf8(ev.referrer_url, "referrer_url"sv);
    if (has_value(ev.referrer_url) && !is_http_url(*ev.referrer_url))
        c.error(Path{"referrer_url"}, "must be an absolute http(s) URL");

    if (ev.data_processing_options) {
        const auto& dpo = *ev.data_processing_options;
        for (std::size_t i = 0; i < dpo.size(); ++i) {
            const Path p{"data_processing_options", static_cast<std::ptrdiff_t>(i)};
            c.utf8(dpo[i], p);
            // Meta knows one option and matches it case-sensitively.
            if (dpo[i] != "LDU") c.error(p, "must be \"LDU\"");
        }
    }
    c.non_negative(ev.data_processing_options_country, "data_processing_options_country"sv);
    c.non_negative(ev.data_processing_options_state, "data_processing_options_state"sv);
    c.utf8(ev.advanced_measurement_table, "advanced_measurement_table"sv);

    if (website && options.require_website_fields && !has_value(ev.user_data.client_user_agent))
        c.error(Path{"user_data.client_user_agent"}, "required (website events)");
    check_user_data(c, ev.user_data);

    const bool purchase = ev.event_name == event_names::purchase;
    if (ev.custom_data) {
        check_custom_data(c, *ev.custom_data, purchase);
    } else if (purchase) {
        c.error(Path{"custom_data.currency"}, "required (Purchase events)");
        c.error(Path{"custom_data.value"}, "required (Purchase events)");
    }

    if (ev.app_data) {
        check_app_data(c, *ev.app_data, app);
    } else if (app) {
        c.error(Path{"app_data"}, "required (app events)");
    }
    if (ev.original_event_data) check_original_event_data(c, *ev.original_event_data);
    if (ev.attribution_data) check_attribution_data(c, *ev.attribution_data);

    c.raw_members(ev.extra, Object{}, ".extra", event_keys);
    c.check_size(options.max_event_bytes);
    return errors;
}

} // namespace capi
