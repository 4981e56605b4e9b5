#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds, runs every meson test,
# and ends with the line "N passed, N failed" counting Catch2 test cases (and
# each non-Catch2 test as one). Exit status is non-zero when anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${CAPI_BUILD_DIR:-build}
# The tests' own outside programs: the browser suite drives Debian's chromium,
# the gateway's shell test uses curl, the Kafka tests produce with kcat. A test
# that cannot run them fails.
if ! bash scripts/deps.sh chromium curl kcat; then
  echo "installing the test packages (chromium, curl, kcat) failed"
  echo "0 passed, 1 failed"
  exit 1
fi
if ! bash scripts/build.sh; then
  echo "build failed"
  echo "0 passed, 1 failed"
  exit 1
fi
# The long soak suite has its own command (docs/reliability.md); with no
# arguments, everything else runs.
if [ $# -eq 0 ]; then set -- --no-suite soak; fi
meson test -C "$BUILD_DIR" --print-errorlogs --no-rebuild "$@"
status=$?
python3 scripts/count_tests.py "$BUILD_DIR/meson-logs/testlog.json"
count_status=$?
if [ $status -ne 0 ] || [ $count_status -ne 0 ]; then exit 1; fi
