// capi: multi-buffer SHA-256 on AVX-512F, sixteen messages per group, one per
// 32-bit lane of a __m512i.
//
// AVX-512F makes the rounds much shorter than on AVX2: vprord is one rotate
// instead of shift-shift-or, and vpternlogd computes Ch, Maj and the three-way
// xors of the sigmas in one instruction each. Only AVX-512F is used (no BW byte
// shuffles), so byte swaps are two rotates and a select.
//
// Every function that touches a zmm register carries target("avx512f") itself
// (helpers are always_inline with the same target), so the file is built with
// the library's ordinary flags; the dispatch only calls in here when
// cpu().avx512f says so.
#include "sha256/impl.hpp"
#include "sha256/multibuffer.hpp"

// GCC 12 reports the AVX-512 intrinsics' own `_mm512_undefined_*()` placeholders
// as used uninitialized once they are inlined here (GCC PR 105593, fixed in
// 13); the warning is about the compiler's header, not this code.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#define CAPI_POP_DIAGNOSTIC
#endif

#include <immintrin.h>

namespace capi::sha256::detail {

namespace {

namespace mb = multibuffer;
using mb::u32;

#define CAPI_AVX512 __attribute__((target("avx512f")))
#define CAPI_AVX512_INLINE __attribute__((target("avx512f"), always_inline)) inline

// vpternlogd truth tables, operands (a, b, c).
constexpr int xor3_table = 0x96;    // a ^ b ^ c
constexpr int choose_table = 0xCA;  // a ? b : c, bitwise (SHA-256 Ch)
constexpr int majority_table = 0xE8;

CAPI_AVX512_INLINE __m512i xor3(__m512i a, __m512i b, __m512i c) noexcept {
    return _mm512_ternarylogic_epi32(a, b, c, xor3_table);
}
CAPI_AVX512_INLINE __m512i big_sigma0(__m512i x) noexcept {
    return xor3(_mm512_ror_epi32(x, 2), _mm512_ror_epi32(x, 13), _mm512_ror_epi32(x, 22));
}
CAPI_AVX512_INLINE __m512i big_sigma1(__m512i x) noexcept {
    return xor3(_mm512_ror_epi32(x, 6), _mm512_ror_epi32(x, 11), _mm512_ror_epi32(x, 25));
}
CAPI_AVX512_INLINE __m512i small_sigma0(__m512i x) noexcept {
    return xor3(_mm512_ror_epi32(x, 7), _mm512_ror_epi32(x, 18), _mm512_srli_epi32(x, 3));
}
CAPI_AVX512_INLINE __m512i small_sigma1(__m512i x) noexcept {
    return xor3(_mm512_ror_epi32(x, 17), _mm512_ror_epi32(x, 19), _mm512_srli_epi32(x, 10));
}
CAPI_AVX512_INLINE __m512i add(__m512i a, __m512i b) noexcept { return _mm512_add_epi32(a, b); }

CAPI_AVX512_INLINE __m512i bswap32(__m512i x) noexcept {
    // Bytes 3 and 1 of the result come from x rotated right by 8, bytes 2 and
    // 0 from x rotated left by 8.
    const __m512i from_ror = _mm512_set1_epi32(static_cast<int>(0xff00ff00u));
    return _mm512_ternarylogic_epi32(from_ror, _mm512_ror_epi32(x, 8), _mm512_rol_epi32(x, 8),
                                     choose_table);
}

/// 16x16 transpose of 32-bit words: r[i] word j becomes r[j] word i.
CAPI_AVX512_INLINE void transpose16(__m512i r[16]) noexcept {
    __m512i t[16], u[16];
    for (int k = 0; k < 8; ++k) {
        t[2 * k] = _mm512_unpacklo_epi32(r[2 * k], r[2 * k + 1]);
        t[2 * k + 1] = _mm512_unpackhi_epi32(r[2 * k], r[2 * k + 1]);
    }
    // u[4k + j], 128-bit chunk c: column 4c + j of rows 4k .. 4k + 3.
    for (int k = 0; k < 4; ++k) {
        u[4 * k + 0] = _mm512_unpacklo_epi64(t[4 * k], t[4 * k + 2]);
        u[4 * k + 1] = _mm512_unpackhi_epi64(t[4 * k], t[4 * k + 2]);
        u[4 * k + 2] = _mm512_unpacklo_epi64(t[4 * k + 1], t[4 * k + 3]);
        u[4 * k + 3] = _mm512_unpackhi_epi64(t[4 * k + 1], t[4 * k + 3]);
    }
    // Column 4c + j is chunk c of u[j], u[4 + j], u[8 + j], u[12 + j], in order.
    for (int j = 0; j < 4; ++j) {
        const __m512i v0 = _mm512_shuffle_i32x4(u[j], u[4 + j], 0x44);
        const __m512i v1 = _mm512_shuffle_i32x4(u[j], u[4 + j], 0xee);
        const __m512i v2 = _mm512_shuffle_i32x4(u[8 + j], u[12 + j], 0x44);
        const __m512i v3 = _mm512_shuffle_i32x4(u[8 + j], u[12 + j], 0xee);
        r[j] = _mm512_shuffle_i32x4(v0, v2, 0x88);
        r[4 + j] = _mm512_shuffle_i32x4(v0, v2, 0xdd);
        r[8 + j] = _mm512_shuffle_i32x4(v1, v3, 0x88);
        r[12 + j] = _mm512_shuffle_i32x4(v1, v3, 0xdd);
    }
}

/// Loads block `blocks[i]` into lane i: w[t] holds big-endian word t of every lane.
CAPI_AVX512_INLINE void load_schedule(__m512i w[16], const unsigned char* const* blocks) noexcept {
    for (int i = 0; i < 16; ++i) w[i] = _mm512_loadu_si512(blocks[i]);
    transpose16(w);
    for (int i = 0; i < 16; ++i) w[i] = bswap32(w[i]);
}

// One round; the caller rotates the names a..h instead of moving registers.
#define CAPI_ROUND(a, b, c, d, e, f, g, h, i)                                                  \
    do {                                                                                      \
        const __m512i t1 = add(add(h, big_sigma1(e)),                                         \
                               add(_mm512_ternarylogic_epi32(e, f, g, choose_table),          \
                                   add(w[(i) & 15], _mm512_set1_epi32(static_cast<int>(       \
                                                        mb::round_constants[i])))));          \
        d = add(d, t1);                                                                       \
        h = add(t1, add(big_sigma0(a), _mm512_ternarylogic_epi32(a, b, c, majority_table)));  \
    } while (0)

#define CAPI_EXPAND(i)                                                                         \
    (w[(i) & 15] = add(add(w[(i) & 15], small_sigma0(w[((i) + 1) & 15])),                      \
                       add(w[((i) + 9) & 15], small_sigma1(w[((i) + 14) & 15]))))

#define CAPI_EIGHT(base)                                                                       \
    CAPI_ROUND(a, b, c, d, e, f, g, h, (base) + 0);                                            \
    CAPI_ROUND(h, a, b, c, d, e, f, g, (base) + 1);                                            \
    CAPI_ROUND(g, h, a, b, c, d, e, f, (base) + 2);                                            \
    CAPI_ROUND(f, g, h, a, b, c, d, e, (base) + 3);                                            \
    CAPI_ROUND(e, f, g, h, a, b, c, d, (base) + 4);                                            \
    CAPI_ROUND(d, e, f, g, h, a, b, c, (base) + 5);                                            \
    CAPI_ROUND(c, d, e, f, g, h, a, b, (base) + 6);                                            \
    CAPI_ROUND(b, c, d, e, f, g, h, a, (base) + 7)

/// The 64 rounds on s[0..7] (a..h) with the schedule starting from w[0..15];
/// leaves the working variables in s (the caller adds the previous state).
CAPI_AVX512_INLINE void rounds(__m512i s[8], __m512i w[16]) noexcept {
    __m512i a = s[0], b = s[1], c = s[2], d = s[3], e = s[4], f = s[5], g = s[6], h = s[7];
    CAPI_EIGHT(0);
    CAPI_EIGHT(8);
    // Fully unrolled so every schedule index and round constant is a
    // compile-time constant and w[] lives in registers.
#pragma GCC unroll 6
    for (int base = 16; base < 64; base += 8) {
#pragma GCC unroll 8
        for (int j = 0; j < 8; ++j) CAPI_EXPAND(base + j);
        CAPI_EIGHT(base);
    }
    s[0] = a; s[1] = b; s[2] = c; s[3] = d; s[4] = e; s[5] = f; s[6] = g; s[7] = h;
}

#undef CAPI_EIGHT
#undef CAPI_EXPAND
#undef CAPI_ROUND

CAPI_AVX512_INLINE void initial(__m512i s[8]) noexcept {
    for (int j = 0; j < 8; ++j) s[j] = _mm512_set1_epi32(static_cast<int>(mb::initial_state[j]));
}

/// Writes lane i's digest (big-endian state words) to *out[i].
CAPI_AVX512_INLINE void store_digests(__m512i s[8], digest* const* out) noexcept {
    __m512i t[8], u[8];
    for (int j = 0; j < 8; ++j) s[j] = bswap32(s[j]);
    for (int k = 0; k < 4; ++k) {
        t[2 * k] = _mm512_unpacklo_epi32(s[2 * k], s[2 * k + 1]);
        t[2 * k + 1] = _mm512_unpackhi_epi32(s[2 * k], s[2 * k + 1]);
    }
    // u[4k + j], 128-bit chunk c: words 4k .. 4k + 3 of lane 4c + j.
    for (int k = 0; k < 2; ++k) {
        u[4 * k + 0] = _mm512_unpacklo_epi64(t[4 * k], t[4 * k + 2]);
        u[4 * k + 1] = _mm512_unpackhi_epi64(t[4 * k], t[4 * k + 2]);
        u[4 * k + 2] = _mm512_unpacklo_epi64(t[4 * k + 1], t[4 * k + 3]);
        u[4 * k + 3] = _mm512_unpackhi_epi64(t[4 * k + 1], t[4 * k + 3]);
    }
    // Pair the two halves of each lane's digest: lanes j and 4 + j, then 8 + j and 12 + j.
    const __m512i low_lanes = _mm512_setr_epi64(0, 1, 8, 9, 2, 3, 10, 11);
    const __m512i high_lanes = _mm512_setr_epi64(4, 5, 12, 13, 6, 7, 14, 15);
    for (int j = 0; j < 4; ++j) {
        const __m512i p = _mm512_permutex2var_epi64(u[j], low_lanes, u[4 + j]);
        const __m512i q = _mm512_permutex2var_epi64(u[j], high_lanes, u[4 + j]);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out[j]->data()), _mm512_castsi512_si256(p));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out[4 + j]->data()),
                            _mm512_extracti64x4_epi64(p, 1));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out[8 + j]->data()), _mm512_castsi512_si256(q));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out[12 + j]->data()),
                            _mm512_extracti64x4_epi64(q, 1));
    }
}

