// capi: multi-buffer SHA-256 on AVX2, eight messages per group, one per 32-bit
// lane of a __m256i.
//
// Every function that touches a ymm register carries target("avx2") itself
// (helpers are always_inline with the same target), so the file is built with
// the library's ordinary flags and runs on any x86-64 CPU; the dispatch only
// calls in here when cpu().avx2 says so.
#include "sha256/impl.hpp"
#include "sha256/multibuffer.hpp"

#include <immintrin.h>

namespace capi::sha256::detail {

namespace {

namespace mb = multibuffer;
using mb::u32;

#define CAPI_AVX2 __attribute__((target("avx2")))
#define CAPI_AVX2_INLINE __attribute__((target("avx2"), always_inline)) inline

CAPI_AVX2_INLINE __m256i rotr(__m256i x, int n) noexcept {
    return _mm256_or_si256(_mm256_srli_epi32(x, n), _mm256_slli_epi32(x, 32 - n));
}
CAPI_AVX2_INLINE __m256i xor3(__m256i a, __m256i b, __m256i c) noexcept {
    return _mm256_xor_si256(_mm256_xor_si256(a, b), c);
}
CAPI_AVX2_INLINE __m256i big_sigma0(__m256i x) noexcept {
    return xor3(rotr(x, 2), rotr(x, 13), rotr(x, 22));
}
CAPI_AVX2_INLINE __m256i big_sigma1(__m256i x) noexcept {
    return xor3(rotr(x, 6), rotr(x, 11), rotr(x, 25));
}
CAPI_AVX2_INLINE __m256i small_sigma0(__m256i x) noexcept {
    return xor3(rotr(x, 7), rotr(x, 18), _mm256_srli_epi32(x, 3));
}
CAPI_AVX2_INLINE __m256i small_sigma1(__m256i x) noexcept {
    return xor3(rotr(x, 17), rotr(x, 19), _mm256_srli_epi32(x, 10));
}
CAPI_AVX2_INLINE __m256i add(__m256i a, __m256i b) noexcept { return _mm256_add_epi32(a, b); }

CAPI_AVX2_INLINE __m256i bswap32(__m256i x) noexcept {
    const __m256i order = _mm256_setr_epi8(3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12,
                                           3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12);
    return _mm256_shuffle_epi8(x, order);
}

/// 8x8 transpose of 32-bit words: r[i] word j becomes r[j] word i.
CAPI_AVX2_INLINE void transpose8(__m256i r[8]) noexcept {
    const __m256i t0 = _mm256_unpacklo_epi32(r[0], r[1]), t1 = _mm256_unpackhi_epi32(r[0], r[1]);
    const __m256i t2 = _mm256_unpacklo_epi32(r[2], r[3]), t3 = _mm256_unpackhi_epi32(r[2], r[3]);
    const __m256i t4 = _mm256_unpacklo_epi32(r[4], r[5]), t5 = _mm256_unpackhi_epi32(r[4], r[5]);
    const __m256i t6 = _mm256_unpacklo_epi32(r[6], r[7]), t7 = _mm256_unpackhi_epi32(r[6], r[7]);
    const __m256i u0 = _mm256_unpacklo_epi64(t0, t2), u1 = _mm256_unpackhi_epi64(t0, t2);
    const __m256i u2 = _mm256_unpacklo_epi64(t1, t3), u3 = _mm256_unpackhi_epi64(t1, t3);
    const __m256i u4 = _mm256_unpacklo_epi64(t4, t6), u5 = _mm256_unpackhi_epi64(t4, t6);
    const __m256i u6 = _mm256_unpacklo_epi64(t5, t7), u7 = _mm256_unpackhi_epi64(t5, t7);
    r[0] = _mm256_permute2x128_si256(u0, u4, 0x20);
    r[1] = _mm256_permute2x128_si256(u1, u5, 0x20);
    r[2] = _mm256_permute2x128_si256(u2, u6, 0x20);
    r[3] = _mm256_permute2x128_si256(u3, u7, 0x20);
    r[4] = _mm256_permute2x128_si256(u0, u4, 0x31);
    r[5] = _mm256_permute2x128_si256(u1, u5, 0x31);
    r[6] = _mm256_permute2x128_si256(u2, u6, 0x31);
    r[7] = _mm256_permute2x128_si256(u3, u7, 0x31);
}

/// Loads block `blocks[i]` into lane i: w[t] holds big-endian word t of every lane.
CAPI_AVX2_INLINE void load_schedule(__m256i w[16], const unsigned char* const* blocks) noexcept {
    for (int half = 0; half < 2; ++half) {
        __m256i* r = w + 8 * half;
        for (int i = 0; i < 8; ++i)
            r[i] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blocks[i] + 32 * half));
        transpose8(r);
        for (int i = 0; i < 8; ++i) r[i] = bswap32(r[i]);
    }
}

