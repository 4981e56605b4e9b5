#!/usr/bin/env bash
# Peers, side by side: Meta's official Node SDK (facebook-nodejs-business-sdk) and
# capi send the same Purchase events to the same `capi mock-server` (TLS on
# 127.0.0.1), in alternating rounds; prints each one's process CPU per event (the
# caller's event construction included on both sides) and the ratio.
# Not run by CI: it installs what it needs (Debian's nodejs and npm when missing,
# the SDK with npm into the build directory, never into the source tree).
#
#   bench/peers/run.sh [EVENTS [ROUNDS]]     (defaults 50000 and 3)
#   environment: CAPI_BUILD_DIR (default build), PEERS_WARMUP (events each run
#   sends first, not measured; default as many as EVENTS, so both peers are
#   measured in steady state, as bench_e2e --warmup), PEERS_IN_FLIGHT (the SDK's concurrent requests,
#   default 8 = capi's default max_connections), PEERS_SDK_VERSION (default
#   latest).
set -euo pipefail
cd "$(dirname "$0")/../.."
events=${1:-50000}
rounds=${2:-3}
warmup=${PEERS_WARMUP:-$events}
in_flight=${PEERS_IN_FLIGHT:-8}
build=${CAPI_BUILD_DIR:-build}
pixel=1234567890

bash scripts/build.sh tools/capi bench/bench_peer_capi >/dev/null

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "installing Debian's nodejs and npm" >&2
  sudo=; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get install -y nodejs npm >&2
fi
node_dir=$PWD/$build/peers/node
if [ ! -f "$node_dir/node_modules/facebook-nodejs-business-sdk/package.json" ]; then
  echo "installing facebook-nodejs-business-sdk into $node_dir" >&2
  mkdir -p "$node_dir"
  npm install --prefix "$node_dir" --no-save --no-package-lock --no-audit --no-fund \
    "facebook-nodejs-business-sdk@${PEERS_SDK_VERSION:-latest}" >&2
fi

work=$(mktemp -d)
mock_pid=
cleanup() {
  if [ -n "$mock_pid" ]; then kill "$mock_pid" 2>/dev/null || true; wait "$mock_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
export CAPI_ACCESS_TOKEN=peers-mock-token  # the mock's token (a placeholder, not a secret)
export CAPI_PEERS_NOW=$(date +%s)  # both sides' events get the same event_time
"$build/tools/capi" mock-server --cert-out "$work" --events-out "$work/events.ndjson" \
  >"$work/url" 2>"$work/mock.log" &
mock_pid=$!
for _ in $(seq 100); do [ -s "$work/url" ] && break; sleep 0.1; done
url=$(head -n1 "$work/url")
[ -n "$url" ] || { echo "the mock did not start:" >&2; cat "$work/mock.log" >&2; exit 1; }

lines() { if [ -f "$work/events.ndjson" ]; then wc -l <"$work/events.ndjson"; else echo 0; fi; }
echo "Meta's Node SDK and capi, same $events Purchase events (em, ph, fn, ln, IP, user agent, value, currency,"
echo "event_id, event_source_url) a round, to capi mock-server at $url; $warmup warm-up events first each run"
for round in $(seq "$rounds"); do
  before=$(lines)
  NODE_EXTRA_CA_CERTS=$work/ca.pem CAPI_PEERS_NODE_MODULES=$node_dir/node_modules \
    node bench/peers/sdk_peer.js "$url" "$pixel" "$events" "$warmup" "$in_flight" | tee -a "$work/node.jsonl"
  echo "$before $(lines)" >>"$work/node.ranges"
  before=$(lines)
  "$build/bench/bench_peer_capi" "$url" "$work/ca.pem" "$pixel" "$events" "$warmup" | tee -a "$work/capi.jsonl"
  echo "$before $(lines)" >>"$work/capi.ranges"
done

# The best round of each (least CPU: the machine's other load only adds), the
# ratio, and a check that the mock received the same events from both: for every
# event_id, the same hashed em/ph/fn/ln, IP, user agent, value and currency.
python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
def best(name):
    rows = [json.loads(l) for l in open(f"{work}/{name}.jsonl")]
    return min(rows, key=lambda r: r["cpu_us_per_event"]), [r["cpu_us_per_event"] for r in rows]
node, node_all = best("node")
capi, capi_all = best("capi")
lines = open(f"{work}/events.ndjson").read().splitlines()
def events(name):
    lo, hi = map(int, open(f"{work}/{name}.ranges").readline().split())
    out = {}
    for l in lines[lo:hi]:
        e = json.loads(l)
        u, c = e["user_data"], e.get("custom_data", {})
        out[e["event_id"]] = (e["event_name"], e["event_time"], e["event_source_url"], e["action_source"],
                              u["em"], u["ph"], u["fn"], u["ln"], u["client_ip_address"], u["client_user_agent"],
                              float(c["value"]), c["currency"].lower())
    return out
a, b = events("node"), events("capi")
same = a == b
print()
print(f"{node['peer']} ({node['node']}): {node['cpu_us_per_event']:.2f} us process CPU per event "
      f"(rounds: {', '.join(f'{x:.2f}' for x in node_all)}), {node['events_per_second']:.0f} events/s")
print(f"capi: {capi['cpu_us_per_event']:.2f} us process CPU per event "
      f"(rounds: {', '.join(f'{x:.2f}' for x in capi_all)}), {capi['events_per_second']:.0f} events/s")
print(f"  capi's split (its best round): the calling thread {capi['caller_thread_us']:.2f} us (building the event"
      f" {capi['construction_us']:.2f} us, enqueue() the rest: validate, normalize, serialize), the client's threads"
      f" {capi['client_threads_us']:.2f} us (hash, batch, TLS, answers); {capi['page_faults_per_event']:.2f} page faults"
      f" per event")
print(f"  the compute floor of these events (BatchEncoder alone, one thread): {capi['compute_floor_us']:.2f} us;"
      f" 25x less than the Node SDK's best round would be {node['cpu_us_per_event'] / 25:.2f} us")
ratio = node["cpu_us_per_event"] / capi["cpu_us_per_event"]
print(f"ratio: capi uses {ratio:.1f}x less CPU per event than the Node SDK (goal >= 25x: {'met' if ratio >= 25 else 'not met'})")
print(f"check: the mock received the same {len(a)} events from both (hashes, values, URLs): {'OK' if same else 'FAILED'}")
if not same:
    for k in sorted(set(a) | set(b))[:3]:
        if a.get(k) != b.get(k): print("  differs:", k, a.get(k), b.get(k))
    sys.exit(1)
PY
