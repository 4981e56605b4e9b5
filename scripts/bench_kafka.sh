#!/usr/bin/env bash
# What Kafka adds per event: N events (default 200,000) in a 12-partition topic of
# `capi kafka-mock`, drained by 1, 2 and 4 `capi forward` instances in one group
# into `capi mock-server` over TLS, side by side in one run with `capi send` of
# the same events (an NDJSON file) to the same kind of mock.
#
# Usage: scripts/bench_kafka.sh [--events N] [--partitions P] [--instances "1 2 4"] [-- FORWARD_OPTION...]
# (options after -- go to every `capi forward`, e.g. -- --kafka-prop fetch.max.bytes=1048576)
# Each group reads a topic of its own: the instances join while it is empty,
# and once every partition has had one owner for 2 s, kcat produces the N
# events (keyed by event id, so spread evenly) and the clock starts. Events/s: N
# over the time from the first record produced to the last delivered (the
# counters are read every 0.2 s; kcat runs meanwhile, 40,000 events at a time). CPU per event: each
# instance's utime + stime (/proc/PID/stat) over the same span, over the events
# it delivered; `capi send`'s (whole run) from /usr/bin/time. The forwarders'
# counters are read every 0.2 s (--stats-interval; librdkafka's own statistics
# off: their JSON would cost CPU a deployment does not spend). On a small machine the mock
# cluster, the mock Graph server and the instances share the cores: the CPU per
# event is the figure that carries over to a real cluster (docs/scale-out.md).
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS=200000
PARTITIONS=12
INSTANCES="1 2 4"
CHUNK=40000  # events produced at a time (below)
while [ $# -gt 0 ]; do
  case $1 in
    --events) EVENTS=$2; shift 2 ;;
    --partitions) PARTITIONS=$2; shift 2 ;;
    --instances) INSTANCES=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "usage: $0 [--events N] [--partitions P] [--instances \"1 2 4\"]" >&2; exit 2 ;;
  esac
done
for tool in kcat python3 /usr/bin/time; do
  command -v $tool >/dev/null || { echo "bench_kafka: $tool is required (scripts/test.sh installs kcat)" >&2; exit 2; }
