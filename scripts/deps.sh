#!/usr/bin/env bash
# Installs the Debian 12 packages capi builds with, when any is missing, plus
# any extra package names given as arguments (scripts/fuzz.sh adds clang,
# scripts/test.sh chromium, curl and kcat, scripts/bench_gateway.sh wrk).
# librdkafka-dev builds capi::kafka (meson feature `kafka`, auto).
# Run by scripts/build.sh; needs root (or sudo) only when something is missing.
set -euo pipefail

CAPI_DEB_PACKAGES=(
  g++ meson ninja-build pkg-config
  libboost1.81-dev libsimdjson-dev libssl-dev libutf8proc-dev catch2 librdkafka-dev libcli11-dev
  "$@"
)

missing=()
for p in "${CAPI_DEB_PACKAGES[@]}"; do
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
