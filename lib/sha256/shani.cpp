// capi: SHA-256 on the x86 SHA extensions (SHA-NI), 1-, 2- and 4-way interleaved.
//
// sha256rnds2 does two rounds but its result feeds the next one, so a single
// message runs at the instruction's latency, not its throughput. Independent
// messages hashed side by side fill those gaps: hash_many takes the inputs four
// at a time, then two, then one.
//
// Only the functions below carry the SHA target (no per-file flags): the
// library must load and run on CPUs without SHA-NI, and the dispatch decides.
#include "sha256/impl.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CAPI_SHANI_BUILT 1
#endif

namespace capi::sha256::detail {

#ifdef CAPI_SHANI_BUILT

// Every function that touches SHA/SSSE3/SSE4.1 instructions carries the target;
// the helpers are force-inlined into the batch functions, which share it.
#define CAPI_SHANI_TARGET __attribute__((target("sha,sse4.1,ssse3")))
#define CAPI_SHANI_INLINE __attribute__((target("sha,sse4.1,ssse3"), always_inline)) inline

namespace {

// sha256rnds2 keeps the eight working words as two vectors, (A,B,E,F) and
// (C,D,G,H), A and C in the top lane. The initial state in that layout:
CAPI_SHANI_INLINE __m128i initial_abef() noexcept {
    return _mm_set_epi32(0x6a09e667, static_cast<int>(0xbb67ae85), 0x510e527f, static_cast<int>(0x9b05688c));
}
CAPI_SHANI_INLINE __m128i initial_cdgh() noexcept {
    return _mm_set_epi32(0x3c6ef372, static_cast<int>(0xa54ff53a), 0x1f83d9ab, 0x5be0cd19);
}

/// Big-endian message words: byte-swap each 32-bit lane.
CAPI_SHANI_INLINE __m128i load_words(const unsigned char* p) noexcept {
    const __m128i bswap32 = _mm_set_epi8(12, 13, 14, 15, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3);
    return _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)), bswap32);
}

/// Runs the compression function over one block per lane, given as its 16
/// big-endian words (W0..3, W4..7, W8..11, W12..15). Lanes are
/// independent messages; the per-lane loops are unrolled by the compiler
/// (N is a constant), which puts the lanes' instructions side by side.
template <int N>
CAPI_SHANI_INLINE void compress(__m128i (&abef)[N], __m128i (&cdgh)[N], const __m128i (&words)[N][4]) noexcept {
    __m128i m0[N], m1[N], m2[N], m3[N], abef_in[N], cdgh_in[N];
    for (int l = 0; l < N; ++l) {
        abef_in[l] = abef[l];
        cdgh_in[l] = cdgh[l];
        m0[l] = words[l][0];
        m1[l] = words[l][1];
        m2[l] = words[l][2];
        m3[l] = words[l][3];
    }

// Four rounds from the message words W[i..i+3] in M: two sha256rnds2, each
// taking its two W+K values from the low half of the operand.
#define CAPI_SHANI_ROUNDS(M, i)                                                         \
    do {                                                                                \
        const __m128i kv = _mm_load_si128(reinterpret_cast<const __m128i*>(round_constants + (i)));   \
        for (int l = 0; l < N; ++l) {                                                   \
            __m128i wk = _mm_add_epi32(M[l], kv);                                       \
            cdgh[l] = _mm_sha256rnds2_epu32(cdgh[l], abef[l], wk);                      \
            wk = _mm_shuffle_epi32(wk, 0x0e);                                           \
            abef[l] = _mm_sha256rnds2_epu32(abef[l], cdgh[l], wk);                      \
        }                                                                               \
    } while (0)
// The next four message words, in place of the oldest (W[t-16..t-13] in M0;
// M1, M2, M3 hold the three later groups): W[t] = s1(W[t-2]) + W[t-7] +
// s0(W[t-15]) + W[t-16]. msg1 adds s0, alignr supplies W[t-7..t-4], msg2 adds
// s1 (including the words it is producing).
#define CAPI_SHANI_SCHEDULE(M0, M1, M2, M3)                                             \
    for (int l = 0; l < N; ++l) {                                                       \
        const __m128i s = _mm_add_epi32(_mm_sha256msg1_epu32(M0[l], M1[l]),             \
                                        _mm_alignr_epi8(M3[l], M2[l], 4));              \
        M0[l] = _mm_sha256msg2_epu32(s, M3[l]);                                         \
    }

    CAPI_SHANI_ROUNDS(m0, 0);
    CAPI_SHANI_ROUNDS(m1, 4);
    CAPI_SHANI_ROUNDS(m2, 8);
    CAPI_SHANI_ROUNDS(m3, 12);
    for (int base = 16; base < 64; base += 16) {
        CAPI_SHANI_SCHEDULE(m0, m1, m2, m3);
        CAPI_SHANI_ROUNDS(m0, base);
        CAPI_SHANI_SCHEDULE(m1, m2, m3, m0);
        CAPI_SHANI_ROUNDS(m1, base + 4);
        CAPI_SHANI_SCHEDULE(m2, m3, m0, m1);
        CAPI_SHANI_ROUNDS(m2, base + 8);
        CAPI_SHANI_SCHEDULE(m3, m0, m1, m2);
        CAPI_SHANI_ROUNDS(m3, base + 12);
    }
#undef CAPI_SHANI_SCHEDULE
#undef CAPI_SHANI_ROUNDS

    for (int l = 0; l < N; ++l) {
        abef[l] = _mm_add_epi32(abef[l], abef_in[l]);
        cdgh[l] = _mm_add_epi32(cdgh[l], cdgh_in[l]);
    }
}

