#!/usr/bin/env bash
# Re-runs of `capi send` never double-count (issue 18): deterministic event ids
# across processes, --checkpoint after SIGKILL and after an outage interrupted
# with SIGINT, and a retry of the --failed file with the ids of the first run.
# Real TLS to `capi mock-server --events-out` on 127.0.0.1; `timeout` on every
# process, every wait bounded, everything started killed by the EXIT trap.
# Usage: send_resume_test.sh PATH_TO_CAPI
set -uo pipefail
CAPI=$1
source "$(dirname "${BASH_SOURCE[0]}")/support/shell.sh"  # TMP, bg_pids, cleanup, check, first_line
val() { awk -v k="$1" '$1 == k { print $2; exit }' "$2"; }
lines() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }

N=50000
NOW=$(date +%s)
T=$((NOW - 3600))
# 50,000 events without an event_id; the last 10 lines repeat the first 10, byte
# for byte: 49,990 distinct events.
awk -v t=$T -v n=$N 'BEGIN {
  for (i = 1; i <= n; i++) {
    k = i <= n - 10 ? i : i - (n - 10)
    printf "{\"event_name\":\"Lead\",\"event_time\":%d,\"action_source\":\"email\",\"user_data\":{\"em\":\"u%d@example.com\"},\"custom_data\":{\"value\":%d}}\n", t, k, k
  }
}' >"$TMP/in.ndjson"
DISTINCT=$((N - 10))

# --- the same event gets the same id, in another process --------------------
head -n 200 "$TMP/in.ndjson" >"$TMP/head.ndjson"
timeout 30 "$CAPI" send --dry-run --pixel 1234567890 "$TMP/head.ndjson" >"$TMP/dry1" 2>/dev/null
timeout 30 "$CAPI" send --dry-run --pixel 1234567890 "$TMP/head.ndjson" >"$TMP/dry2" 2>/dev/null
timeout 30 "$CAPI" send --dry-run --pixel 1234567891 "$TMP/head.ndjson" >"$TMP/dry3" 2>/dev/null
timeout 30 "$CAPI" send --dry-run --pixel 1234567890 --event-ids random "$TMP/head.ndjson" >"$TMP/dry4" 2>/dev/null
ids() { grep -o '"event_id":"[0-9a-f]*"' "$1" | cut -d'"' -f4; }
check "dry run: 200 ids of 32 hex digits" [ "$(ids "$TMP/dry1" | grep -cE '^[0-9a-f]{32}$')" -eq 200 ]
check "dry run: the same ids in two processes" [ "$(ids "$TMP/dry1")" = "$(ids "$TMP/dry2")" ]
check "dry run: different events, different ids" [ "$(ids "$TMP/dry1" | sort -u | wc -l)" -eq 200 ]
check "dry run: another pixel, other ids" [ -z "$(comm -12 <(ids "$TMP/dry1" | sort) <(ids "$TMP/dry3" | sort))" ]
check "dry run: --event-ids random sends none" [ "$(ids "$TMP/dry4" | wc -l)" -eq 0 ]

# --- the mock -------------------------------------------------------------------
start_mock() {  # start_mock EVENTS_FILE [PORT]: sets mock_pid and url
  local port=${2:-0}
  rm -f "$TMP/mock.out"
  timeout 300 "$CAPI" mock-server --port "$port" --cert-out "$TMP" --events-out "$1" --latency-ms 100 \
    >"$TMP/mock.out" 2>"$TMP/mock.err" &
  mock_pid=$!
  bg_pids+=("$mock_pid")
  url=""
  for _ in $(seq 1 100); do  # at most 10 s for the URL line
    url=$(head -n 1 "$TMP/mock.out" 2>/dev/null)
    [ -n "$url" ] && break
    sleep 0.1
  done
  [ -n "$url" ]
}
wait_lines() {  # wait_lines FILE N SECONDS: until FILE has N lines
  local end=$((SECONDS + $3))
  while [ "$(lines "$1")" -lt "$2" ] && [ $SECONDS -lt $end ]; do sleep 0.05; done
  [ "$(lines "$1")" -ge "$2" ]
}
# 2 connections x 250-event batches answered after 100 ms: about 5,000 events a
# second, so the 50,000 take about 10 s and there is a middle to stop in.
export CAPI_ACCESS_TOKEN=mock-token
send_args() {  # the same command every time
  echo --endpoint "$url" --ca "$TMP/ca.pem" --pixel 1234567890 --connections 2 --max-batch 250 \
    --request-timeout-ms 2000 --max-attempts 3
}

