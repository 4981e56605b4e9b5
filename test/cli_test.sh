#!/usr/bin/env bash
# End-to-end tests of the `capi` program: normalize and send --dry-run.
# Usage: cli_test.sh PATH_TO_CAPI
set -uo pipefail
CAPI=$1
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fails=0
checks=0

check() {  # check NAME CONDITION-COMMAND...
  local name=$1; shift
  checks=$((checks + 1))
  if "$@"; then :; else echo "FAIL: $name"; fails=$((fails + 1)); fi
}
sha() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }

# --- capi normalize -------------------------------------------------------
out=$("$CAPI" normalize em "  Foo@Test.COM "); rc=$?
check "normalize em output" [ "$out" = "foo@test.com	$(sha foo@test.com)" ]
check "normalize em exit 0" [ $rc -eq 0 ]

out=$("$CAPI" normalize ph "+44 (20) 7183-8750"); rc=$?
check "normalize ph" [ "$out" = "442071838750	$(sha 442071838750)" ]

out=$("$CAPI" normalize ct "San José"); rc=$?
check "normalize ct unicode" [ "$out" = "sanjosé	$(sha sanjosé)" ]

out=$("$CAPI" normalize external_id "External-1"); rc=$?
check "external_id sent raw" [ "$out" = "External-1	-" ]

out=$("$CAPI" normalize currency " USD "); rc=$?
check "currency unhashed" [ "$out" = "usd	-" ]

H=309A0A5C3E211326AE75CA18196D301A9BDBD1A882A4D2569511033DA23F0ABD
h=309a0a5c3e211326ae75ca18196d301a9bdbd1a882a4d2569511033da23f0abd
out=$("$CAPI" normalize em "$H"); rc=$?
check "already hashed passes through" [ "$out" = "$h	$h" ]

err=$("$CAPI" normalize em "a@b" 2>&1 >/dev/null); rc=$?
check "rejected email exits 1" [ $rc -eq 1 ]
check "rejected email says why" grep -q "rejected" <<<"$err"

err=$("$CAPI" normalize ge "X" 2>&1 >/dev/null); rc=$?
check "omitted gender exits 1" [ $rc -eq 1 ]
check "omitted gender says omitted" grep -q "omitted" <<<"$err"

"$CAPI" normalize nosuchfield x >/dev/null 2>&1; rc=$?
check "unknown field exits 2" [ $rc -eq 2 ]

