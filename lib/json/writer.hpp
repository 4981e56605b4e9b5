// Internal: a JSON writer that appends straight to a std::string, or to a
// json::Buffer (the encoder's: inline appends), with no tree.
//
// The caller drives the structure (begin_object, key, value, ...); the writer
// inserts commas and escapes strings. Strings must be valid UTF-8 (validation
// guarantees it before anything reaches the writer); the writer escapes `"`, `\`,
// control characters and U+2028/U+2029 (legal in JSON but line breaks for
// JavaScript consumers and for line-oriented logs).
#pragma once

#include "json/buffer.hpp"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace capi::json {

namespace detail {
// True for bytes that stop the plain-copy loop: control characters, '"', '\\', and
// 0xE2 (the lead byte of U+2028/U+2029, checked precisely when seen).
struct EscapeTable {
    bool stop[256] = {};
    constexpr EscapeTable() {
        for (int c = 0; c < 0x20; ++c) stop[c] = true;
        stop[static_cast<unsigned char>('"')] = true;
        stop[static_cast<unsigned char>('\\')] = true;
        stop[0xE2] = true;
    }
};
inline constexpr EscapeTable escape_table{};

/// Length of the longest prefix of `s` that needs no escaping.
[[gnu::always_inline]] inline std::size_t plain_prefix(std::string_view s) noexcept {
    const char* const begin = s.data();
    const char* p = begin;
    const char* const end = p + s.size();
#if defined(__SSE2__)
    // 16 bytes at a time while they are printable ASCII other than '"' and '\\'
    // (a signed compare below 0x20 also catches every byte >= 0x80).
    const auto plain16 = [](__m128i v) {
        const __m128i bad = _mm_or_si128(
            _mm_cmplt_epi8(v, _mm_set1_epi8(0x20)),
            _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))));
        return _mm_movemask_epi8(bad) == 0;
    };
    const auto block_ok = [&](const char* q) {
        return plain16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q)));
    };
    const auto n = s.size();
    if (n >= 16) {
        while (end - p >= 16) {
            if (!block_ok(p)) goto bytewise;
            p += 16;
        }
        // The last partial block, as the (overlapping) last 16 bytes.
        if (p == end || block_ok(end - 16)) return n;
    } else if (n >= 4) {
        // A short string (most keys' values: ids, names, codes) in one block:
        // two overlapping 8-byte loads, or two 4-byte loads repeated, so every
        // lane holds one of its bytes (no padding byte to reject).
        std::uint64_t lo, hi;
        if (n >= 8) {
            std::memcpy(&lo, p, 8);
            std::memcpy(&hi, end - 8, 8);
        } else {
            std::uint32_t a, b;
            std::memcpy(&a, p, 4);
            std::memcpy(&b, end - 4, 4);
            lo = hi = a | std::uint64_t{b} << 32;
        }
        if (plain16(_mm_set_epi64x(static_cast<long long>(hi), static_cast<long long>(lo)))) return n;
    }
bytewise:
#endif
    while (p < end) {
        const auto c = static_cast<unsigned char>(*p);
        if (escape_table.stop[c]) {
            if (c != 0xE2) break;
            // U+2028 / U+2029 are E2 80 A8 / E2 80 A9; other E2 sequences are plain.
            if (end - p >= 3 && static_cast<unsigned char>(p[1]) == 0x80 &&
                (static_cast<unsigned char>(p[2]) & 0xFE) == 0xA8)
                break;
        }
        ++p;
    }
    return static_cast<std::size_t>(p - begin);
}

} // namespace detail

/// Appends `s` escaped (without the surrounding quotes) to `out` (a std::string
/// or a json::Buffer).
template <typename Out>
void append_escaped(Out& out, std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    while (!s.empty()) {
        // Copy the longest run that needs no escaping in one go.
        const std::size_t run = detail::plain_prefix(s);
        out.append(s.data(), run);
        if (run == s.size()) break;
        const auto c = static_cast<unsigned char>(s[run]);
        std::size_t used = 1;
        switch (c) {
            case '"': out.append("\\\"", 2); break;
            case '\\': out.append("\\\\", 2); break;
            case '\b': out.append("\\b", 2); break;
            case '\f': out.append("\\f", 2); break;
            case '\n': out.append("\\n", 2); break;
            case '\r': out.append("\\r", 2); break;
            case '\t': out.append("\\t", 2); break;
            case 0xE2:
                out.append(static_cast<unsigned char>(s[run + 2]) == 0xA8 ? "\\u2028" : "\\u2029", 6);
                used = 3;
                break;
            default: {
                const char buf[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xF]};
                out.append(buf, 6);
            }
        }
        s.remove_prefix(run + used);
    }
}

