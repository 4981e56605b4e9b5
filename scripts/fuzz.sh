#!/usr/bin/env bash
# Builds the libFuzzer targets with clang in build-fuzz/ (ASan + UBSan, see
# docs/fuzzing.md) and runs each one for a bounded time.
# Usage: scripts/fuzz.sh [SECONDS]   (per fuzzer, default 60)
# Installs clang and libFuzzer's runtime (libclang-rt-14-dev) when missing,
# like scripts/deps.sh does for the build dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."

per_fuzzer=${1:-60}
if ! [[ $per_fuzzer =~ ^[0-9]+$ ]] || ((per_fuzzer == 0)); then
  echo "usage: scripts/fuzz.sh [SECONDS]  (a positive whole number, per fuzzer)" >&2
  exit 2
fi

bash scripts/deps.sh
fuzz_packages=(clang libclang-rt-14-dev)
missing=()
for p in "${fuzz_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "capi: installing missing Debian packages: ${missing[*]}" >&2
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

BUILD_DIR=${CAPI_FUZZ_BUILD_DIR:-build-fuzz}
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  CXX=clang++ meson setup "$BUILD_DIR" -Dfuzzers=true -Dtests=false -Dbenchmarks=false >/dev/null
fi
ninja -C "$BUILD_DIR"

# New inputs go to a work corpus inside the build directory; the checked-in
# seeds (test/fuzz/corpus/NAME) are only read, so fuzzing never dirties git.
status=0
for exe in "$BUILD_DIR"/test/fuzz/fuzz_*; do
  [[ -f $exe && -x $exe ]] || continue
  name=${exe##*/fuzz_}
  work="$BUILD_DIR/fuzz-corpus/$name"
  artifacts="$BUILD_DIR/fuzz-artifacts/$name/"
  mkdir -p "$work" "$artifacts"
  seeds=()
  [ -d "test/fuzz/corpus/$name" ] && seeds+=("test/fuzz/corpus/$name")
  echo "capi: fuzzing $name for ${per_fuzzer}s (crashes go to $artifacts)" >&2
  if ! "$exe" -max_total_time="$per_fuzzer" -print_final_stats=1 -artifact_prefix="$artifacts" \
      "$work" "${seeds[@]}"; then
    echo "capi: fuzz_$name FAILED; reproduce with: $exe $artifacts<crash-file>" >&2
    status=1
  fi
done
exit $status
