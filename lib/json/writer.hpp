// Internal: a JSON writer that appends straight to a std::string (no tree).
//
// The caller drives the structure (begin_object, key, value, ...); the writer
// inserts commas and escapes strings. Strings must be valid UTF-8 (validation
// guarantees it before anything reaches the writer); the writer escapes `"`, `\`,
// control characters and U+2028/U+2029 (legal in JSON but line breaks for
// JavaScript consumers and for line-oriented logs).
#pragma once

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
} // namespace detail

namespace detail {

/// Length of the longest prefix of `s` that needs no escaping.
inline std::size_t plain_prefix(std::string_view s) noexcept {
    const char* const begin = s.data();
    const char* p = begin;
    const char* const end = p + s.size();
#if defined(__SSE2__)
    // 16 bytes at a time while they are printable ASCII other than '"' and '\\'
    // (a signed compare below 0x20 also catches every byte >= 0x80).
    const auto block_ok = [](const char* q) {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q));
        const __m128i bad = _mm_or_si128(
            _mm_cmplt_epi8(v, _mm_set1_epi8(0x20)),
            _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))));
        return _mm_movemask_epi8(bad) == 0;
    };
    while (end - p >= 16) {
        if (!block_ok(p)) goto bytewise;
        p += 16;
    }
    // The last partial block, as the (overlapping) last 16 bytes of a long string.
    if (p != end && s.size() >= 16 && block_ok(end - 16)) return s.size();
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

inline char* put(char* p, std::string_view s) noexcept {
    std::memcpy(p, s.data(), s.size());
    return p + s.size();
}

/// A member's pieces (comma, quotes, key, value) are put together here and
/// appended in one call: one capacity check and copy instead of one per piece
/// (resize() then overwrite zero-fills first, which costs more than it saves).
constexpr std::size_t piece_max = 256;

} // namespace detail

/// Appends `s` escaped (without the surrounding quotes) to `out`.
inline void append_escaped(std::string& out, std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    while (!s.empty()) {
        // Copy the longest run that needs no escaping in one go.
        const std::size_t run = detail::plain_prefix(s);
        out.append(s.data(), run);
        if (run == s.size()) break;
        const auto c = static_cast<unsigned char>(s[run]);
        std::size_t used = 1;
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            case 0xE2:
                out += (static_cast<unsigned char>(s[run + 2]) == 0xA8) ? "\\u2028" : "\\u2029";
                used = 3;
                break;
            default: {
                char buf[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xF]};
                out.append(buf, 6);
            }
        }
        s.remove_prefix(run + used);
    }
}

class Writer {
public:
    explicit Writer(std::string& out) noexcept : out_(out) {}

    void begin_object() { open_('{'); }
    void end_object() { out_ += '}'; first_ = false; }
    void begin_array() { open_('['); }
    void end_array() { out_ += ']'; first_ = false; }

    /// Writes `"k":` with `k` escaped; the next value call completes the member.
    void key(std::string_view k) {
        comma_();
        out_ += '"';
        append_escaped(out_, k);
        out_ += "\":";
        first_ = true;  // the value after a key takes no comma
    }
    /// key() for the library's own key literals, which need no escaping.
    void lit_key(std::string_view k) {
        if (k.size() + 4 > detail::piece_max) {
            comma_();
            out_ += '"';
            out_ += k;
            out_ += "\":";
            first_ = true;
            return;
        }
        char buf[detail::piece_max];
        char* p = buf;
        if (!first_) *p++ = ',';
        *p++ = '"';
        p = detail::put(p, k);
        *p++ = '"';
        *p++ = ':';
        out_.append(buf, static_cast<std::size_t>(p - buf));
        first_ = true;
    }

    void string(std::string_view s) {
        if (detail::plain_prefix(s) == s.size()) {
            string_raw(s);
            return;
        }
        comma_();
        out_ += '"';
        append_escaped(out_, s);
        out_ += '"';
    }
    /// A string known to need no escaping (hex digests, enum names).
    void string_raw(std::string_view s) {
        if (s.size() + 3 > detail::piece_max) {
            comma_();
            out_ += '"';
            out_ += s;
            out_ += '"';
            return;
        }
        char buf[detail::piece_max];
        char* p = buf;
        if (!first_) *p++ = ',';
        *p++ = '"';
        p = detail::put(p, s);
        *p++ = '"';
        out_.append(buf, static_cast<std::size_t>(p - buf));
        first_ = false;
    }
    void integer(std::int64_t v) {
        char buf[24];
        char* b = buf;
        if (!first_) *b++ = ',';
        first_ = false;
        auto r = std::to_chars(b, buf + sizeof buf, v);
        out_.append(buf, static_cast<std::size_t>(r.ptr - buf));
    }
    /// Shortest form that round-trips; non-finite values must be rejected earlier
    /// (JSON cannot carry them), and are written as null as a last defence.
    void number(double v) {
        comma_();
        if (!std::isfinite(v)) { out_ += "null"; return; }
        char buf[32];
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
    void boolean(bool v) { comma_(); out_ += v ? "true" : "false"; }
    void null() { comma_(); out_ += "null"; }
    /// Already-serialized JSON (a validated raw member).
    void raw(std::string_view json) { comma_(); out_ += json; }

    /// Members under the library's own key literals (written unescaped, see lit_key).
    void member(std::string_view k, std::string_view v) {
        if (k.size() + v.size() + 6 > detail::piece_max || detail::plain_prefix(v) != v.size()) {
            lit_key(k);
            string(v);
            return;
        }
        // `,"k":"v"` in one piece.
        char buf[detail::piece_max];
        char* p = buf;
        if (!first_) *p++ = ',';
        *p++ = '"';
        p = detail::put(p, k);
        *p++ = '"';
        *p++ = ':';
        *p++ = '"';
        p = detail::put(p, v);
        *p++ = '"';
        out_.append(buf, static_cast<std::size_t>(p - buf));
        first_ = false;
    }
    void member_int(std::string_view k, std::int64_t v) { lit_key(k); integer(v); }
    void member_num(std::string_view k, double v) { lit_key(k); number(v); }
    void member_bool(std::string_view k, bool v) { lit_key(k); boolean(v); }

    std::string& buffer() noexcept { return out_; }
    /// Resets the comma state (after the caller wrote structure by hand).
    void set_first(bool first) noexcept { first_ = first; }

private:
    void comma_() {
        if (!first_) out_ += ',';
        first_ = false;
    }
    void open_(char c) {
        if (first_) {
            out_ += c;
        } else {
            const char two[2] = {',', c};
            out_.append(two, 2);
        }
        first_ = true;
    }

    std::string& out_;
    bool first_ = true;
};

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