struct avx512_engine {
    static constexpr std::size_t lanes = 16;
    // Measured: a full group of 16 one-block messages costs about 1.7 scalar
    // hashes, so two leftover messages already go faster through a group.
    static constexpr std::size_t scalar_below = 2;
    // A group costs about as much as 10 SHA-NI hashes (measured, interleaved).
    static constexpr std::size_t shani_below = 10;

    CAPI_AVX512 static void one_block(const unsigned char* blocks, digest* const* out) noexcept {
        __m512i w[16], s[8], iv[8];
        for (int i = 0; i < 16; ++i) w[i] = _mm512_load_si512(blocks + 64 * i);
        transpose16(w);
        for (int i = 0; i < 16; ++i) w[i] = bswap32(w[i]);
        initial(iv);
        for (int j = 0; j < 8; ++j) s[j] = iv[j];
        rounds(s, w);
        for (int j = 0; j < 8; ++j) s[j] = add(s[j], iv[j]);
        store_digests(s, out);
    }

    CAPI_AVX512 static void init(u32* state) noexcept {
        __m512i s[8];
        initial(s);
        for (int j = 0; j < 8; ++j) _mm512_store_si512(state + 16 * j, s[j]);
    }

    CAPI_AVX512 static void compress(u32* state, const unsigned char* const* blocks, u32 active) noexcept {
        const auto keep = static_cast<__mmask16>(active);
        __m512i w[16], s[8], prev[8];
        load_schedule(w, blocks);
        for (int j = 0; j < 8; ++j) {
            prev[j] = _mm512_load_si512(state + 16 * j);
            s[j] = prev[j];
        }
        rounds(s, w);
        for (int j = 0; j < 8; ++j)
            _mm512_store_si512(state + 16 * j, _mm512_mask_add_epi32(prev[j], keep, prev[j], s[j]));
    }

    CAPI_AVX512 static void finish(const u32* state, digest* const* out) noexcept {
        __m512i s[8];
        for (int j = 0; j < 8; ++j) s[j] = _mm512_load_si512(state + 16 * j);
        store_digests(s, out);
    }
};

#undef CAPI_AVX512_INLINE
#undef CAPI_AVX512

void avx512_hash_many(const std::string_view* in, digest* out, std::size_t n) noexcept {
    mb::hasher<avx512_engine> hasher;
    hasher.run(in, out, n);
}

bool avx512_supported() noexcept { return cpu().avx512f; }

} // namespace

const impl avx512_impl = {"avx512", &avx512_hash_many, &avx512_supported};

} // namespace capi::sha256::detail

#ifdef CAPI_POP_DIAGNOSTIC
#pragma GCC diagnostic pop
#undef CAPI_POP_DIAGNOSTIC
#endif
