#!/usr/bin/env bash
# End-to-end tests of the `capi` program: normalize, send --dry-run, mock-server,
# and real sends to `capi mock-server` over TLS on 127.0.0.1. Every background
# process runs under `timeout` and is killed by the EXIT trap.
# Usage: cli_test.sh PATH_TO_CAPI
set -uo pipefail
CAPI=$1
source "$(dirname "${BASH_SOURCE[0]}")/support/shell.sh"  # TMP, bg_pids, cleanup, check, first_line
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

# A value hashed as given that Meta will not match: a warning; --strict fails.
err=$("$CAPI" normalize db 31/01/1990 2>&1 >/dev/null); rc=$?
check "db not YYYYMMDD: exit 0" [ $rc -eq 0 ]
check "db not YYYYMMDD: a warning" grep -q "^db: warning: not a date in YYYYMMDD" <<<"$err"
"$CAPI" normalize --strict db 31/01/1990 >/dev/null 2>&1; rc=$?
check "db not YYYYMMDD with --strict: exit 1" [ $rc -eq 1 ]
"$CAPI" normalize --strict db 19900131 >/dev/null 2>&1; rc=$?
check "db in YYYYMMDD with --strict: exit 0" [ $rc -eq 0 ]
out=$("$CAPI" normalize --help); rc=$?
check "normalize --help exits 0" [ $rc -eq 0 ]
check "normalize --help lists --strict" grep -q -- "--strict" <<<"$out"
# --enhanced (opt-in): into the form Meta matches; the default stays as it was.
enh() {  # enh EXPECTED ARGS...: normalize ARGS prints EXPECTED<TAB>sha
  local want=$1; shift
  local got; got=$("$CAPI" normalize "$@" 2>/dev/null)
  check "normalize $* -> $want" [ "$got" = "$want	$(sha "$want")" ]
}
enh ca --enhanced st California
enh california st California
enh us --enhanced country "United States"
enh gb --enhanced country UK
enh f --enhanced ge Woman
enh 447911123456 --phone-country GB ph "07911 123456"
enh 447911123456 --phone-country US ph "+44 7911 123456"
enh 16505551212 --enhanced --country US ph "(650) 555-1212"
enh 94025 --enhanced --country US zp 940251234
enh 19900131 --enhanced db "January 31, 1990"
enh 19900302 --date-order dmy db 02/03/1990
enh 19900203 --date-order mdy db 02/03/1990
err=$("$CAPI" normalize --enhanced db 02/03/1990 2>&1 >/dev/null); rc=$?
check "enhanced db 02/03/1990 without an order: exit 1" [ $rc -eq 1 ]
check "enhanced db 02/03/1990 without an order: ambiguous" grep -q "^db: rejected: .*ambiguous" <<<"$err"
err=$("$CAPI" normalize --enhanced country Congo 2>&1 >/dev/null); rc=$?
check "enhanced country Congo: rejected as ambiguous" grep -q "^country: rejected: ambiguous country name" <<<"$err"
err=$("$CAPI" normalize --country US st California 2>&1 >/dev/null); rc=$?
check "st California for a US address without --enhanced: a warning" grep -q "^st: warning: a US or Canadian state" <<<"$err"
"$CAPI" normalize --phone-country XX ph 1 >/dev/null 2>"$TMP/pc.err"; rc=$?
check "normalize --phone-country XX: exit 2" [ $rc -eq 2 ]
check "normalize --phone-country XX: names the option" grep -q -- "--phone-country: 'XX' is not an ISO 3166-1 alpha-2" "$TMP/pc.err"
out=$("$CAPI" normalize -- ph "-44 20 7183 8750"); rc=$?
check "normalize -- ph VALUE starting with -" [ "$out" = "442071838750	$(sha 442071838750)" ]

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

"$CAPI" send --dry-run /nonexistent/file >/dev/null 2>&1; rc=$?
check "missing file exits 2" [ $rc -eq 2 ]

err=$(CAPI_SHA256_IMPL=bogus "$CAPI" --version 2>&1 >/dev/null); rc=$?
check "bad CAPI_SHA256_IMPL exits 2" [ $rc -eq 2 ]
check "bad CAPI_SHA256_IMPL named" grep -q "CAPI_SHA256_IMPL=bogus" <<<"$err"