# analyse INPUT EVENTS...: every input line reached the mock; an id received
# twice came with the same content; distinct ids == distinct events.
analyse() {
  python3 - "$@" <<'PY'
import hashlib, json, sys
inp, outs = sys.argv[1], sys.argv[2:]
want = {}
for line in open(inp):
    e = json.loads(line)
    key = (hashlib.sha256(e["user_data"]["em"].encode()).hexdigest(), e["custom_data"]["value"])
    want[key] = True
by_id, got, received = {}, set(), 0
for f in outs:
    for line in open(f):
        e = json.loads(line)
        received += 1
        by_id.setdefault(e["event_id"], set()).add(json.dumps(e, sort_keys=True))
        got.add((e["user_data"]["em"][0], e["custom_data"]["value"]))
missing = [k for k in want if k not in got]
conflicts = [i for i, s in by_id.items() if len(s) > 1]
print(f"distinct_events={len(want)} received={received} distinct_ids={len(by_id)} "
      f"missing={len(missing)} conflicting_ids={len(conflicts)}")
PY
}
field() { tr ' ' '\n' <<<"$2" | awk -F= -v k="$1" '$1 == k { print $2 }'; }

# --- SIGKILL mid-stream, then the same command again ------------------------------
start_mock "$TMP/ev1.jsonl"
check "mock 1 started" [ -n "$url" ]
timeout 120 "$CAPI" send $(send_args) --checkpoint "$TMP/ck1" --failed "$TMP/f1.tsv" "$TMP/in.ndjson" \
  >"$TMP/k1.out" 2>"$TMP/k1.err" &
sender=$!
bg_pids+=("$sender")
wait_lines "$TMP/ev1.jsonl" 15000 60
check "kill: the checkpoint was written within a second or so" test -s "$TMP/ck1"
# SIGKILL to capi itself (`timeout` would not pass it on), then what reached the
# mock before it died settles (it writes an event before it answers).
capi_pid=$(child_of "$sender")  # the process `timeout` runs
check "kill: capi runs under timeout" [ -n "$capi_pid" ]
kill -KILL "${capi_pid:-$sender}"
wait "$sender" 2>/dev/null
sleep 0.5
at_kill=$(lines "$TMP/ev1.jsonl")
check "kill: mid-stream (received $at_kill of $N)" [ "$at_kill" -lt "$N" ]
pos1=$(awk '$1 == "line" { print $2 }' "$TMP/ck1")
check "kill: the checkpoint is mid-file (line $pos1)" [ "${pos1:-0}" -gt 0 -a "${pos1:-0}" -lt "$N" ]
check "kill: the checkpoint is behind what the mock received" [ "${pos1:-0}" -le "$at_kill" ]

timeout 120 "$CAPI" send $(send_args) --checkpoint "$TMP/ck1" --failed "$TMP/f1.tsv" "$TMP/in.ndjson" \
  >"$TMP/k2.out" 2>"$TMP/k2.err"; rc=$?
check "resume: exit 0" [ $rc -eq 0 ]
check "resume: says where it resumed" grep -q "resuming $TMP/in.ndjson after line $pos1 " "$TMP/k2.err"
check "resume: read the rest of the lines" grep -q "^capi send: $((N - pos1)) lines from" "$TMP/k2.out"
check "resume: delivered the rest" [ "$(val delivered "$TMP/k2.out")" = $((N - pos1)) ]
check "resume: the summary adds up all runs" \
  grep -qE "^  checkpoint +$TMP/ck1: every line up to $N has its outcome .*all runs: delivered $N, rejected 0, failed 0; this run resumed after line $pos1$" "$TMP/k2.out"
check "resume: no failures" [ ! -s "$TMP/f1.tsv" ]
r=$(analyse "$TMP/in.ndjson" "$TMP/ev1.jsonl")
echo "after SIGKILL and resume: $r"
check "kill: every line reached the mock" [ "$(field missing "$r")" = 0 ]
check "kill: an id received twice came with the same content" [ "$(field conflicting_ids "$r")" = 0 ]
check "kill: distinct ids == distinct events" [ "$(field distinct_ids "$r")" = $DISTINCT ]
check "kill: received = what run 2 sent + what run 1 sent (at least the checkpointed lines)" \
  [ "$(field received "$r")" -ge "$N" -a "$(field received "$r")" -eq $((at_kill + N - pos1)) ]
check "kill: the dry run's ids are the ids the mock got" \
  [ -z "$(comm -23 <(ids "$TMP/dry1" | sort) <(ids "$TMP/ev1.jsonl" | sort))" ]

timeout 30 "$CAPI" send $(send_args) --checkpoint "$TMP/ck1" "$TMP/head.ndjson" >/dev/null 2>"$TMP/other.err"; rc=$?
check "another input: refused, exit 2" [ $rc -eq 2 ]
check "another input: the option and the reason" grep -q -- "--checkpoint $TMP/ck1 belongs to another input" "$TMP/other.err"
timeout 30 "$CAPI" send $(send_args) --checkpoint "$TMP/ck9" - <"$TMP/head.ndjson" >/dev/null 2>"$TMP/stdin.err"; rc=$?
check "stdin: refused, exit 2" [ $rc -eq 2 ]
check "stdin: says why" grep -q -- "--checkpoint needs an input file" "$TMP/stdin.err"
kill -TERM "$mock_pid"; wait "$mock_pid" 2>/dev/null

