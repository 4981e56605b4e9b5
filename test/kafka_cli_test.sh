#!/usr/bin/env bash
# End-to-end tests of `capi forward` and `capi kafka-mock` as processes, on real
# sockets on 127.0.0.1: `capi kafka-mock` as the Kafka cluster, kcat as an
# independent producer, `capi mock-server --events-out` as Meta.
#   1. two forwarders in one group share a 6-partition topic; one is killed with
#      SIGKILL mid-stream and a third joins: every event reaches the mock, and a
#      duplicate only comes from a range the new owner resumed (its "resumes at
#      offset N" lines); a broker down and up, and injected fetch errors, lose nothing;
#   2. a lone member exits 0 and its summary adds up;
#   2b. --enhanced --date-order dmy converts dates, states and countries, and the
#      summary (and --stats-interval) prints the match-quality block;
#   3. poison records reach the dead-letter topic with capi-problem headers, or
#      stderr without one; the exit statuses and the summary;
#   (first) usage errors exit 2; the token, a token passed as --token-file, and a
#      sasl.password never appear in the output.
# Every background process runs under `timeout` and is killed by the EXIT trap.
# Usage: kafka_cli_test.sh PATH_TO_CAPI
set -uo pipefail
CAPI=$1
for tool in kcat python3; do
  if ! command -v $tool >/dev/null 2>&1; then
    echo "kafka_cli_test: $tool is required (scripts/test.sh installs it)" >&2
    exit 1
  fi
done
source "$(dirname "${BASH_SOURCE[0]}")/support/shell.sh"  # TMP, bg_pids, cleanup, check, first_line
cleanup_more() { exec 7>&- 2>/dev/null; }  # kafka-mock's stdin, when it was opened
# unique_ids FILE: the number of distinct event_ids in the mock's events file.
# (A file without ids yet counts 0 once: grep's status must not add a second "0".)
unique_ids() {
  if [ -f "$1" ]; then grep -o '"event_id":"[^"]*"' "$1" | sort -u | wc -l; else echo 0; fi
}
# wait_ids FILE N SECONDS: waits until FILE holds N distinct ids; prints the count.
wait_ids() {
  local i n=0
  for i in $(seq $(($3 * 5))); do
    n=$(unique_ids "$1")
    [ "$n" -ge "$2" ] && break
    sleep 0.2
  done
  echo "$n"
}
# wait_exit PID SECONDS: waits for a background process; its exit status (124: still running).
wait_exit() {
  local i
  for i in $(seq $(($2 * 10))); do
    kill -0 "$1" 2>/dev/null || { wait "$1"; return $?; }
    sleep 0.1
  done
  return 124
}
# control LINE: one control line to kafka-mock; its answer (the next line it prints).
control() {
  local i before
  before=$(wc -l <"$TMP/km.out")
  echo "$1" >&7
  for i in $(seq 50); do
    [ "$(wc -l <"$TMP/km.out")" -gt "$before" ] && { sed -n "$((before + 1))p" "$TMP/km.out"; return 0; }
    sleep 0.1
  done
  echo "no answer"
}
# produce TOPIC PARTITION FIRST COUNT [POISON_AT]: records with event_id
# TOPIC-P-N for N in FIRST..FIRST+COUNT-1, N being the record's offset (the
# partition has FIRST records before); at POISON_AT a record that is not JSON.
produce() {
  python3 - "$1" "$2" "$3" "$4" "${5:--1}" <<'PY' | timeout 30 kcat -P -b "$BOOT" -t "$1" -p "$2" -X log_level=2
import sys, time
topic = sys.argv[1]
p, first, count, poison = (int(a) for a in sys.argv[2:])
t = int(time.time()) - 60
for n in range(first, first + count):
    if n == poison:
        print('{"event_name":"Purchase","event_time":' + str(t) + ', this is not json %s-%d-%d' % (topic, p, n))
        continue
    print('{"event_name":"Purchase","event_time":%d,"event_id":"%s-%d-%d","action_source":"website",'
          '"event_source_url":"https://shop.example/%d","user_data":{"em":["u%d-%d@example.com"],'
          '"client_user_agent":"ua"},"custom_data":{"currency":"USD","value":%d.5}}' % (t, topic, p, n, n, p, n, n % 100))
PY
}

