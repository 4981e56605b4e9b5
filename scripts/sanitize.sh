#!/usr/bin/env bash
# Sanitizer runs of the test suites (docs/fuzzing.md, "Sanitizer builds"), each
# in a build directory of its own, building only the test targets it runs:
#
#   scripts/sanitize.sh asan   # build-asan: AddressSanitizer + UndefinedBehaviorSanitizer
#                              # (UB fatal, leaks fatal), suites unit, fault,
#                              # bad-input and load, the client, transport, `capi
#                              # send` and Kafka forwarder tests
#   scripts/sanitize.sh tsan   # build-tsan: ThreadSanitizer, the queue and client
#                              # (pipeline) tests, the load suite, the transport's
#                              # tests, and async_op's completions across threads
#                              # and strands
#
# which amounts to (asan; tsan alike with -Db_sanitize=thread):
#   meson setup build-asan -Db_sanitize=address,undefined -Dbuildtype=debugoptimized \
#     -Doptimization=1 -Dbenchmarks=false -Dcpp_args='-fno-sanitize-recover=all -g1 <two warnings off, below>'
#   (tsan: -Db_sanitize=thread, -Doptimization=2, -Dcpp_args='-g1 -Wno-tsan')
#   ninja -C build-asan <the selected tests' executables>
#   ASAN_OPTIONS=... UBSAN_OPTIONS=... meson test -C build-asan --no-rebuild <tests>
#
# Suites are picked from what the build defines (meson introspect), so a suite
# that does not exist yet is skipped, and picked up once it does. The last line
# is "N passed, N failed" for this run (scripts/count_tests.py); the exit status
# is non-zero when the build or any test failed. A sanitizer report fails its
# test: ASan/UBSan/TSan stop the process with a non-zero status at the first one.
# .ci/run runs both after scripts/test.sh and sums all three runs.
set -uo pipefail
cd "$(dirname "$0")/.."

kind=${1:-}
# GCC 12 false positives in the ASan/UBSan build only, from library headers:
# -Wmaybe-uninitialized in std::regex (instantiated by Catch2) and on a
# boost::optional in Beast's HTTP parser (basic_parser::content_length), and
# -Wmismatched-new-delete on Asio's awaitable frames (its own operator new/delete
# pair, which GCC does not match up once the sanitizers inline them).
quiet_gcc='-Wno-maybe-uninitialized -Wno-mismatched-new-delete'
# Line tables only (-g1): reports keep file:line, the Asio-heavy files compile
# noticeably faster than with full debug info.
debug_info='-g1'
case $kind in
  asan)
    build_dir=${CAPI_ASAN_BUILD_DIR:-build-asan}
    sanitize=address,undefined
    extra_args="-fno-sanitize-recover=all $debug_info $quiet_gcc"
    # -O1, ASan's own advice: the build is most of this run's time, and -O1
    # compiles the Asio-heavy files in 0.5-0.7 of -O2's time (client.cpp 10 s
    # against 20, client_test.cpp 56 against 83) for tests that run somewhat
    # slower (docs/fuzzing.md, "Time").
    optimization=1
    # Tests of these suites run (meson suite names), and the client's tests (its
    # pipeline's lifetimes: a leak of a whole client showed only here; its
    # out-of-memory paths), the load suite (L1-L3, L5: the client under
    # pressure), the TLS transport's own tests (its error paths), `capi send`'s
    # (input files, checkpoints, the outcome log), match quality, and the Kafka
    # forwarder against librdkafka's mock cluster (its consumer, client and
    # commit threads; not under TSan, below).
    select='suites:unit,fault,bad-input,load;tests:client,client_adaptive,client_lanes,client_oom,async_op,mock_server,gateway,https_transport,send_cmd,send_mock,match_quality,kafka_forwarder'
    export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1}
    export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
    ;;
  tsan)
    build_dir=${CAPI_TSAN_BUILD_DIR:-build-tsan}
    sanitize=thread
    # -Wtsan: GCC warns that TSan does not model std::atomic_thread_fence, used
    # by Asio's fenced blocks (around handlers, already ordered by the
    # scheduler's mutex) and by the client's wake-up check (which orders two
    # atomics: at worst a wake-up TSan cannot reason about, never a race on
    # plain memory). Known and accepted, so not repeated for every handler type.
    # (The two ASan/UBSan warnings above do not appear in this build.)
    extra_args="$debug_info -Wno-tsan"
    # -O2: at -O1 the build is shorter but the tests run slower, and the step
    # took longer (375 s against 337; docs/fuzzing.md, "Time").
    optimization=2
    # The lock-free queue and the client pipeline (batchers, dispatcher, TLS),
    # the load suite, and the TLS transport's own tests.
    # Not kafka_forwarder: librdkafka starts its threads with C11 thrd_create,
    # which GCC 12's TSan does not intercept, and the first of them (the mock
    # cluster's) crashes inside libtsan before any test runs.
    select='suites:load;tests:queue,client,client_adaptive,client_lanes,async_op,gateway,https_transport'
    # The client test's stress case (8 producer threads x 100,000 events in the
    # release build) runs 8 x 25,000 here: under TSan it took 122 s of the
    # test's 138 s at full size, 22 s scaled, and a race shows at either size.
    export CAPI_TEST_SCALE=${CAPI_TEST_SCALE:-4}
    export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/scripts/tsan.supp}
    ;;
  *)
    echo "usage: scripts/sanitize.sh asan|tsan" >&2
    exit 2
    ;;
