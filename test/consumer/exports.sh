#!/usr/bin/env bash
# What libcapi.so and libcapi-testing.so export (docs/install.md#symbol-visibility):
# every public header wraps its declarations in
# `#pragma GCC visibility push(default)` ... `pop`, the library is compiled
# with hidden visibility, so nothing of lib/ is exported: no capi::detail,
# capi::json, SHA-256 internals, mock internals, simdjson or utf8proc symbols.
#
# Usage: exports.sh INCLUDE_DIR LIBCAPI_SO LIBCAPI_TESTING_SO
set -euo pipefail
include=$1 libcapi=$2 libtesting=$3
fail=0
die() { echo "FAIL: $*" >&2; fail=1; }

# 1. Every public header (detail/ holds templates only) exports what it declares.
while IFS= read -r h; do
  push=$(grep -c '^#pragma GCC visibility push(default)' "$h" || true)
  pop=$(grep -c '^#pragma GCC visibility pop' "$h" || true)
  if [ "$push" -ne 1 ] || [ "$pop" -ne 1 ]; then
    die "$h: needs one '#pragma GCC visibility push(default)' before its namespace and one 'pop' after it"
  fi
done < <(find "$include/capi" -name '*.hpp' -not -path '*/detail/*' -o -name '*.hpp.in' | sort)

# The entity each exported symbol belongs to ("typeinfo for X" -> X).
exported() {
  nm -D --defined-only -C "$1" | cut -d' ' -f3- |
    sed -E 's/^(guard variable for |typeinfo name for |typeinfo for |vtable for |VTT for |construction vtable for )//'
}

for so in "$libcapi" "$libtesting"; do
  syms=$(exported "$so")
  # 2. No internals. (std:: or boost:: templates instantiated over a public
  # class's pimpl may appear: vague linkage, not callable API.)
  bad=$(grep -E '^(capi::(detail|json|sha256::detail|testing::detail|testing::rules)::|capi::[A-Za-z_]+::impl::)|simdjson|utf8proc' <<<"$syms" || true)
  if [ -n "$bad" ]; then
    die "$(basename "$so") exports internal symbols ($(wc -l <<<"$bad")):"$'\n'"$(head -20 <<<"$bad")"
  fi
  echo "$(basename "$so"): $(wc -l <<<"$syms") exported, $(grep -c '^capi::' <<<"$syms") of them capi::"
done

# 3. The public API is there (a sample from each header the consumers use).
need() {
  local so=$1; shift
  local syms; syms=$(exported "$so")
  for s in "$@"; do grep -qxF "$s" <<<"$syms" || die "$(basename "$so") does not export $s"; done
}
need "$libcapi" \
  'capi::version()' \
  'capi::Client::Client(capi::Options)' \
  'capi::Client::enqueue(capi::Event const&)' \
  'capi::Client::stats() const' \
  'capi::BatchEncoder::BatchEncoder(capi::EncodeOptions)' \
  'capi::sha256::hash(std::basic_string_view<char, std::char_traits<char> >)' \
  'capi::make_error_code(capi::errc)' \
  'capi::Transport'
need "$libtesting" \
  'capi::testing::MockGraphServer::MockGraphServer(capi::testing::MockOptions)' \
  'capi::testing::MockGraphServer::url[abi:cxx11]() const' \
  'capi::testing::Fault::graph_error(int, int, int, bool, std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> >)'
# libcapi-testing uses libcapi's transport instead of a copy of it.
if exported "$libtesting" | grep -qxF 'capi::appsecret_proof[abi:cxx11](std::basic_string_view<char, std::char_traits<char> >, std::basic_string_view<char, std::char_traits<char> >)'; then
  die "libcapi-testing.so carries its own copy of capi::appsecret_proof"
fi
exit $fail