PIXEL=1234567890
TOKEN=kafka-cli-secret-token-0123456789
export CAPI_ACCESS_TOKEN=$TOKEN
FAST=(--kafka-prop session.timeout.ms=6000 --kafka-prop heartbeat.interval.ms=500
      --kafka-prop topic.metadata.refresh.interval.ms=1000 --commit-interval 0.2 --no-progress)

# --- usage errors: exit 2, nothing echoed that must not be -------------------
"$CAPI" forward --topic ev --group g >/dev/null 2>"$TMP/u1"; rc=$?
check "forward without --brokers exits 2" [ $rc -eq 2 ]
check "forward without --brokers says so" grep -q -- "--brokers" "$TMP/u1"
"$CAPI" forward --brokers 127.0.0.1:1 --group g >/dev/null 2>"$TMP/u2"; rc=$?
check "forward without --topic exits 2" [ $rc -eq 2 ]
"$CAPI" forward --brokers 127.0.0.1:1 --topic ev --group g --token "$TOKEN" >/dev/null 2>"$TMP/u3"; rc=$?
check "forward refuses --token" [ $rc -eq 2 ]
check "the refusal does not echo the token" bash -c "! grep -q '$TOKEN' '$TMP/u3'"
"$CAPI" forward --brokers 127.0.0.1:1 --topic ev --group g --token-file "$TOKEN" >/dev/null 2>"$TMP/u4"; rc=$?
check "a token passed as --token-file exits 2" [ $rc -eq 2 ]
check "a token passed as --token-file is not echoed" bash -c "! grep -q '$TOKEN' '$TMP/u4'"
check "a token passed as --token-file: asks whether the secret itself was passed" grep -q "did you pass the secret itself" "$TMP/u4"
"$CAPI" forward --brokers 127.0.0.1:1 --topic ev --group g --kafka-prop sasl.password >/dev/null 2>"$TMP/u5"; rc=$?
check "--kafka-prop without = exits 2" [ $rc -eq 2 ]
"$CAPI" forward --brokers 127.0.0.1:1 --topic ev --group g --no-such-option >/dev/null 2>&1; rc=$?
check "unknown option exits 2" [ $rc -eq 2 ]
"$CAPI" forward --brokers 127.0.0.1:1 --topic ev --group g --no-such-option >/dev/null 2>"$TMP/u6"; rc=$?
check "unknown option: the error and a pointer to --help" \
  bash -c 'grep -q "^capi forward: unknown option --no-such-option" "$1" && grep -q "^Run .capi forward --help." "$1"' _ "$TMP/u6"
"$CAPI" forward --brokers 127.0.0.1:1 --topic ev --group g --date-order foo >/dev/null 2>"$TMP/u7"; rc=$?
check "forward --date-order foo exits 2" [ $rc -eq 2 ]
check "forward --date-order foo: the error names the option and the value" \
  grep -q "^capi forward: --date-order: 'foo' is not dmy, mdy or ymd" "$TMP/u7"
"$CAPI" forward --brokers 127.0.0.1:1 --topic ev --group g --phone-country XX >/dev/null 2>"$TMP/u8"; rc=$?
check "forward --phone-country XX exits 2, naming the option" bash -c '[ $0 -eq 2 ] && grep -q -- "--phone-country" "$1"' $rc "$TMP/u8"
"$CAPI" kafka-mock --topic ev:zero >/dev/null 2>&1; rc=$?
check "kafka-mock --topic NAME:notanumber exits 2" [ $rc -eq 2 ]
"$CAPI" kafka-mock --brokers=0 >/dev/null 2>&1; rc=$?
check "kafka-mock --brokers=0 (the = form) exits 2" [ $rc -eq 2 ]
check "capi --help lists forward and kafka-mock (built with kafka)" bash -c "'$CAPI' --help | grep -q 'capi forward' && '$CAPI' --help | grep -q 'capi kafka-mock'"
"$CAPI" forward --help | grep -q -- "--dead-letter-topic"
check "forward --help lists --dead-letter-topic" [ $? -eq 0 ]

