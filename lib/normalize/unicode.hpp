// capi: private UTF-8 and Unicode helpers for normalization.
//
// Every function taking a string_view other than is_valid_utf8 (public, in
// capi/normalize.hpp) expects well-formed UTF-8: callers validate once, up front,
// so the per-character paths need no error handling.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace capi::detail {

/// True when every byte of `s` is below 0x80 (the common case for PII). Whole
/// words at a time, the tail as an overlapping last word: no byte loop.
inline bool is_ascii(std::string_view s) noexcept {
    const char* p = s.data();
    const std::size_t n = s.size();
#if defined(__SSE2__)
    if (n >= 16) {
        const auto load = [](const char* q) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(q)); };
        __m128i acc = load(p + n - 16);
        for (std::size_t i = 0; i + 16 <= n; i += 16) acc = _mm_or_si128(acc, load(p + i));
        return _mm_movemask_epi8(acc) == 0;
    }
#endif
    const auto word = [p](std::size_t i, std::size_t size) {
        std::uint64_t w = 0;
        std::memcpy(&w, p + i, size);  // size is 8 or 4: a single load
        return w;
    };
    std::uint64_t acc;
    if (n >= 8) {
        acc = word(n - 8, 8);
        for (std::size_t i = 0; i + 8 <= n; i += 8) acc |= word(i, 8);
    } else if (n >= 4) {
        acc = word(0, 4) | word(n - 4, 4);
    } else {
        acc = 0;
        for (std::size_t i = 0; i < n; ++i) acc |= static_cast<unsigned char>(p[i]);
    }
    return (acc & 0x8080808080808080ULL) == 0;
}

/// Decodes the code point starting at byte `i` of valid UTF-8 `s`; advances `i`.
inline char32_t decode_utf8(std::string_view s, std::size_t& i) noexcept {
    const auto b0 = static_cast<unsigned char>(s[i]);
    if (b0 < 0x80) {
        ++i;
        return b0;
    }
    const auto cont = [&](std::size_t k) {
        return char32_t{static_cast<unsigned char>(s[i + k])} & 0x3F;
    };
    char32_t c;
    if (b0 < 0xE0) {
        c = ((char32_t{b0} & 0x1F) << 6) | cont(1);
        i += 2;
    } else if (b0 < 0xF0) {
        c = ((char32_t{b0} & 0x0F) << 12) | (cont(1) << 6) | cont(2);
        i += 3;
    } else {
        c = ((char32_t{b0} & 0x07) << 18) | (cont(1) << 12) | (cont(2) << 6) | cont(3);
        i += 4;
    }
    return c;
}

/// Appends the UTF-8 encoding of `c` (a scalar value) to `out`.
void append_utf8(std::string& out, char32_t c);

/// ASCII whitespace (space, \t \n \v \f \r) and the Unicode spaces U+0085, U+00A0,
/// U+1680, U+2000..U+200A, U+2028, U+2029, U+202F, U+205F, U+3000 and U+FEFF (a
/// stray BOM is whitespace for our purposes, as JavaScript's trim() treats it).
bool is_space_non_ascii(char32_t c) noexcept;
inline bool is_space(char32_t c) noexcept {
    if (c < 0x80) return c == ' ' || (c >= '\t' && c <= '\r');
    return is_space_non_ascii(c);
}

/// A Unicode letter (L*) or combining mark (M*): marks are kept with letters so a
/// decomposed "é" (e + U+0301) survives "remove non-letters" like a composed one.
bool is_letter_non_ascii(char32_t c) noexcept;
inline bool is_letter(char32_t c) noexcept {
    if (c < 0x80) return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
    return is_letter_non_ascii(c);
}

/// `s` without leading and trailing is_space() characters.
std::string_view trim(std::string_view s) noexcept;

/// Appends the full Unicode lowercase of `s` to `out`, as Python's str.lower(),
/// JavaScript's toLowerCase() and Java's toLowerCase(Locale.ROOT) do: the simple
/// mappings of UnicodeData plus the two context-free/contextual SpecialCasing rules
/// those languages apply (U+0130 -> "i\u0307", and Final_Sigma).
void append_lower(std::string& out, std::string_view s);

/// Byte length of the first `n` code points of `s` (all of `s` when shorter).
std::size_t prefix_bytes(std::string_view s, std::size_t n) noexcept;

/// Number of code points in `s`.
std::size_t code_point_count(std::string_view s) noexcept;

/// Keeps the code points of `s` for which `keep(c)` is true, in place. Pass a
/// lambda, not a function pointer, so `keep` inlines into the byte loop.
template <typename Keep>
void retain(std::string& s, Keep keep) {
    // Through raw pointers: a store through std::string's operator[] makes the
    // compiler reload its data pointer and size for every byte.
    char* const b = s.data();
    const std::string_view v(b, s.size());
    const std::size_t n = v.size();
    std::size_t w = 0;
    std::size_t i = 0;
    while (i < n) {
        const auto byte = static_cast<unsigned char>(b[i]);
        if (byte < 0x80) {
            // w <= i always: we only ever drop bytes, so copying forward is safe.
            if (keep(char32_t{byte})) b[w++] = static_cast<char>(byte);
            ++i;
            continue;
        }
        const std::size_t start = i;
        const char32_t c = decode_utf8(v, i);
        if (keep(c)) {
            for (std::size_t k = start; k < i; ++k) b[w++] = b[k];
        }
    }
    s.resize(w);
}

} // namespace capi::detail