/// compress() over one 64-byte block per lane, read from memory.
template <int N>
CAPI_SHANI_INLINE void compress_blocks(__m128i (&abef)[N], __m128i (&cdgh)[N],
                                       const unsigned char* const (&block)[N]) noexcept {
    __m128i words[N][4];
    for (int l = 0; l < N; ++l) {
        for (int j = 0; j < 4; ++j) words[l][j] = load_words(block[l] + 16 * j);
    }
    compress<N>(abef, cdgh, words);
}

/// The digest (A..H big-endian) from the two state vectors.
CAPI_SHANI_INLINE void store_digest(digest& out, __m128i abef, __m128i cdgh) noexcept {
    const __m128i reverse = _mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m128i dcba = _mm_unpackhi_epi64(cdgh, abef);  // lanes D, C, B, A
    const __m128i hgfe = _mm_unpacklo_epi64(cdgh, abef);  // lanes H, G, F, E
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out.data()), _mm_shuffle_epi8(dcba, reverse));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out.data() + 16), _mm_shuffle_epi8(hgfe, reverse));
}

/// The final one or two blocks of a message: its last len % 64 bytes, the 0x80
/// marker, zeros and the bit length. Returns the number of blocks (1 or 2).
CAPI_SHANI_INLINE std::size_t pad_tail(unsigned char* tail, const unsigned char* rest, std::size_t rem,
                                       std::size_t total_len) noexcept {
    const __m128i zero = _mm_setzero_si128();
    for (int i = 0; i < 4; ++i) _mm_store_si128(reinterpret_cast<__m128i*>(tail) + i, zero);
    const std::size_t blocks = rem <= 55 ? 1 : 2;
    if (blocks == 2) {
        for (int i = 4; i < 8; ++i) _mm_store_si128(reinterpret_cast<__m128i*>(tail) + i, zero);
    }
    copy_short(tail, rest, rem);
    tail[rem] = 0x80;
    std::uint64_t bits = static_cast<std::uint64_t>(total_len) * 8;
    for (std::size_t i = 0; i < 8; ++i, bits >>= 8) tail[blocks * 64 - 1 - i] = static_cast<unsigned char>(bits);
    return blocks;
}

// Building a one-block message in registers. Writing the bytes to a stack
// block and reading it back as four vectors stalls every load on store
// forwarding (each load spans several smaller stores), which cost ~15% per hash.
// Instead each 16-byte chunk of the block is one in-bounds load shuffled into
// place; the shuffle also does the big-endian byte swap, and the 0x80 marker
// and the bit length are or-ed / inserted. Nothing is read outside the input.

/// Byte i of a 32-bit-word byte swap comes from byte swap32(i).
constexpr int swap32(int i) { return (i & ~3) | (3 - (i & 3)); }

/// Row d (0..16): output byte i = input byte swap32(i) + d, zero past the end.
/// Loading a chunk from d bytes before where it should start and applying row
/// d shifts it into place and swaps the words in one pshufb.
constexpr auto shift_rows = [] {
    std::array<std::array<unsigned char, 16>, 17> t{};
    for (int d = 0; d <= 16; ++d) {
        for (int i = 0; i < 16; ++i) {
            const int src = swap32(i) + d;
            t[static_cast<std::size_t>(d)][static_cast<std::size_t>(i)] =
                static_cast<unsigned char>(src < 16 ? src : 0x80);
        }
    }
    return t;
}();

