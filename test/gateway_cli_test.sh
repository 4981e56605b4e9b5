#!/usr/bin/env bash
# End-to-end tests of `capi gateway` as a process, with `capi mock-server
# --events-out` as Meta: the seed's image pixel sent by curl arrives as a correct
# server event; 2000 hits then SIGTERM while events are still queued behind a
# slow Graph: exit 0, the summary adds up, the mock has every event; --enhanced
# --phone-country US converts a state, a country, a phone number and a date, and
# /metrics counts each value's outcome (capi_gateway_pii_values_total), as it
# counts the default rules' outcomes for the same event; usage and file errors
# exit 2 naming the option; the token is never printed.
# Every background process runs under `timeout` and is killed by the EXIT trap.
# Usage: gateway_cli_test.sh PATH_TO_CAPI
set -uo pipefail
CAPI=$1
if ! command -v curl >/dev/null 2>&1; then
  echo "gateway_cli_test: curl is required (Debian: apt-get install curl; scripts/deps.sh installs it)" >&2
  exit 1
fi
if ! command -v python3 >/dev/null 2>&1; then
  echo "gateway_cli_test: python3 is required (it checks the events' JSON)" >&2
  exit 1
fi
source "$(dirname "${BASH_SOURCE[0]}")/support/shell.sh"  # TMP, bg_pids, cleanup, check, first_line
# lines FILE N: waits (20 s at most) until FILE has N lines; prints the count.
lines() {
  local i n=0
  for i in $(seq 200); do
    n=$( [ -f "$1" ] && wc -l <"$1" || echo 0)
    [ "$n" -ge "$2" ] && break
    sleep 0.1
  done
  echo "$n"
}

PIXEL=1234567890
TOKEN=gateway-cli-secret-token-0123456789
export CAPI_ACCESS_TOKEN=$TOKEN
UA="Mozilla/5.0 (X11; Linux x86_64) gateway-cli-test"
PAGE="https://shop.example/product/1234"
SEED="id=$PIXEL&ev=ViewContent&cd[content_type]=product&cd[content_ids]=1234&cd[value]=0.50&cd[currency]=USD&noscript=1"

# --- the seed's image pixel, by curl, reaches the mock -------------------------
mkdir -p "$TMP/m1"
timeout 120 "$CAPI" mock-server --events-out "$TMP/m1/events.jsonl" --cert-out "$TMP/m1" >"$TMP/m1/url" 2>"$TMP/m1/err" &
bg_pids+=($!)
MOCK=$(first_line "$TMP/m1/url") || { echo "FAIL: mock-server did not start"; cat "$TMP/m1/err"; exit 1; }
timeout 120 "$CAPI" gateway --listen 127.0.0.1:0 --pixel $PIXEL --endpoint "$MOCK" --ca "$TMP/m1/ca.pem" \
  --linger-ms 5 >"$TMP/g1.out" 2>"$TMP/g1.err" &
G1=$!
bg_pids+=($G1)
GW=$(first_line "$TMP/g1.out") || { echo "FAIL: gateway did not start"; cat "$TMP/g1.err"; exit 1; }
check "gateway prints its URL" grep -Eq '^http://127\.0\.0\.1:[0-9]+$' <<<"$GW"

code=$(curl -sg -o "$TMP/pixel.gif" -D "$TMP/hdr" -w '%{http_code}' -A "$UA" -e "$PAGE" "$GW/tr?$SEED")
check "seed hit answered 200" [ "$code" = 200 ]
check "seed hit answered with a GIF" grep -qi '^content-type: image/gif' "$TMP/hdr"
FBP=$(sed -n 's/^[Ss]et-[Cc]ookie: _fbp=\([^;]*\);.*/\1/p' "$TMP/hdr" | tr -d '\r')
check "seed hit sets _fbp" grep -Eq '^fb\.1\.[0-9]+\.[0-9]+$' <<<"$FBP"
check "the mock received one event" [ "$(lines "$TMP/m1/events.jsonl" 1)" -eq 1 ]
check "the event is the hit, field by field" python3 - "$TMP/m1/events.jsonl" "$UA" "$PAGE" "$FBP" <<'EOF'
import json, sys, time
ev = json.loads(open(sys.argv[1]).readline())
ua, page, fbp = sys.argv[2:5]
cd, ud = ev.get("custom_data", {}), ev.get("user_data", {})
ok = (ev["event_name"] == "ViewContent" and ev["action_source"] == "website"
      and ev["event_source_url"] == page and abs(ev["event_time"] - time.time()) < 120
      and cd.get("content_type") == "product" and cd.get("content_ids") == ["1234"]
      and abs(cd.get("value", 0) - 0.5) < 1e-9 and cd.get("currency", "").upper() == "USD"
      and ud.get("client_ip_address") == "127.0.0.1" and ud.get("client_user_agent") == ua
      and ud.get("fbp") == fbp and ev.get("event_id"))