# --- the cluster, Meta, and the control channel --------------------------------
mkfifo "$TMP/km.in"
exec 7<>"$TMP/km.in"  # read-write: opening does not wait for the reader, and EOF never comes
timeout 150 "$CAPI" kafka-mock --topic=ev:6 --topic dlq:1 --topic pz:1 <"$TMP/km.in" >"$TMP/km.out" 2>"$TMP/km.err" &
bg_pids+=($!)
KM=$!
BOOT=$(first_line "$TMP/km.out") || { echo "FAIL: kafka-mock did not start"; cat "$TMP/km.err"; exit 1; }
check "kafka-mock prints its bootstrap servers" grep -Eq '^127\.0\.0\.1:[0-9]+(,127\.0\.0\.1:[0-9]+){2}$' <<<"$BOOT"
check "kafka-mock answers a bad line with an error" grep -q '^error: ' <<<"$(control "broker-down 9")"
check "kafka-mock: no librdkafka log without --verbose" [ ! -s "$TMP/km.err" ]

mkdir -p "$TMP/m"
timeout 150 "$CAPI" mock-server --events-out "$TMP/m/events.jsonl" --cert-out "$TMP/m" --latency-ms 200 \
  >"$TMP/m/url" 2>"$TMP/m/err" &
bg_pids+=($!)
MOCK=$(first_line "$TMP/m/url") || { echo "FAIL: mock-server did not start"; cat "$TMP/m/err"; exit 1; }
GRAPH=(--endpoint "$MOCK" --ca "$TMP/m/ca.pem" --pixel $PIXEL --linger-ms 5 --max-batch 20)

# --- 1. a group of forwarders, SIGKILL, a new member, broker failures ----------
PER=400   # records per partition and phase: 3 phases, 6 partitions
for p in 0 1 2 3 4 5; do produce ev $p 0 $PER; done
start_forwarder() {  # start_forwarder NAME: stdout NAME.out, stderr NAME.err
  timeout 120 "$CAPI" forward --brokers "$BOOT" --topic ev --group g1 --dead-letter-topic dlq "${GRAPH[@]}" \
    "${FAST[@]}" --drain-timeout 20 >"$TMP/$1.out" 2>"$TMP/$1.err" &
  bg_pids+=($!)
}
start_forwarder f1; F1=$!
start_forwarder f2; F2=$!
# Mid-stream: some events delivered, not all (the mock answers 200 ms late, 20 events a request).
n=$(wait_ids "$TMP/m/events.jsonl" 300 20)
check "the forwarders deliver (got $n ids)" [ "$n" -ge 300 ]
F1_CAPI=$(child_of $F1)
check "forwarder 1 runs under timeout" [ -n "$F1_CAPI" ]
n=$(unique_ids "$TMP/m/events.jsonl")
kill -KILL $F1_CAPI
killed_at=$(wc -l <"$TMP/f2.err")
wait $F1 2>/dev/null
check "SIGKILL was mid-stream ($n of $((6 * PER)) delivered)" [ "$n" -lt $((6 * PER)) ]
start_forwarder f3; F3=$!
for p in 0 1 2 3 4 5; do produce ev $p $PER $PER; done
n=$(wait_ids "$TMP/m/events.jsonl" $((12 * PER)) 40)
check "after SIGKILL and a new member every event arrives ($n of $((12 * PER)))" [ "$n" -eq $((12 * PER)) ]