# --dry-run writes the rejects file a send would; --failed does not apply.
"$CAPI" send --dry-run --now=$NOW --rejects "$TMP/dry-rejects.tsv" "$TMP/in.ndjson" >/dev/null 2>"$TMP/err"; rc=$?
check "dry run with --rejects exits 1" [ $rc -eq 1 ]
check "dry run writes --rejects: 2 lines" [ "$(wc -l <"$TMP/dry-rejects.tsv" 2>/dev/null)" = 2 ]
check "dry run --rejects: line 4's field" grep -q "^4	event_time	" "$TMP/dry-rejects.tsv"
check "dry run with --rejects: summary points to it" grep -q "accepted 3, rejected 2 (see $TMP/dry-rejects.tsv)" "$TMP/err"
err=$("$CAPI" send --dry-run --failed "$TMP/f.tsv" "$TMP/in.ndjson" 2>&1 >/dev/null); rc=$?
check "dry run with --failed: exit 2" [ $rc -eq 2 ]
check "dry run with --failed: says why" grep -q -- "--failed applies to sending only" <<<"$err"
# A UTF-8 byte-order mark (Windows, spreadsheets) is not part of line 1.
printf '\xef\xbb\xbf' > "$TMP/bom.ndjson"
head -n 1 "$TMP/in.ndjson" >> "$TMP/bom.ndjson"
err=$("$CAPI" send --dry-run --now $NOW "$TMP/bom.ndjson" 2>&1 >/dev/null); rc=$?
[ $rc -eq 0 ] && grep -q "^accepted 1, rejected 0$" <<<"$err"
passed "a leading BOM is skipped"
# Paths that are not files: one line, exit 2, never a summary or an abort.
mkdir -p "$TMP/a-dir"
err=$(CAPI_ACCESS_TOKEN=t timeout 20 "$CAPI" send --pixel 1 "$TMP/a-dir" 2>&1); rc=$?
check "send DIR: exit 2" [ $rc -eq 2 ]
[ "$(wc -l <<<"$err")" -eq 1 ] && grep -q "is a directory" <<<"$err"
passed "send DIR: one line, no summary"
err=$(timeout 20 "$CAPI" send --pixel 1 --token-file "$TMP/a-dir" "$TMP/in.ndjson" 2>&1); rc=$?
[ $rc -eq 2 ] && grep -q "^capi send: --token-file: cannot read the file it names" <<<"$err"
passed "send --token-file DIR: exit 2, no abort"
err=$(timeout 20 "$CAPI" send --pixel 1 --token-file "tok-secret-$$" "$TMP/in.ndjson" 2>&1); rc=$?
check "send --token-file TOKEN: exit 2" [ $rc -eq 2 ]
check "send --token-file TOKEN: never echoed" bash -c '! grep -q "tok-secret" <<<"$1"' _ "$err"
err=$(CAPI_ACCESS_TOKEN=t timeout 20 "$CAPI" send --pixel 1 --endpoint http://127.0.0.1:1 "$TMP/in.ndjson" 2>&1); rc=$?
check "send --endpoint http://: exit 2" [ $rc -eq 2 ]
check "send --endpoint http://: named as the option, no code words appended" \
  bash -c 'grep -q "^capi send: --endpoint: " <<<"$1" && ! grep -q "invalid option" <<<"$1"' _ "$err"
printf '{"event_name":"Purchase","event_time":%s,"action_source":"website","event_source_url":"https://a.example","user_data":{"em":["a@b.co"],"client_user_agent":"ua"},"custom_data":{"currency":"dollars","value":1}}\n' $T > "$TMP/cur.ndjson"
err=$("$CAPI" send --dry-run --now $NOW "$TMP/cur.ndjson" 2>&1 >/dev/null)
check "a bad currency is said once" grep -q "^line 1: custom_data.currency: must be an ISO 4217 currency code$" <<<"$err"
err=$(timeout 20 "$CAPI" send --bogus 2>&1); rc=$?
[ $rc -eq 2 ] && [ "$(wc -l <<<"$err")" -eq 2 ] && grep -q "^capi send: unknown option --bogus" <<<"$err"
passed "send --bogus: exit 2, the error and a pointer to --help"

# --- capi bench: its command line --------------------------------------------
for bad in "--bogus" "--events abc" "--phase nope" "--latency --latencies 0,x" "--latency --burst-code 5" \
           "--latency --rounds 0" \
           "--token=abc" "--client-io nope" "--rounds 0" "--rounds x" "--null-delay-ms x" "--send-threads 0" \
           "--pin --endpoint https://127.0.0.1:1 --pixel 1"; do
  # shellcheck disable=SC2086
  err=$(timeout 20 "$CAPI" bench $bad 2>&1 >/dev/null); rc=$?
  check "bench $bad exits 2" [ $rc -eq 2 ]
  [ "$(wc -l <<<"$err")" -eq 2 ] && grep -q "^Run 'capi bench.* --help'" <<<"$err"
  passed "bench $bad: two lines, the second points to --help"
done
# The latency benchmark in rounds: each run checked (every event delivered, the
# mock's count), then each latency's median and the goal read off the median.
out=$(timeout 120 "$CAPI" bench --latency --events 2000 --latencies 0,200 --rounds 2 --scenario sweep 2>&1); rc=$?
check "bench --latency --rounds 2: exit 0, four runs checked" \
  [ "$rc|$(grep -cE '^ +[12] +(0|200) ms .* OK$' <<<"$out")" = "0|4" ]
check "bench --latency --rounds 2: each latency's median, the goal read off the median" \
  bash -c 'grep -q "^median of 2 rounds" <<<"$1" && [ "$(grep -cE "^ +(0|200) ms +[0-9]+ +[0-9.]+x .*2nd half" <<<"$1")" -eq 2 ] &&
           grep -qE "^goal: throughput at 200 ms >= 0.8x the 0 ms run: [0-9.]+x over the whole run \(median of 2 rounds, [0-9.]+-[0-9.]+x; met in [0-2] of them\)" <<<"$1"' _ "$out"
out=$(timeout 120 "$CAPI" bench --events=2000 --phase=pipeline 2>&1); rc=$?
check "bench --events=2000 --phase=pipeline runs" [ $rc -eq 0 ]
check "bench pipeline phases (enqueue, async_send) count every event" \
  [ "$(grep -c "null transport counted 2000 = delivered 2000: OK" <<<"$out")" -eq 2 ]
check "bench: phase 4 sends through the null transport from coroutines" \
  grep -q "^phase 4: the pipeline alone: co_await async_send() from 1000 coroutines" <<<"$out"
check "bench: the warm-up (as many as --events) is reported apart" \
  grep -q "warm-up *: *[0-9.]* us/event of client CPU for the 2000 events sent first" <<<"$out"
out=$(timeout 120 "$CAPI" bench --events=1500 --warmup=0 --phase=pipeline 2>&1); rc=$?
[ $rc -eq 0 ] && [ "$(grep -c "null transport counted 1500 = delivered 1500: OK" <<<"$out")" -eq 2 ] && \
  ! grep -q "warm-up" <<<"$out"
passed "bench --warmup=0 runs, counts every event and prints no warm-up"
# 1000 events: one body per phase, each answered 50 ms after it was posted, so
# each phase takes at least that long (a timer never fires early).
out=$(timeout 120 "$CAPI" bench --events=1000 --warmup=0 --phase=pipeline --null-delay-ms 50 2>&1); rc=$?
[ $rc -eq 0 ] && [ "$(grep -c "null transport counted 1000 = delivered 1000: OK" <<<"$out")" -eq 2 ]
passed "bench --null-delay-ms 50: both pipeline phases count every event"
check "bench --null-delay-ms 50: each pipeline phase waited for its delayed answer" \
  [ "$(grep -o "(1000 events in [0-9.]* s)" <<<"$out" | awk '$4 >= 0.05' | wc -l)" -eq 2 ]
check "bench --null-delay-ms 50: both pipeline phases' titles name the delay" \
  [ "$(grep -c "^phase [34]: .*50 ms after each body" <<<"$out")" -eq 2 ]

# Two coroutine threads share an odd count of events: every one is sent once.
out=$(timeout 120 "$CAPI" bench --events=2001 --warmup=999 --phase=all --completion awaitable --send-threads 2 \
  --coroutines 100 --linger-ms 2 2>&1); rc=$?
[ $rc -eq 0 ] && grep -q "^phase 2: .* 100 coroutines on each of 2 io_context threads.*the first also runs the client's I/O" <<<"$out" && \
  grep -q "^phase 4: .* 100 coroutines on each of 2 io_context threads" <<<"$out" && \
  [ "$(grep -c "mock accepted 2001 = delivered 2001: OK" <<<"$out")" -eq 2 ] && \
  [ "$(grep -c "null transport counted 2001 = delivered 2001: OK" <<<"$out")" -eq 2 ]
passed "bench --send-threads 2: phases 2 and 4 on two io_context threads, every event counted"

# --pin: the mock and the client on CPUs of their own (this machine has two or more).
out=$(timeout 120 "$CAPI" bench --pin --events=1000 --warmup=0 --phase=enqueue 2>&1); rc=$?
[ $rc -eq 0 ] && grep -q "^pinned (--pin): the mock on CPU [0-9,-]*, the client and the floors on CPU [0-9,-]*$" <<<"$out" && \
  grep -q "mock accepted 1000 = delivered 1000: OK" <<<"$out"
passed "bench --pin: the mock and the client apart, every event accepted by the mock"
out=$(taskset -c 0 timeout 30 "$CAPI" bench --pin --events=1000 2>&1); rc=$?
[ $rc -eq 2 ] && grep -q "^capi bench: --pin needs at least 2 CPUs; this process may use 1$" <<<"$out"
passed "bench --pin on one CPU: refused, saying why"

out=$(timeout 120 "$CAPI" bench --events=2000 --phase=send --client-io own 2>&1); rc=$?
[ $rc -eq 0 ] && grep -q "^phase 2: .*the client's I/O runs on its own thread" <<<"$out" && \
  grep -q "mock accepted 2000 = delivered 2000: OK" <<<"$out"
passed "bench --phase=send --client-io own: the client's I/O on its own thread, every event accepted by the mock"
grep -q "^phase 2: co_await async_send(ev, as_tuple(use_awaitable))" <<<"$out" && \
  grep -q "^phase 2b: co_await async_send(ev, deferred)" <<<"$out" && \
  [ "$(grep -c "mock accepted 2000 = delivered 2000: OK" <<<"$out")" -eq 2 ]
passed "bench --phase=send times both tokens apart: use_awaitable (phase 2), deferred (phase 2b), each counted"
out=$(timeout 120 "$CAPI" bench --events=1000 --phase=send --completion deferred 2>&1); rc=$?
[ $rc -eq 0 ] && grep -q "^phase 2: co_await async_send(ev, deferred)" <<<"$out" && \
  ! grep -q "use_awaitable" <<<"$out" && grep -q "mock accepted 1000 = delivered 1000: OK" <<<"$out"
passed "bench --completion deferred: phase 2 with deferred alone, every event accepted by the mock"
out=$(timeout 120 "$CAPI" bench --events=1000 --phase=enqueue --rounds 2 2>&1); rc=$?
[ $rc -eq 0 ] && [ "$(grep -c "^=== round [12] of 2$" <<<"$out")" -eq 2 ] && \
  [ "$(grep -c "mock accepted 1000 = delivered 1000: OK" <<<"$out")" -eq 2 ] && \
  grep -q "^  enqueue  : median of 2 rounds: .* both floors (.*x by round): \(met\|not met\)$" <<<"$out"
passed "bench --rounds 2: phase 1 twice, each counted, then its median against both floors"
out=$(timeout 30 "$CAPI" bench --completion later 2>&1); rc=$?
[ $rc -eq 2 ] && grep -q -- "--completion" <<<"$out"
passed "bench --completion later: a usage error naming the option"

# --- capi mock-server -------------------------------------------------------
TOKEN="tok-$RANDOM$RANDOM-do-not-print"
printf "%s" "$TOKEN" > "$TMP/token"
chmod 600 "$TMP/token"

# Its command line: one error line, a pointer to --help, exit 2; never an abort.
mkdir -p "$TMP/a-directory"
: > "$TMP/empty-file"
for bad in "--token-file $TMP/a-directory" "--app-secret-file $TMP/a-directory" \
           "--token-file $TMP/empty-file" "--cert-out $TMP/empty-file" "--port 70000" "--bogus" \
           "--threads 0" "--throttle-code 5" "--token=abc"; do
  # shellcheck disable=SC2086  # the option and its value are two words
  err=$(timeout 20 "$CAPI" mock-server $bad 2>&1 >/dev/null); rc=$?
  check "mock-server $bad exits 2" [ $rc -eq 2 ]
  [ "$(wc -l <<<"$err")" -eq 2 ] && grep -q "^Run 'capi mock-server --help'" <<<"$err"
  passed "mock-server $bad: two lines, the second points to --help"
done
err=$(timeout 20 "$CAPI" mock-server --token-file "$TOKEN" 2>&1 >/dev/null); rc=$?
check "mock-server --token-file TOKEN exits 2" [ $rc -eq 2 ]
check "mock-server --token-file TOKEN never echoes it" bash -c '! grep -qF -- "$1" <<<"$2"' _ "$TOKEN" "$err"
check "mock-server --token-file TOKEN asks whether the token itself was passed" grep -q "secret itself" <<<"$err"
out=$(timeout 20 "$CAPI" mock-server --help); rc=$?
check "mock-server --help exits 0" [ $rc -eq 0 ]
check "mock-server --help lists --latency-ms" grep -q -- "--latency-ms" <<<"$out"
timeout 120 "$CAPI" mock-server --cert-out="$TMP" --token-file "$TMP/token" >"$TMP/mock.out" 2>"$TMP/mock.err" &
mock_pid=$!
bg_pids+=("$mock_pid")
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
  grep -q '"events_received":1' <<<"$reply" && curl_ok=1
  reply=$(curl -sS --max-time 10 --cacert "$TMP/ca.pem" -F "data=$data" -F "access_token=wrong" "$url/v24.0/123/events")
  check "wrong token refused with code 190" grep -q '"code":190' <<<"$reply"
fi

# --- capi send to the mock ----------------------------------------------------
# Summary rows are "  NAME  NUMBER ..."; val NAME FILE prints NUMBER.
val() { awk -v k="$1" '$1 == k { print $2; exit }' "$2"; }
delivered_total=0
[ "${curl_ok:-0}" -eq 1 ] && delivered_total=1
NOWREAL=$(date +%s)
T2=$((NOWREAL - 3600))
OLD2=$((NOWREAL - 8 * 24 * 3600))
M=(--endpoint "$url" --ca "$TMP/ca.pem" --pixel 1234567890)
good() {  # good ID: one valid event
  echo "{\"event_name\":\"Lead\",\"event_time\":$T2,\"event_id\":\"$1\",\"action_source\":\"email\",\"user_data\":{\"em\":\"$1@example.com\"}}"
}
{
  good g1
  echo '{"event_name":"Purchase", not json'
  echo
  echo "{\"event_name\":\"Lead\",\"event_time\":$OLD2,\"action_source\":\"email\",\"user_data\":{\"em\":\"old@example.com\"}}"
  echo "{\"event_name\":\"Lead\",\"event_time\":$T2,\"event_id\":\"g2\",\"action_source\":\"email\",\"user_data\":{\"em\":\"bad-email\",\"ph\":\"+1 650 555 1212\"}}"
  echo "{\"event_name\":\"Lead\",\"event_time\":$T2,\"event_id\":\"u1\",\"action_source\":\"email\",\"user_data\":{\"em\":\"u@example.com\"},\"brand_new_field\":1}"
  good g3
} > "$TMP/mixed.ndjson"

# --strict: a send whose customer information was dropped or will not match
# fails (exit 1) although every event was delivered; without it, exit 0.
echo "{\"event_name\":\"Lead\",\"event_time\":$T2,\"event_id\":\"st1\",\"action_source\":\"email\",\"user_data\":{\"em\":\"not-an-email\",\"ph\":\"+1 650 555 1212\",\"db\":\"1990-01-31\"}}" \
  > "$TMP/strict.ndjson"
CAPI_ACCESS_TOKEN="$TOKEN" timeout 60 "$CAPI" send "${M[@]}" "$TMP/strict.ndjson" >"$TMP/st.out" 2>"$TMP/st.err"; rc=$?
check "send with a dropped email and an unmatchable db: exit 0 without --strict" [ $rc -eq 0 ]
check "send: the unmatchable db is warned about" grep -q "^line 1: warning: user_data.db\[0\]: not a date in YYYYMMDD" "$TMP/st.err"
check "send summary: the match-quality report (db unmatchable 1)" grep -qE "^    db +unmatchable 1$" "$TMP/st.out"
check "send summary: the match-quality report (em dropped 1)" grep -qE "^    em +dropped 1$" "$TMP/st.out"

# --enhanced: the same kind of event, names and dates converted into Meta's form
# and delivered; the summary counts them converted, nothing will-not-match.
echo "{\"event_name\":\"Lead\",\"event_time\":$T2,\"event_id\":\"en1\",\"action_source\":\"email\",\"user_data\":{\"em\":\"en@example.com\",\"ph\":\"(650) 555-1212\",\"db\":\"1990-01-31\",\"st\":\"California\",\"country\":\"United States\",\"zp\":\"94025-1234\",\"ge\":\"Woman\"}}" \
  > "$TMP/enh.ndjson"
CAPI_ACCESS_TOKEN="$TOKEN" timeout 60 "$CAPI" send "${M[@]}" "$TMP/enh.ndjson" >"$TMP/en0.out" 2>"$TMP/en0.err"; rc=$?
check "send without --enhanced: exit 0" [ $rc -eq 0 ]
check "send without --enhanced: country name dropped" grep -qE "^    country +dropped 1$" "$TMP/en0.out"
check "send without --enhanced: db will not match" grep -qE "^    db +unmatchable 1$" "$TMP/en0.out"
CAPI_ACCESS_TOKEN="$TOKEN" timeout 60 "$CAPI" send "${M[@]}" --enhanced --strict "$TMP/enh.ndjson" >"$TMP/en1.out" 2>"$TMP/en1.err"; rc=$?
check "send --enhanced --strict: exit 0 (everything converted)" [ $rc -eq 0 ]
for f in ph db st country ge; do
  check "send --enhanced: $f converted 1" grep -qE "^    $f +converted 1$" "$TMP/en1.out"
done
check "send --enhanced: zp as given (ZIP+4 cut by the default rule)" grep -qE "^    zp +as_given 1$" "$TMP/en1.out"
check "send --enhanced: no pii_unmatchable row" [ -z "$(val pii_unmatchable "$TMP/en1.out")" ]
delivered_total=$((delivered_total + 2))
err=$("$CAPI" send --dry-run --enhanced "$TMP/enh.ndjson" 2>&1 >/dev/null); rc=$?
check "dry run --enhanced: exit 0" [ $rc -eq 0 ]
check "dry run --enhanced: the report on stderr" grep -qE "^  st +converted 1$" <<<"$err"
"$CAPI" send --dry-run --date-order xyz "$TMP/enh.ndjson" >/dev/null 2>"$TMP/en2.err"; rc=$?
check "send --date-order xyz: exit 2" [ $rc -eq 2 ]
check "send --date-order xyz: names the option" grep -q -- "--date-order" "$TMP/en2.err"
check "send summary: pii_unmatchable 1" [ "$(val pii_unmatchable "$TMP/st.out")" = 1 ]
CAPI_ACCESS_TOKEN="$TOKEN" timeout 60 "$CAPI" send "${M[@]}" --strict "$TMP/strict.ndjson" >/dev/null 2>&1; rc=$?
check "send --strict with a dropped email and an unmatchable db: exit 1" [ $rc -eq 1 ]
delivered_total=$((delivered_total + 2))
"$CAPI" send --dry-run --strict "$TMP/strict.ndjson" >/dev/null 2>&1; rc=$?
check "dry run --strict: exit 1" [ $rc -eq 1 ]

# Token from the environment; the unknown key passes the client (--pass-unknown)
# and the mock refuses its batch with code 100: the client splits the batch and
# only that event fails.
CAPI_ACCESS_TOKEN="$TOKEN" timeout 60 "$CAPI" send "${M[@]}" --pass-unknown --rejects "$TMP/rej.tsv" \
  --failed "$TMP/fail.tsv" "$TMP/mixed.ndjson" >"$TMP/s1.out" 2>"$TMP/s1.err"; rc=$?
check "mixed send exits 1" [ $rc -eq 1 ]
check "mixed: 6 lines" grep -q "^capi send: 6 lines from $TMP/mixed.ndjson" "$TMP/s1.out"
check "mixed: accepted 4" [ "$(val accepted "$TMP/s1.out")" = 4 ]
check "mixed: delivered 3" [ "$(val delivered "$TMP/s1.out")" = 3 ]
check "mixed: rejected 2" [ "$(val rejected "$TMP/s1.out")" = 2 ]
check "mixed: failed 1" [ "$(val failed "$TMP/s1.out")" = 1 ]
check "mixed: expired 0" [ "$(val expired "$TMP/s1.out")" = 0 ]
check "mixed: throughput and elapsed rows" grep -qE '^  elapsed +[0-9]+\.[0-9]{3}  s$' "$TMP/s1.out"
delivered_total=$((delivered_total + 3))
# The failure table: count, code, subcode, fbtrace_id, message.
frow=$(awk '$1 == 1 && $2 == 100' "$TMP/s1.out")
trace=$(awk '{ print $4 }' <<<"$frow")
check "code 100 row with an fbtrace_id" grep -qE '^[A-Za-z0-9_-]{8,}$' <<<"$trace"
check "code 100 row has Meta's message" grep -q 'Unexpected key "brand_new_field"' <<<"$frow"
check "rejects file: lines 2 and 4" [ "$(cut -f1 "$TMP/rej.tsv" | tr '\n' ' ')" = "2 4 " ]
check "rejects file: field path" [ "$(awk -F'\t' '$1 == 4 { print $2 }' "$TMP/rej.tsv")" = "event_time" ]
check "rejects file: reason" grep -qP '^4\tevent_time\t.*7 days' "$TMP/rej.tsv"
check "rejects file: original line" [ "$(awk -F'\t' '$1 == 4 { print $4 }' "$TMP/rej.tsv")" = "$(sed -n 4p "$TMP/mixed.ndjson")" ]
check "rejects file: bad JSON has no field" grep -qP '^2\t-\tinvalid JSON' "$TMP/rej.tsv"
check "failed file: line 6, code 100 and the trace" \
  [ "$(cut -f1-5 "$TMP/fail.tsv")" = "$(printf '6\tfailed\t100\t0\t%s' "$trace")" ]
check "failed file: original line" [ "$(cut -f7 "$TMP/fail.tsv")" = "$(sed -n 6p "$TMP/mixed.ndjson")" ]
check "no progress bar when stderr is not a terminal" [ -z "$(tr -d '\n' <"$TMP/s1.err" | tr -cd '\r\033')" ]
check "dropped PII value reported on stderr" [ "$(cat "$TMP/s1.err")" = "line 5: value dropped: user_data.em[0]: email must contain exactly one '@'" ]
check "dropped PII value counted" [ "$(val pii_dropped "$TMP/s1.out")" = 1 ]

# An invalid PII value under --reject-invalid-pii: found by the client's encoder,
# still reported as a rejected line with its field.
sed -n 5p "$TMP/mixed.ndjson" > "$TMP/pii.ndjson"
good p1 >> "$TMP/pii.ndjson"
CAPI_ACCESS_TOKEN="$TOKEN" timeout 60 "$CAPI" send "${M[@]}" --reject-invalid-pii --rejects "$TMP/rej2.tsv" \
  "$TMP/pii.ndjson" >"$TMP/s10.out" 2>&1; rc=$?
check "invalid PII rejected: exit 1" [ $rc -eq 1 ]
check "invalid PII rejected: counts" [ "$(val delivered "$TMP/s10.out")/$(val rejected "$TMP/s10.out")" = "1/1" ]
check "invalid PII rejected: field in the rejects file" grep -qP '^1\tuser_data\.em\[0\]\t' "$TMP/rej2.tsv"
delivered_total=$((delivered_total + 1))

# 2500 events from stdin, token from a file, batches of 300: all delivered.
for i in $(seq 1 2500); do good "m$i"; done > "$TMP/many2.ndjson"
env -u CAPI_ACCESS_TOKEN timeout 60 "$CAPI" send "${M[@]}" --token-file "$TMP/token" --max-batch 300 - \
  <"$TMP/many2.ndjson" >"$TMP/s2.out" 2>"$TMP/s2.err"; rc=$?
check "2500 to the mock exits 0" [ $rc -eq 0 ]
check "2500: from stdin" grep -q "^capi send: 2500 lines from stdin" "$TMP/s2.out"
check "2500: accepted 2500" [ "$(val accepted "$TMP/s2.out")" = 2500 ]
check "2500: delivered 2500" [ "$(val delivered "$TMP/s2.out")" = 2500 ]
check "2500: rejected 0, failed 0" [ "$(val rejected "$TMP/s2.out")/$(val failed "$TMP/s2.out")" = "0/0" ]
check "2500: throughput > 0" [ "$(val throughput "$TMP/s2.out")" -gt 0 ]
check "2500: nothing on stderr" [ ! -s "$TMP/s2.err" ]
delivered_total=$((delivered_total + 2500))

# A wrong token: every event fails with Graph code 190 and Meta's fbtrace_id.
{ good w1; good w2; good w3; } > "$TMP/three.ndjson"
CAPI_ACCESS_TOKEN="wrong-$TOKEN" timeout 60 "$CAPI" send "${M[@]}" "$TMP/three.ndjson" >"$TMP/s3.out" 2>"$TMP/s3.err"; rc=$?
check "wrong token exits 1" [ $rc -eq 1 ]
check "wrong token: failed 3" [ "$(val failed "$TMP/s3.out")" = 3 ]
check "wrong token: code 190 row with fbtrace_id" grep -qE '^ +3 +190 +0 +[A-Za-z0-9_-]{8,}  .*access token' "$TMP/s3.out"

# Progress bar on a terminal: script(1) runs the send on a pseudo-terminal and
# records it in bar.err; the feeder stalls 0.6 s so the bar is drawn a few times.
if command -v script >/dev/null 2>&1; then
  timeout 60 script -qec "(head -n 20 $TMP/many2.ndjson; sleep 0.6) | $CAPI send --endpoint $url --ca $TMP/ca.pem --pixel 1234567890 --token-file $TMP/token -" "$TMP/bar.err" >/dev/null; rc=$?
  check "send on a terminal exits 0" [ $rc -eq 0 ]
  check "progress bar drawn on the terminal" grep -q 'delivered 20 .* ev/s' "$TMP/bar.err"
  bars=$(tr '\r' '\n' <"$TMP/bar.err" | grep -c 'ev/s')
  check "progress bar at most ~10 draws a second" [ "$bars" -ge 2 -a "$bars" -le 12 ]
  delivered_total=$((delivered_total + 20))
fi

# More than 10 rejects without --rejects: 10 shown, the rest counted.
{ for i in $(seq 1 12); do echo "not json $i"; done; good r1; } > "$TMP/rej12.ndjson"
CAPI_ACCESS_TOKEN="$TOKEN" timeout 60 "$CAPI" send "${M[@]}" "$TMP/rej12.ndjson" >"$TMP/s4.out" 2>"$TMP/s4.err"; rc=$?
check "12 rejects exit 1" [ $rc -eq 1 ]
check "12 rejects: 10 shown" [ "$(grep -c '^line [0-9]*: invalid JSON' "$TMP/s4.err")" -eq 10 ]
check "12 rejects: 2 more counted" grep -q "2 more rejected lines not shown" "$TMP/s4.err"
check "12 rejects: the good line delivered" [ "$(val delivered "$TMP/s4.out")/$(val rejected "$TMP/s4.out")" = "1/12" ]
delivered_total=$((delivered_total + 1))

# Ctrl-C: a producer that stalls; SIGINT stops reading, what was read is settled
# and summarized, exit 130.
mkfifo "$TMP/fifo"
(head -n 50 "$TMP/many2.ndjson"; exec sleep 30 2>/dev/null) >"$TMP/fifo" &
feeder=$!
bg_pids+=("$feeder")
CAPI_ACCESS_TOKEN="$TOKEN" timeout 60 "$CAPI" send "${M[@]}" --progress - <"$TMP/fifo" >"$TMP/s5.out" 2>"$TMP/s5.err" &
sender=$!
bg_pids+=("$sender")
for _ in $(seq 1 100); do  # the forced progress bar says when the 50 are delivered (at most 10 s)
  grep -q "delivered 50 " "$TMP/s5.err" && break
  sleep 0.1
done
kill -INT "$sender"
wait "$sender"; rc=$?
kill "$feeder" 2>/dev/null
check "SIGINT exits 130" [ $rc -eq 130 ]
check "SIGINT: says reading stopped" grep -q "interrupted, reading stopped" "$TMP/s5.err"
check "SIGINT: the 50 read are delivered" [ "$(val delivered "$TMP/s5.out")" = 50 ]
check "SIGINT: summary says the input was not read to the end" grep -q "stopped before the end" "$TMP/s5.out"
delivered_total=$((delivered_total + 50))

# TLS verification stays on: the mock's certificate is not in the system store.
CAPI_ACCESS_TOKEN="$TOKEN" timeout 60 "$CAPI" send --endpoint "$url" --pixel 1234567890 "$TMP/three.ndjson" \
  >"$TMP/s6.out" 2>&1; rc=$?
check "untrusted certificate exits 1" [ $rc -eq 1 ]
check "untrusted certificate reported" grep -q "certificate verification failed" "$TMP/s6.out"

# Tokens and secrets never on the command line; the value is never echoed.
"$CAPI" send "${M[@]}" --token "$TOKEN" "$TMP/three.ndjson" >"$TMP/s7.out" 2>&1; rc=$?
check "--token refused with exit 2" [ $rc -eq 2 ]
check "--token refusal says why and what to use" grep -q "process list.*CAPI_ACCESS_TOKEN.*--token-file" "$TMP/s7.out"
"$CAPI" send "${M[@]}" "--access-token=$TOKEN" "$TMP/three.ndjson" >>"$TMP/s7.out" 2>&1; rc=$?
check "--access-token= refused" [ $rc -eq 2 ]
"$CAPI" send "${M[@]}" --app-secret s3cr3t "$TMP/three.ndjson" >>"$TMP/s7.out" 2>&1; rc=$?
check "--app-secret refused" [ $rc -eq 2 ]
check "a refused secret is not echoed" [ -z "$(grep -e "$TOKEN" -e s3cr3t "$TMP/s7.out")" ]

# Configuration errors exit 2 before sending anything.
env -u CAPI_ACCESS_TOKEN "$CAPI" send "${M[@]}" "$TMP/three.ndjson" >/dev/null 2>"$TMP/s8.err"; rc=$?
check "no token exits 2" [ $rc -eq 2 ]
check "no token says where a token comes from" grep -q "CAPI_ACCESS_TOKEN" "$TMP/s8.err"
CAPI_ACCESS_TOKEN="$TOKEN" env -u CAPI_PIXEL_ID "$CAPI" send --endpoint "$url" --ca "$TMP/ca.pem" "$TMP/three.ndjson" >/dev/null 2>&1; rc=$?
check "no pixel exits 2" [ $rc -eq 2 ]
"$CAPI" send "${M[@]}" --token-file /nonexistent/token "$TMP/three.ndjson" >/dev/null 2>&1; rc=$?
check "unreadable token file exits 2" [ $rc -eq 2 ]
CAPI_ACCESS_TOKEN="$TOKEN" "$CAPI" send --endpoint "http://127.0.0.1:1" --pixel 1 "$TMP/three.ndjson" >/dev/null 2>"$TMP/s9.err"; rc=$?
check "plaintext endpoint exits 2" [ $rc -eq 2 ]
check "plaintext endpoint names the option" grep -q "endpoint" "$TMP/s9.err"
CAPI_ACCESS_TOKEN="$TOKEN" "$CAPI" send "${M[@]}" --rejects /nonexistent/dir/rej "$TMP/three.ndjson" >/dev/null 2>&1; rc=$?
check "unwritable --rejects exits 2" [ $rc -eq 2 ]
CAPI_ACCESS_TOKEN="$TOKEN" "$CAPI" send "${M[@]}" --form "$TMP/three.ndjson" >/dev/null 2>&1; rc=$?
check "--form without --dry-run exits 2" [ $rc -eq 2 ]
CAPI_ACCESS_TOKEN="$TOKEN" "$CAPI" send "${M[@]}" /nonexistent/input >/dev/null 2>&1; rc=$?
check "missing input exits 2" [ $rc -eq 2 ]

# What goes on the wire: openssl s_server prints the request it receives (and
# never answers, so the send fails on its 0.5 s deadline).
if command -v openssl >/dev/null 2>&1 &&
   openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=127.0.0.1 \
     -addext subjectAltName=IP:127.0.0.1 -days 1 -keyout "$TMP/wire.key" -out "$TMP/wire.pem" >/dev/null 2>&1; then
  sleep 10 2>/dev/null | timeout 12 openssl s_server -accept 127.0.0.1:0 -cert "$TMP/wire.pem" -key "$TMP/wire.key" \
    -naccept 1 >"$TMP/wire.out" 2>&1 &
  bg_pids+=($!)
  port=""
  for _ in $(seq 1 50); do
    port=$(grep -o 'ACCEPT 127.0.0.1:[0-9]*' "$TMP/wire.out" | sed 's/.*://')
    [ -n "$port" ] && break
    sleep 0.1
  done
  CAPI_APP_SECRET=wire-secret timeout 30 "$CAPI" send --endpoint "https://127.0.0.1:$port" --ca "$TMP/wire.pem" \
    --pixel 42 --token-file "$TMP/token" --api-version v99.0 --test-event-code TEST777 --partner-agent cli-test \
    --max-attempts 1 --request-timeout-ms 500 "$TMP/three.ndjson" >"$TMP/s11.out" 2>&1; rc=$?
  proof=$(printf '%s' "$TOKEN" | openssl dgst -sha256 -hmac wire-secret | sed 's/.* //')
  check "wire: no answer, exit 1" [ $rc -eq 1 ]
  check "wire: path with --api-version and --pixel, appsecret_proof in the query" \
    grep -q "^POST /v99.0/42/events?appsecret_proof=$proof HTTP/1.1" "$TMP/wire.out"
  check "wire: test_event_code and partner_agent in the body" grep -q '"test_event_code":"TEST777","partner_agent":"cli-test"' "$TMP/wire.out"
  check "wire: the token appears once on the wire" [ "$(grep -c -F "$TOKEN" "$TMP/wire.out")" -eq 1 ]
  check "wire: the token travels in the body" grep -q "\"access_token\":\"$TOKEN\"}" "$TMP/wire.out"
  check "wire: three events in one request" [ "$(grep -o '"event_name"' "$TMP/wire.out" | wc -l)" -eq 3 ]

  # Interrupted with events on the wire to a server that never answers: they get
  # 5 s, then fail as "client shut down", each in the --failed file. A second
  # signal within 0.5 s (as `timeout` sends one) is the same ^C; a later one
  # ends the process at once.
  sleep 20 2>/dev/null | timeout 22 openssl s_server -accept 127.0.0.1:0 -cert "$TMP/wire.pem" -key "$TMP/wire.key" \
    -naccept 2 >"$TMP/hang.out" 2>&1 &
  bg_pids+=($!)
  port=""
  for _ in $(seq 1 50); do
    port=$(grep -o 'ACCEPT 127.0.0.1:[0-9]*' "$TMP/hang.out" | sed 's/.*://')
    [ -n "$port" ] && break
    sleep 0.1
  done
  H=(--endpoint "https://127.0.0.1:$port" --ca "$TMP/wire.pem" --pixel 42 --token-file "$TMP/token" --progress)
  for attempt in once twice; do
    rm -f "$TMP/fifo2"; mkfifo "$TMP/fifo2"
    (cat "$TMP/three.ndjson"; exec sleep 30 2>/dev/null) >"$TMP/fifo2" &
    feeder=$!
    bg_pids+=("$feeder")
    "$CAPI" send "${H[@]}" --failed "$TMP/hang.tsv" - <"$TMP/fifo2" >"$TMP/h-$attempt.out" 2>"$TMP/h-$attempt.err" &
    sender=$!
    bg_pids+=("$sender")
    for _ in $(seq 1 100); do
      grep -q "sent 3 " "$TMP/h-$attempt.err" && break
      sleep 0.1
    done
    started=$(date +%s%N)
    kill -INT "$sender"
    sleep 0.1
    kill -INT "$sender"  # the same ^C, twice
    if [ $attempt = twice ]; then sleep 0.7; kill -INT "$sender"; fi
    wait "$sender"; rc=$?
    took=$(( ($(date +%s%N) - started) / 1000000 ))
    kill "$feeder" 2>/dev/null
    check "interrupt ($attempt): exit 130" [ $rc -eq 130 ]
    if [ $attempt = once ]; then
      check "interrupt: 5 s for the events in flight, then done" [ $took -ge 4500 -a $took -lt 9000 ]
      check "interrupt: the 3 events fail as shut down" grep -qE '^ +3 +- +- +- +client shut down' "$TMP/h-once.out"
      check "interrupt: each in the --failed file" [ "$(cut -f1,2,6 "$TMP/hang.tsv" | sort | tr '\t\n' '  ')" = \
        "1 failed client shut down 2 failed client shut down 3 failed client shut down " ]
    else
      check "second interrupt: ends at once" [ $took -lt 3000 ]
      check "second interrupt: no summary" [ ! -s "$TMP/h-twice.out" ]
    fi
  done
fi

check "the token never appears in any output" \
  [ -z "$(cat "$TMP"/s*.out "$TMP"/s*.err "$TMP"/*.tsv "$TMP/bar.err" 2>/dev/null | grep -F -e "$TOKEN")" ]

kill -TERM $mock_pid 2>/dev/null
wait $mock_pid; rc=$?
check "mock-server stops cleanly on SIGTERM" [ $rc -eq 0 ]
check "the mock accepted exactly the events capi send reported delivered" \
  grep -q " $delivered_total events accepted" "$TMP/mock.err"

# appsecret_proof: a mock that requires it, the secret from the environment or a file.
printf "app-s3cret\n" > "$TMP/secret"
mkdir -p "$TMP/m2"
timeout 60 "$CAPI" mock-server --cert-out "$TMP/m2" --token-file "$TMP/token" --app-secret-file "$TMP/secret" \
  >"$TMP/mock2.out" 2>"$TMP/mock2.err" &
mock2=$!
bg_pids+=("$mock2")
url2=""
for _ in $(seq 1 100); do
  url2=$(head -n 1 "$TMP/mock2.out" 2>/dev/null)
  [ -n "$url2" ] && break
  sleep 0.1
done
M2=(--endpoint "$url2" --ca "$TMP/m2/ca.pem" --pixel 1234567890 --token-file "$TMP/token")
CAPI_APP_SECRET=app-s3cret timeout 60 "$CAPI" send "${M2[@]}" "$TMP/three.ndjson" >"$TMP/a1.out" 2>&1; rc=$?
check "app secret from the environment: delivered" [ "$rc/$(val delivered "$TMP/a1.out")" = "0/3" ]
timeout 60 "$CAPI" send "${M2[@]}" --app-secret-file "$TMP/secret" "$TMP/three.ndjson" >"$TMP/a2.out" 2>&1; rc=$?
check "app secret from a file: delivered" [ "$rc/$(val delivered "$TMP/a2.out")" = "0/3" ]
env -u CAPI_APP_SECRET timeout 60 "$CAPI" send "${M2[@]}" "$TMP/three.ndjson" >"$TMP/a3.out" 2>&1; rc=$?
check "no app secret: refused by the mock, exit 1" [ "$rc/$(val failed "$TMP/a3.out")" = "1/3" ]
check "app secret never printed" [ -z "$(grep -h app-s3cret "$TMP"/a*.out)" ]
kill -TERM "$mock2" 2>/dev/null
wait "$mock2"

echo "$((checks - fails)) checks passed, $fails failed"
[ $fails -eq 0 ]