# --- an outage: the mock stops, the send is interrupted, resumed later ------------
start_mock "$TMP/ev2.jsonl"
check "mock 2 started" [ -n "$url" ]
port=${url##*:}
timeout 120 "$CAPI" send $(send_args) --checkpoint "$TMP/ck2" --failed "$TMP/f2.tsv" "$TMP/in.ndjson" \
  >"$TMP/o1.out" 2>"$TMP/o1.err" &
sender=$!
bg_pids+=("$sender")
wait_lines "$TMP/ev2.jsonl" 15000 60
kill -TERM "$mock_pid"; wait "$mock_pid" 2>/dev/null  # Meta is gone
sleep 1
kill -INT "$sender"
wait "$sender"; rc=$?
check "outage: interrupted, exit 130" [ $rc -eq 130 ]
pos2=$(awk '$1 == "line" { print $2 }' "$TMP/ck2")
check "outage: the checkpoint is mid-file (line $pos2)" [ "${pos2:-0}" -gt 0 -a "${pos2:-0}" -lt "$N" ]
check "outage: the summary names the checkpoint" grep -q "^  checkpoint  *$TMP/ck2: every line up to $pos2 " "$TMP/o1.out"
failed2=$(lines "$TMP/f2.tsv")
echo "outage: interrupted at line $pos2, $failed2 lines in the --failed file"
check "outage: failed lines carry their event_id" \
  [ "$(cut -f7- "$TMP/f2.tsv" | grep -cE '^\{"event_id":"[0-9a-f]{32}",')" -eq "$failed2" ]

start_mock "$TMP/ev2.jsonl" "$port"  # Meta is back, where it was
check "mock 2 back on port $port" [ "$url" = "https://127.0.0.1:$port" ]
timeout 120 "$CAPI" send $(send_args) --checkpoint "$TMP/ck2" --failed "$TMP/f2.tsv" "$TMP/in.ndjson" \
  >"$TMP/o2.out" 2>"$TMP/o2.err"; rc=$?
check "outage: resumed, exit 0" [ $rc -eq 0 ]
check "outage: resumed after line $pos2" grep -q "resuming $TMP/in.ndjson after line $pos2 " "$TMP/o2.err"
check "outage: the --failed file kept the first run's lines" [ "$(lines "$TMP/f2.tsv")" -eq "$failed2" ]
# Then the failed lines, once: with the ids their first attempts used.
cut -f7- "$TMP/f2.tsv" >"$TMP/retry.ndjson"
timeout 120 "$CAPI" send $(send_args) --failed "$TMP/f3.tsv" "$TMP/retry.ndjson" >"$TMP/o3.out" 2>"$TMP/o3.err"; rc=$?
check "retry of the --failed file: exit 0" [ $rc -eq 0 ]
r=$(analyse "$TMP/in.ndjson" "$TMP/ev2.jsonl")
echo "after the outage, resume and retry: $r"
check "outage: nothing lost" [ "$(field missing "$r")" = 0 ]
check "outage: an id received twice came with the same content" [ "$(field conflicting_ids "$r")" = 0 ]
check "outage: nothing counted twice (distinct ids == distinct events)" [ "$(field distinct_ids "$r")" = $DISTINCT ]
# The retried lines' ids are the ids of the first run's attempts, which are the
# ids the same events get in any run (the dry run's).
check "retry: the failed file's ids are what the mock got" \
  [ -z "$(comm -23 <(ids "$TMP/retry.ndjson" | sort) <(ids "$TMP/ev2.jsonl" | sort))" ]
check "retry: sent without new ids" [ "$(val delivered "$TMP/o3.out")" = "$failed2" ]
python3 - "$TMP/retry.ndjson" "$TMP/in.ndjson" <<'PY' >"$TMP/same.out"
import json, sys
# Each retried line is its input line with the id in front: the same event.
inp = {}
for line in open(sys.argv[2]):
    inp.setdefault(line.rstrip("\n"), True)
bad = 0
for line in open(sys.argv[1]):
    e = json.loads(line)
    e.pop("event_id")
    if json.dumps(e, separators=(",", ":")) not in inp: bad += 1
print(bad)
PY
check "retry: each failed line is its input line plus the id" [ "$(cat "$TMP/same.out")" = 0 ]
kill -TERM "$mock_pid"; wait "$mock_pid" 2>/dev/null

echo "$checks checks, $fails failed"
[ $fails -eq 0 ]