if not ok: print(json.dumps(ev, indent=1))
sys.exit(0 if ok else 1)
EOF
code=$(curl -sg -o /dev/null -w '%{http_code}' -A "$UA" -e "$PAGE" "$GW/tr?id=42&ev=PageView")
check "a foreign pixel is refused" [ "$code" = 403 ]
check "healthz" [ "$(curl -s "$GW/healthz")" = ok ]
curl -s "$GW/metrics" >"$TMP/metrics"
check "metrics count the foreign pixel" grep -q '^capi_gateway_requests_total{route="/tr",outcome="foreign_pixel"} 1$' "$TMP/metrics"
kill -TERM $G1
wait $G1; rc=$?
check "gateway exits 0 after SIGTERM" [ $rc -eq 0 ]
check "summary: 1 accepted, 1 delivered" grep -q "events: 1 accepted, 1 delivered, 0 failed, 1 rejected" "$TMP/g1.err"
check "the token is never printed" bash -c "! grep -q '$TOKEN' '$TMP/g1.out' '$TMP/g1.err'"

# --- --enhanced --phone-country US: the flags reach the encoder, /metrics counts -
# The mock from above is Meta again. One event whose values match only once
# converted (a state and a country by name, a US number without +1, an ISO date),
# to a gateway with the flags and to one without.
timeout 120 "$CAPI" gateway --listen 127.0.0.1:0 --pixel $PIXEL --endpoint "$MOCK" --ca "$TMP/m1/ca.pem" \
  --linger-ms 5 --enhanced --phone-country US >"$TMP/g3.out" 2>"$TMP/g3.err" &
G3=$!
bg_pids+=($G3)
timeout 120 "$CAPI" gateway --listen 127.0.0.1:0 --pixel $PIXEL --endpoint "$MOCK" --ca "$TMP/m1/ca.pem" \
  --linger-ms 5 >"$TMP/g4.out" 2>"$TMP/g4.err" &
G4=$!
bg_pids+=($G4)
GW3=$(first_line "$TMP/g3.out") || { echo "FAIL: gateway --enhanced did not start"; cat "$TMP/g3.err"; exit 1; }
GW4=$(first_line "$TMP/g4.out") || { echo "FAIL: gateway did not start"; cat "$TMP/g4.err"; exit 1; }
lead() {  # lead EVENT_ID: the event, as POST /events takes it
  printf '{"data":[{"event_name":"Lead","event_id":"%s","event_time":%d,"action_source":"website",' "$1" "$(date +%s)"
  printf '"event_source_url":"%s","user_data":{"st":["California"],"country":["United States"],' "$PAGE"
  printf '"ph":["(650) 555-1234"],"db":["1990-01-31"]}}]}'
}
code=$(curl -s -o /dev/null -w '%{http_code}' -A "$UA" -H 'Content-Type: application/json' \
  --data-binary "$(lead cli-lead-enhanced)" "$GW3/events?id=$PIXEL")
check "--enhanced: the event is accepted" [ "$code" = 200 ]
code=$(curl -s -o /dev/null -w '%{http_code}' -A "$UA" -H 'Content-Type: application/json' \
  --data-binary "$(lead cli-lead-default)" "$GW4/events?id=$PIXEL")
check "default rules: the event is accepted" [ "$code" = 200 ]
check "the mock received both" [ "$(lines "$TMP/m1/events.jsonl" 3)" -eq 3 ]
check "--enhanced: st, country, ph, db arrive as Meta matches them; the default rules' bytes unchanged" \
  python3 - "$TMP/m1/events.jsonl" <<'EOF'
import hashlib, json, sys
h = lambda s: hashlib.sha256(s.encode()).hexdigest()
ev = {e.get("event_id"): e for e in map(json.loads, open(sys.argv[1]))}
enh, dflt = ev["cli-lead-enhanced"]["user_data"], ev["cli-lead-default"]["user_data"]
ok = (enh.get("st") == [h("ca")] and enh.get("country") == [h("us")] and enh.get("ph") == [h("16505551234")]
      and enh.get("db") == [h("19900131")]
      # the default rules: no name mapped, the country rejected (dropped, the event sent)
      and dflt.get("st") == [h("california")] and "country" not in dflt and dflt.get("db") == [h("1990-01-31")])
