// Internal: asking for a range's cache lines ahead of use, so that their misses
// overlap instead of coming one at a time as the code reaches them.
#pragma once

#include <cstddef>

namespace capi::detail {

inline constexpr int for_reading = 0, for_write = 1;

/// Prefetches every 64-byte line of `[p, p + n)` (__builtin_prefetch's `rw`:
/// for_reading or for_write). A prefetch never faults.
template <int Rw = for_reading>
inline void prefetch_lines(const void* p, std::size_t n) noexcept {
    const auto* c = static_cast<const char*>(p);
    for (std::size_t at = 0; at < n; at += 64) __builtin_prefetch(c + at, Rw);
}

} // namespace capi::detail
