#!/usr/bin/env bash
# The main job: installs what is missing, builds, and runs the benchmark.
# Today that is the core benchmark (validate + normalize + hash + serialize vs
# the straightforward way); extra arguments go to the benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh >/dev/null
exec "${CAPI_BUILD_DIR:-build}/bench/bench_core" "$@"