if not ok: print(json.dumps({"enhanced": enh, "default": dflt}, indent=1))
sys.exit(0 if ok else 1)
EOF
curl -s "$GW3/metrics" >"$TMP/metrics3"
curl -s "$GW4/metrics" >"$TMP/metrics4"
for f in st country ph db; do
  check "--enhanced: /metrics counts $f converted" \
    grep -q "^capi_gateway_pii_values_total{field=\"$f\",outcome=\"converted\"} 1$" "$TMP/metrics3"
done
check "--enhanced: every outcome of st, zeros included" \
  [ "$(grep -c '^capi_gateway_pii_values_total{field="st",outcome="[a-z_]*"} [0-9]*$' "$TMP/metrics3")" -eq 6 ]
check "capi_gateway_pii_values_total: HELP once" \
  [ "$(grep -c '^# HELP capi_gateway_pii_values_total ' "$TMP/metrics4")" -eq 1 ]
check "capi_gateway_pii_values_total: TYPE once, a counter" \
  [ "$(grep -c '^# TYPE capi_gateway_pii_values_total counter$' "$TMP/metrics4")" -eq 1 ]
check "default rules: /metrics counts st as_given" \
  grep -q '^capi_gateway_pii_values_total{field="st",outcome="as_given"} 1$' "$TMP/metrics4"
check "default rules: /metrics counts country dropped" \
  grep -q '^capi_gateway_pii_values_total{field="country",outcome="dropped"} 1$' "$TMP/metrics4"
check "default rules: /metrics counts db unmatchable" \
  grep -q '^capi_gateway_pii_values_total{field="db",outcome="unmatchable"} 1$' "$TMP/metrics4"
check "default rules: nothing converted" bash -c "! grep -q 'outcome=\"converted\"} [1-9]' '$TMP/metrics4'"
kill -TERM $G3 $G4
wait $G3; rc3=$?
wait $G4; rc4=$?
check "gateway --enhanced exits 0 after SIGTERM" [ $rc3 -eq 0 ]
check "gateway without it exits 0 after SIGTERM" [ $rc4 -eq 0 ]

# --- 2000 hits, SIGTERM while events are queued behind a slow Graph ------------
N=2000
mkdir -p "$TMP/m2"
timeout 120 "$CAPI" mock-server --events-out "$TMP/m2/events.jsonl" --cert-out "$TMP/m2" --delay-ms 500 \
  >"$TMP/m2/url" 2>"$TMP/m2/err" &
bg_pids+=($!)
MOCK2=$(first_line "$TMP/m2/url") || { echo "FAIL: slow mock-server did not start"; exit 1; }
timeout 120 "$CAPI" gateway --listen 127.0.0.1:0 --pixel $PIXEL --endpoint "$MOCK2" --ca "$TMP/m2/ca.pem" \
  --linger-ms 5 --drain-timeout 30000 >"$TMP/g2.out" 2>"$TMP/g2.err" &
G2=$!
bg_pids+=($G2)
GW2=$(first_line "$TMP/g2.out") || { echo "FAIL: gateway did not start"; cat "$TMP/g2.err"; exit 1; }
for i in $(seq $N); do
  printf 'url = "%s/tr?%s&eid=cli-%d"\noutput = "/dev/null"\n' "$GW2" "$SEED" "$i"
done >"$TMP/urls.cfg"
timeout 100 curl -sg --no-progress-meter --parallel --parallel-max 8 -A "$UA" -e "$PAGE" -w '%{http_code}\n' -K "$TMP/urls.cfg" \
  >"$TMP/codes"
check "all $N hits answered 200" [ "$(grep -c '^200$' "$TMP/codes")" -eq $N ]
depth=$(curl -s "$GW2/metrics" | sed -n 's/^capi_gateway_queue_depth //p')
check "events are still queued at SIGTERM (depth $depth)" [ "${depth:-0}" -gt 0 ]
kill -TERM $G2
wait $G2; rc=$?
check "gateway exits 0 after draining" [ $rc -eq 0 ]
check "summary: $N accepted, $N delivered, 0 failed" grep -q "events: $N accepted, $N delivered, 0 failed, 0 rejected" "$TMP/g2.err"
check "summary says drained" grep -q "drained in time" "$TMP/g2.err"
check "the mock has all $N events" [ "$(lines "$TMP/m2/events.jsonl" $N)" -eq $N ]
check "each event once, by its eid" [ "$(grep -o '"event_id":"cli-[0-9]*"' "$TMP/m2/events.jsonl" | sort -u | wc -l)" -eq $N ]