# --- capi send --dry-run -----------------------------------------------------
NOW=1800000000
T=$((NOW - 3600))
OLD=$((NOW - 8 * 24 * 3600))
cat > "$TMP/in.ndjson" <<EOF
{"event_name":"Purchase","event_time":$T,"event_id":"e1","action_source":"website","event_source_url":"https://shop.example/1","user_data":{"em":["  Joe@Example.com "],"client_user_agent":"ua"},"custom_data":{"currency":"USD","value":10.5}}
{"event_name":"Purchase","event_time":$T, this is not json

{"event_name":"Purchase","event_time":$OLD,"action_source":"website","event_source_url":"https://shop.example/2","user_data":{"em":["a@example.com"],"client_user_agent":"ua"},"custom_data":{"currency":"USD","value":1}}
{"event_name":"Lead","event_time":$T,"action_source":"system_generated","user_data":{"ph":"+1 650 555 1212","em":"bad-email"}}
{"event_name":"Lead","event_time":$T,"action_source":"email","user_data":{"external_id":"x-1"}}
EOF
"$CAPI" send --dry-run --now $NOW "$TMP/in.ndjson" >"$TMP/out" 2>"$TMP/err"; rc=$?
check "dry run exits 1 when a line was rejected" [ $rc -eq 1 ]
check "one body" [ "$(wc -l <"$TMP/out")" -eq 1 ]
check "summary ends stderr" [ "$(tail -n 1 "$TMP/err")" = "accepted 3, rejected 2" ]
check "bad JSON reported with its line" grep -q "^line 2: " "$TMP/err"
check "old event reported with its field" grep -q "^line 4: event_time: " "$TMP/err"
check "dropped value reported" grep -q "^line 5: value dropped: user_data.em\[0\]: " "$TMP/err"
python3 - "$TMP/out" "$(sha joe@example.com)" "$(sha 16505551212)" <<'EOF'
import json, sys
body = json.loads(open(sys.argv[1]).readline())
d = body["data"]
assert len(d) == 3, d
assert d[0]["event_id"] == "e1"
assert d[0]["user_data"]["em"] == [sys.argv[2]], d[0]
assert d[0]["custom_data"] == {"value": 10.5, "currency": "usd"}, d[0]
assert d[1]["user_data"]["ph"] == [sys.argv[3]], d[1]
assert "em" not in d[1]["user_data"]
assert d[2]["user_data"]["external_id"] == ["x-1"]
EOF
check "body content" [ $? -eq 0 ]

# Batching: 2500 events make bodies of 1000, 1000 and 500; --max-batch caps lower.
for i in $(seq 1 2500); do
  echo "{\"event_name\":\"Lead\",\"event_time\":$T,\"event_id\":\"id-$i\",\"action_source\":\"email\",\"user_data\":{\"em\":\"u$i@example.com\"}}"
done > "$TMP/many.ndjson"
"$CAPI" send --dry-run --now $NOW "$TMP/many.ndjson" >"$TMP/out" 2>"$TMP/err"; rc=$?
check "2500 events exit 0" [ $rc -eq 0 ]
check "2500 events summary" [ "$(tail -n 1 "$TMP/err")" = "accepted 2500, rejected 0" ]
python3 - "$TMP/out" <<'EOF'
import json, sys
sizes = [len(json.loads(l)["data"]) for l in open(sys.argv[1])]
assert sizes == [1000, 1000, 500], sizes
ids = [e["event_id"] for l in open(sys.argv[1]) for e in json.loads(l)["data"]]
assert ids == ["id-%d" % i for i in range(1, 2501)]
EOF
check "bodies of 1000, 1000, 500 in order" [ $? -eq 0 ]

head -n 5 "$TMP/many.ndjson" | "$CAPI" send --dry-run --now $NOW --max-batch 2 --test-event-code TEST1 - >"$TMP/out" 2>/dev/null
check "--max-batch 2 from stdin gives 3 bodies" [ "$(wc -l <"$TMP/out")" -eq 3 ]
check "test_event_code in every body" [ "$(grep -c '"test_event_code":"TEST1"' "$TMP/out")" -eq 3 ]

head -n 1 "$TMP/many.ndjson" | "$CAPI" send --dry-run --now $NOW --form - >"$TMP/out" 2>/dev/null
check "--form prints data=" grep -q '^data=%5B%7B%22event_name%22' "$TMP/out"

# The seed document's curl example event, as Meta documents it.
cat > "$TMP/seed.ndjson" <<EOF
{"event_name":"Purchase","event_time":$T,"user_data":{"em":["309a0a5c3e211326ae75ca18196d301a9bdbd1a882a4d2569511033da23f0abd"],"ph":["254aa248acb47dd654ca3ea53f48c2c26d641d23d7e2e93a1ec56258df7674c4","6f4fcb9deaeadc8f9746ae76d97ce1239e98b404efe5da3ee0b7149740f89ad6"],"client_ip_address":"123.123.123.123","client_user_agent":"\$CLIENT_USER_AGENT","fbc":"fb.1.1554763741205.AbCdEfGhIjKlMnOpQrStUvWxYz1234567890","fbp":"fb.1.1558571054389.1098115397"},"custom_data":{"currency":"usd","value":123.45,"contents":[{"id":"product123","quantity":1,"delivery_category":"home_delivery"}]},"event_source_url":"http://jaspers-market.com/product/123","action_source":"website"}
EOF
"$CAPI" send --dry-run --now $NOW "$TMP/seed.ndjson" >"$TMP/out" 2>"$TMP/err"; rc=$?
check "seed example accepted" [ $rc -eq 0 ]
check "seed hashes pass through" grep -q '"em":\["309a0a5c3e211326ae75ca18196d301a9bdbd1a882a4d2569511033da23f0abd"\]' "$TMP/out"

# Unknown keys: rejected unless passed through.
echo "{\"event_name\":\"Lead\",\"event_time\":$T,\"action_source\":\"email\",\"user_data\":{\"em\":\"a@example.com\"},\"brand_new_field\":1}" > "$TMP/unk.ndjson"
"$CAPI" send --dry-run --now $NOW "$TMP/unk.ndjson" >/dev/null 2>"$TMP/err"; rc=$?
check "unknown key rejected" [ $rc -eq 1 ]
check "unknown key named" grep -q "brand_new_field" "$TMP/err"
"$CAPI" send --dry-run --now $NOW --pass-unknown "$TMP/unk.ndjson" >"$TMP/out" 2>/dev/null; rc=$?
check "unknown key passed through" grep -q '"brand_new_field":1' "$TMP/out"

"$CAPI" send "$TMP/seed.ndjson" >/dev/null 2>&1; rc=$?
check "send without --dry-run is refused" [ $rc -eq 2 ]
"$CAPI" send --dry-run /nonexistent/file >/dev/null 2>&1; rc=$?
check "missing file exits 2" [ $rc -eq 2 ]

err=$(CAPI_SHA256_IMPL=bogus "$CAPI" --version 2>&1 >/dev/null); rc=$?
check "bad CAPI_SHA256_IMPL exits 2" [ $rc -eq 2 ]
check "bad CAPI_SHA256_IMPL named" grep -q "CAPI_SHA256_IMPL=bogus" <<<"$err"

# --- capi mock-server -------------------------------------------------------
printf 'file-token' > "$TMP/token"
timeout 60 "$CAPI" mock-server --cert-out "$TMP" --token-file "$TMP/token" >"$TMP/mock.out" 2>"$TMP/mock.err" &
mock_pid=$!
url=""
for _ in $(seq 1 100); do  # at most 10 s for the URL line
  url=$(head -n 1 "$TMP/mock.out" 2>/dev/null)
  [ -n "$url" ] && break
  sleep 0.1
done
check "mock-server prints its URL" grep -qE '^https://127\.0\.0\.1:[0-9]+$' <<<"$url"
check "mock-server writes ca.pem" grep -q "BEGIN CERTIFICATE" "$TMP/ca.pem"
if command -v curl >/dev/null 2>&1 && [ -n "$url" ]; then
  NOWREAL=$(date +%s)
  data="[{\"event_name\":\"Purchase\",\"event_time\":$((NOWREAL - 3600)),\"user_data\":{\"em\":[\"309a0a5c3e211326ae75ca18196d301a9bdbd1a882a4d2569511033da23f0abd\"],\"client_ip_address\":\"123.123.123.123\",\"client_user_agent\":\"ua\"},\"custom_data\":{\"currency\":\"usd\",\"value\":123.45},\"event_source_url\":\"http://jaspers-market.com/product/123\",\"action_source\":\"website\"}]"
  reply=$(curl -sS --max-time 10 --cacert "$TMP/ca.pem" -F "data=$data" -F "access_token=<$TMP/token" "$url/v24.0/123/events")
  check "curl -F example accepted by the mock" grep -q '"events_received":1' <<<"$reply"
  reply=$(curl -sS --max-time 10 --cacert "$TMP/ca.pem" -F "data=$data" -F "access_token=wrong" "$url/v24.0/123/events")
  check "wrong token refused with code 190" grep -q '"code":190' <<<"$reply"
fi
kill -TERM $mock_pid 2>/dev/null
wait $mock_pid; rc=$?
check "mock-server stops cleanly on SIGTERM" [ $rc -eq 0 ]

echo "$((checks - fails)) checks passed, $fails failed"
[ $fails -eq 0 ]
