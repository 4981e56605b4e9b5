// Per-event validation against Meta's rules (docs: graph-api.md §3, normalization.md).
//
// This runs once per event on the producer's thread, at millions of events per
// second, so a valid event must cost no heap allocation: paths and reasons are
// built only when an error is reported, the currency is normalized into a string
// short enough for the small-string buffer, and raw JSON is parsed with a
// per-thread parser and padded buffer that keep their capacity between calls.
#include <capi/validate.hpp>

#include <capi/normalize.hpp>

#include "util/ascii.hpp"
#include "validate/rules.hpp"
#include "wire/schema.hpp"
#include "wire/window.hpp"

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

namespace detail {

namespace {
bool istarts_with(std::string_view s, std::string_view prefix) noexcept {
    if (s.size() < prefix.size()) return false;
    for (std::size_t i = 0; i < prefix.size(); ++i) {
        if (ascii::to_lower(s[i]) != prefix[i]) return false;
    }
    return true;
}

} // namespace

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
    // The rest as the (overlapping) last 16 bytes, when the loop stopped at the end.
    if (end - p < 16 && p != end && s.size() >= 16) {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(end - 16));
        const __m128i bad = _mm_or_si128(_mm_cmplt_epi8(v, _mm_set1_epi8(0x21)),
                                         _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7f)));
        if (_mm_movemask_epi8(bad) == 0) return true;
    }
#endif
    for (const char c : std::string_view(p, static_cast<std::size_t>(end - p))) {
        const auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u == 0x7f) return false;
    }
    return true;
}

namespace {
// Dotted-quad IPv4 exactly as glibc's inet_pton(AF_INET) accepts it: four
// decimal octets <= 255, no leading zeros, single dots. The common case,
// checked without the copy and the two library calls.
bool is_plain_ipv4(std::string_view s) noexcept {
    int octets = 0;
    std::size_t i = 0;
    while (true) {
        const std::size_t start = i;
        unsigned value = 0;
        while (i < s.size() && ascii::is_digit(s[i]) && i - start < 3) value = value * 10 + unsigned(s[i++] - '0');
        const std::size_t digits = i - start;
        if (digits == 0 || value > 255 || (digits > 1 && s[start] == '0')) return false;
        if (++octets == 4) return i == s.size();
        if (i == s.size() || s[i] != '.') return false;
        ++i;
    }
}

} // namespace

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
    if (s.size() < 2 || !ascii::is_digit(s[0]) || s[1] != '.') return false;
    s.remove_prefix(2);
    std::size_t i = 0;
    // The creation time (13 digits today): eight at a time, then one by one.
    // Every byte of w is a digit when its high nibble is 3 and adding 6 keeps it so.
    constexpr std::uint64_t ones = 0x0101010101010101ULL;
    for (std::uint64_t w; i + 8 <= s.size(); i += 8) {
        std::memcpy(&w, s.data() + i, 8);
        if ((w & ones * 0xF0) != ones * 0x30 || ((w + ones * 0x06) & ones * 0xF0) != ones * 0x30) break;
    }
    while (i < s.size() && ascii::is_digit(s[i])) ++i;
    if (i == 0 || i == s.size() || s[i] != '.') return false;
    return i + 1 < s.size();
}

} // namespace detail

namespace {

namespace chr = std::chrono;
using wire::Kind;
using detail::is_http_url;
using detail::is_ip_address;
using detail::looks_like_fb_cookie;

constexpr std::array<std::string_view, 6> attribution_methods = {
    "ard", "deeplink", "gpir", "invalid_response", "mir", "srn"};

template <std::size_t N>
constexpr bool contains(const std::array<std::string_view, N>& keys, std::string_view k) {
    return std::find(keys.begin(), keys.end(), k) != keys.end();
}

// A JSON path held as views until an error needs it as a string:
// head[index]mid[index2]tail[index3], each index omitted when negative.
struct Path {
    std::string_view head;
    std::ptrdiff_t index = -1;
    std::string_view mid = {};
    std::ptrdiff_t index2 = -1;
    std::string_view tail = {};
    std::ptrdiff_t index3 = -1;

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
        if (index3 >= 0) {
            s += '[';
            s += std::to_string(index3);
            s += ']';
        }
        return s;
    }
};