/// Row q (0..16): 0x80 where raw byte q lands after the word swap; row 16 is
/// all zero (the marker is in another chunk).
constexpr auto marker_rows = [] {
    std::array<std::array<unsigned char, 16>, 17> t{};
    for (int q = 0; q < 16; ++q) t[static_cast<std::size_t>(q)][static_cast<std::size_t>(swap32(q))] = 0x80;
    return t;
}();

/// Rows for messages shorter than 16 bytes, whose only chunk is assembled from
/// two overlapping 8- or 4-byte loads (or single bytes) into `x`; row len maps
/// x to the message bytes, word-swapped, zero past the end.
constexpr auto small_rows = [] {
    std::array<std::array<unsigned char, 16>, 16> t{};
    for (int len = 0; len < 16; ++len) {
        // Where message byte i sits in x: x holds bytes [0, h) then the last h
        // bytes of the message at [h, 2h), with h = 8, 4 or (below 4) 16.
        const int h = len >= 8 ? 8 : len >= 4 ? 4 : 16;
        for (int i = 0; i < 16; ++i) {
            const int raw = swap32(i);
            int src = 0x80;
            if (raw < len) src = raw < h ? raw : raw + 2 * h - len;
            t[static_cast<std::size_t>(len)][static_cast<std::size_t>(i)] = static_cast<unsigned char>(src);
        }
    }
    return t;
}();

CAPI_SHANI_INLINE __m128i row(const std::array<unsigned char, 16>& r) noexcept {
    return _mm_loadu_si128(reinterpret_cast<const __m128i*>(r.data()));
}

CAPI_SHANI_INLINE __m128i loadu(const unsigned char* p) noexcept {
    return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
}

/// The 16 words of the single padded block of a message of len <= 55 bytes.
CAPI_SHANI_INLINE void one_block_words(__m128i (&w)[4], const unsigned char* p, std::size_t len) noexcept {
    if (len >= 16) {
        for (std::size_t j = 0; j < 4; ++j) {
            // A chunk past the end is loaded from the last 16 bytes and
            // shifted (d > 0); wholly past the end, row 16 zeroes it.
            const std::size_t start = 16 * j;
            const std::size_t off = std::min(start, len - 16);
            const std::size_t d = std::min<std::size_t>(start - off, 16);
            const std::size_t q = std::min<std::size_t>(len - start, 16);  // wraps when past: row 16
            w[j] = _mm_or_si128(_mm_shuffle_epi8(loadu(p + off), row(shift_rows[d])), row(marker_rows[q]));
        }
    } else {
        __m128i x;
        if (len >= 8) {
            x = _mm_unpacklo_epi64(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)),
                                   _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p + len - 8)));
        } else if (len >= 4) {
            std::uint32_t head, last;
            std::memcpy(&head, p, 4);
            std::memcpy(&last, p + len - 4, 4);
            x = _mm_unpacklo_epi32(_mm_cvtsi32_si128(static_cast<int>(head)), _mm_cvtsi32_si128(static_cast<int>(last)));
        } else {
            std::uint32_t v = 0;
            if (len != 0) v = p[0] | static_cast<std::uint32_t>(p[len / 2]) << (8 * (len / 2)) |
                              static_cast<std::uint32_t>(p[len - 1]) << (8 * (len - 1));
            x = _mm_cvtsi32_si128(static_cast<int>(v));
        }
        w[0] = _mm_or_si128(_mm_shuffle_epi8(x, row(small_rows[len])), row(marker_rows[len]));
        w[1] = w[2] = w[3] = _mm_setzero_si128();
    }
    // W14 is zero (len < 2^29 bits); W15 is the bit length. Bytes 56..63 are
    // past the message and the marker, so nothing else is in those lanes.
    w[3] = _mm_insert_epi32(w[3], static_cast<int>(len * 8), 3);
}

inline const unsigned char* bytes(std::string_view s) noexcept {
    return reinterpret_cast<const unsigned char*>(s.data());
}

/// One message of any length, interleaved with up to three others.
struct lane {
    __m128i abef, cdgh;
    const unsigned char* data;
    std::size_t full;   ///< whole 64-byte blocks read straight from the input
    std::size_t total;  ///< full + the 1 or 2 padded tail blocks
    alignas(16) unsigned char tail[128];

