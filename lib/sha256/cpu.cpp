// capi: CPU feature detection for the SHA-256 dispatch (cpuid + xgetbv).
#include "sha256/impl.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <cstdint>
#endif

namespace capi::sha256::detail {

namespace {

#if defined(__x86_64__) || defined(__i386__)

// xgetbv by hand: the _xgetbv intrinsic needs -mxsave on the whole file, and
// this file must run on any x86 CPU. Only called once OSXSAVE says it exists.
std::uint64_t read_xcr0() noexcept {
    std::uint32_t lo = 0, hi = 0;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (static_cast<std::uint64_t>(hi) << 32) | lo;
}

constexpr bool bit(unsigned reg, int n) noexcept { return ((reg >> n) & 1u) != 0; }

cpu_features detect() noexcept {
    cpu_features f;
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (__get_cpuid(1, &eax, &ebx, &ecx, &edx) == 0) return f;
    const bool ssse3 = bit(ecx, 9);
    const bool sse41 = bit(ecx, 19);
    const bool osxsave = bit(ecx, 27);
    const bool avx = bit(ecx, 28);

    unsigned ebx7 = 0;
    // __get_cpuid_count checks the maximum leaf first; 0 means no leaf 7.
    if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) != 0) ebx7 = ebx;

    // The CPU having AVX registers is not enough: the OS must save them on a
    // context switch (XCR0), or a thread's upper halves get clobbered.
    const std::uint64_t xcr0 = osxsave ? read_xcr0() : 0;
    const bool ymm_state = (xcr0 & 0x6) == 0x6;            // SSE + AVX
    const bool zmm_state = ymm_state && (xcr0 & 0xe0) == 0xe0;  // opmask, ZMM0-15 hi, ZMM16-31

    f.sha = bit(ebx7, 29) && sse41 && ssse3;
    f.avx2 = bit(ebx7, 5) && avx && ymm_state;
    f.avx512f = bit(ebx7, 16) && avx && zmm_state;
    return f;
}

#else

cpu_features detect() noexcept { return {}; }

#endif

} // namespace

const cpu_features& cpu() noexcept {
    static const cpu_features f = detect();
    return f;
}

} // namespace capi::sha256::detail