# Broker 1 down while a third phase is produced, injected fetch errors, then up.
check "broker-down answers ok" [ "$(control "broker-down 1")" = ok ]
check "request-errors answers ok" [ "$(control "request-errors Fetch NOT_LEADER_FOR_PARTITION 5")" = ok ]
producers=()
for p in 0 1 2 3 4 5; do produce ev $p $((2 * PER)) $PER & producers+=($!); bg_pids+=($!); done
sleep 2
check "broker-up answers ok" [ "$(control "broker-up 1")" = ok ]
for p in "${producers[@]}"; do wait_exit $p 30; done
n=$(wait_ids "$TMP/m/events.jsonl" $((18 * PER)) 40)
check "a broker down and up loses nothing ($n of $((18 * PER)))" [ "$n" -eq $((18 * PER)) ]

# One at a time, as a rolling stop: the last member's final commit is not
# refused for a rebalance the other's leaving started.
assigned() { grep -Ec "ev\[[0-5]\] (resumes at|has no committed)" "$1"; }
a3=$(assigned "$TMP/f3.err")
kill -TERM $F2
wait_exit $F2 30; rc2=$?
for i in $(seq 100); do [ "$(assigned "$TMP/f3.err")" -gt "$a3" ] && break; sleep 0.2; done
check "forwarder 3 takes over forwarder 2's partitions" [ "$(assigned "$TMP/f3.err")" -gt "$a3" ]
sleep 1  # the rebalance's last round: a commit refused during it would fail forwarder 3's exit
kill -TERM $F3
wait_exit $F3 30; rc3=$?
# A member that went through rebalances may have left records it had read to
# their next owner (exit 1, and the summary says so); nothing else fails here.
member_exit_ok() {  # member_exit_ok STATUS SUMMARY
  [ "$1" -eq 0 ] && return 0
  [ "$1" -eq 1 ] && grep -q "not every record read was committed" "$2" &&
    grep -Eq '^  invalid +0$' "$2" && grep -Eq '^  failed +0$' "$2" && grep -Eq '^  expired +0$' "$2"
}
check "forwarder 2 exits 0 on SIGTERM, or 1 for records left to the group (got $rc2)" member_exit_ok $rc2 "$TMP/f2.out"
check "forwarder 3 exits 0 on SIGTERM, or 1 for records left to the group (got $rc3)" member_exit_ok $rc3 "$TMP/f3.out"
check "forwarder 2 prints a summary" grep -q "^  delivered" "$TMP/f2.out"
check "forwarder 3's summary: nothing unsettled at the end" grep -Eq '^  uncommitted +0$' "$TMP/f3.out"

# Duplicates: only from ranges the new owners resumed after the kill.
tail -n +$((killed_at + 1)) "$TMP/f2.err" >"$TMP/resumes"
cat "$TMP/f3.err" >>"$TMP/resumes"
check "the new owners log where they resume" grep -Eq "ev\[[0-5]\] (resumes at offset [0-9]|has no committed offset)" "$TMP/resumes"
python3 - "$TMP/m/events.jsonl" "$TMP/resumes" >"$TMP/dups" <<'PY'
import collections, json, re, sys
count = collections.Counter(json.loads(l)["event_id"] for l in open(sys.argv[1]))
resume = collections.defaultdict(list)
# "ev[3] resumes at offset 120", or "ev[3] has no committed offset" (from 0).
for m in re.finditer(r"ev\[(\d+)\] (?:resumes at offset (\d+)|has no committed offset)", open(sys.argv[2]).read()):
    resume[int(m.group(1))].append(int(m.group(2) or 0))
bad = []
for eid, c in count.items():
    if c < 2 or not eid.startswith("ev-"):
        continue
    _, p, n = eid.split("-")
    if not any(r <= int(n) for r in resume[int(p)]):
        bad.append(eid)
print("duplicates", sum(c - 1 for c in count.values()), "outside a resumed range", len(bad), *bad[:5])
sys.exit(1 if bad else 0)
PY
check "every duplicate is at or past a resume offset ($(cat "$TMP/dups"))" [ $? -eq 0 ]

