#!/usr/bin/env bash
# Configures (once) and builds capi incrementally in build/ (release, asserts off).
# Usage: scripts/build.sh [ninja targets...]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
BUILD_DIR=${CAPI_BUILD_DIR:-build}
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  # Quiet when it works; the whole log when it does not.
  if ! setup_log=$(meson setup "$BUILD_DIR" --buildtype=release 2>&1); then
    printf '%s\n' "$setup_log" >&2
    exit 1
  fi
fi
# Two cores: ninja's default parallelism (cores + 2) is fine for this size.
ninja -C "$BUILD_DIR" "$@"
