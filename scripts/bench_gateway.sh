#!/usr/bin/env bash
# The pixel gateway's benchmark: hits per second and the gateway's CPU per hit
# under wrk (keep-alive connections), hits in, batches out over TLS to
# `capi mock-server`, side by side in one run with the client's own CPU per
# event for the same events (`capi bench --phase enqueue`: capi::Client alone,
# TLS to the same kind of mock). The difference is what the gateway adds per hit:
# HTTP, the hit's parsing and its request context. docs/performance.md, "The
# pixel gateway", has the figures.
#
# Usage: scripts/bench_gateway.sh [--duration S] [--connections C] [--threads T] [--events N] [--rounds R]
# The gateway's CPU is its process's utime + stime (/proc/PID/stat) from before a
# load to when it is idle again after it (every hit delivered), divided by the
# events its /metrics counts as accepted in that time. Rounds alternate the
# phases; the best round of each is kept.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=5
CONNECTIONS=16
THREADS=1
EVENTS=100000
ROUNDS=3
while [ $# -gt 0 ]; do
  case $1 in
    --duration) DURATION=$2; shift 2 ;;
    --connections) CONNECTIONS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --events) EVENTS=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    *) echo "usage: $0 [--duration S] [--connections C] [--threads T] [--events N] [--rounds R]" >&2; exit 2 ;;
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

sed -e 's|^  return wrk.format("GET", base .. .*|  return wrk.format("GET", "/healthz")|' "$TMP/hit.lua" >"$TMP/healthz.lua"

# The least an HTTP request costs here: tools/bench/gateway_http_floor.cpp (epoll,
# a fixed answer), under the same load and headers.
${CXX:-g++} -O2 -std=c++20 -o "$TMP/http_floor" tools/bench/gateway_http_floor.cpp
"$TMP/http_floor" >"$TMP/floor.out" &
floor_pid=$!
pids+=("$floor_pid")
FLOOR_URL=$(wait_url "$TMP/floor.out" 'http://127\.0\.0\.1:[0-9]+')

hz=$(getconf CLK_TCK)
us_per() { awk -v t="$1" -v hz="$hz" -v n="$2" 'BEGIN { printf "%.2f", t / hz * 1e6 / n }'; }
min() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b < a) ? b : a }'; }
load() {  # URL SCRIPT OUT
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$2" "$1" >"$3"
}

# Warm-up (connections, the client's pool, the allocator).
wrk -t1 -c4 -d1s -s "$TMP/hit.lua" "$GW_URL" >/dev/null
wait_idle "$gw_pid"

# Alternating rounds, best kept (docs/performance.md: the machine is shared and
# noisy). Each round: hits through the gateway; the same gateway answering
# GET /healthz (its HTTP layer: Beast, coroutines, socket calls, counters; no
# pixel, no client); the HTTP floor; the client alone (capi bench, same events).
best_gw= best_user= best_sys= best_hz= best_floor= best_client= best_rps= best_mock=
total_hits=0 non2xx_all=0
for round in $(seq "$ROUNDS"); do
  accepted_before=$(metric 'capi_gateway_events_total{state="accepted"}')
  read -r u0 s0 < <(cpu_split "$gw_pid")
  m0=$(cpu_ticks "$mock_pid")
  load "$GW_URL" "$TMP/hit.lua" "$TMP/hits.$round"
  wait_idle "$gw_pid"   # every hit delivered: the client's CPU for them is in
  read -r u1 s1 < <(cpu_split "$gw_pid")
  m1=$(cpu_ticks "$mock_pid")
  # Counted by the gateway: wrk's own count misses the requests in flight when it stops.
  hits=$(( $(metric 'capi_gateway_events_total{state="accepted"}') - accepted_before ))
  total_hits=$((total_hits + hits))
  non2xx_all=$((non2xx_all + $(awk '/Non-2xx/ {print $NF}' "$TMP/hits.$round" | grep . || echo 0)))
  gw=$(us_per $((u1 - u0 + s1 - s0)) "$hits")
  rps=$(awk '/^Requests\/sec/ {print $2}' "$TMP/hits.$round")

  h0=$(metric 'capi_gateway_requests_total{route="/healthz",outcome="ok"}')
  t0=$(cpu_ticks "$gw_pid")
  load "$GW_URL" "$TMP/healthz.lua" "$TMP/healthz.$round"
  wait_idle "$gw_pid"
  healthz=$(us_per $(( $(cpu_ticks "$gw_pid") - t0 )) $(( $(metric 'capi_gateway_requests_total{route="/healthz",outcome="ok"}') - ${h0:-0} )))

  f0=$(cpu_ticks "$floor_pid")
  load "$FLOOR_URL" "$TMP/healthz.lua" "$TMP/floor.$round"
  floor=$(us_per $(( $(cpu_ticks "$floor_pid") - f0 )) "$(awk '/requests in/ {print $1}' "$TMP/floor.$round")")

  "$CAPI" bench --phase enqueue --events "$EVENTS" >"$TMP/bench.$round" 2>&1 || true
  client=$(awk '/client CPU       :/ {print $4; exit}' "$TMP/bench.$round")

  printf 'round %d: gateway %s us/hit (user %s, system %s; %s hits/s), its /healthz %s us, HTTP floor %s us, client alone %s us/event\n' \
    "$round" "$gw" "$(us_per $((u1 - u0)) "$hits")" "$(us_per $((s1 - s0)) "$hits")" "$rps" "$healthz" "$floor" "$client"
  if [ "$(min "$best_gw" "$gw")" = "$gw" ]; then
    best_gw=$gw best_user=$(us_per $((u1 - u0)) "$hits") best_sys=$(us_per $((s1 - s0)) "$hits") best_rps=$rps
    best_mock=$(us_per $((m1 - m0)) "$hits") best_round=$round
  fi
  best_hz=$(min "$best_hz" "$healthz")
  best_floor=$(min "$best_floor" "$floor")
  best_client=$(min "$best_client" "$client")