# --- 2. a lone member, valid records only: exit 0, the summary adds up ---------
control "topic ok:2" >/dev/null
produce ok 0 0 20
produce ok 1 0 20
before=$(unique_ids "$TMP/m/events.jsonl")
timeout 60 "$CAPI" forward --brokers "$BOOT" --topic ok --group g4 "${GRAPH[@]}" "${FAST[@]}" --stats-interval 0.5 \
  >"$TMP/o1.out" 2>"$TMP/o1.err" &
bg_pids+=($!)
O1=$!
n=$(wait_ids "$TMP/m/events.jsonl" $((before + 40)) 30)
check "a lone member delivers every record" [ "$n" -eq $((before + 40)) ]
kill -TERM $O1
wait_exit $O1 30; rc=$?
check "a lone member exits 0 on SIGTERM (got $rc)" [ $rc -eq 0 ]
check "its summary: 40 records" grep -Eq '^  records +40$' "$TMP/o1.out"
check "its summary: 40 delivered" grep -Eq '^  delivered +40$' "$TMP/o1.out"
check "its summary: commits" grep -Eq '^  commits +[1-9]' "$TMP/o1.out"
check "--stats-interval prints the counters" grep -q 'stats records=[0-9]* .*| client accepted=' "$TMP/o1.err"

# --- 2b. --enhanced --date-order dmy: the flags reach the encoder; the summary's
# match-quality block (and --stats-interval's) counts what became of each value.
control "topic enh:1" >/dev/null
t=$(($(date +%s) - 60))
for n in 0 1 2; do
  printf '{"event_name":"Lead","event_time":%d,"event_id":"enh-0-%d","action_source":"website",' $t $n
  printf '"event_source_url":"https://shop.example/lead","user_data":{"em":["e%d@example.com"],' $n
  printf '"db":["31/01/1990"],"st":["California"],"country":["United States"],"client_user_agent":"ua"}}\n'
done | timeout 30 kcat -P -b "$BOOT" -t enh -p 0 -X log_level=2
before=$(unique_ids "$TMP/m/events.jsonl")
timeout 60 "$CAPI" forward --brokers "$BOOT" --topic enh --group g5 "${GRAPH[@]}" "${FAST[@]}" \
  --enhanced --date-order dmy --stats-interval 0.5 >"$TMP/e1.out" 2>"$TMP/e1.err" &
bg_pids+=($!)
E1=$!
n=$(wait_ids "$TMP/m/events.jsonl" $((before + 3)) 30)
check "forward --enhanced --date-order dmy delivers every record" [ "$n" -eq $((before + 3)) ]
sleep 0.6  # one more --stats-interval line, after the deliveries
kill -TERM $E1
wait_exit $E1 30; rc=$?
check "forward --enhanced exits 0 on SIGTERM (got $rc)" [ $rc -eq 0 ]
check "its startup line says enhanced normalization and the date order" \
  grep -q "enhanced normalization (date order dmy)" "$TMP/e1.err"
check "--enhanced --date-order dmy: db, st, country arrive as Meta matches them" \
  python3 - "$TMP/m/events.jsonl" <<'EOF'
import hashlib, json, sys
h = lambda s: hashlib.sha256(s.encode()).hexdigest()
uds = [e["user_data"] for e in map(json.loads, open(sys.argv[1])) if e.get("event_id", "").startswith("enh-")]
ok = len(uds) >= 3 and all(u.get("db") == [h("19900131")] and u.get("st") == [h("ca")]
                           and u.get("country") == [h("us")] for u in uds)
if not ok: print(json.dumps(uds, indent=1))
sys.exit(0 if ok else 1)
EOF
check "its summary has a match-quality block" grep -q '^  match quality (values per field):$' "$TMP/e1.out"
check "... db: 3 converted" grep -Eq '^    db +.*converted 3( |$)' "$TMP/e1.out"
check "... em: 3 as given" grep -Eq '^    em +as_given 3( |$)' "$TMP/e1.out"
check "--stats-interval prints the match-quality block too" grep -q '^  match quality (values per field):$' "$TMP/e1.err"

