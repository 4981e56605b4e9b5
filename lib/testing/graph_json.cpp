// The mock's light JSON text helpers (testing/graph_rules.hpp): the members and
// elements of text already parsed as JSON, as views into it, and the SHA-256
// hex test Meta applies to hashed values. Apart from graph_rules.cpp's rules.
#include "testing/graph_rules.hpp"

#include <algorithm>
#include <optional>
#include <string_view>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace capi::testing::rules {

namespace {

bool json_space(char c) noexcept { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::size_t skip_space(std::string_view s, std::size_t i) noexcept {
    while (i < s.size() && json_space(s[i])) ++i;
    return i;
}

// The end of the string whose opening quote is at s[i]: one past its closing quote.
std::size_t skip_string(std::string_view s, std::size_t i) noexcept {
    for (++i; i < s.size(); ++i) {
        if (s[i] == '\\') ++i;
        else if (s[i] == '"') return i + 1;
    }
    return std::string_view::npos;
}

// One past the value starting at s[i]; npos when it is cut short. Only brackets
// and strings are matched: the text already parsed as JSON.
std::size_t skip_value(std::string_view s, std::size_t i) noexcept {
    if (i >= s.size()) return std::string_view::npos;
    if (s[i] == '"') return skip_string(s, i);
    if (s[i] == '{' || s[i] == '[') {
        int depth = 0;
        while (i < s.size()) {
            const char c = s[i];
            if (c == '"') {
                i = skip_string(s, i);
                if (i == std::string_view::npos) return i;
                continue;
            }
            if (c == '{' || c == '[') ++depth;
            else if ((c == '}' || c == ']') && --depth == 0) return i + 1;
            ++i;
        }
        return std::string_view::npos;
    }
    while (i < s.size() && s[i] != ',' && s[i] != '}' && s[i] != ']' && !json_space(s[i])) ++i;
    return i;
}

} // namespace

std::optional<std::vector<std::string_view>> json_array_elements(std::string_view a) {
    std::size_t i = skip_space(a, 0);
    if (i >= a.size() || a[i] != '[') return std::nullopt;
    std::vector<std::string_view> out;
    i = skip_space(a, i + 1);
    if (i < a.size() && a[i] == ']') return skip_space(a, i + 1) == a.size() ? std::optional(out) : std::nullopt;
    for (;;) {
        const std::size_t end = skip_value(a, i);
        if (end == std::string_view::npos) return std::nullopt;
        out.push_back(a.substr(i, end - i));
        i = skip_space(a, end);
        if (i >= a.size()) return std::nullopt;
        if (a[i] == ']') break;
        if (a[i] != ',') return std::nullopt;
        i = skip_space(a, i + 1);
    }
    return skip_space(a, i + 1) == a.size() ? std::optional(out) : std::nullopt;
}

std::optional<std::string_view> json_member(std::string_view o, std::string_view key) {
    std::size_t i = skip_space(o, 0);
    if (i >= o.size() || o[i] != '{') return std::nullopt;
    i = skip_space(o, i + 1);
    while (i < o.size() && o[i] == '"') {
        const std::size_t key_end = skip_string(o, i);
        if (key_end == std::string_view::npos) return std::nullopt;
        const std::string_view k = o.substr(i + 1, key_end - i - 2);
        i = skip_space(o, key_end);
        if (i >= o.size() || o[i] != ':') return std::nullopt;
        i = skip_space(o, i + 1);
        const std::size_t end = skip_value(o, i);
        if (end == std::string_view::npos) return std::nullopt;
        if (k == key) return o.substr(i, end - i);
        i = skip_space(o, end);
        if (i < o.size() && o[i] == ',') i = skip_space(o, i + 1);
    }
    return std::nullopt;
}

bool is_sha256_hex(std::string_view s) noexcept {
    if (s.size() != 64) return false;
#if defined(__SSE2__)
    // 16 characters at a time (8 values per event, every event of every request):
    // c - '0' <= 9 or c - 'a' <= 5, unsigned, per byte.
    const __m128i zero = _mm_set1_epi8('0'), a = _mm_set1_epi8('a');
    const __m128i nine = _mm_set1_epi8(9), five = _mm_set1_epi8(5);
    __m128i ok = _mm_set1_epi8(-1);
    for (std::size_t at = 0; at < 64; at += 16) {
        const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s.data() + at));
        const __m128i d = _mm_sub_epi8(x, zero), l = _mm_sub_epi8(x, a);
        const __m128i digit = _mm_cmpeq_epi8(_mm_min_epu8(d, nine), d);
        const __m128i letter = _mm_cmpeq_epi8(_mm_min_epu8(l, five), l);
        ok = _mm_and_si128(ok, _mm_or_si128(digit, letter));
    }
    return _mm_movemask_epi8(ok) == 0xFFFF;
#else
    return std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
#endif
}

} // namespace capi::testing::rules
