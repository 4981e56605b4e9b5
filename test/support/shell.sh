# What the process tests (cli_test.sh, gateway_cli_test.sh, kafka_cli_test.sh,
# send_resume_test.sh) share, sourced after `set -uo pipefail`:
#   TMP          a temporary directory, removed on exit (kept with KEEP_TMP=1);
#   bg_pids      background processes (each under `timeout`), killed on exit:
#                TERM first, which `timeout` passes on, then KILL, to them and
#                to their children (a SIGKILL must reach what `timeout` runs);
#   cleanup_more a function the test may define, run on exit before TMP goes;
#   check NAME COMMAND...  counts `checks` and `fails`, prints FAIL: NAME;
#   passed NAME            the same for the status of the command list just
#                          before it, for a condition of several commands
#                          (`check NAME [ a ] && grep b` would check `[ a ]`
#                          alone: the rest runs outside check):
#                            [ $rc -eq 2 ] && grep -q x <<<"$err"
#                            passed "exit 2, and says x"
#   first_line FILE        waits (10 s at most) for a process's first line;
#   child_of PID           a process's first child, from /proc.

TMP=$(mktemp -d)
bg_pids=()
fails=0
checks=0

child_of() {  # child_of PID: its first child's pid, from /proc (no procps needed)
  local parent=$1 f s fields
  for f in /proc/[0-9]*/stat; do
    { read -r s <"$f"; } 2>/dev/null || continue
    read -r -a fields <<<"${s##*) }"  # past "pid (comm) ": a comm may hold spaces
    [ "${fields[1]:-}" = "$parent" ] && { f=${f#/proc/}; echo "${f%/stat}"; return 0; }
  done
  return 1
}

cleanup() {
  local p all=()
  for p in "${bg_pids[@]}"; do all+=("$p" $(child_of "$p")); done
  for p in "${all[@]}"; do kill -TERM "$p" 2>/dev/null; done
  sleep 0.2
  for p in "${all[@]}"; do kill -KILL "$p" 2>/dev/null; done
  if declare -F cleanup_more >/dev/null; then cleanup_more; fi
  if [ -n "${KEEP_TMP:-}" ]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

check() {  # check NAME CONDITION-COMMAND...
  local name=$1; shift
  checks=$((checks + 1))
  if "$@"; then :; else echo "FAIL: $name"; fails=$((fails + 1)); fi
}

passed() {  # passed NAME, right after the condition's commands
  local status=$?
  checks=$((checks + 1))
  if [ $status -ne 0 ]; then echo "FAIL: $1"; fails=$((fails + 1)); fi
}

first_line() {  # first_line FILE
  local i
  for i in $(seq 100); do
    [ -s "$1" ] && { head -n1 "$1"; return 0; }
    sleep 0.1
  done
  return 1
}
