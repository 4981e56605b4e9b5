// capi: SHA-256 front end: the start-up choice of implementation, and hex.
#include "sha256/impl.hpp"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace capi::sha256 {

namespace detail {

namespace {

// Fastest first, measured on this project's Xeon (SHA-NI, AVX2, AVX-512F; one
// core, 8..55-byte inputs, one hash_many call of 4096): avx512 ~18 ns/hash,
// shani ~27, avx2 ~48, scalar ~174 (OpenSSL EVP_Digest ~117 in the same run).
// The encoder hashes a batch's values 256 at a time, so batch throughput decides. Caveat:
// calls of a few values (hash() included) cost more on the lane-parallel paths,
// whose leftovers currently go to scalar (avx512 ~174 ns for n = 1, shani ~31).
// Scalar stays last: the fallback that always runs.
constexpr std::array<const impl*, 4> table = {&avx512_impl, &shani_impl, &avx2_impl, &scalar_impl};

constexpr char variable[] = "CAPI_SHA256_IMPL";

const impl& first_supported(std::span<const impl* const> candidates) noexcept {
    for (const impl* i : candidates) {
        if (i->supported()) return *i;
    }
    return scalar_impl;
}

/// Appends to a NUL-terminated fixed buffer, truncating; never fails.
template <std::size_t N>
void append(std::array<char, N>& buf, std::string_view s) noexcept {
    const std::size_t used = std::strlen(buf.data());
    const std::size_t n = std::min(s.size(), N - 1 - used);
    std::memcpy(buf.data() + used, s.data(), n);
    buf[used + n] = '\0';
}

const choice& startup() noexcept {
    // Chosen once, on first use (thread-safe static init), so a hash run from
    // another translation unit's static initializer still finds a choice.
    static const choice c = choose(std::getenv(variable));
    return c;
}

} // namespace

std::span<const impl* const> implementations() noexcept { return table; }

choice choose(const char* forced, std::span<const impl* const> candidates) noexcept {
    choice c;
    c.chosen = &first_supported(candidates);
    if (forced == nullptr || *forced == '\0') return c;

    const std::string_view name = forced;
    for (const impl* i : candidates) {
        if (name != i->name) continue;
        if (i->supported()) {
            c.chosen = i;
            return c;
        }
        // Forcing is for tests and triage: running some other path under the
        // forced name would make a test of that path pass vacuously, so keep
        // the default, say so, and let the caller decide whether it is fatal.
        append(c.error, variable);
        append(c.error, "=");
        append(c.error, name);
        append(c.error, ": not supported by this CPU (using ");
        append(c.error, c.chosen->name);
        append(c.error, ")");
        return c;
    }
    // A user-supplied value: cut it short so the list of names still fits.
    append(c.error, variable);
    append(c.error, "=");
    append(c.error, name.substr(0, 48));
    if (name.size() > 48) append(c.error, "...");
    append(c.error, ": unknown implementation (");
    for (std::size_t j = 0; j < candidates.size(); ++j) {
        if (j != 0) append(c.error, ", ");
        append(c.error, candidates[j]->name);
    }
    append(c.error, ")");
    return c;
}

const impl& selected() noexcept { return *startup().chosen; }

} // namespace detail

digest hash(std::string_view data) noexcept {
    digest out;
    detail::selected().hash_many(&data, &out, 1);
    return out;
}

void hash_many(std::span<const std::string_view> inputs, std::span<digest> outputs) noexcept {
    // Unequal sizes are a caller bug; hash what fits rather than overrun.
    const std::size_t n = std::min(inputs.size(), outputs.size());
    if (n != 0) detail::selected().hash_many(inputs.data(), outputs.data(), n);
}

namespace {

[[maybe_unused]] constexpr std::array<char, 512> hex_pairs = [] {
    constexpr char digits[] = "0123456789abcdef";
    std::array<char, 512> t{};
    for (int i = 0; i < 256; ++i) {
        t[2 * i] = digits[i >> 4];
        t[2 * i + 1] = digits[i & 15];
    }
    return t;
}();

} // namespace

void to_hex(const digest& d, char* out64) noexcept {
#if defined(__SSE2__)
    // 16 digest bytes per step: split the nibbles, interleave high/low, and map
    // 0..9 to '0'..'9' and 10..15 to 'a'..'f' (+39 past '9') without a table.
    const __m128i mask = _mm_set1_epi8(0x0F);
    for (int half = 0; half < 2; ++half) {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(d.data() + 16 * half));
        const __m128i hi = _mm_and_si128(_mm_srli_epi16(v, 4), mask);
        const __m128i lo = _mm_and_si128(v, mask);
        auto ascii = [](__m128i n) {
            const __m128i letter = _mm_and_si128(_mm_cmpgt_epi8(n, _mm_set1_epi8(9)), _mm_set1_epi8(39));
            return _mm_add_epi8(_mm_add_epi8(n, _mm_set1_epi8('0')), letter);
        };
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out64 + 32 * half), ascii(_mm_unpacklo_epi8(hi, lo)));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out64 + 32 * half + 16), ascii(_mm_unpackhi_epi8(hi, lo)));
    }
#else
    for (std::size_t i = 0; i < d.size(); ++i) std::memcpy(out64 + 2 * i, &hex_pairs[2 * d[i]], 2);
#endif
}

std::string_view implementation_name() noexcept { return detail::selected().name; }

std::string_view selection_error() noexcept { return detail::startup().error_text(); }

} // namespace capi::sha256
