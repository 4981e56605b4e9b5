// capi: UTF-8 validation and the Unicode helpers normalization needs.
#include "normalize/unicode.hpp"

#include <capi/normalize.hpp>

#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <utf8proc.h>

namespace capi {

bool is_valid_utf8(std::string_view s) noexcept {
    if (detail::is_ascii(s)) return true;  // most PII, in a few loads
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const auto* const end = p + s.size();
    while (p < end) {
        // Most PII is ASCII: skip it sixteen, then eight bytes at a time.
#if defined(__SSE2__)
        while (end - p >= 16 &&
               _mm_movemask_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))) == 0)
            p += 16;
        if (p == end) break;  // the skip may end exactly at the end
#endif
        if (end - p >= 8) {
            std::uint64_t word;
            std::memcpy(&word, p, sizeof word);
            if ((word & 0x8080808080808080ULL) == 0) {
                p += 8;
                continue;
            }
        }
        const unsigned b0 = *p;
        if (b0 < 0x80) {
            ++p;
            continue;
        }
        // Unicode 15, Table 3-7 (well-formed byte sequences): the second byte's range
        // is what excludes overlongs (E0, F0), surrogates (ED) and > U+10FFFF (F4);
        // C0, C1 and F5..FF never start a sequence.
        std::ptrdiff_t tail;
        unsigned lo = 0x80;
        unsigned hi = 0xBF;
        if (b0 >= 0xC2 && b0 <= 0xDF) {
            tail = 1;
        } else if (b0 == 0xE0) {
            tail = 2;
            lo = 0xA0;
        } else if ((b0 >= 0xE1 && b0 <= 0xEC) || b0 == 0xEE || b0 == 0xEF) {
            tail = 2;
        } else if (b0 == 0xED) {
            tail = 2;
            hi = 0x9F;
        } else if (b0 == 0xF0) {
            tail = 3;
            lo = 0x90;
        } else if (b0 >= 0xF1 && b0 <= 0xF3) {
            tail = 3;
        } else if (b0 == 0xF4) {
            tail = 3;
            hi = 0x8F;
        } else {
            return false;
        }
        if (end - p - 1 < tail) return false;  // truncated sequence
        if (p[1] < lo || p[1] > hi) return false;
        for (std::ptrdiff_t k = 2; k <= tail; ++k) {
            if ((p[k] & 0xC0) != 0x80) return false;
        }
        p += tail + 1;
    }
    return true;
}

namespace detail {

void append_utf8(std::string& out, char32_t c) {
    char buf[4];
    std::size_t n;
    if (c < 0x80) {
        buf[0] = static_cast<char>(c);
        n = 1;
    } else if (c < 0x800) {
        buf[0] = static_cast<char>(0xC0 | (c >> 6));
        buf[1] = static_cast<char>(0x80 | (c & 0x3F));
        n = 2;
    } else if (c < 0x10000) {
        buf[0] = static_cast<char>(0xE0 | (c >> 12));
        buf[1] = static_cast<char>(0x80 | ((c >> 6) & 0x3F));
        buf[2] = static_cast<char>(0x80 | (c & 0x3F));
        n = 3;
    } else {
        buf[0] = static_cast<char>(0xF0 | (c >> 18));
        buf[1] = static_cast<char>(0x80 | ((c >> 12) & 0x3F));
        buf[2] = static_cast<char>(0x80 | ((c >> 6) & 0x3F));
        buf[3] = static_cast<char>(0x80 | (c & 0x3F));
        n = 4;
    }
    out.append(buf, n);
}

bool is_space_non_ascii(char32_t c) noexcept {
    switch (c) {
    case 0x0085: case 0x00A0: case 0x1680: case 0x2028: case 0x2029: case 0x202F:
    case 0x205F: case 0x3000: case 0xFEFF:
        return true;
    default:
        return c >= 0x2000 && c <= 0x200A;
    }
}

bool is_letter_non_ascii(char32_t c) noexcept {
    const auto cat = utf8proc_category(static_cast<utf8proc_int32_t>(c));
    return cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_ME;
}

namespace {

// Start of the code point that ends just before byte `i` of valid UTF-8 `s`.
std::size_t previous_start(std::string_view s, std::size_t i) noexcept {
    do {
        --i;
    } while (i > 0 && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80);
    return i;
}

char32_t lower(char32_t c) noexcept {
    if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 0x20 : c;
    return static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c)));
}

// utf8proc_tolower for U+0080..U+017F (Latin-1 Supplement and Latin
// Extended-A, the accented letters of most Western names) without the call;
// U+0130 is special-cased before this is asked. Checked against utf8proc for
// every code point of the range in test/fast_paths_test.cpp.
constexpr char32_t lower_latin(char32_t c) noexcept {
    if (c >= 0xC0 && c <= 0xDE) return c == 0xD7 ? c : c + 0x20;  // U+00D7 is x
    if ((c >= 0x100 && c <= 0x12F) || (c >= 0x132 && c <= 0x137) || (c >= 0x14A && c <= 0x177))
        return c | 1;  // upper even, lower odd
    if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) return c + (c & 1);  // upper odd
    if (c == 0x178) return 0xFF;  // Ÿ -> ÿ
    return c;
}
static_assert(lower_latin(0xC9) == 0xE9 && lower_latin(0xD7) == 0xD7 && lower_latin(0xDF) == 0xDF);
static_assert(lower_latin(0x141) == 0x142 && lower_latin(0x142) == 0x142 && lower_latin(0x17D) == 0x17E);