// An object of the event, as the prefix of its members' paths:
// `head[index]`, or the event itself when head is empty.
struct Object {
    std::string_view head;
    std::ptrdiff_t index = -1;

    // `key`, or its element when `element` is not negative.
    Path member(std::string_view key, std::ptrdiff_t element = -1) const {
        if (head.empty()) return Path{key, element};
        return Path{head, index, ".", -1, key, element};
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
    const Object* object;
    std::string_view key;
    std::ptrdiff_t element = -1;
};
inline Path to_path(const Path& p) { return p; }
inline Path to_path(const Where& w) { return w.object->member(w.key, w.element); }

class Checker {
public:
    explicit Checker(std::vector<FieldError>& errors) : errors_(errors) {}

    void error(const Path& path, std::string reason, FieldErrorKind kind = FieldErrorKind::invalid) {
        errors_.push_back(FieldError{path.str(), std::move(reason), kind});
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

    template <typename P>
    void finite(const std::optional<double>& d, const P& path) {
        if (d && !std::isfinite(*d)) error(to_path(path), "must be a finite number");
    }
    template <typename P>
    void non_negative(const std::optional<std::int64_t>& n, const P& path) {
        if (n && *n < 0) error(to_path(path), "must not be negative");
    }

    // An object's raw members (`list`: the member holding them, "extra" or
    // "custom_properties"); a key must not be one of the object's typed keys.
    template <class T>
    void raw_members(const RawMembers& raw, const Object& obj, std::string_view list) {
        for (std::size_t i = 0; i < raw.size(); ++i) {
            const RawMember& m = raw[i];
            const bool key_ok = !m.key.empty() && is_valid_utf8(m.key);
            if (m.key.empty()) {
                error(obj.member(list, static_cast<std::ptrdiff_t>(i)), "raw member key must not be empty");
            } else if (!key_ok) {
                error(obj.member(list, static_cast<std::ptrdiff_t>(i)), "raw member key: invalid UTF-8");
            } else {
                if (wire::schema<T>::has_key(m.key))
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
                error(key_ok ? obj.member(m.key) : obj.member(list, static_cast<std::ptrdiff_t>(i)),
                      std::string("not well-formed JSON: ") + simdjson::error_message(err));
            }
            text(m.key.size() + m.json.size(), key_ok ? obj.member(m.key) : obj.member(list, static_cast<std::ptrdiff_t>(i)));
            add_to_list(obj.head, list, m.key.size() + m.json.size());
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
        if constexpr (std::is_same_v<P, Where>) {
            // An element of a list: its bytes count towards the list as well, so
            // 45,000 small contents are blamed, not the longest single string.
            if (path.object->index >= 0) add_to_list(path.object->head, {}, bytes, path.object->index);
            else if (path.element >= 0) add_to_list(path.object->head, path.key, bytes);
        }
    }
    void count_text(bool on) noexcept { counting_ = on; }
    void check_size(std::size_t cap) {
        if (text_bytes_ <= cap) return;
        const List* heaviest_list = nullptr;
        for (std::size_t i = 0; i < lists_used_; ++i)
            if (heaviest_list == nullptr || lists_[i].bytes > heaviest_list->bytes) heaviest_list = &lists_[i];
        const std::string over = ", and the event at least " + std::to_string(text_bytes_) + ", over the " +
                                 std::to_string(cap) + "-byte event cap (max_event_bytes)";
        if (heaviest_list != nullptr && heaviest_list->bytes > heaviest_bytes_) {
            const Path where = heaviest_list->key.empty() ? Path{heaviest_list->head}
                               : heaviest_list->head.empty() ? Path{heaviest_list->key}
                                                             : Path{heaviest_list->head, -1, ".", -1, heaviest_list->key};
            error(where, "too large: " + std::to_string(heaviest_list->bytes) + " bytes serialized in its " +
                             std::to_string(heaviest_list->elements) + " elements" + over);
            return;
        }
        error(heaviest_, "too large: " + std::to_string(heaviest_bytes_) + " bytes serialized here" + over);
    }

private:
    // A list of the event (contents, a list of strings, an object's raw members)
    // and the bytes of its elements: `head` (and `key`, when the list is a member
    // of the object `head` names).
    struct List {
        std::string_view head, key;
        std::size_t bytes = 0, elements = 0;
        std::ptrdiff_t item = -1;  // a list of objects: the element the last bytes were in
    };
    // `item`: the element's index in a list of objects, whose strings arrive one
    // by one; -1 when each call is an element.
    void add_to_list(std::string_view head, std::string_view key, std::size_t bytes,
                     std::ptrdiff_t item = -1) noexcept {
        for (std::size_t i = 0; i < lists_used_; ++i) {
            List& l = lists_[i];
            if (l.head == head && l.key == key) {
                l.bytes += bytes;
                if (item < 0 || item != l.item) ++l.elements;
                l.item = item;
                return;
            }
        }
        // More lists than slots is impossible with the schema's lists (a
        // handful); past it a list just is not tracked.
        if (lists_used_ < lists_.size()) lists_[lists_used_++] = List{head, key, bytes, 1, item};
    }

    std::vector<FieldError>& errors_;
    bool counting_ = true;
    std::size_t text_bytes_ = 0, heaviest_bytes_ = 0;
    Path heaviest_{"(event)"};
    std::array<List, 16> lists_{};
    std::size_t lists_used_ = 0;
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

// Every user_data key but the raw members is a customer information parameter.
bool has_customer_information(const UserData& u) noexcept {
    return wire::schema<UserData>::any([&](auto r) {
        using R = decltype(r);
        if constexpr (R::kind == Kind::raw) return false;
        else return has_value(u.*R::member);
    });
}

void check_event_time(Checker& c, const Event& ev, chr::system_clock::time_point now,
                      const ValidationOptions& options) {
    const auto verdict = wire::check_window(ev.event_time, ev.action_source, now, options);
    if (verdict == wire::WindowVerdict::ok) return;
    const Path path{"event_time"};
    const auto kind = wire::error_kind(verdict);
    if (verdict == wire::WindowVerdict::invalid) {
        c.error(path, "required (Unix time in seconds)", kind);
        return;
    }
    const bool store = ev.action_source == ActionSource::physical_store;
    if (verdict == wire::WindowVerdict::expired) {
        std::string reason =
            "event_time is older than " + describe_age(wire::max_age(ev.action_source, options)) + " (the limit for ";
        if (store) {
            reason += "physical_store events)";
        } else if (ev.action_source == ActionSource::unset) {
            reason += "events other than physical_store)";
        } else {
            reason += to_string(ev.action_source);
            reason += " events)";
        }
        c.error(path, std::move(reason), kind);
    } else {
        const wire::Window w = wire::window_at(now, ev.action_source, options);
        std::string reason = "event_time is in the future by more than " +
                             std::to_string(options.max_future_skew.count()) + " s";
        // The classic bug: milliseconds where Meta wants seconds.
        if (ev.event_time / 1000 <= w.newest && ev.event_time / 1000 >= w.oldest)
            reason += " (milliseconds instead of seconds?)";
        c.error(path, std::move(reason), kind);
    }
}

// The rules a string row's flags name, on a value that is valid UTF-8 or not.
template <class R>
void string_rules(Checker& c, const std::optional<std::string>& v, const Object& obj) {
    // Empty strings count as absent here, as in the customer-information rule.
    if constexpr (R::has(wire::http_url)) {
        if (has_value(v) && !is_http_url(*v)) c.error(obj.member(R::key), "must be an absolute http(s) URL");
    }
    if constexpr (R::has(wire::ip_address)) {
        if (has_value(v) && !is_ip_address(*v)) c.error(obj.member(R::key), "must be an IPv4 or IPv6 address");
    }
    if constexpr (R::has(wire::fb_click_cookie)) {
        if (has_value(v) && !looks_like_fb_cookie(*v))
            c.error(obj.member(R::key), "must look like fb.<subdomain index>.<creation time ms>.<fbclid>");
    }
    if constexpr (R::has(wire::fb_browser_cookie)) {
        if (has_value(v) && !looks_like_fb_cookie(*v))
            c.error(obj.member(R::key), "must look like fb.<subdomain index>.<creation time ms>.<random>");
    }
    if constexpr (R::has(wire::attribution_method)) {
        if (v && !contains(attribution_methods, *v))
            c.error(obj.member(R::key), "must be one of ard, deeplink, gpir, invalid_response, mir, srn");
    }
}

// The checks the schema's rows imply, as passes over an object's rows in wire
// order. Objects run the passes one after another, in the order their errors
// have always been reported; the event runs them all in one pass, with its
// own rules between the rows.
enum Pass : unsigned {
    utf8_pass = 1,          // every string valid UTF-8 (lists: with LDU when rules_pass)
    finite_pass = 2,        // numbers finite: JSON cannot carry NaN or infinity
    non_negative_pass = 4,  // integers the row says must not be negative
    rules_pass = 8,         // the rules string rows' flags name
    all_passes = 15,
};

struct NoHook {
    template <class R>
    void operator()(R) const noexcept {}
};

template <unsigned Passes, class T, class Pre = NoHook, class Post = NoHook>
void sweep(Checker& c, const T& obj, const Object& at, Pre&& pre = {}, Post&& post = {}) {
    wire::schema<T>::each([&](auto r) {
        using R = decltype(r);
        using V = typename R::value;
        pre(r);
        const auto& v = obj.*R::member;
        // Normalized values (hashed PII, the currency) are not sent verbatim,
        // so they do not count towards the event's size bound.
        constexpr bool verbatim = !R::is_hashed() && R::kind != Kind::normalized;
        if constexpr (std::is_same_v<V, std::string> || std::is_same_v<V, std::optional<std::string>>) {
            if constexpr ((Passes & utf8_pass) != 0) {
                if constexpr (!verbatim) c.count_text(false);
                c.utf8(v, Where{&at, R::key});
                if constexpr (!verbatim) c.count_text(true);
            }
            if constexpr ((Passes & rules_pass) != 0 && std::is_same_v<V, std::optional<std::string>>)
                string_rules<R>(c, v, at);
        } else if constexpr (std::is_same_v<V, std::vector<std::string>> ||
                             std::is_same_v<V, std::optional<std::vector<std::string>>>) {
            if constexpr ((Passes & utf8_pass) != 0) {
                const std::vector<std::string>* list = nullptr;
                if constexpr (std::is_same_v<V, std::vector<std::string>>) list = &v;
                else if (v) list = &*v;
                if (list != nullptr) {
                    if constexpr (!verbatim) c.count_text(false);
                    for (std::size_t i = 0; i < list->size(); ++i) {
                        const Where where{&at, R::key, static_cast<std::ptrdiff_t>(i)};
                        c.utf8(std::string_view((*list)[i]), where);
                        // Meta knows one option and matches it case-sensitively.
                        if constexpr ((Passes & rules_pass) != 0 && R::has(wire::ldu)) {
                            if ((*list)[i] != "LDU") c.error(to_path(where), "must be \"LDU\"");
                        }
                    }
                    if constexpr (!verbatim) c.count_text(true);
                }
            }
        } else if constexpr (std::is_same_v<V, std::optional<double>>) {
            if constexpr ((Passes & finite_pass) != 0) c.finite(v, Where{&at, R::key});
        } else if constexpr (std::is_same_v<V, std::optional<std::int64_t>> && R::has(wire::non_negative)) {
            if constexpr ((Passes & non_negative_pass) != 0) c.non_negative(v, Where{&at, R::key});
        }
        post(r);
    });
}

// The raw members of an object, under the name of its raw row.
template <class T>
void check_raw(Checker& c, const T& obj, const Object& at) {
    wire::schema<T>::each([&](auto r) {
        using R = decltype(r);
        if constexpr (R::kind == Kind::raw) c.raw_members<T>(obj.*R::member, at, R::key);
    });
}

void check_user_data(Checker& c, const UserData& u) {
    const Object at{wire::schema<UserData>::name};
    if (!has_customer_information(u)) c.error(Path{at.head}, "needs at least one customer information parameter");
    sweep<utf8_pass>(c, u, at);
    sweep<rules_pass>(c, u, at);
    check_raw(c, u, at);
}

void check_content(Checker& c, const Content& item, std::ptrdiff_t i) {
    const Object at{wire::schema<Content>::name, i};
    sweep<utf8_pass>(c, item, at);
    sweep<finite_pass>(c, item, at);
    sweep<non_negative_pass>(c, item, at);
    check_raw(c, item, at);
}

void check_custom_data(Checker& c, const CustomData& cd, bool purchase) {
    const Object at{wire::schema<CustomData>::name};
    sweep<finite_pass>(c, cd, at);
    sweep<non_negative_pass>(c, cd, at);

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
            // The rule's own reason, unless it only says the same thing again.
            if (st == NormalizeStatus::rejected && !why.empty() && why.find("ISO 4217") == std::string_view::npos) {
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

    sweep<utf8_pass>(c, cd, at);
    for (std::size_t i = 0; i < cd.contents.size(); ++i)
        check_content(c, cd.contents[i], static_cast<std::ptrdiff_t>(i));
    check_raw(c, cd, at);
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
    const Object at{wire::schema<AppData>::name};
    sweep<utf8_pass>(c, a, at);
    check_raw(c, a, at);
}

void check_original_event_data(Checker& c, const OriginalEventData& o) {
    const Object at{wire::schema<OriginalEventData>::name};
    sweep<utf8_pass>(c, o, at);
    check_raw(c, o, at);
}

void check_attribution_data(Checker& c, const AttributionData& a) {
    const Object at{wire::schema<AttributionData>::name};
    sweep<utf8_pass>(c, a, at);
    sweep<finite_pass>(c, a, at);
    sweep<rules_pass>(c, a, at);
    check_raw(c, a, at);
}

} // namespace

std::vector<FieldError> validate(const Event& ev, std::chrono::system_clock::time_point now,
                                 const ValidationOptions& options) {
    std::vector<FieldError> errors;
    Checker c(errors);

    const bool website = ev.action_source == ActionSource::website;
    const bool app = ev.action_source == ActionSource::app;
    const bool purchase = ev.event_name == event_names::purchase;

    // One pass over the event's rows; the event's own rules go before (pre) or
    // after (post) the row they concern.
    auto pre = [&](auto r) {
        using R = decltype(r);
        if constexpr (wire::is_member<R, &Event::event_name>) {
            if (ev.event_name.empty()) c.error(Path{R::key}, "required");
        } else if constexpr (wire::is_member<R, &Event::event_source_url>) {
            if (website && options.require_website_fields && !has_value(ev.event_source_url))
                c.error(Path{R::key}, "required (website events)");
        }
    };
    auto post = [&](auto r) {
        using R = decltype(r);
        if constexpr (wire::is_member<R, &Event::event_time>) {
            check_event_time(c, ev, now, options);
            if (ev.action_source == ActionSource::unset) c.error(Path{"action_source"}, "required");
        } else if constexpr (wire::is_member<R, &Event::user_data>) {
            if (website && options.require_website_fields && !has_value(ev.user_data.client_user_agent))
                c.error(Path{"user_data.client_user_agent"}, "required (website events)");
            check_user_data(c, ev.user_data);
        } else if constexpr (wire::is_member<R, &Event::custom_data>) {
            if (ev.custom_data) {
                check_custom_data(c, *ev.custom_data, purchase);
            } else if (purchase) {
                c.error(Path{"custom_data.currency"}, "required (Purchase events)");
                c.error(Path{"custom_data.value"}, "required (Purchase events)");
            }
        } else if constexpr (wire::is_member<R, &Event::app_data>) {
            if (ev.app_data) {
                check_app_data(c, *ev.app_data, app);
            } else if (app) {
                c.error(Path{R::key}, "required (app events)");
            }
        } else if constexpr (wire::is_member<R, &Event::original_event_data>) {
            if (ev.original_event_data) check_original_event_data(c, *ev.original_event_data);
        } else if constexpr (wire::is_member<R, &Event::attribution_data>) {
            if (ev.attribution_data) check_attribution_data(c, *ev.attribution_data);
        } else {
            static_assert(R::kind != Kind::object, "a nested object the validator does not check");
        }
    };
    const Object top{};
    sweep<all_passes>(c, ev, top, pre, post);
    check_raw(c, ev, top);
    c.check_size(options.max_event_bytes);
    return errors;
}

} // namespace capi
