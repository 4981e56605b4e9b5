// capi: the SHA-256 dispatch table (private).
//
// Every implementation hashes a batch of messages; sha256.cpp picks one entry
// of `implementations()` once at start-up. A new path (SHA-NI, AVX2 lanes, ...)
// is one more entry: a name, a batch function and a CPU check.
#pragma once

#include <array>
#include <cstddef>
#include <span>
#include <string_view>

#include <capi/sha256.hpp>

namespace capi::sha256::detail {

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
