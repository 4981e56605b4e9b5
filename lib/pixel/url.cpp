#include "pixel/url.hpp"

#include "util/ascii.hpp"

#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace capi::pixel::url {

namespace {

using capi::detail::ascii::hex_value;

/// The first '%' or '+' in [p, end), or end. Hashed customer data and URLs make
/// long runs without one: 16 bytes at a time.
const char* next_escape(const char* p, const char* const end) noexcept {
#if defined(__SSE2__)
    const __m128i pct = _mm_set1_epi8('%');
    const __m128i plus = _mm_set1_epi8('+');
    while (end - p >= 16) {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        const int m = _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, pct), _mm_cmpeq_epi8(v, plus)));
        if (m != 0) return p + __builtin_ctz(static_cast<unsigned>(m));
        p += 16;
    }
#endif
    while (p < end && *p != '%' && *p != '+') ++p;
    return p;
}

} // namespace

bool needs_decoding(std::string_view in) noexcept {
    return next_escape(in.data(), in.data() + in.size()) != in.data() + in.size();
}

const char* decode_append(std::string_view in, std::string& out) {
    // Written in place: decoding never lengthens, so the room for `in` is
    // enough, and neither escapes (contents' JSON is mostly %XX) nor the runs
    // between them cost a call each. w never runs ahead of p, so 16 bytes left
    // to read are 16 bytes of room to store a whole block.
    const char* p = in.data();
    const char* const end = p + in.size();
    // Most values have no escape at all: one append, no room made and trimmed.
    const char* const first = next_escape(p, end);
    if (first == end) {
        out.append(p, in.size());
        return nullptr;
    }
    const std::size_t old = out.size();
    out.resize(old + in.size());
    char* w = out.data() + old;
    std::memcpy(w, p, static_cast<std::size_t>(first - p));
    w += first - p;
    p = first;
    const char* why = nullptr;
    while (p < end) {
#if defined(__SSE2__)
        // 16 bytes copied whole; only those before the first escape count.
        if (end - p >= 16) {
            const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
            _mm_storeu_si128(reinterpret_cast<__m128i*>(w), v);
            const int m = _mm_movemask_epi8(
                _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('%')), _mm_cmpeq_epi8(v, _mm_set1_epi8('+'))));
            if (m == 0) {
                p += 16;
                w += 16;
                continue;
            }
            const int n = __builtin_ctz(static_cast<unsigned>(m));
            p += n;
            w += n;
        } else
#endif
        {
            if (*p != '%' && *p != '+') {
                *w++ = *p++;
                continue;
            }
        }
        if (*p == '+') {
            *w++ = ' ';
            ++p;
            continue;
        }
        // Browsers never send a bare '%' (they write %25); a hand-made hit that
        // does is refused rather than guessed at.
        if (end - p < 3) {
            why = "truncated percent escape";
            break;
        }
        const int hi = hex_value(p[1]);
        const int lo = hex_value(p[2]);
        if (hi < 0 || lo < 0) {
            why = "malformed percent escape";
            break;
        }
        *w++ = static_cast<char>(hi * 16 + lo);
        p += 3;
    }
    // On an error, what was decoded before it stays appended, as before.
    out.resize(static_cast<std::size_t>(w - out.data()));
    return why;
}

bool query_param(std::string_view u, std::string_view name, std::string_view& value) noexcept {
    const std::size_t hash = u.find('#');
    if (hash != std::string_view::npos) u = u.substr(0, hash);
    const std::size_t q = u.find('?');
    if (q == std::string_view::npos) return false;
    bool found = false;
    each_pair(u.substr(q + 1), [&](std::string_view n, std::string_view v) {
        if (n != name) return true;
        value = v;
        found = true;
        return false;
    });
    return found;
}

} // namespace capi::pixel::url