// Unicode's "Cased" property, approximated from what utf8proc exposes: a letter
// with case, or anything that has a case mapping. Used only for Final_Sigma.
bool is_cased(char32_t c) noexcept {
    const auto cat = utf8proc_category(static_cast<utf8proc_int32_t>(c));
    if (cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LL ||
        cat == UTF8PROC_CATEGORY_LT)
        return true;
    const auto ci = static_cast<utf8proc_int32_t>(c);
    return utf8proc_tolower(ci) != ci || utf8proc_toupper(ci) != ci;
}

// Unicode's "Case_Ignorable": Mn, Me, Cf, Lm, Sk plus the word-break
// MidLetter/MidNumLet/Single_Quote characters (so "O'ΣΑΣ" behaves as Python).
bool is_case_ignorable(char32_t c) noexcept {
    switch (c) {
    case 0x0027: case 0x002E: case 0x003A: case 0x00B7: case 0x0387: case 0x055F:
    case 0x05F4: case 0x2018: case 0x2019: case 0x2024: case 0x2027: case 0xFE13:
    case 0xFE52: case 0xFE55: case 0xFF07: case 0xFF0E: case 0xFF1A:
        return true;
    default:
        break;
    }
    const auto cat = utf8proc_category(static_cast<utf8proc_int32_t>(c));
    return cat == UTF8PROC_CATEGORY_MN || cat == UTF8PROC_CATEGORY_ME ||
           cat == UTF8PROC_CATEGORY_CF || cat == UTF8PROC_CATEGORY_LM ||
           cat == UTF8PROC_CATEGORY_SK;
}

// Final_Sigma (Unicode 3.13): a capital sigma at byte range [begin, end) of `s`
// is preceded by a cased letter and not followed by one, case-ignorables skipped.
bool is_final_sigma(std::string_view s, std::size_t begin, std::size_t end) noexcept {
    bool preceded = false;
    for (std::size_t i = begin; i > 0;) {
        i = previous_start(s, i);
        std::size_t j = i;
        const char32_t c = decode_utf8(s, j);
        if (is_case_ignorable(c)) continue;
        preceded = is_cased(c);
        break;
    }
    if (!preceded) return false;
    for (std::size_t i = end; i < s.size();) {
        const char32_t c = decode_utf8(s, i);
        if (is_case_ignorable(c)) continue;
        return !is_cased(c);
    }
    return true;
}

} // namespace

std::string_view trim(std::string_view s) noexcept {
    std::size_t b = 0;
    while (b < s.size()) {
        std::size_t next = b;
        if (!is_space(decode_utf8(s, next))) break;
        b = next;
    }
    std::size_t e = s.size();
    while (e > b) {
        const std::size_t start = previous_start(s, e);
        std::size_t k = start;
        if (!is_space(decode_utf8(s, k))) break;
        e = start;
    }
    return s.substr(b, e - b);
}

void append_lower(std::string& out, std::string_view s) {
    out.reserve(out.size() + s.size());
    for (std::size_t i = 0; i < s.size();) {
        const auto byte = static_cast<unsigned char>(s[i]);
        if (byte < 0x80) {
            out.push_back(static_cast<char>(lower(byte)));
            ++i;
            continue;
        }
        // Lead bytes C2..C5: U+0080..U+017F, two bytes in and two out (but U+0130).
        if (byte >= 0xC2 && byte <= 0xC5 && !(byte == 0xC4 && s[i + 1] == '\xB0')) {
            const char32_t c = lower_latin(((char32_t{byte} & 0x1F) << 6) | (static_cast<unsigned char>(s[i + 1]) & 0x3F));
            const char enc[2] = {static_cast<char>(0xC0 | (c >> 6)), static_cast<char>(0x80 | (c & 0x3F))};
            out.append(enc, 2);
            i += 2;
            continue;
        }
        const std::size_t start = i;
        const char32_t c = decode_utf8(s, i);
        if (c == 0x0130) {
            // The one unconditional SpecialCasing lowercase: İ -> i + combining dot.
            out.push_back('i');
            append_utf8(out, 0x0307);
        } else if (c == 0x03A3) {
            append_utf8(out, is_final_sigma(s, start, i) ? 0x03C2 : 0x03C3);
        } else {
            append_utf8(out, lower(c));
        }
    }
}

std::size_t prefix_bytes(std::string_view s, std::size_t n) noexcept {
    std::size_t i = 0;
    for (; n > 0 && i < s.size(); --n) {
        ++i;
        while (i < s.size() && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) ++i;
    }
    return i;
}

std::size_t code_point_count(std::string_view s) noexcept {
    std::size_t n = 0;
    for (const char ch : s) n += (static_cast<unsigned char>(ch) & 0xC0) != 0x80;
    return n;
}

} // namespace detail
} // namespace capi
