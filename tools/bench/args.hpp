// The small benchmarks' command lines (`--name value` and bare `--flag`), read
// one way: bench_core and bench_transport. Header-only and free of capi's
// headers, like cpu_clock.hpp beside it. (The end-to-end benchmark and the
// capi program parse theirs with CLI11.)
#pragma once

#include <cstdlib>
#include <string_view>

namespace capi_bench {

/// The integer after `name` on the command line, else `def`.
inline long arg_value(int argc, char** argv, std::string_view name, long def) {
    for (int i = 1; i + 1 < argc; ++i)
        if (name == argv[i]) return std::strtol(argv[i + 1], nullptr, 10);
    return def;
}

/// True when `name` is on the command line.
inline bool has_flag(int argc, char** argv, std::string_view name) {
    for (int i = 1; i < argc; ++i)
        if (name == argv[i]) return true;
    return false;
}

} // namespace capi_bench
