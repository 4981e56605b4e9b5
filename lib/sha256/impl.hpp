// capi: the SHA-256 dispatch table (private).
//
// Every implementation hashes a batch of messages; sha256.cpp picks one entry
// of `implementations()` once at start-up. A new path (SHA-NI, AVX2 lanes, ...)
// is one more entry: a name, a batch function and a CPU check.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

#include <capi/sha256.hpp>

namespace capi::sha256::detail {

/// FIPS 180-4 §4.2.2: the 64 round constants (aligned for vector loads).
alignas(64) inline constexpr std::uint32_t round_constants[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

/// Copies len <= 64 bytes with two overlapping fixed-size moves, so the copy is
/// a handful of unaligned loads and stores instead of a call to memcpy, and
/// never reads outside [src, src + len).
inline void copy_short(unsigned char* dst, const unsigned char* src, std::size_t len) noexcept {
    if (len >= 32) {
        std::memcpy(dst, src, 32);
        std::memcpy(dst + len - 32, src + len - 32, 32);
    } else if (len >= 16) {
        std::memcpy(dst, src, 16);
        std::memcpy(dst + len - 16, src + len - 16, 16);
    } else if (len >= 8) {
        std::memcpy(dst, src, 8);
        std::memcpy(dst + len - 8, src + len - 8, 8);
    } else if (len >= 4) {
        std::memcpy(dst, src, 4);
        std::memcpy(dst + len - 4, src + len - 4, 4);
    } else if (len != 0) {
        dst[0] = src[0];
        dst[len / 2] = src[len / 2];
        dst[len - 1] = src[len - 1];
    }
}

/// FIPS 180-4 §5.3.3: the initial hash value.
inline constexpr std::uint32_t initial_state[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

struct impl {
    const char* name;
    /// Hashes inputs[i] into outputs[i] for i < n. Reentrant, never fails.
    void (*hash_many)(const std::string_view* inputs, digest* outputs, std::size_t n) noexcept;
    /// True when this CPU can run the implementation.
    bool (*supported)() noexcept;
};

/// The portable FIPS 180-4 implementation; always built, always supported.
extern const impl scalar_impl;
digest scalar_hash(std::string_view data) noexcept;

/// x86 SHA extensions, 1-, 2- and 4-way interleaved (shani.cpp).
extern const impl shani_impl;
/// AVX2, 8 messages per lane group (avx2.cpp).
extern const impl avx2_impl;
/// AVX-512F, 16 messages per lane group (avx512.cpp).
extern const impl avx512_impl;

/// CPU features, read once with cpuid/xgetbv (cpu.cpp). Each is false on
/// non-x86 builds and when the OS does not enable the register state.
struct cpu_features {
    bool sha = false;      ///< SHA extensions (CPUID.7.0:EBX[29]) + SSE4.1 + SSSE3
    bool avx2 = false;     ///< AVX2 with OS-enabled YMM state
    bool avx512f = false;  ///< AVX-512F with OS-enabled ZMM state
};
const cpu_features& cpu() noexcept;

/// Every implementation built into the library, the preferred one first and
/// scalar last (the tests walk this list and check each supported path).
std::span<const impl* const> implementations() noexcept;

/// The outcome of choosing: what runs, and why a forced name was not honoured.
struct choice {
    const impl* chosen = nullptr;
    /// NUL-terminated; empty when nothing was forced or the forced path runs.
    /// A fixed buffer so choosing cannot allocate or throw.
    std::array<char, 192> error{};
    std::string_view error_text() const noexcept { return error.data(); }
};

/// The choice for `forced` (the value of CAPI_SHA256_IMPL, or nullptr) among
/// `candidates` (preferred first, as implementations()): the named one when it
/// is there and supported; otherwise the first supported one, with the reason in
/// `error` naming the variable. The tests pass their own candidate lists to
/// check the rule without re-exec'ing or depending on this CPU.
choice choose(const char* forced, std::span<const impl* const> candidates = implementations()) noexcept;

/// The implementation chosen at start-up.
const impl& selected() noexcept;

} // namespace capi::sha256::detail