done
bash scripts/build.sh tools/capi >/dev/null
CAPI=${CAPI_BUILD_DIR:-build}/tools/capi
"$CAPI" kafka-mock --help >/dev/null 2>&1 || { echo "bench_kafka: capi was built without Kafka support" >&2; exit 2; }
PIXEL=1234567890
export CAPI_ACCESS_TOKEN=bench-kafka-token
TMP=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  sleep 0.3
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  exec 7>&- 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT
first_line() {  # FILE: the first line a process prints (10 s at most)
  for _ in $(seq 100); do
    [ -s "$1" ] && { head -n1 "$1"; return 0; }
    sleep 0.1
  done
  echo "bench_kafka: no output in $1" >&2; cat "${1%.out}.err" >&2 || true; exit 1
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TICK=$(getconf CLK_TCK)

# The events: realistic Purchases with distinct PII, one JSON object per line.
python3 - "$EVENTS" >"$TMP/events.ndjson" <<'PY'
import sys, time
n = int(sys.argv[1]); t = int(time.time()) - 60
for i in range(n):
    print('b-%d\t' % i + '{"event_name":"Purchase","event_time":%d,"event_id":"b-%d","action_source":"website",'
          '"event_source_url":"https://shop.example/p/%d","user_data":{"em":["buyer%d@example.com"],'
          '"ph":["+1 650 555 %04d"],"client_ip_address":"203.0.113.%d","client_user_agent":"Mozilla/5.0"},'
          '"custom_data":{"currency":"USD","value":%d.99,"content_ids":["sku-%d"]}}'
          % (t, i, i % 5000, i, i % 10000, i % 250, i % 500, i % 5000))
PY
mv "$TMP/events.ndjson" "$TMP/keyed.tsv"

mkfifo "$TMP/km.in"
exec 7<>"$TMP/km.in"
"$CAPI" kafka-mock --brokers 3 <"$TMP/km.in" >"$TMP/km.out" 2>"$TMP/km.err" &
pids+=($!)
KM=$!
BOOT=$(first_line "$TMP/km.out")
cut -f2- "$TMP/keyed.tsv" >"$TMP/events.ndjson"
echo "bench_kafka: $EVENTS events; kafka-mock at $BOOT"
control() {  # control LINE: a control line to kafka-mock; fails unless it answers ok
  local before
  before=$(wc -l <"$TMP/km.out")
  echo "$1" >&7
  for _ in $(seq 50); do
    if [ "$(wc -l <"$TMP/km.out")" -gt "$before" ]; then
      [ "$(sed -n "$((before + 1))p" "$TMP/km.out")" = ok ] && return 0
      echo "bench_kafka: kafka-mock: $1: $(sed -n "$((before + 1))p" "$TMP/km.out")" >&2; exit 1
    fi
    sleep 0.1
  done
  echo "bench_kafka: kafka-mock did not answer" >&2; exit 1
}

start_mock() {  # start_mock DIR: a fresh mock Graph server; its URL in DIR/url.out, its pid in DIR/pid
  mkdir -p "$1"
  "$CAPI" mock-server --cert-out "$1" >"$1/url.out" 2>"$1/url.err" &
  pids+=($!)
  echo $! >"$1/pid"
  first_line "$1/url.out" >/dev/null
}

results=()
# capi send: the same events, the same kind of mock.
start_mock "$TMP/send"
MOCK=$(head -n1 "$TMP/send/url.out")
/usr/bin/time -f "%e %U %S" -o "$TMP/send/time" "$CAPI" send --pixel $PIXEL --endpoint "$MOCK" \
  --ca "$TMP/send/ca.pem" "$TMP/events.ndjson" >"$TMP/send/summary" 2>"$TMP/send/err" || true
read -r wall user sys <"$TMP/send/time"
mock_ticks=$(cpu_ticks "$(cat "$TMP/send/pid")")
delivered=$(awk '$1 == "delivered" {print $2}' "$TMP/send/summary")
results+=("$(awk -v n="$EVENTS" -v d="$delivered" -v w="$wall" -v u="$user" -v s="$sys" -v m="$mock_ticks" -v t="$TICK" \
  'BEGIN { printf "capi send          1  %9d  %9.0f  %8.2f  %s  mock %.2f us/event", d, n / w, (u + s) * 1e6 / n, "-", m / t * 1e6 / n }')")
kill -TERM "$(cat "$TMP/send/pid")"

# counter NAME FILE: the last stats line's forwarder counter NAME (0 before any).
counter() { { grep ' stats records=' "$2" || true; } | tail -1 | sed -n "s/.* stats .*\b$1=\([0-9]*\).*|.*/\1/p" | grep . || echo 0; }
for k in $INSTANCES; do
  # A topic of its own, empty while the group forms: the clock starts with a
  # stable group, as a deployment's steady state, not with its join.
  D="$TMP/fwd$k"
  control "topic ev$k:$PARTITIONS"
  start_mock "$D"
  MOCK=$(head -n1 "$D/url.out")
  fwd=()
  for i in $(seq "$k"); do
    "$CAPI" forward --brokers "$BOOT" --topic "ev$k" --group "bench-$k" --pixel $PIXEL --endpoint "$MOCK" \
      --ca "$D/ca.pem" --stats-interval 0.2 --kafka-prop statistics.interval.ms=0 --no-progress "$@" \
      >"$D/f$i.out" 2>"$D/f$i.err" &
    pids+=($!)
    fwd+=($!)
  done
  stable=0
  for _ in $(seq 300); do  # 60 s at most: every partition owned, unchanged for 2 s
    owned=0
    for i in $(seq "$k"); do
      owned=$((owned + $(counter assigned "$D/f$i.err") - $(counter revoked "$D/f$i.err")))
    done
    if [ "$owned" -eq "$PARTITIONS" ]; then stable=$((stable + 1)); else stable=0; fi
    [ $stable -ge 10 ] && break
    sleep 0.2
  done
  [ $stable -ge 10 ] || { echo "bench_kafka: the group of $k never owned all $PARTITIONS partitions" >&2; exit 1; }
  t0=$(date +%s.%N)
  ticks0=()
  for p in "${fwd[@]}"; do ticks0+=($(cpu_ticks "$p")); done
  # Keyed by event id (the key before a tab): the partitioner spreads them evenly.
  # In chunks, the next once half of the last is delivered: the mock cluster keeps
  # about 5 MB per partition and drops older records, which a real topic's
  # retention would keep.
  produced=0
  t1=""
  for tick in $(seq 3000); do  # 10 minutes at most (0.2 s sleeps)
    delivered=0
    for i in $(seq "$k"); do delivered=$((delivered + $(counter delivered "$D/f$i.err"))); done
    if [ "$delivered" -ge "$EVENTS" ]; then t1=$(date +%s.%N); break; fi
    if [ "$produced" -lt "$EVENTS" ] && [ "$delivered" -ge $((produced - CHUNK / 2)) ]; then
      sed -n "$((produced + 1)),$((produced + CHUNK))p" "$TMP/keyed.tsv" |
        timeout 300 kcat -P -b "$BOOT" -t "ev$k" -K '\t' -X log_level=2 -X linger.ms=20
      produced=$((produced + CHUNK))
      continue
    fi
    [ $((tick % 50)) -eq 0 ] && echo "bench_kafka: $k instances: $delivered of $EVENTS delivered" >&2
    sleep 0.2
  done
  [ -n "$t1" ] || { echo "bench_kafka: $k instances did not deliver $EVENTS events in 10 minutes" >&2; exit 1; }
  per=()
  total_ticks=0
  for i in $(seq "$k"); do
    d=$(counter delivered "$D/f$i.err")
    c=$(($(cpu_ticks "${fwd[$((i - 1))]}") - ticks0[i - 1]))
    total_ticks=$((total_ticks + c))
    per+=("$(awk -v c="$c" -v t="$TICK" -v d="$d" 'BEGIN { printf "%d:%.2f", d, d ? c / t * 1e6 / d : 0 }')")
  done
  mock_ticks=$(cpu_ticks "$(cat "$D/pid")")
  results+=("$(awk -v k="$k" -v n="$EVENTS" -v t0="$t0" -v t1="$t1" -v c="$total_ticks" -v t="$TICK" -v m="$mock_ticks" -v per="${per[*]}" \
    'BEGIN { printf "capi forward  %4d  %9d  %9.0f  %8.2f  %s  mock %.2f us/event", k, n, n / (t1 - t0), c / t * 1e6 / n, per, m / t * 1e6 / n }')")
  kill -TERM "${fwd[@]}" "$(cat "$D/pid")"
  for p in "${fwd[@]}"; do wait "$p" || true; done
done

echo
echo "                 instances  delivered    events/s  us CPU/event (all instances)  per instance delivered:us/event"
for r in "${results[@]}"; do echo "$r"; done
echo "(kafka-mock's own CPU: $(awk -v c="$(cpu_ticks $KM)" -v t="$TICK" 'BEGIN { printf "%.1f s", c / t }') over the whole run; every process shares $(nproc) cores)"
