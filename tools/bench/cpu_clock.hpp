// The calling thread's CPU clock, for every benchmark: steadier than wall time
// on a shared machine, and blind to the other threads and processes that share
// its cores. Header-only and free of capi's headers, so that benchmarks built
// from different libraries (bench_core, bench_transport, bench_pixel,
// bench_peer_capi, the end-to-end code here) read one clock the one way.
#pragma once

#include <sys/resource.h>
#include <time.h>

#include <cstdint>

namespace capi_bench {

/// CPU seconds of the calling thread (CLOCK_THREAD_CPUTIME_ID).
inline double thread_cpu_seconds() noexcept {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

/// The same clock in nanoseconds.
inline double thread_cpu_ns() noexcept {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

/// Page faults of the whole process so far (minor and major): each is memory
/// touched for the first time, at a cost a CPU clock counts but a warm loop
/// never pays (on a virtual machine, microseconds apiece).
inline std::uint64_t process_page_faults() noexcept {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return static_cast<std::uint64_t>(ru.ru_minflt) + static_cast<std::uint64_t>(ru.ru_majflt);
}

} // namespace capi_bench
