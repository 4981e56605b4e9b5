// The calling thread's CPU clock, for every benchmark: steadier than wall time
// on a shared machine, and blind to the other threads and processes that share
// its cores. Header-only and free of capi's headers, so that benchmarks built
// from different libraries (bench_core, bench_transport, bench_pixel,
// bench_peer_capi, the end-to-end code here) read one clock the one way.
#pragma once

#include <time.h>

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

} // namespace capi_bench