    const unsigned char* block(std::size_t b) const noexcept {
        return b < full ? data + 64 * b : tail + 64 * (b - full);
    }
};

/// Blocks [from, to) of K lanes, side by side.
template <int K>
CAPI_SHANI_INLINE void run_lanes(lane* const* act, std::size_t from, std::size_t to) noexcept {
    __m128i abef[K], cdgh[K];
    for (int l = 0; l < K; ++l) {
        abef[l] = act[l]->abef;
        cdgh[l] = act[l]->cdgh;
    }
    for (std::size_t b = from; b < to; ++b) {
        const unsigned char* blk[K];
        for (int l = 0; l < K; ++l) blk[l] = act[l]->block(b);
        compress_blocks<K>(abef, cdgh, blk);
    }
    for (int l = 0; l < K; ++l) {
        act[l]->abef = abef[l];
        act[l]->cdgh = cdgh[l];
    }
}

/// N messages of which at least one is longer than one block: all lanes run
/// together for the blocks they have in common, then the longer ones go on
/// among themselves (4, 3, 2, then 1 wide).
template <int N>
CAPI_SHANI_TARGET void hash_mixed(const std::string_view* in, digest* out) noexcept {
    lane lanes[N];
    lane* order[N];
    for (int l = 0; l < N; ++l) {
        lane& ln = lanes[l];
        const std::size_t len = in[l].size();
        ln.abef = initial_abef();
        ln.cdgh = initial_cdgh();
        ln.data = bytes(in[l]);
        ln.full = len / 64;
        ln.total = ln.full + pad_tail(ln.tail, ln.data + ln.full * 64, len % 64, len);
        // Insertion sort by block count, so the lanes still running at any
        // point are a suffix of `order`.
        int j = l;
        for (; j > 0 && order[j - 1]->total > ln.total; --j) order[j] = order[j - 1];
        order[j] = &ln;
    }
    std::size_t done = 0;
    for (int first = 0; first < N;) {
        lane* const* act = order + first;
        const std::size_t to = act[0]->total;
        switch (N - first) {
            case 4: run_lanes<4>(act, done, to); break;
            case 3: run_lanes<3>(act, done, to); break;
            case 2: run_lanes<2>(act, done, to); break;
            default: run_lanes<1>(act, done, to); break;
        }
        done = to;
        while (first < N && order[first]->total == done) ++first;
    }
    for (int l = 0; l < N; ++l) store_digest(out[l], lanes[l].abef, lanes[l].cdgh);
}

/// N messages side by side; the common case, all fitting one padded block
/// (<= 55 bytes), is built in registers and compressed once.
template <int N>
CAPI_SHANI_INLINE void hash_group(const std::string_view* in, digest* out) noexcept {
    bool all_short = true;
    for (int l = 0; l < N; ++l) all_short &= in[l].size() <= 55;
    if (!all_short) {
        hash_mixed<N>(in, out);
        return;
    }
    __m128i words[N][4];
    __m128i abef[N], cdgh[N];
    for (int l = 0; l < N; ++l) {
        one_block_words(words[l], bytes(in[l]), in[l].size());
        abef[l] = initial_abef();
        cdgh[l] = initial_cdgh();
    }
    compress<N>(abef, cdgh, words);
    for (int l = 0; l < N; ++l) store_digest(out[l], abef[l], cdgh[l]);
}

CAPI_SHANI_TARGET void shani_hash_many(const std::string_view* in, digest* out, std::size_t n) noexcept {
    std::size_t i = 0;
    for (; n - i >= 4; i += 4) hash_group<4>(in + i, out + i);
    if (n - i >= 2) {
        hash_group<2>(in + i, out + i);
        i += 2;
    }
    if (i < n) hash_group<1>(in + i, out + i);
}

bool shani_supported() noexcept { return cpu().sha; }

} // namespace

const impl shani_impl = {"shani", &shani_hash_many, &shani_supported};

#undef CAPI_SHANI_INLINE
#undef CAPI_SHANI_TARGET

#else // not x86: built so the table is the same everywhere, never supported.

namespace {
void shani_unavailable(const std::string_view* in, digest* out, std::size_t n) noexcept {
    scalar_impl.hash_many(in, out, n);
}
bool never() noexcept { return false; }
} // namespace

const impl shani_impl = {"shani", &shani_unavailable, &never};

#endif

} // namespace capi::sha256::detail
