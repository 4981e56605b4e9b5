#!/usr/bin/env bash
# Builds the libFuzzer targets with clang in build-fuzz/ (ASan + UBSan, see
# docs/fuzzing.md) and runs each one for a bounded time.
# Usage: scripts/fuzz.sh [SECONDS]   (per fuzzer, default 60)
# Installs clang and libFuzzer's runtime (libclang-rt-14-dev) when missing,
# through scripts/deps.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

per_fuzzer=${1:-60}
if ! [[ $per_fuzzer =~ ^[0-9]+$ ]] || ((per_fuzzer == 0)); then
  echo "usage: scripts/fuzz.sh [SECONDS]  (a positive whole number, per fuzzer)" >&2
  exit 2
fi

bash scripts/deps.sh clang libclang-rt-14-dev

BUILD_DIR=${CAPI_FUZZ_BUILD_DIR:-build-fuzz}
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  CXX=clang++ meson setup "$BUILD_DIR" -Dfuzzers=true -Dtests=false -Dbenchmarks=false >/dev/null
fi
# Only the fuzz targets and what they link: the rest of the project is not
# needed here (and clang 14 cannot build its Asio coroutines with these flags).
targets=()
for src in test/fuzz/*_fuzz.cpp; do
  name=${src##*/}
  targets+=("test/fuzz/fuzz_${name%_fuzz.cpp}")
done
ninja -C "$BUILD_DIR" "${targets[@]}"

# New inputs go to a work corpus inside the build directory; the checked-in
# seeds (test/fuzz/corpus/NAME) are only read, so fuzzing never dirties git.
status=0
for target in "${targets[@]}"; do
  exe="$BUILD_DIR/$target"
  name=${target##*/fuzz_}
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