# --- usage and file errors: exit 2, one line naming the option -----------------
expect_usage() {  # expect_usage NAME PATTERN ARGS...
  local name=$1 pattern=$2; shift 2
  local out rc
  out=$(timeout 20 "$CAPI" gateway "$@" 2>&1 >/dev/null); rc=$?
  check "$name: exit 2" [ $rc -eq 2 ]
  check "$name: says '$pattern'" grep -q -- "$pattern" <<<"$out"
  # Arguments, not text spliced into the script: the message quotes 'capi gateway --help'.
  check "$name: no token in the message" bash -c '! grep -qF -- "$1" <<<"$2"' _ "$TOKEN" "$out"
  [ "$(wc -l <<<"$out")" -eq 2 ] && grep -q "^Run 'capi gateway --help'" <<<"$out"
  passed "$name: the error, then a pointer to --help"
}
: >"$TMP/empty"
expect_usage "--token refused" "--token is refused" --pixel $PIXEL --token "$TOKEN"
expect_usage "no pixel" "no pixel" --listen 127.0.0.1:0
expect_usage "pixel not digits" "--pixel" --pixel abc
expect_usage "bad listen" "--listen" --pixel $PIXEL --listen nowhere
expect_usage "--ca a directory" "--ca: cannot read $TMP: Is a directory" --pixel $PIXEL --ca "$TMP"
expect_usage "--ca missing" "--ca: cannot open" --pixel $PIXEL --ca "$TMP/nope.pem"
expect_usage "--ca empty" "--ca: $TMP/empty is empty" --pixel $PIXEL --ca "$TMP/empty"
expect_usage "--token-file empty" "--token-file: the file it names is empty" --pixel $PIXEL --token-file "$TMP/empty"
# The token itself passed where its file belongs: refused without echoing it.
expect_usage "--token-file given the token" "--token-file: the file it names does not exist (did you pass the secret itself?" --pixel $PIXEL --token-file "$TOKEN"
expect_usage "--app-secret-file given the secret" "--app-secret-file: the file it names does not exist" --pixel $PIXEL --app-secret-file "$TOKEN"
expect_usage "--tls-cert without key" "--tls-cert needs --tls-key" --pixel $PIXEL --tls-cert "$TMP/m1/ca.pem"
expect_usage "--tls-cert a directory" "--tls-cert: cannot read $TMP: Is a directory" --pixel $PIXEL --tls-cert "$TMP" --tls-key "$TMP/empty"
expect_usage "--tls-key empty" "--tls-key: $TMP/empty is empty" --pixel $PIXEL --tls-cert "$TMP/m1/ca.pem" --tls-key "$TMP/empty"
expect_usage "--tls-key not a key" "--tls-key" --pixel $PIXEL --listen 127.0.0.1:0 --tls-cert "$TMP/m1/ca.pem" --tls-key "$TMP/m1/ca.pem"
expect_usage "unknown option" "unknown option --frobnicate" --pixel $PIXEL --frobnicate 1
expect_usage "--phone-country not a country" "--phone-country" --pixel $PIXEL --phone-country XX
expect_usage "--phone-country: the value refused" "'XX' is not an ISO 3166-1 alpha-2 country code" --pixel $PIXEL --phone-country XX
expect_usage "--date-order not an order" "--date-order" --pixel $PIXEL --date-order foo
expect_usage "--date-order: the value refused" "'foo' is not dmy, mdy or ymd" --pixel $PIXEL --date-order=foo
expect_usage "--pixel=ID form, then a bad --listen" "--listen" --pixel=$PIXEL --listen=nowhere
expect_usage "--token-file a directory" "--token-file: cannot read the file it names: Is a directory" --pixel $PIXEL --token-file "$TMP"
out=$(env -u CAPI_ACCESS_TOKEN timeout 20 "$CAPI" gateway --pixel $PIXEL 2>&1 >/dev/null); rc=$?
check "no token: exit 2" [ $rc -eq 2 ]
check "no token: says how to give one" grep -q "CAPI_ACCESS_TOKEN" <<<"$out"
check "--help exits 0" timeout 20 "$CAPI" gateway --help >/dev/null

echo "$((checks - fails))/$checks checks passed"
[ $fails -eq 0 ]
