// capi: SHA-256 for PII, many values at a time.
//
// One interface over several implementations chosen once at start-up by CPU
// features, the fastest measured first; CAPI_SHA256_IMPL=scalar|shani|avx2|avx512
// forces one when this CPU supports it (an unknown or unsupported name keeps the
// default choice and is reported by selection_error()). The portable scalar
// implementation is always built and every other path is checked against it and
// against OpenSSL in the tests.
//
// Thread safety: all functions are reentrant.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>

#pragma GCC visibility push(default)  // exported: docs/install.md#symbol-visibility
namespace capi::sha256 {

using digest = std::array<std::uint8_t, 32>;

/// SHA-256 of `data`.
digest hash(std::string_view data) noexcept;

/// Hashes inputs[i] into outputs[i]. The sizes must be equal (extra outputs are
/// left untouched). Inputs may have any length, empty and multi-block included.
void hash_many(std::span<const std::string_view> inputs, std::span<digest> outputs) noexcept;

/// Writes the 64 lowercase hex characters of `d` to `out64` (not NUL-terminated).
void to_hex(const digest& d, char* out64) noexcept;

/// Name of the implementation in use ("scalar", "shani", "avx2", "avx512"):
/// always the one that actually runs, forced or not.
std::string_view implementation_name() noexcept;

/// Why CAPI_SHA256_IMPL was not honoured, e.g. "CAPI_SHA256_IMPL=avx512: not
/// supported by this CPU (using shani)" or "CAPI_SHA256_IMPL=foo: unknown
/// implementation (...)"; empty when the variable is unset, empty, or names a
/// path this CPU runs. The library still hashes (with the default choice) when
/// this is non-empty; it never prints it, so programs that want a bad setting to
/// be fatal check it at start-up (the capi tool exits 2).
std::string_view selection_error() noexcept;

} // namespace capi::sha256
#pragma GCC visibility pop