namespace detail {

/// Writes `s` escaped as append_escaped() does, at `p`, which has room for 6
/// bytes per byte of `s` (a control character becomes \u00XX); returns the end.
inline char* escape_into(char* p, std::string_view s) noexcept {
    static constexpr char hex[] = "0123456789abcdef";
    while (true) {
        const std::size_t run = plain_prefix(s);
        Buffer::copy_bytes(p, s.data(), run);
        p += run;
        if (run == s.size()) return p;
        const auto c = static_cast<unsigned char>(s[run]);
        std::size_t used = 1;
        const auto two = [&](char e) {
            p[0] = '\\';
            p[1] = e;
            p += 2;
        };
        switch (c) {
            case '"': two('"'); break;
            case '\\': two('\\'); break;
            case '\b': two('b'); break;
            case '\f': two('f'); break;
            case '\n': two('n'); break;
            case '\r': two('r'); break;
            case '\t': two('t'); break;
            case 0xE2:
                std::memcpy(p, static_cast<unsigned char>(s[run + 2]) == 0xA8 ? "\\u2028" : "\\u2029", 6);
                p += 6;
                used = 3;
                break;
            default: {
                const char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xF]};
                std::memcpy(p, u, 6);
                p += 6;
            }
        }
        s.remove_prefix(run + used);
    }
}

// Room for n bytes at the end of `out`, then its end set to where the writing
// stopped: json::Buffer's own room()/commit(), or a std::string resized.
template <typename Out>
char* room(Out& out, std::size_t n) {
    return out.room(n);
}
template <typename Out>
void commit(Out& out, const char* end) noexcept {
    out.commit(end);
}
inline char* room(std::string& out, std::size_t n) {
    const std::size_t old = out.size();
    out.resize(old + n);
    return out.data() + old;
}
inline void commit(std::string& out, const char* end) noexcept {
    out.resize(static_cast<std::size_t>(end - out.data()));
}

} // namespace detail

/// Writes JSON into `Out`: std::string, or json::Buffer (lib/json/buffer.hpp)
/// where every append is inline (what the encoder uses). A member or value is
/// written with one capacity check for all its pieces (room for its longest
/// form, then its end committed), not one per piece.
template <typename Out>
class BasicWriter {
public:
    explicit BasicWriter(Out& out) noexcept : out_(out) {}

    void begin_object() { open_('{'); }
    void end_object() { out_.push_back('}'); first_ = false; }
    void begin_array() { open_('['); }
    void end_array() { out_.push_back(']'); first_ = false; }

    /// Writes `"k":` with `k` escaped; the next value call completes the member.
    void key(std::string_view k) {
        comma_();
        out_.push_back('"');
        append_escaped(out_, k);
        out_.append("\":", 2);
        first_ = true;  // the value after a key takes no comma
    }
    /// key() for the library's own key literals, which need no escaping.
    void lit_key(std::string_view k) {
        char* p = detail::room(out_, k.size() + 4);
        detail::commit(out_, put_key_(p, k));
    }

    void string(std::string_view s) {
        const std::size_t plain = detail::plain_prefix(s);
        // A long string to escape grows the buffer by what it takes, not by six
        // times its size.
        if (s.size() - plain > room_limit_) {
            quote_();
            first_ = false;
            append_escaped(out_, s);
            out_.push_back('"');
            return;
        }
        char* p = detail::room(out_, 1 + value_room_(s, plain));
        detail::commit(out_, put_string_(p, s, plain));
    }
    /// A string known to need no escaping (hex digests, enum names).
    void string_raw(std::string_view s) {
        char* p = detail::room(out_, s.size() + 3);
        *p = ',';
        p += !first_;
        first_ = false;
        *p++ = '"';
        Buffer::copy_bytes(p, s.data(), s.size());
        p += s.size();
        *p++ = '"';
        detail::commit(out_, p);
    }
    /// string_raw() for a literal (the digest holes): a copy of a size known
    /// at compile time.
    template <std::size_t N>
    void string_raw(const char (&s)[N]) {
        char* p = detail::room(out_, N + 2);
        *p = ',';
        p += !first_;
        first_ = false;
        *p++ = '"';
        std::memcpy(p, s, N - 1);
        p += N - 1;
        *p++ = '"';
        detail::commit(out_, p);
    }
    void integer(std::int64_t v) {
        char* p = detail::room(out_, 24);
        detail::commit(out_, put_integer_(p, v));
    }
    /// Shortest form that round-trips; non-finite values must be rejected earlier
    /// (JSON cannot carry them), and are written as null as a last defence.
    void number(double v) {
        comma_();
        char buf[32];
        if (const std::size_t n = cents_(v, buf)) {
            out_.append(buf, n);
            return;
        }
        if (!std::isfinite(v)) { out_.append("null", 4); return; }
        auto r = std::to_chars(buf, buf + sizeof buf, v);
        // A large integral double comes out as a long digit string ("3e19" as
        // "30000000000000000000"), which parsers read as an integer and reject
        // when it overflows 64 bits; scientific form keeps it a double.
        if (std::fabs(v) >= 1e15 &&
            std::string_view(buf, static_cast<std::size_t>(r.ptr - buf)).find_first_of(".e") ==
                std::string_view::npos)
            r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
        out_.append(buf, static_cast<std::size_t>(r.ptr - buf));
    }
    void boolean(bool v) {
        comma_();
        if (v) out_.append("true", 4);
        else out_.append("false", 5);
    }
    void null() { comma_(); out_.append("null", 4); }
    /// Already-serialized JSON (a validated raw member).
    void raw(std::string_view json) { comma_(); out_.append(json.data(), json.size()); }

