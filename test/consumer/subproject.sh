#!/usr/bin/env bash
# Consumer test: an outside meson project (test/consumer/subproject) that uses
# capi as a subproject. Its copy lives in a build-local directory with
# subprojects/capi -> this source tree; only the `consumer` target is built
# (capi's static library and MockGraphServer, not the tools or the tests; no -O,
# no -g: the point is that it builds and works, quickly), then
# it runs against the mock over TLS on 127.0.0.1.
#
# Usage: subproject.sh MESON NINJA SOURCE_ROOT WORK_DIR SANITIZE
set -euo pipefail
meson=$1 ninja=$2 source_root=$3 work=$4 sanitize=$5
here=$(cd "$(dirname "$0")" && pwd)

step() { printf '== %s (%ss)\n' "$1" "$SECONDS"; }

rm -rf "$work"
mkdir -p "$work/src/subprojects"
cp "$here/subproject/meson.build" "$here/main.cpp" "$work/src/"
ln -s "$(cd "$source_root" && pwd)" "$work/src/subprojects/capi"

step "meson setup (capi as a subproject)"
# Nothing downloaded: every dependency of capi is a system package.
"$meson" setup "$work/build" "$work/src" --force-fallback-for=capi --wrap-mode=nodownload --buildtype=plain \
  -Db_sanitize="$sanitize" >"$work/setup.log" 2>&1 || { cat "$work/setup.log"; exit 1; }
grep -q "Subproject capi finished" "$work/setup.log" || { cat "$work/setup.log"; echo "FAIL: capi was not built as a subproject" >&2; exit 1; }

step "ninja consumer"
"$ninja" -C "$work/build" consumer
step "run consumer"
timeout 60 "$work/build/consumer"
step "done"