// One round. The caller rotates the names a..h instead of moving eight
// registers; `bc` carries b ^ c into the next round's Maj, where it is a ^ b.
#define CAPI_ROUND(a, b, c, d, e, f, g, h, i)                                                  \
    do {                                                                                      \
        const __m256i t1 = add(add(h, big_sigma1(e)),                                         \
                               add(_mm256_xor_si256(_mm256_and_si256(e, f),                   \
                                                    _mm256_andnot_si256(e, g)),               \
                                   add(w[(i) & 15], _mm256_set1_epi32(static_cast<int>(       \
                                                        mb::round_constants[i])))));          \
        const __m256i ab = _mm256_xor_si256(a, b);                                            \
        const __m256i maj = _mm256_xor_si256(b, _mm256_and_si256(ab, bc));                    \
        bc = ab;                                                                              \
        d = add(d, t1);                                                                       \
        h = add(t1, add(big_sigma0(a), maj));                                                 \
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
CAPI_AVX2_INLINE void rounds(__m256i s[8], __m256i w[16]) noexcept {
    __m256i a = s[0], b = s[1], c = s[2], d = s[3], e = s[4], f = s[5], g = s[6], h = s[7];
    __m256i bc = _mm256_xor_si256(b, c);
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

CAPI_AVX2_INLINE void initial(__m256i s[8]) noexcept {
    for (int j = 0; j < 8; ++j) s[j] = _mm256_set1_epi32(static_cast<int>(mb::initial_state[j]));
}

/// Writes lane i's digest (big-endian state words) to *out[i].
CAPI_AVX2_INLINE void store_digests(__m256i s[8], digest* const* out) noexcept {
    transpose8(s);
    for (int i = 0; i < 8; ++i)
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out[i]->data()), bswap32(s[i]));
}

struct avx2_engine {
    static constexpr std::size_t lanes = 8;
    // Measured: a full group of 8 one-block messages costs about 2.2 scalar
    // hashes, so one or two leftover messages go faster one by one.
    static constexpr std::size_t scalar_below = 3;
    // A group costs more than 8 SHA-NI hashes (measured), so with SHA-NI only
    // full groups run here.
    static constexpr std::size_t shani_below = 8;

    CAPI_AVX2 static void one_block(const unsigned char* blocks, digest* const* out) noexcept {
        const unsigned char* ptr[8];
        for (int i = 0; i < 8; ++i) ptr[i] = blocks + 64 * i;
        __m256i w[16], s[8], iv[8];
        load_schedule(w, ptr);
        initial(iv);
        for (int j = 0; j < 8; ++j) s[j] = iv[j];
        rounds(s, w);
        for (int j = 0; j < 8; ++j) s[j] = add(s[j], iv[j]);
        store_digests(s, out);
    }

    CAPI_AVX2 static void init(u32* state) noexcept {
        __m256i s[8];
        initial(s);
        for (int j = 0; j < 8; ++j) _mm256_store_si256(reinterpret_cast<__m256i*>(state + 8 * j), s[j]);
    }

    CAPI_AVX2 static void compress(u32* state, const unsigned char* const* blocks, u32 active) noexcept {
        // Lane i's all-ones mask when bit i of `active` is set.
        const __m256i bits = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
        const __m256i keep = _mm256_cmpeq_epi32(
            _mm256_and_si256(_mm256_set1_epi32(static_cast<int>(active)), bits), bits);
        __m256i w[16], s[8], prev[8];
        load_schedule(w, blocks);
        for (int j = 0; j < 8; ++j) {
            prev[j] = _mm256_load_si256(reinterpret_cast<const __m256i*>(state + 8 * j));
            s[j] = prev[j];
        }
        rounds(s, w);
        for (int j = 0; j < 8; ++j)
            _mm256_store_si256(reinterpret_cast<__m256i*>(state + 8 * j),
                               add(prev[j], _mm256_and_si256(s[j], keep)));
    }

    CAPI_AVX2 static void finish(const u32* state, digest* const* out) noexcept {
        __m256i s[8];
        for (int j = 0; j < 8; ++j) s[j] = _mm256_load_si256(reinterpret_cast<const __m256i*>(state + 8 * j));
        store_digests(s, out);
    }
};

#undef CAPI_AVX2_INLINE
#undef CAPI_AVX2

void avx2_hash_many(const std::string_view* in, digest* out, std::size_t n) noexcept {
    mb::hasher<avx2_engine> hasher;
    hasher.run(in, out, n);
}

bool avx2_supported() noexcept { return cpu().avx2; }

} // namespace

const impl avx2_impl = {"avx2", &avx2_hash_many, &avx2_supported};

} // namespace capi::sha256::detail