done
kill -TERM "$floor_pid"; wait "$floor_pid" 2>/dev/null || true

accepted=$(metric 'capi_gateway_events_total{state="accepted"}')
delivered=$(metric 'capi_gateway_events_total{state="delivered"}')
metrics=$(curl -s "$GW_URL/metrics" || true)
# Stop both: the gateway drains (nothing is left: it is idle), the mock reports
# what it accepted on stderr.
kill -TERM "$gw_pid"; wait "$gw_pid" || true
kill -TERM "$mock_pid"; wait "$mock_pid" || true
pids=()
accepted_total=$(grep -oE '[0-9]+ events accepted' "$TMP/mock.err" | awk '{print $1}')

echo
echo "capi gateway benchmark: wrk ($THREADS thread(s), $CONNECTIONS keep-alive connections, ${DURATION} s a phase, $ROUNDS rounds, best kept) -> capi gateway -> TLS -> capi mock-server, one machine ($(nproc) hardware threads shared by all)"
echo "hits             : $best_rps hits/s in the best round ($total_hits hits in all rounds, non-2xx: $non2xx_all)"
grep -A4 'Latency Distribution' "$TMP/hits.$best_round" | sed -n '2,5p' | sed 's/^ */  latency        /'
echo "gateway CPU      : $best_gw us/hit  (user $best_user, system $best_sys)"
echo "mock CPU         : $best_mock us/event  (separate process)"
echo "gateway /healthz : $best_hz us/request  (the same gateway answering GET /healthz, same load)"
echo "HTTP floor       : $best_floor us/request  (tools/bench/gateway_http_floor.cpp: epoll, a fixed answer, same load)"
echo "client alone     : $best_client us/event  (capi bench --phase enqueue --events $EVENTS: capi::Client, enqueue from 2 threads, TLS to its own mock; events made by the caller not counted)"
awk -v g="$best_gw" -v c="$best_client" -v f="$best_floor" -v h="$best_hz" 'BEGIN {
  d = g - c
  printf "gateway adds     : %.2f us/hit over the client alone (goal: <= 2 us): %s\n", d, (d <= 2 ? "met" : "not met")
  printf "  of which       : %.2f us the HTTP floor (kernel, system calls), %.2f us the gateway'"'"'s HTTP layer above it (its /healthz less the floor), %.2f us the rest (the hit: parse, context, and the glue)\n", f, h - f, d - h }'
if [ -n "$metrics" ]; then
  echo "gateway /metrics (excerpt):"
  grep -E '^capi_gateway_(requests_total\{route="/tr"|events_total|queue_depth|client_batches)' <<<"$metrics" | sed 's/^/  /'
fi
if [ "$non2xx_all" != 0 ] || [ "$delivered" != "$accepted" ] || [ "${accepted_total:-0}" != "$delivered" ]; then
  echo "check: every hit answered 2xx and delivered (gateway accepted $accepted, delivered $delivered, the mock accepted ${accepted_total:-?}): FAILED" >&2
  exit 1
fi
echo "check: every hit answered 2xx and delivered (gateway accepted $accepted, delivered $delivered, the mock accepted $accepted_total): OK"
