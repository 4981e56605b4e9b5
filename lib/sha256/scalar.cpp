// capi: portable SHA-256 (FIPS 180-4), the reference every other path is checked against.
#include "sha256/impl.hpp"

#include <bit>
#include <cstdint>
#include <cstring>

namespace capi::sha256::detail {

namespace {

using u32 = std::uint32_t;
using u64 = std::uint64_t;

inline u32 load_be32(const unsigned char* p) noexcept {
    u32 v;
    std::memcpy(&v, p, 4);
    if constexpr (std::endian::native == std::endian::little) v = __builtin_bswap32(v);
    return v;
}

inline void store_be32(unsigned char* p, u32 v) noexcept {
    if constexpr (std::endian::native == std::endian::little) v = __builtin_bswap32(v);
    std::memcpy(p, &v, 4);
}

inline void store_be64(unsigned char* p, u64 v) noexcept {
    if constexpr (std::endian::native == std::endian::little) v = __builtin_bswap64(v);
    std::memcpy(p, &v, 8);
}

inline u32 big_sigma0(u32 x) noexcept { return std::rotr(x, 2) ^ std::rotr(x, 13) ^ std::rotr(x, 22); }
inline u32 big_sigma1(u32 x) noexcept { return std::rotr(x, 6) ^ std::rotr(x, 11) ^ std::rotr(x, 25); }
inline u32 small_sigma0(u32 x) noexcept { return std::rotr(x, 7) ^ std::rotr(x, 18) ^ (x >> 3); }
inline u32 small_sigma1(u32 x) noexcept { return std::rotr(x, 17) ^ std::rotr(x, 19) ^ (x >> 10); }
inline u32 ch(u32 x, u32 y, u32 z) noexcept { return z ^ (x & (y ^ z)); }
inline u32 maj(u32 x, u32 y, u32 z) noexcept { return (x & y) | (z & (x | y)); }

// One round; the caller rotates the variable names instead of moving eight
// words, so a group of eight rounds leaves a..h where they started.
#define CAPI_SHA256_ROUND(a, b, c, d, e, f, g, h, i, wi)                  \
    do {                                                                  \
        const u32 t1 = h + big_sigma1(e) + ch(e, f, g) + round_constants[i] + (wi);     \
        const u32 t2 = big_sigma0(a) + maj(a, b, c);                      \
        d += t1;                                                          \
        h = t1 + t2;                                                      \
    } while (0)

// w[j & 15] becomes W[t] for t = j (j >= 16), from the rolling 16-word window.
#define CAPI_SHA256_EXPAND(j)                                                        \
    (w[(j) & 15] += small_sigma1(w[((j) - 2) & 15]) + w[((j) - 7) & 15] +           \
                    small_sigma0(w[((j) - 15) & 15]))

#define CAPI_SHA256_EIGHT(base, W)                                                   \
    CAPI_SHA256_ROUND(a, b, c, d, e, f, g, h, (base) + 0, W((base) + 0));            \
    CAPI_SHA256_ROUND(h, a, b, c, d, e, f, g, (base) + 1, W((base) + 1));            \
    CAPI_SHA256_ROUND(g, h, a, b, c, d, e, f, (base) + 2, W((base) + 2));            \
    CAPI_SHA256_ROUND(f, g, h, a, b, c, d, e, (base) + 3, W((base) + 3));            \
    CAPI_SHA256_ROUND(e, f, g, h, a, b, c, d, (base) + 4, W((base) + 4));            \
    CAPI_SHA256_ROUND(d, e, f, g, h, a, b, c, (base) + 5, W((base) + 5));            \
    CAPI_SHA256_ROUND(c, d, e, f, g, h, a, b, (base) + 6, W((base) + 6));            \
    CAPI_SHA256_ROUND(b, c, d, e, f, g, h, a, (base) + 7, W((base) + 7))

#define CAPI_SHA256_LOADED(j) (w[j] = load_be32(p + 4 * (j)))

/// Runs the compression function over `nblocks` consecutive 64-byte blocks.
void compress(u32* state, const unsigned char* p, std::size_t nblocks) noexcept {
    u32 w[16];
    for (; nblocks != 0; --nblocks, p += 64) {
        u32 a = state[0], b = state[1], c = state[2], d = state[3];
        u32 e = state[4], f = state[5], g = state[6], h = state[7];

        CAPI_SHA256_EIGHT(0, CAPI_SHA256_LOADED);
        CAPI_SHA256_EIGHT(8, CAPI_SHA256_LOADED);
        // Rounds 16..63 in three identical unrolled groups; `k` and the window
        // indices are constant within each (the compiler folds `base + n`).
        for (int base = 16; base < 64; base += 16) {
            CAPI_SHA256_EIGHT(base, CAPI_SHA256_EXPAND);
            CAPI_SHA256_EIGHT(base + 8, CAPI_SHA256_EXPAND);
        }

        state[0] += a; state[1] += b; state[2] += c; state[3] += d;
        state[4] += e; state[5] += f; state[6] += g; state[7] += h;
    }
}

#undef CAPI_SHA256_LOADED
#undef CAPI_SHA256_EIGHT
#undef CAPI_SHA256_EXPAND
#undef CAPI_SHA256_ROUND

inline digest finish(const u32* state) noexcept {
    digest out;
    for (int i = 0; i < 8; ++i) store_be32(out.data() + 4 * i, state[i]);
    return out;
}

void scalar_hash_many(const std::string_view* inputs, digest* outputs, std::size_t n) noexcept {
    for (std::size_t i = 0; i < n; ++i) outputs[i] = scalar_hash(inputs[i]);
}

bool always_supported() noexcept { return true; }

} // namespace

digest scalar_hash(std::string_view data) noexcept {
    u32 state[8];
    std::memcpy(state, initial_state, sizeof state);
    const auto* p = reinterpret_cast<const unsigned char*>(data.data());
    const std::size_t len = data.size();
    const u64 bit_len = static_cast<u64>(len) * 8;

    // Most PII values (emails, phones, names) fit one padded block.
    if (len <= 55) {
        alignas(16) unsigned char block[64] = {};
        if (len != 0) std::memcpy(block, p, len);
        block[len] = 0x80;
        store_be64(block + 56, bit_len);
        compress(state, block, 1);
        return finish(state);
    }

    const std::size_t full = len / 64;
    compress(state, p, full);
    const std::size_t rem = len - full * 64;
    alignas(16) unsigned char tail[128] = {};
    if (rem != 0) std::memcpy(tail, p + full * 64, rem);
    tail[rem] = 0x80;
    const std::size_t tail_blocks = rem <= 55 ? 1 : 2;
    store_be64(tail + tail_blocks * 64 - 8, bit_len);
    compress(state, tail, tail_blocks);
    return finish(state);
}

const impl scalar_impl = {"scalar", &scalar_hash_many, &always_supported};

} // namespace capi::sha256::detail
