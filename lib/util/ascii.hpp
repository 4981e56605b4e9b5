// Internal: the small ASCII string helpers several parts of the library share.
// Byte-wise and locale-free: a byte outside ASCII is never a letter, digit or
// space here. (capi::detail::trim in normalize/unicode.hpp is the Unicode one.)
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace capi::detail::ascii {

/// True for '0' to '9'.
inline constexpr bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

/// True when `s` is non-empty and every byte is '0' to '9'.
inline constexpr bool all_digits(std::string_view s) noexcept {
    if (s.empty()) return false;
    for (const char c : s)
        if (!is_digit(c)) return false;
    return true;
}

/// The value of hex digit `c` (either case), or -1 when it is not one.
inline constexpr int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/// `c` with 'A' to 'Z' lowercased; every other byte as is.
inline constexpr char to_lower(char c) noexcept {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

/// Case-insensitive equality, ASCII letters only.
inline constexpr bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (to_lower(a[i]) != to_lower(b[i])) return false;
    return true;
}

/// `s` without leading and trailing spaces and tabs (not CR, LF or others).
inline constexpr std::string_view trim(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

/// Appends `s` percent-encoded: RFC 3986's unreserved bytes (A-Z a-z 0-9 - . _ ~)
/// as they are, every other byte as %XX (uppercase hex), a space as %20: what
/// any decoder reads back byte for byte, whether it takes '+' as a space or not.
inline void append_percent_encoded(std::string& out, std::string_view s) {
    static constexpr char hex[] = "0123456789ABCDEF";
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
            c == '.' || c == '_' || c == '~') {
            out += ch;
        } else {
            const char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
            out.append(esc, 3);
        }
    }
}

/// `s` percent-encoded, as append_percent_encoded.
inline std::string percent_encode(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    append_percent_encoded(out, s);
    return out;
}

} // namespace capi::detail::ascii