# --- 3. poison records: the dead-letter topic, or stderr ------------------------
produce pz 0 0 6 2
echo '{"event_name":"Purchase","event_time":"yesterday","event_id":"pz-0-6","action_source":"website"}' |
  timeout 30 kcat -P -b "$BOOT" -t pz -p 0 -X log_level=2
produce pz 0 7 3
before=$(unique_ids "$TMP/m/events.jsonl")
timeout 60 "$CAPI" forward --brokers "$BOOT" --topic pz --group g2 --dead-letter-topic dlq "${GRAPH[@]}" \
  "${FAST[@]}" --kafka-prop sasl.password=hunter2-kafka >"$TMP/p1.out" 2>"$TMP/p1.err" &
bg_pids+=($!)
P1=$!
n=$(wait_ids "$TMP/m/events.jsonl" $((before + 8)) 30)
check "the valid records around the poison arrive" [ "$n" -eq $((before + 8)) ]
for i in $(seq 100); do
  timeout 10 kcat -C -b "$BOOT" -t dlq -e -q -f '%h\n' -X log_level=2 >"$TMP/dlq" 2>/dev/null
  [ "$(grep -c 'capi-problem=' "$TMP/dlq")" -ge 2 ] && break
  sleep 0.2
done
check "two dead-letter records" [ "$(grep -c 'capi-problem=invalid' "$TMP/dlq")" -eq 2 ]
check "dead letters name their source" grep -q 'capi-source-topic=pz' "$TMP/dlq"
check "the syntax error's offset" grep -q 'capi-source-offset=2' "$TMP/dlq"
check "the bad field's offset and path" grep -q 'capi-problem-field=event_time.*capi-source-offset=6\|capi-source-offset=6.*capi-problem-field=event_time' "$TMP/dlq"
kill -TERM $P1
wait_exit $P1 30; rc=$?
check "invalid records: exit 1 (got $rc)" [ $rc -eq 1 ]
check "summary: 2 invalid" grep -Eq '^  invalid +2' "$TMP/p1.out"
check "summary: 2 dead-lettered" grep -Eq '^  dead-lettered +2' "$TMP/p1.out"
check "sasl.password is not echoed" bash -c "! grep -q hunter2-kafka '$TMP/p1.err' '$TMP/p1.out'"

# The same records without a dead-letter topic: on stderr, like capi send's rejects.
timeout 60 "$CAPI" forward --brokers "$BOOT" --topic pz --group g3 "${GRAPH[@]}" "${FAST[@]}" \
  >"$TMP/p2.out" 2>"$TMP/p2.err" &
bg_pids+=($!)
P2=$!
for i in $(seq 100); do
  [ "$(grep -c 'invalid' "$TMP/p2.err")" -ge 2 ] && break
  sleep 0.2
done
check "without a dead-letter topic the poison is on stderr" grep -q '^pz\[0\]@2: invalid' "$TMP/p2.err"
check "... with the field path" grep -q '^pz\[0\]@6: invalid: event_time' "$TMP/p2.err"
kill -TERM $P2
wait_exit $P2 30; rc=$?
check "without a dead-letter topic: exit 1 (got $rc)" [ $rc -eq 1 ]

check "the token never appears" bash -c "! cat '$TMP'/*.err '$TMP'/*.out | grep -q '$TOKEN'"
check "kafka-mock is still up after the tests (stdin open)" kill -0 $KM
exec 7>&-  # EOF on kafka-mock's stdin: it keeps running
sleep 0.3
check "kafka-mock survives the end of its stdin" kill -0 $KM
kill -TERM $KM
wait_exit $KM 10; rc=$?
check "kafka-mock exits 0 on SIGTERM (got $rc)" [ $rc -eq 0 ]

if [ $fails -gt 0 ]; then
  echo "kafka_cli_test: $fails of $checks checks failed"
  for f in f1 f2 f3 o1 e1 p1 p2; do echo "--- $f.err"; tail -n 20 "$TMP/$f.err" 2>/dev/null; done
  exit 1
fi
echo "kafka_cli_test: $checks checks passed"
