#!/usr/bin/env bash
# The pixel gateway's benchmark: hits per second and the gateway's CPU per hit
# under wrk (keep-alive connections), hits in, batches out over TLS to
# `capi mock-server`, side by side in one run with the client's own CPU per
# event for the same events (`capi bench --phase enqueue`: capi::Client alone,
# TLS to the same kind of mock). The difference is what the gateway adds per hit:
# HTTP, the hit's parsing and its request context. docs/performance.md, "The
# pixel gateway", has the figures.
#
# Usage: scripts/bench_gateway.sh [--duration S] [--connections C] [--threads T] [--events N]
# The gateway's CPU is its process's utime + stime (/proc/PID/stat) from after a
# warm-up to when it is idle again after the load (every hit delivered), divided
# by the events the mock accepted in that time.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=10
CONNECTIONS=16
THREADS=1
EVENTS=200000
while [ $# -gt 0 ]; do
  case $1 in
    --duration) DURATION=$2; shift 2 ;;
    --connections) CONNECTIONS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --events) EVENTS=$2; shift 2 ;;
    *) echo "usage: $0 [--duration S] [--connections C] [--threads T] [--events N]" >&2; exit 2 ;;
  esac
done

bash scripts/deps.sh wrk curl
bash scripts/build.sh tools/capi >/dev/null
CAPI=${CAPI_BUILD_DIR:-build}/tools/capi
PIXEL=1234567890
TMP=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  sleep 0.3
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT

# Reads a URL from a child's stdout file, bounded.
wait_url() {  # FILE PATTERN
  for _ in $(seq 100); do
    if grep -qoE "$2" "$1" 2>/dev/null; then grep -oE "$2" "$1" | head -1; return 0; fi
    sleep 0.1
  done
  echo "no URL in $1 after 10 s" >&2
  return 1
}
# utime + stime of PID in clock ticks; user and system apart.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
cpu_split() { awk '{print $14, $15}' "/proc/$1/stat"; }
# A counter of the gateway's /metrics, e.g. metric 'capi_gateway_events_total{state="accepted"}'.
metric() { curl -s "$GW_URL/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
# Waits until PID has used no CPU for 0.5 s (its queue drained), at most 20 s.
wait_idle() {
  local last now
  last=$(cpu_ticks "$1")
  for _ in $(seq 40); do
    sleep 0.5
    now=$(cpu_ticks "$1")
    [ "$now" = "$last" ] && return 0
    last=$now
  done
  echo "the gateway was still busy 20 s after the load" >&2
}

export CAPI_ACCESS_TOKEN=mock-token
"$CAPI" mock-server --port 0 --cert-out "$TMP" >"$TMP/mock.out" 2>"$TMP/mock.err" &
mock_pid=$!
pids+=("$mock_pid")
MOCK_URL=$(wait_url "$TMP/mock.out" 'https://127\.0\.0\.1:[0-9]+')

"$CAPI" gateway --listen 127.0.0.1:0 --pixel "$PIXEL" --endpoint "$MOCK_URL" --ca "$TMP/ca.pem" \
  >"$TMP/gateway.out" 2>"$TMP/gateway.err" &
gw_pid=$!
pids+=("$gw_pid")
GW_URL=$(wait_url "$TMP/gateway.out" 'http://127\.0\.0\.1:[0-9]+')

# The hit: tools/bench/purchase_events.hpp's Purchase event as a browser sends it
# (8 customer fields in clear for the gateway to normalize and hash, external_id,
# two contents, value, currency), the user agent and both cookies in headers, a
# fresh eid per request.
cat >"$TMP/hit.lua" <<'EOF'
local thread_no = 0
function setup(thread)
  thread_no = thread_no + 1
  thread:set("tid", thread_no)
end
local n = 0
local base = "/tr?id=1234567890&ev=Purchase&dl=https%3A%2F%2Fshop.example.com%2Fcheckout%2Fthank-you%3Forder%3D1001"
  .. "&ud[em]=%20Customer.1001%40Example.COM%20&ud[ph]=%2B1%20(650)%20555-1001&ud[fn]=Jos%C3%A9"
  .. "&ud[ln]=Garc%C3%ADa&ud[ct]=San%20Jos%C3%A9&ud[st]=California&ud[zp]=94025-1234&ud[country]=US"
  .. "&ud[external_id]=cust-1001&cd[value]=129.95&cd[currency]=USD&cd[content_type]=product"
  .. "&cd[contents]=%5B%7B%22id%22%3A%22sku-1%22%2C%22quantity%22%3A2%2C%22item_price%22%3A24.95%7D%2C"
  .. "%7B%22id%22%3A%22sku-2%22%2C%22quantity%22%3A1%2C%22item_price%22%3A80.05%7D%5D&eid="
wrk.headers["User-Agent"] = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
wrk.headers["Cookie"] = "_fbp=fb.1.1558571054389.1098115397; _fbc=fb.1.1554763741205.AbCdEfGhIjKlMnOpQrStUvWxYz1001"
function request()
  n = n + 1
  return wrk.format("GET", base .. "order-" .. (tid or 0) .. "-" .. n)
end
EOF

# Warm-up (connections, the client's pool, the allocator), then the measured load.
wrk -t1 -c4 -d1s -s "$TMP/hit.lua" "$GW_URL" >"$TMP/warm.out"
wait_idle "$gw_pid"
accepted_before=$(metric 'capi_gateway_events_total{state="accepted"}')
ticks_before=$(cpu_ticks "$gw_pid")
read -r user_before sys_before < <(cpu_split "$gw_pid")
mock_ticks_before=$(cpu_ticks "$mock_pid")
wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$TMP/hit.lua" "$GW_URL" >"$TMP/wrk.out"
wait_idle "$gw_pid"
ticks_after=$(cpu_ticks "$gw_pid")
read -r user_after sys_after < <(cpu_split "$gw_pid")
mock_ticks_after=$(cpu_ticks "$mock_pid")
# The hits of the measured load: wrk's count misses the requests in flight when it stops.
accepted_after=$(metric 'capi_gateway_events_total{state="accepted"}')
delivered=$(metric 'capi_gateway_events_total{state="delivered"}')
hits=$((accepted_after - accepted_before))
metrics=$(curl -s "$GW_URL/metrics" || true)

# The same server answering GET /healthz under the same load, same headers: its
# HTTP floor (Beast, coroutines, the socket calls), no pixel, no client.
sed -e 's|^  return wrk.format("GET", base .. .*|  return wrk.format("GET", "/healthz")|' "$TMP/hit.lua" >"$TMP/healthz.lua"
hz_before=$(metric 'capi_gateway_requests_total{route="/healthz",outcome="ok"}')
hz_ticks_before=$(cpu_ticks "$gw_pid")
wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" -s "$TMP/healthz.lua" "$GW_URL" >"$TMP/healthz.out"
wait_idle "$gw_pid"
hz_ticks_after=$(cpu_ticks "$gw_pid")
hz_requests=$(( $(metric 'capi_gateway_requests_total{route="/healthz",outcome="ok"}') - ${hz_before:-0} ))
hz_rps=$(awk '/^Requests\/sec/ {print $2}' "$TMP/healthz.out")

# The least an HTTP request costs here: tools/bench/gateway_http_floor.cpp (epoll,
# a fixed answer), the same load and headers.
${CXX:-g++} -O2 -std=c++20 -o "$TMP/http_floor" tools/bench/gateway_http_floor.cpp
"$TMP/http_floor" >"$TMP/floor.out" &
floor_pid=$!
pids+=("$floor_pid")
FLOOR_URL=$(wait_url "$TMP/floor.out" 'http://127\.0\.0\.1:[0-9]+')
fl_ticks_before=$(cpu_ticks "$floor_pid")
wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" -s "$TMP/healthz.lua" "$FLOOR_URL" >"$TMP/floor_wrk.out"
fl_ticks_after=$(cpu_ticks "$floor_pid")
fl_requests=$(awk '/requests in/ {print $1}' "$TMP/floor_wrk.out")
fl_rps=$(awk '/^Requests\/sec/ {print $2}' "$TMP/floor_wrk.out")
kill -TERM "$floor_pid"; wait "$floor_pid" 2>/dev/null || true

# Stop both: the gateway drains (nothing is left: it is idle), the mock reports
# what it accepted on stderr.
kill -TERM "$gw_pid"; wait "$gw_pid" || true
kill -TERM "$mock_pid"; wait "$mock_pid" || true
pids=()

hz=$(getconf CLK_TCK)
requests=$(awk '/requests in/ {print $1}' "$TMP/wrk.out")
rps=$(awk '/^Requests\/sec/ {print $2}' "$TMP/wrk.out")
non2xx=$(awk '/Non-2xx/ {print $NF}' "$TMP/wrk.out")
errors=$(grep -E 'Socket errors' "$TMP/wrk.out" || true)
accepted_total=$(grep -oE '[0-9]+ events accepted' "$TMP/mock.err" | awk '{print $1}')

echo "capi gateway benchmark: wrk ($THREADS thread(s), $CONNECTIONS keep-alive connections, ${DURATION} s) -> capi gateway -> TLS -> capi mock-server, one machine ($(nproc) hardware threads shared by all three)"
echo "hits             : $requests in ${DURATION} s = $rps hits/s (non-2xx: ${non2xx:-0})${errors:+; $errors}"
grep -A4 'Latency Distribution' "$TMP/wrk.out" | sed -n '2,5p' | sed 's/^ */  latency        /'
echo "events           : $hits accepted by the gateway under load ($accepted_after in all, with the warm-up); $delivered delivered; the mock accepted ${accepted_total:-?}"
awk -v t=$((ticks_after - ticks_before)) -v u=$((user_after - user_before)) -v k=$((sys_after - sys_before)) \
    -v m=$((mock_ticks_after - mock_ticks_before)) -v hz="$hz" -v n="$hits" \
  'BEGIN { printf "gateway CPU      : %.2f us/hit  (%.2f s over %d hits: user %.2f us, system %.2f us)\nmock CPU         : %.2f us/event  (separate process)\n", t / hz * 1e6 / n, t / hz, n, u / hz * 1e6 / n, k / hz * 1e6 / n, m / hz * 1e6 / n }' \
  | tee "$TMP/gw.txt"
gw_us=$(awk '/gateway CPU/ {print $4}' "$TMP/gw.txt")
awk -v t=$((hz_ticks_after - hz_ticks_before)) -v hz="$hz" -v n="$hz_requests" -v rps="$hz_rps" \
  'BEGIN { printf "gateway /healthz : %.2f us/request  (the same gateway answering GET /healthz, same load: %d requests, %s requests/s)\n", t / hz * 1e6 / n, n, rps }' \
  | tee -a "$TMP/gw.txt"
awk -v t=$((fl_ticks_after - fl_ticks_before)) -v hz="$hz" -v n="$fl_requests" -v rps="$fl_rps" \
  'BEGIN { printf "HTTP floor       : %.2f us/request  (tools/bench/gateway_http_floor.cpp: epoll, a fixed answer, same load: %d requests, %s requests/s)\n", t / hz * 1e6 / n, n, rps }' \
  | tee -a "$TMP/gw.txt"
healthz_us=$(awk '/gateway \/healthz/ {print $4}' "$TMP/gw.txt")
floor_us=$(awk '/HTTP floor/ {print $4}' "$TMP/gw.txt")
if [ -n "$metrics" ]; then
  echo "gateway /metrics (excerpt):"
  grep -vE '^#|_bucket' <<<"$metrics" | head -20 | sed 's/^/  /'
fi

# The client alone, same events, same machine, right after.
"$CAPI" bench --phase enqueue --events "$EVENTS" >"$TMP/bench.out" 2>&1 || true
client_us=$(awk '/client CPU       :/ {print $4; exit}' "$TMP/bench.out")
echo "client alone     : $client_us us/event  (capi bench --phase enqueue --events $EVENTS: capi::Client, enqueue from 2 threads, TLS to its own mock; events made by the caller not counted)"
awk -v g="$gw_us" -v c="$client_us" -v f="$floor_us" -v h="$healthz_us" 'BEGIN { d = g - c; printf "gateway adds     : %.2f us/hit over the client alone (goal: <= 2 us): %s\n", d, (d <= 2 ? "met" : "not met"); printf "  of which       : %.2f us the HTTP floor (kernel, system calls), %.2f us the gateway'"'"'s HTTP layer above it (its /healthz less the floor), %.2f us the rest (the hit: parse, context, and the glue)\n", f, h - f, d - h }'
status=0
if [ "${non2xx:-0}" != 0 ] || [ "$delivered" != "$accepted_after" ] || [ "${accepted_total:-0}" != "$delivered" ]; then
  echo "check: every hit answered 2xx and delivered: FAILED" >&2
  status=1
else
  echo "check: every hit answered 2xx and delivered: OK"
fi
exit $status