esac
# Both runs take the load suite with L1 and L3 a quarter as large (load_test.cpp).
export CAPI_LOAD_SCALE=${CAPI_LOAD_SCALE:-4}

bash scripts/deps.sh
log="$build_dir/meson-logs/testlog.json"
rm -f "$log"  # a failed build must not leave an old log to be counted

# An existing build dir is re-told the options, so a change of flags in this
# script reaches it (ninja then recompiles only what the change affects).
setup=setup
if [ -f "$build_dir/build.ninja" ]; then setup=configure; fi
if ! setup_log=$(meson "$setup" "$build_dir" -Db_sanitize="$sanitize" -Dbuildtype=debugoptimized \
    -Doptimization="$optimization" -Dbenchmarks=false -Dcpp_args="$extra_args" 2>&1); then
  printf '%s\n' "$setup_log" >&2
  echo "0 passed, 1 failed"
  exit 1
fi

# The selected tests and the ninja targets they need, from meson's own view.
if ! selection=$(python3 - "$build_dir" "$select" <<'EOF'
import json, os, subprocess, sys
build, select = sys.argv[1], sys.argv[2]
# "suites:a,b;tests:c": the union of the clauses
clauses = [(what, set(names.split(","))) for what, names in (c.split(":", 1) for c in select.split(";"))]
intro = lambda k: json.loads(subprocess.check_output(["meson", "introspect", build, k]))
targets = {t["id"]: t["filename"] for t in intro("--targets")}
tests, outs = [], set()
for t in intro("--tests"):
    suites = {s.split(":", 1)[-1] for s in t["suite"]}
    if any((what == "suites" and suites & names) or (what == "tests" and t["name"] in names)
           for what, names in clauses):
        tests.append(t["name"])
        for dep in t["depends"]:
            outs.update(os.path.relpath(f, build) for f in targets.get(dep, []))
if not tests:
    sys.exit(f"no test matches {select}")
print(" ".join(tests))
print(" ".join(sorted(outs)))
EOF
); then
  echo "0 passed, 1 failed"
  exit 1
fi
tests=$(sed -n 1p <<<"$selection")
targets=$(sed -n 2p <<<"$selection")

echo "capi: $kind build in $build_dir: $targets" >&2
# shellcheck disable=SC2086  # word splitting wanted: lists of names
if ! ninja -C "$build_dir" $targets; then
  echo "0 passed, 1 failed"
  exit 1
fi
echo "capi: $kind tests: $tests" >&2
# shellcheck disable=SC2086
meson test -C "$build_dir" --no-rebuild --print-errorlogs --timeout-multiplier 3 $tests
status=$?
python3 scripts/count_tests.py "$log"
count_status=$?
if [ $status -ne 0 ] || [ $count_status -ne 0 ]; then exit 1; fi
