#!/usr/bin/env bash
# The main job: installs what is missing, builds, and runs the end-to-end
# benchmark: capi::Client over TLS to the mock Graph server (a child process on
# 127.0.0.1), through enqueue() from producer threads and co_await async_send()
# from coroutines, with the compute floor measured in the same run. Extra
# arguments go to the benchmark (--events N, --producers P, ...; --help).
# The core benchmark alone: build/bench/bench_core.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh >/dev/null
build_dir=${CAPI_BUILD_DIR:-build}
# bench_e2e exists when the build has benchmarks (-Dbenchmarks=true, the
# default); `capi bench` is the same code (tools/bench/) in every build.
if [ -x "$build_dir/bench/bench_e2e" ]; then
  exec "$build_dir/bench/bench_e2e" "$@"
fi
exec "$build_dir/tools/capi" bench "$@"
