// The median the benchmarks report beside their best round (bench_e2e's
// closing lines, bench_async_op). Header-only and free of capi's headers, like
// cpu_clock.hpp beside it.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

namespace capi_bench {

/// The median of `v` (the mean of the middle two for an even count); v not empty.
inline double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

} // namespace capi_bench
