#!/usr/bin/env bash
# Consumer test: `meson install --destdir` into a build-local stage, check what
# was installed, then build test/consumer/main.cpp as an outside program with a
# plain compiler command and `pkg-config --cflags --libs capi capi-testing`,
# once against the shared libraries and once static (capi-static and
# capi-testing-static, with the .so files still installed beside the .a files),
# and run both against the mock over TLS on 127.0.0.1. The stage is used as it
# is: the .pc files are relocatable, no PKG_CONFIG_SYSROOT_DIR.
#
# Usage: pkgconfig.sh MESON BUILD_DIR WORK_DIR LIBDIR INCLUDEDIR BINDIR VERSION DEFAULT_LIBRARY SANITIZE CXX...
# (directories absolute, under the configured prefix; DEFAULT_LIBRARY both,
# shared or static says which of the two links to check)
set -euo pipefail
meson=$1 build=$2 work=$3 libdir=$4 includedir=$5 bindir=$6 version=$7 kinds=$8 sanitize=$9
shift 9
cxx=("$@")
here=$(cd "$(dirname "$0")" && pwd)
src_include=$here/../../include

step() { printf '== %s (%ss)\n' "$1" "$SECONDS"; }
die() { echo "FAIL: $*" >&2; exit 1; }

rm -rf "$work"
mkdir -p "$work"
stage=$work/stage

step "meson install --destdir $stage"
# DESTDIR from the caller's environment would nest the stage: the flag decides.
env -u DESTDIR "$meson" install -C "$build" --destdir "$stage" --no-rebuild --quiet

# What is installed: every public header (detail/ and testing/ too) and the
# generated version.hpp, and nothing else under include/capi.
step "installed files"
inc=$stage$includedir/capi
lib=$stage$libdir
expected=$( (cd "$src_include/capi" && find . -name '*.hpp' && echo ./version.hpp) | sort)
installed=$(cd "$inc" && find . -type f | sort)
[ "$expected" = "$installed" ] ||
  die "headers under $includedir/capi differ from include/capi:"$'\n'"$(diff <(echo "$expected") <(echo "$installed"))"
want=(pkgconfig/capi.pc pkgconfig/capi-testing.pc)
[ "$kinds" = static ] || want+=(libcapi.so libcapi-testing.so)
[ "$kinds" = shared ] || want+=(libcapi.a libcapi-testing.a pkgconfig/capi-static.pc pkgconfig/capi-testing-static.pc)
for f in "${want[@]}"; do
  [ -e "$lib/$f" ] || die "$libdir/$f is not installed"
done
# The documentation `capi --help` points to.
docdir=$stage$(dirname "$includedir")/share/doc/capi
for f in cli.md getting-started.md install.md examples/first_event.cpp; do
  [ -f "$docdir/$f" ] || die "share/doc/capi/$f is not installed"
done
[ ! -e "$docdir/tests" ] || die "share/doc/capi/tests (the docs' own checks) is installed"
# The per-subsystem static libraries are build internals.
if ls "$lib" | grep -q '^libcapi_'; then die "internal libraries installed: $(ls "$lib" | grep '^libcapi_')"; fi
got=$("$stage$bindir/capi" --version) || die "installed capi --version failed"
case $got in "capi $version "*) ;; *) die "capi --version printed '$got', expected capi $version" ;; esac
echo "$got"

# pkg-config on the staged files as they are: relocatable .pc files give the
# stage's paths (a user's PKG_CONFIG_SYSROOT_DIR would be wrong here).
unset PKG_CONFIG_SYSROOT_DIR
export PKG_CONFIG_PATH=$lib/pkgconfig
pc_version=$(pkg-config --modversion capi)
[ "$pc_version" = "$version" ] || die "pkg-config --modversion capi: $pc_version, expected $version"
pc_libdir=$(pkg-config --variable=libdir capi)
[ "$(cd "$pc_libdir" && pwd -P)" = "$(cd "$lib" && pwd -P)" ] || die "pkg-config --variable=libdir capi: $pc_libdir, not the stage's $lib"
# The public headers need no dependency's macros: only -I and -pthread.
cflags=$(pkg-config --cflags capi capi-testing)
for w in $cflags; do
  case $w in -I*|-pthread) ;; *) die "pkg-config --cflags capi capi-testing gives '$w' (only -I and -pthread expected)" ;; esac
done
san=()
if [ "$sanitize" != none ]; then san=("-fsanitize=$sanitize"); fi

step "compile main.cpp: ${cxx[*]} \$(pkg-config --cflags capi capi-testing)"
# shellcheck disable=SC2046  # pkg-config's words are meant to split
"${cxx[@]}" -std=c++20 -Wall -Wextra -Wpedantic -Werror "${san[@]}" $(pkg-config --cflags capi capi-testing) \
  -c "$here/main.cpp" -o "$work/main.o"

if [ "$kinds" != static ]; then
  step "link shared: \$(pkg-config --libs capi capi-testing)"
  # shellcheck disable=SC2046
  "${cxx[@]}" "${san[@]}" "$work/main.o" $(pkg-config --libs capi capi-testing) -o "$work/consumer-shared"
  needed=$(readelf -d "$work/consumer-shared" | grep NEEDED)
  grep -q 'libcapi\.so' <<<"$needed" || die "consumer-shared does not link libcapi.so"
  grep -q 'libcapi-testing\.so' <<<"$needed" || die "consumer-shared does not link libcapi-testing.so"
  step "run shared"
  LD_LIBRARY_PATH=$lib timeout 60 "$work/consumer-shared"
fi

if [ "$kinds" != shared ]; then
  step "link static: \$(pkg-config --libs capi-testing-static capi-static), the .so files still beside the .a files"
  # shellcheck disable=SC2046
  "${cxx[@]}" "${san[@]}" "$work/main.o" $(pkg-config --libs capi-testing-static capi-static) -o "$work/consumer-static"
  if readelf -d "$work/consumer-static" | grep NEEDED | grep -q libcapi; then die "consumer-static still needs a libcapi shared library"; fi
  step "run static"
  timeout 60 "$work/consumer-static"
fi
step "done"
