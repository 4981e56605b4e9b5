#!/usr/bin/env bash
# The small benchmarks' command lines (tools/bench/args.hpp) and one short run
# of each: --help; an unknown option, a malformed value, a value out of range
# and a repeated option each refused with status 2 and a message naming the
# option; then each benchmark on a few events, which must end with status 0
# (their own checks: capi and the straightforward way agree, every handler ran,
# every request answered). Not timed: the figures are not read.
# Usage: bench_args_test.sh DIR_OF_THE_BENCHMARKS
set -uo pipefail
BENCH=$1
source "$(dirname "${BASH_SOURCE[0]}")/support/shell.sh"  # TMP, check

# refused NAME EXPECTED-MESSAGE PROGRAM ARGS...: one check that the program
# exits 2 having run nothing, and that stderr's first line is "PROGRAM:
# EXPECTED-MESSAGE", followed by the usage.
refused() {
  local name=$1 want=$2 prog=$3; shift 3
  timeout 30 "$BENCH/$prog" "$@" >"$TMP/out" 2>"$TMP/err"; local rc=$?
  check "$name" [ "$rc|$(head -n1 "$TMP/err")|$(sed -n 2p "$TMP/err" | cut -d' ' -f1-2)|$(wc -c <"$TMP/out")" = \
                  "2|$prog: $want|usage: $prog|0" ]
  [ $rc -eq 2 ] || cat "$TMP/out" "$TMP/err"
}

for prog in bench_core bench_transport bench_sha256 bench_queue bench_pixel bench_async_op; do
  out=$(timeout 30 "$BENCH/$prog" --help); rc=$?
  check "$prog --help: the usage, exit 0" [ "$rc|${out%% \[*}" = "0|usage: $prog" ]
  refused "$prog unknown option" "--no-such: no such option" "$prog" --rounds 1 --no-such
  refused "$prog malformed value" "--rounds: 'x' is not a whole number" "$prog" --rounds x
  refused "$prog value out of range" "--rounds: 0 is out of range (1 to 10000)" "$prog" --rounds 0
  refused "$prog repeated option" "--rounds: given more than once" "$prog" --rounds 2 --rounds 3
  refused "$prog missing value" "--rounds: needs a value" "$prog" --rounds
done

refused "a stray value" "7: not an option (a stray value?)" bench_core 7
refused "two modes" "--lane: one mode at a time (--split was given too)" bench_core --split --lane
refused "a decimal value" "--seconds: 'abc' is not a number" bench_core --seconds abc
refused "below the minimum" "--events: 10 is out of range (1000 to 10000000)" bench_core --events 10
refused "a program's own rule" "--capacity: at most 65534 (boost::lockfree::queue's fixed_sized limit)" \
  bench_queue --capacity 70000
refused "an option that needs another" "--evict-mb: goes with --coroutines" bench_async_op --evict-mb 2
refused "two exclusive options" \
  "--ops: not with --coroutines (each coroutine awaits one operation at a time)" \
  bench_async_op --coroutines 5 --ops 3

# ran NAME LAST-LINE-PATTERN PROGRAM ARGS...: status 0 and a line matching the pattern.
ran() {
  local name=$1 want=$2 prog=$3; shift 3
  timeout 120 "$BENCH/$prog" "$@" >"$TMP/out" 2>&1; local rc=$?
  local result=missing
  grep -qE "$want" "$TMP/out" && result=found
  check "$name: exit 0, and its result" [ "$rc|$result" = "0|found" ]
  [ $rc -eq 0 ] || cat "$TMP/out"
}
ran "bench_core, short" "^ratio capi / straightforward: [0-9.]+x$" \
  bench_core --events 1000 --seconds 0.05 --rounds 1
ran "bench_core --split, short" "prepare" bench_core --split --events 1000 --seconds 0.05 --rounds 1
ran "bench_sha256, short" "^best capi path .*: [0-9.]+x$" bench_sha256 --seconds 0.01 --rounds 1 --count 16
ran "bench_transport, short" "^mock: [0-9]+ connections accepted in all, 20000 events accepted$" \
  bench_transport --requests 10 --concurrency 2 --rounds 1
ran "bench_queue, short" "capi pop_bulk" bench_queue --items 2000 --rounds 1
ran "bench_pixel, short" "^gateway Purchase +[0-9]+" bench_pixel --hits 1000 --rounds 1

echo "$((checks - fails)) checks passed, $fails failed"
[ $fails -eq 0 ]
