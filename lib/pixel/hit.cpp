// parse_hit: a pixel hit's parameters into a capi::Event, by the wire schema.
//
// Choices (docs/pixel.md has the table):
//  - names and values are percent-decoded, '+' as a space (url.hpp); a
//    malformed escape or a value that is not UTF-8 is refused naming the
//    parameter;
//  - a parameter given twice (`ev=A&ev=B`, or once in the query and once in the
//    body of a POST) is refused: which one a page meant is a guess, and the pixel
//    id must not be one;
//  - an empty `cd[..]`, `ud[..]`, `eid`, `dl` or `rl` is absent (pages pass
//    undefined values through);
//  - `cd[KEY]` dispatches over wire::schema<CustomData>'s rows: numbers are
//    strict decimals (no hex, inf or nan), num_items an integer, content_ids a
//    JSON array, one id or a comma-separated list, contents a JSON array of
//    objects (or one object), read by the same EventReader code as `capi send`;
//    any other key is a custom property, kept as a JSON string;
//  - `ud[KEY]` dispatches over wire::schema<UserData>'s rows, the value in clear
//    or hashed as the page gave it (the encoder normalizes and hashes, as for
//    every event); ud[client_ip_address] and ud[client_user_agent] are refused:
//    a page must not choose what the request context says; other unknown keys
//    are refused;
//  - `ts` is milliseconds; further ahead than max_clock_skew is refused, less
//    far ahead is now; absent is now.
#include <capi/ndjson.hpp>
#include <capi/normalize.hpp>
#include <capi/pixel.hpp>

#include "json/writer.hpp"
#include "pixel/internal.hpp"
#include "pixel/url.hpp"
#include "util/ascii.hpp"
#include "wire/schema.hpp"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace capi::pixel {