    /// Members under the library's own key literals (written unescaped, see lit_key).
    void member(std::string_view k, std::string_view v) {
        const std::size_t plain = detail::plain_prefix(v);
        if (v.size() - plain > room_limit_) {
            lit_key(k);
            string(v);
            return;
        }
        char* p = detail::room(out_, k.size() + 4 + value_room_(v, plain));
        detail::commit(out_, put_string_(put_key_(p, k), v, plain));
    }
    void member_int(std::string_view k, std::int64_t v) {
        char* p = detail::room(out_, k.size() + 4 + 24);
        detail::commit(out_, put_integer_(put_key_(p, k), v));
    }
    void member_num(std::string_view k, double v) { lit_key(k); number(v); }
    void member_bool(std::string_view k, bool v) { lit_key(k); boolean(v); }

    Out& buffer() noexcept { return out_; }
    /// Resets the comma state (after the caller wrote structure by hand).
    void set_first(bool first) noexcept { first_ = first; }

private:
    // Strings up to this size take room for their longest escaped form at once.
    static constexpr std::size_t room_limit_ = 4096;

    // `,"k":` (no comma first in its object) at p, which has room for it.
    char* put_key_(char* p, std::string_view k) noexcept {
        *p = ',';
        p += !first_;
        *p++ = '"';
        Buffer::copy_bytes(p, k.data(), k.size());
        p += k.size();
        p[0] = '"';
        p[1] = ':';
        first_ = true;  // the value after a key takes no comma
        return p + 2;
    }
    // Room a string value takes, quotes included, its first `plain` bytes
    // needing no escaping: exact for a string that needs none (most), so a
    // buffer sized to its event still fits it; six bytes per byte after that.
    static std::size_t value_room_(std::string_view s, std::size_t plain) noexcept {
        return plain + 6 * (s.size() - plain) + 2;
    }
    // The string value `s` (its first `plain` bytes needing no escaping),
    // escaped and quoted, at p (room: 1 + value_room_()).
    char* put_string_(char* p, std::string_view s, std::size_t plain) noexcept {
        *p = ',';
        p += !first_;
        first_ = false;
        *p++ = '"';
        Buffer::copy_bytes(p, s.data(), plain);
        p += plain;
        if (plain != s.size()) p = detail::escape_into(p, s.substr(plain));
        *p++ = '"';
        return p;
    }
    // The integer at p (room: 22).
    char* put_integer_(char* p, std::int64_t v) noexcept {
        *p = ',';
        p += !first_;
        first_ = false;
        return std::to_chars(p, p + 21, v).ptr;
    }

    // Prices and amounts are mostly whole cents, and libstdc++'s shortest
    // to_chars(double) costs ~40 ns. When |v| is n/100 for an integer n below
    // 1e15, the decimal n/100 is the only one of at most 15 significant digits
    // that reads back as v, so it is what to_chars writes (in fixed form: for a
    // fraction, or a whole number below 1e5, scientific is never shorter).
    // Writes it to `buf` and returns its length, or 0 for anything else
    // (pinned against to_chars in test/fast_paths_test.cpp).
    static std::size_t cents_(double v, char* buf) noexcept {
        const double a = v < 0 ? -v : v;
        if (!(a >= 0.01 && a < 1e13)) return 0;  // also NaN and infinities
        const auto n = static_cast<std::int64_t>(a * 100.0 + 0.5);
        if (static_cast<double>(n) / 100.0 != a) return 0;
        const std::int64_t whole = n / 100, cents = n % 100;
        if (cents == 0 && whole >= 100000) return 0;  // "1e+05" is shorter than "100000"
        char* p = buf;
        if (v < 0) *p++ = '-';
        p = std::to_chars(p, buf + 24, whole).ptr;
        if (cents != 0) {
            *p++ = '.';
            *p++ = static_cast<char>('0' + cents / 10);
            if (cents % 10 != 0) *p++ = static_cast<char>('0' + cents % 10);
        }
        return static_cast<std::size_t>(p - buf);
    }

    static constexpr char comma_quote_[] = ",\"";
    // `,"`, or `"` first in its object or array.
    void quote_() { out_.append(comma_quote_ + first_, 2 - first_); }
    void comma_() {
        if (!first_) out_.push_back(',');
        first_ = false;
    }
    void open_(char c) {
        comma_();
        out_.push_back(c);
        first_ = true;
    }

    Out& out_;
    bool first_ = true;
};

using Writer = BasicWriter<std::string>;

/// Appends `s` percent-encoded for application/x-www-form-urlencoded.
inline void append_form_encoded(std::string& out, std::string_view s) {
    static constexpr char hex[] = "0123456789ABCDEF";
    for (char ch : s) {
        auto c = static_cast<unsigned char>(ch);
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '*') {
            out += ch;
        } else if (c == ' ') {
            out += '+';
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 0xF];
        }
    }
}

} // namespace capi::json