namespace {

using namespace std::chrono;
using capi::detail::ascii::all_digits;
using capi::detail::ascii::trim;
using detail::HitTarget;

/// `key == row_key`, first by length and first byte: a dispatch over a schema
/// compares a key with every row's before its own (ud[zp] with nine other
/// two-letter keys), and most differ there, without a call to memcmp.
[[gnu::always_inline]] inline bool same_key(std::string_view key, std::string_view row_key) noexcept {
    return key.size() == row_key.size() && !key.empty() && key[0] == row_key[0] &&
           std::memcmp(key.data(), row_key.data(), key.size()) == 0;
}

/// A strict decimal number: optional '-', digits, optional fraction and
/// exponent; finite. from_chars alone would take "inf", "nan" and ".5".
bool parse_number(std::string_view s, double& out) noexcept {
    std::size_t i = 0;
    if (i < s.size() && s[i] == '-') ++i;
    if (i >= s.size() || s[i] < '0' || s[i] > '9') return false;
    for (const char c : s.substr(i)) {
        if (!((c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-')) return false;
    }
    const auto r = std::from_chars(s.data(), s.data() + s.size(), out);
    return r.ec == std::errc{} && r.ptr == s.data() + s.size() && std::isfinite(out);
}

bool parse_integer(std::string_view s, std::int64_t& out) noexcept {
    const std::string_view digits = !s.empty() && s[0] == '-' ? s.substr(1) : s;
    if (!all_digits(digits)) return false;
    const auto r = std::from_chars(s.data(), s.data() + s.size(), out);
    return r.ec == std::errc{} && r.ptr == s.data() + s.size();
}

/// True when `s` (trimmed) is one JSON array or object and nothing after it:
/// the wrapper the reader parses must not let a value close it and add members.
bool one_json_container(std::string_view s) noexcept {
    s = trim(s);
    if (s.empty() || (s[0] != '[' && s[0] != '{')) return false;
    int depth = 0;
    bool in_string = false, escaped = false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        if (in_string) {
            if (escaped) escaped = false;
            else if (c == '\\') escaped = true;
            else if (c == '"') in_string = false;
            continue;
        }
        if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            ++depth;
        } else if (c == ']' || c == '}') {
            if (--depth == 0) return i + 1 == s.size();
        }
    }
    return false;
}

/// The common content_ids, `["1234","4642"]`: strings without escapes or
/// control characters, read without the JSON reader (what the pixel sends for
/// every catalog event). False for anything else: the reader then decides.
bool plain_string_array(std::string_view s, std::vector<std::string>& out) {
    out.clear();
    std::size_t i = 1;  // after '['
    auto skip_space = [&] {
        while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
    };
    skip_space();
    if (i < s.size() && s[i] == ']') return i + 1 == s.size();
    while (true) {
        if (i >= s.size() || s[i] != '"') return false;
        const std::size_t start = ++i;
        while (i < s.size() && s[i] != '"') {
            const auto c = static_cast<unsigned char>(s[i]);
            if (c == '\\' || c < 0x20) return false;
            ++i;
        }
        if (i >= s.size()) return false;
        out.emplace_back(s.substr(start, i - start));
        ++i;
        skip_space();
        if (i < s.size() && s[i] == ',') {
            ++i;
            skip_space();
            continue;
        }
        return i + 1 == s.size() && s[i] == ']';
    }
}

/// The common contents, `[{"id":"1234","quantity":2,"item_price":9.5}, ...]`
/// (or one such object), read without building and parsing a JSON document:
/// only wire::schema<Content>'s string, integer and number rows, strings without
/// escapes or control characters, integers of at most 18 digits, plain
/// decimals (no sign, no exponent), no null, no repeated key. What this reads
/// is what the EventReader reads (the test compares them); false for anything
/// else, and the reader then decides, with its own answers and errors. `s` is
/// trimmed and starts with '[' or '{'; out is cleared either way.
bool plain_contents(std::string_view s, std::vector<Content>& out) {
    out.clear();
    std::size_t i = 0;
    auto skip_space = [&] {
        while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
    };
    auto string = [&](std::string_view& v) {
        if (i >= s.size() || s[i] != '"') return false;
        const std::size_t start = ++i;
        while (i < s.size() && s[i] != '"') {
            const auto c = static_cast<unsigned char>(s[i]);
            if (c == '\\' || c < 0x20) return false;
            ++i;
        }
        if (i >= s.size()) return false;
        v = s.substr(start, i - start);
        ++i;
        return true;
    };
    // Digits, then an optional fraction: JSON's grammar without sign or
    // exponent (no leading zero but "0" itself, a digit after the point).
    auto number = [&](std::string_view& v, bool& fraction) {
        const std::size_t start = i;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
        const std::size_t digits = i - start;
        if (digits == 0 || digits > 18 || (digits > 1 && s[start] == '0')) return false;
        fraction = i < s.size() && s[i] == '.';
        if (fraction) {
            const std::size_t point = ++i;
            while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
            if (i == point || i - start > 40) return false;
        }
        v = s.substr(start, i - start);
        // An exponent or anything else glued to the number: the reader's call.
        return i < s.size() && s[i] != 'e' && s[i] != 'E';
    };
    auto object = [&](Content& c) {
        ++i;  // '{'
        skip_space();
        if (i < s.size() && s[i] == '}') {
            ++i;
            return true;
        }
        unsigned seen = 0;
        while (true) {
            std::string_view key, value;
            if (!string(key)) return false;
            skip_space();
            if (i >= s.size() || s[i] != ':') return false;
            ++i;
            skip_space();
            unsigned index = 0;
            bool ok = false;
            const bool known = wire::schema<Content>::any([&](auto r) {
                using R = decltype(r);
                using V = typename R::value;
                const unsigned bit = 1u << index++;
                if (!same_key(key, R::key)) return false;
                if (seen & bit) return true;  // a duplicate key: the reader's error
                seen |= bit;
                if constexpr (std::is_same_v<V, std::optional<std::string>>) {
                    ok = string(value);
                    if (ok) (c.*R::member).emplace(value);
                } else if constexpr (std::is_same_v<V, std::optional<std::int64_t>>) {
                    bool fraction = false;
                    ok = number(value, fraction) && !fraction;
                    if (ok) std::from_chars(value.data(), value.data() + value.size(), (c.*R::member).emplace());
                } else if constexpr (std::is_same_v<V, std::optional<double>>) {
                    bool fraction = false;
                    ok = number(value, fraction);
                    // Correctly rounded, as the reader's: the same double.
                    if (ok) std::from_chars(value.data(), value.data() + value.size(), (c.*R::member).emplace());
                }
                return true;
            });
            if (!known || !ok) return false;
            skip_space();
            if (i < s.size() && s[i] == ',') {
                ++i;
                skip_space();
                continue;
            }
            if (i < s.size() && s[i] == '}') {
                ++i;
                return true;
            }
            return false;
        }
    };
    // `s` is trimmed as one_json_container trims: a '\n' after the container is
    // the reader path's "expected JSON", not whitespace to skip here.
    auto trailing = [&] { return i == s.size(); };
    if (s[0] == '{') {
        if (object(out.emplace_back()) && trailing()) return true;
        out.clear();
        return false;
    }
    ++i;  // '['
    skip_space();
    if (i < s.size() && s[i] == ']') {
        ++i;
        return trailing();
    }
    while (true) {
        skip_space();
        if (i >= s.size() || s[i] != '{' || !object(out.emplace_back())) break;
        skip_space();
        if (i < s.size() && s[i] == ',') {
            ++i;
            continue;
        }
        if (i < s.size() && s[i] == ']') {
            ++i;
            if (trailing()) return true;
        }
        break;
    }
    out.clear();
    return false;
}

// Top-level parameters, for the repeated-parameter check.
enum : unsigned { p_id = 1, p_ev = 2, p_eid = 4, p_dl = 8, p_rl = 16, p_ts = 32, p_noscript = 64 };

static_assert(wire::schema<CustomData>::size <= 64 && wire::schema<UserData>::size <= 64);

class HitParser {
public:
    HitParser(HitTarget out, HitError& error, system_clock::time_point now, const HitOptions& options)
        : out_(out), error_(error), now_(now), options_(options) {}

    bool params(std::string_view params) {
        return url::each_pair(params, [this](std::string_view n, std::string_view v) { return pair(n, v); });
    }

    bool finish();

private:
    bool fail(std::string_view parameter, std::string_view reason) {
        error_.parameter.assign(parameter);
        error_.reason.assign(reason);
        return false;
    }

    bool repeated(std::string_view parameter) { return fail(parameter, "repeated parameter"); }

    bool pair(std::string_view raw_name, std::string_view raw_value);
    bool top(std::string_view name, std::string_view raw);
    bool custom(std::string_view name, std::string_view key, std::string_view raw);
    bool user(std::string_view name, std::string_view key, std::string_view raw);

    /// Decodes `raw` into `out`: escapes, the size bound, UTF-8.
    bool text(std::string_view name, std::string_view raw, std::string& out) {
        // Decoding never lengthens: a raw value within the bound decodes within it.
        if (raw.size() > options_.max_value_bytes && raw.size() / 3 > options_.max_value_bytes)
            return fail(name, "value too long");
        if (const char* why = url::decode(raw, out)) return fail(name, why);
        if (out.size() > options_.max_value_bytes) return fail(name, "value too long");
        if (!is_valid_utf8(out)) return fail(name, "not valid UTF-8");
        return true;
    }

    template <class R>
    bool custom_field(std::string_view name, std::string_view raw, typename R::value& out);
    template <class R>
    bool user_field(std::string_view name, std::string_view raw, typename R::value& out);

    /// Reads `json` as custom_data's `key` with the NDJSON reader.
    template <class T>
    bool read_json(std::string_view name, std::string_view key, std::string_view json, T& out);

    CustomData& custom_data() {
        if (!out_.event.custom_data) out_.event.custom_data.emplace();
        return *out_.event.custom_data;
    }

    HitTarget out_;
    HitError& error_;
    system_clock::time_point now_;
    const HitOptions& options_;
    std::size_t count_ = 0;
    unsigned seen_top_ = 0;
    std::uint64_t seen_cd_ = 0, seen_ud_ = 0;
    std::int64_t ts_ms_ = -1;
    std::string name_;   // a decoded parameter name, when it had escapes
    std::string value_;  // a decoded value that is not a string field's
};

bool HitParser::pair(std::string_view raw_name, std::string_view raw_value) {
    if (++count_ > options_.max_parameters)
        return fail("", "more than " + std::to_string(options_.max_parameters) + " parameters");
    std::string_view name = raw_name;
    if (url::needs_decoding(raw_name)) {
        // URLSearchParams writes cd[value] as cd%5Bvalue%5D.
        if (const char* why = url::decode(raw_name, name_)) return fail(raw_name, why);
        name = name_;
    }
    if (name.size() > 3 && name.back() == ']' && name[2] == '[') {
        const std::string_view key = name.substr(3, name.size() - 4);
        if (name.substr(0, 2) == "cd") return custom(name, key, raw_value);
        if (name.substr(0, 2) == "ud") return user(name, key, raw_value);
    }
    return top(name, raw_value);
}

bool HitParser::top(std::string_view name, std::string_view raw) {
    unsigned bit = 0;
    if (name == "id") bit = p_id;
    else if (name == "ev") bit = p_ev;
    else if (name == "eid") bit = p_eid;
    else if (name == "dl") bit = p_dl;
    else if (name == "rl") bit = p_rl;
    else if (name == "ts") bit = p_ts;
    else if (name == "noscript") bit = p_noscript;
    else return true;  // the pixel sends many parameters with no server field
    if (seen_top_ & bit) return repeated(name);
    seen_top_ |= bit;
    Event& ev = out_.event;
    switch (bit) {
    case p_id:
        if (!text(name, raw, out_.pixel_id)) return false;
        if (!all_digits(out_.pixel_id)) return fail(name, "expected a pixel id (digits)");
        return true;
    case p_ev:
        if (!text(name, raw, ev.event_name)) return false;
        if (ev.event_name.empty()) return fail(name, "empty event name");
        return true;
    case p_eid:
    case p_dl:
    case p_rl: {
        auto& field = bit == p_eid ? ev.event_id : bit == p_dl ? ev.event_source_url : ev.referrer_url;
        if (!text(name, raw, field.emplace())) return false;
        if (field->empty()) field.reset();
        return true;
    }
    case p_ts: {
        if (!text(name, raw, value_)) return false;
        // 16 digits of milliseconds is the year 318857: anything longer is not a time.
        if (!all_digits(value_) || value_.size() > 16)
            return fail(name, "expected milliseconds since the epoch (digits)");
        std::from_chars(value_.data(), value_.data() + value_.size(), ts_ms_);
        return true;
    }
    case p_noscript:
        if (!text(name, raw, value_)) return false;
        out_.noscript = !value_.empty() && value_ != "0";
        return true;
    }
    return true;
}

template <class T>
bool HitParser::read_json(std::string_view name, std::string_view key, std::string_view json, T& out) {
    if (!one_json_container(json)) return fail(name, "expected JSON");
    // The NDJSON reader's walk, so contents and content_ids read exactly as in
    // `capi send`: one reader per thread keeps its buffers.
    thread_local EventReader reader;
    thread_local std::string doc;
    thread_local Event parsed;
    FieldError err;
    doc.assign(R"({"custom_data":{")");
    doc.append(key);
    doc.append("\":");
    if (trim(json).front() == '{') {
        doc += '[';  // one object of contents: a list of one
        doc.append(json);
        doc += ']';
    } else {
        doc.append(json);
    }
    doc.append("}}");
    if (!reader.parse(doc, parsed, err)) {
        // "custom_data.contents[0].quantity" -> cd[contents]: "[0].quantity: ..."
        const std::string prefix = "custom_data." + std::string(key);
        std::string reason;
        if (err.path.size() > prefix.size() && err.path.compare(0, prefix.size(), prefix) == 0) {
            reason.assign(err.path, prefix.size());
            if (!reason.empty() && reason.front() == '.') reason.erase(0, 1);
            reason += ": ";
        }
        reason += err.reason;
        return fail(name, reason);
    }
    if constexpr (std::is_same_v<T, std::vector<std::string>>) out = std::move(parsed.custom_data->content_ids);
    else out = std::move(parsed.custom_data->contents);
    return true;
}

template <class R>
bool HitParser::custom_field(std::string_view name, std::string_view raw, typename R::value& out) {
    using V = typename R::value;
    if constexpr (std::is_same_v<V, std::optional<std::string>>) {
        if (!text(name, raw, out.emplace())) return false;
        if (out->empty()) out.reset();
        return true;
    } else {
        if (!text(name, raw, value_)) return false;
        if (value_.empty()) return true;
        if constexpr (std::is_same_v<V, std::optional<double>>) {
            double d = 0;
            if (!parse_number(value_, d)) return fail(name, "expected a finite decimal number");
            out = d;
        } else if constexpr (std::is_same_v<V, std::optional<std::int64_t>>) {
            std::int64_t i = 0;
            if (!parse_integer(value_, i)) return fail(name, "expected an integer");
            out = i;
        } else if constexpr (R::kind == wire::Kind::string_list) {
            const std::string_view v = trim(value_);
            if (!v.empty() && v.front() == '[') {
                if (plain_string_array(v, out)) return true;
                return read_json(name, R::key, v, out);
            }
            // One id, or ids separated by commas (hand-written image tags).
            out.clear();
            std::string_view rest = value_;
            while (true) {
                const std::size_t comma = rest.find(',');
                const std::string_view id = trim(rest.substr(0, comma));
                if (id.empty()) return fail(name, "empty id in the list");
                out.emplace_back(id);
                if (comma == std::string_view::npos) break;
                rest.remove_prefix(comma + 1);
            }
            return true;
        } else if constexpr (R::kind == wire::Kind::object_list) {
            const std::string_view v = trim(value_);
            if (!v.empty() && (v.front() == '[' || v.front() == '{') && plain_contents(v, out)) return true;
            return read_json(name, R::key, value_, out);
        } else if constexpr (R::kind == wire::Kind::enumeration) {
            using E = typename V::value_type;
            out = wire::enum_info<E>::parse(value_);
            if (!out) return fail(name, wire::enum_info<E>::expected);
        } else {
            static_assert(sizeof(V) == 0, "a custom_data row kind parse_hit does not read");
        }
        return true;
    }
}

/// Finds `key` among T's typed rows and calls fill(row) for it, once: a key
/// whose bit is already in `seen` (one bit per row) sets `again` instead.
/// False when `key` is not a typed key of T.
template <class T, class F>
bool dispatch_key(std::string_view key, std::uint64_t& seen, bool& again, F&& fill) {
    std::size_t index = 0;
    return wire::schema<T>::any([&](auto r) {
        using R = decltype(r);
        const std::uint64_t bit = std::uint64_t{1} << index++;
        if constexpr (R::kind == wire::Kind::raw) {
            return false;
        } else {
            if (!same_key(key, R::key)) return false;
            if (seen & bit) again = true;
            else {
                seen |= bit;
                fill(r);
            }
            return true;
        }
    });
}

bool HitParser::custom(std::string_view name, std::string_view key, std::string_view raw) {
    if (key.empty()) return fail(name, "empty key");
    CustomData& cd = custom_data();
    bool ok = true, again = false;
    const bool typed = dispatch_key<CustomData>(key, seen_cd_, again, [&](auto r) {
        using R = decltype(r);
        ok = custom_field<R>(name, raw, cd.*R::member);
    });
    if (typed) return again ? repeated(name) : ok;
    // A custom property: a JSON string, whatever it looks like (a page's "007"
    // is not the number 7).
    if (!is_valid_utf8(key)) return fail(name, "not valid UTF-8");
    for (const RawMember& m : cd.custom_properties) {
        if (m.key == key) return repeated(name);
    }
    if (!text(name, raw, value_)) return false;
    if (value_.empty()) return true;
    RawMember& m = cd.custom_properties.emplace_back();
    m.key.assign(key);
    m.json.reserve(value_.size() + 2);
    m.json += '"';
    json::append_escaped(m.json, value_);
    m.json += '"';
    return true;
}

template <class R>
bool HitParser::user_field(std::string_view name, std::string_view raw, typename R::value& out) {
    using V = typename R::value;
    if constexpr (std::is_same_v<V, std::vector<std::string>>) {
        if (!text(name, raw, value_)) return false;
        if (!value_.empty()) out.push_back(value_);
        return true;
    } else if constexpr (std::is_same_v<V, std::optional<std::string>>) {
        if (!text(name, raw, out.emplace())) return false;
        if (out->empty()) out.reset();
        return true;
    } else {
        static_assert(sizeof(V) == 0, "a user_data row kind parse_hit does not read");
    }
}

bool HitParser::user(std::string_view name, std::string_view key, std::string_view raw) {
    if (key == "client_ip_address" || key == "client_user_agent")
        return fail(name, "taken from the request, not from the hit");
    UserData& ud = out_.event.user_data;
    bool ok = true, again = false;
    const bool known = dispatch_key<UserData>(key, seen_ud_, again, [&](auto r) {
        using R = decltype(r);
        ok = user_field<R>(name, raw, ud.*R::member);
    });
    if (!known) return fail(name, "unknown user_data key");
    return again ? repeated(name) : ok;
}

bool HitParser::finish() {
    if (!(seen_top_ & p_id)) return fail("id", "required");
    if (!(seen_top_ & p_ev)) return fail("ev", "required");
    Event& ev = out_.event;
    ev.action_source = ActionSource::website;
    // `cd[color]=` alone left an empty custom_data: absent, as for the values.
    if (ev.custom_data) {
        bool any = false;
        wire::schema<CustomData>::each([&](auto r) {
            const auto& v = (*ev.custom_data).*decltype(r)::member;
            if constexpr (requires { v.has_value(); }) any = any || v.has_value();
            else any = any || !v.empty();
        });
        if (!any) ev.custom_data.reset();
    }
    const std::int64_t now_ms = duration_cast<milliseconds>(now_.time_since_epoch()).count();
    if (ts_ms_ < 0) {
        ev.event_time = now_ms / 1000;
    } else {
        const std::int64_t skew_ms = duration_cast<milliseconds>(options_.max_clock_skew).count();
        if (ts_ms_ > now_ms && ts_ms_ - now_ms > skew_ms)
            return fail("ts", "ahead of the server's clock by more than " +
                                  std::to_string(options_.max_clock_skew.count()) + " s");
        ev.event_time = (ts_ms_ > now_ms ? now_ms : ts_ms_) / 1000;
    }
    return true;
}

} // namespace

namespace detail {

bool parse_hit(std::string_view first, std::string_view second, HitTarget out, HitError& error,
               system_clock::time_point now, const HitOptions& options) {
    HitParser p(out, error, now, options);
    return p.params(first) && p.params(second) && p.finish();
}

template <class T>
struct is_vector : std::false_type {};
template <class T>
struct is_vector<std::vector<T>> : std::true_type {};

/// Every row of `obj` back to its default but for the vectors' storage (kept,
/// cleared) and, in place, user_data and custom_data's. Member by member: a
/// move-assignment of a fresh Event costs more than the allocations it saves.
/// The schemas hold every member (the encoder writes nothing else either).
template <class T>
void reset_rows(T& obj) {
    wire::schema<T>::each([&](auto r) {
        using R = decltype(r);
        using V = typename R::value;
        auto& m = obj.*R::member;
        if constexpr (is_vector<V>::value || std::is_same_v<V, std::string>) {
            m.clear();
        } else if constexpr (std::is_same_v<V, UserData>) {
            reset_rows(m);
        } else if constexpr (std::is_same_v<V, std::optional<CustomData>>) {
            // Engaged and empty, its vectors kept: parse_hit's finish() makes an
            // empty custom_data absent.
            if (m) reset_rows(*m);
        } else {
            m = V{};
        }
    });
}

void reset_for_reuse(Routed& r) {
    r.pixel_id.clear();
    reset_rows(r.event);
}

HitPath hit_path(std::string_view path) {
    static constexpr std::pair<std::string_view, std::string_view> top[] = {
        {"event_name", "ev"}, {"event_time", "ts"}, {"event_id", "eid"},
        {"event_source_url", "dl"}, {"referrer_url", "rl"},
        // Not hit parameters: what the request context filled in.
        {"user_data.client_user_agent", "User-Agent"}, {"user_data.client_ip_address", "client address"},
        {"user_data.fbp", "_fbp"}, {"user_data.fbc", "_fbc"}};
    for (const auto& [wire_path, parameter] : top) {
        if (path == wire_path) return {std::string(parameter), {}};
    }
    for (const auto& [object, prefix] : {std::pair<std::string_view, std::string_view>{"custom_data.", "cd["},
                                         std::pair<std::string_view, std::string_view>{"user_data.", "ud["}}) {
        if (path.substr(0, object.size()) != object) continue;
        const std::string_view rest = path.substr(object.size());
        const std::size_t end = rest.find_first_of(".[");
        const std::string_view key = rest.substr(0, end);
        std::string parameter;
        parameter.reserve(prefix.size() + key.size() + 1);
        parameter.append(prefix).append(key) += ']';
        // user_data.em[0]: one ud[em] per hit, so the index says nothing.
        std::string_view below = end == std::string_view::npos ? std::string_view{} : rest.substr(end);
        if (prefix == "ud[") below = {};
        return {std::move(parameter), below};
    }
    if (path == "custom_data") return {"cd", {}};
    return {std::string(path), {}};
}

} // namespace detail

bool parse_hit(std::string_view params, Hit& out, HitError& error, system_clock::time_point now,
               const HitOptions& options) {
    out = Hit{};
    error = HitError{};
    if (!detail::parse_hit(params, {}, {out.pixel_id, out.event, out.noscript}, error, now, options)) {
        out = Hit{};  // no half-read hit escapes a failure
        return false;
    }
    return true;
}

} // namespace capi::pixel
