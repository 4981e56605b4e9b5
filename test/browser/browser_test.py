#!/usr/bin/env python3
"""A real browser against `capi gateway`: headless Chromium loads a page from its
own origin (served here), which fires an image pixel, a sendBeacon POST /tr, a
credentialed fetch to POST /events and the seed's image-only pixel URL at the
gateway on another port of the same host. `capi mock-server --events-out` writes
what Meta would have received; the checks compare it with what the page saw:
Chromium's user agent, the _fbp cookie the gateway set on the first hit, the
page's event ids and the seed's ViewContent properties.

Usage: browser_test.py PATH_TO_CAPI [PATH_TO_CHROMIUM]
Every process runs in its own session and is killed when the test ends; every
wait is bounded. Chromium missing or unable to start is a failure, not a skip
(scripts/test.sh installs it).
"""
import http.server
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

PIXEL = "1234567890"
DEADLINE = time.monotonic() + 100  # the whole test; meson's timeout is 120 s
SEED_QUERY = ("ev=ViewContent&cd[content_type]=product&cd[content_ids]=1234"
              "&cd[value]=0.50&cd[currency]=USD&noscript=1")

failures = []


def check(name, ok, detail=""):
    print(("ok    " if ok else "FAIL  ") + name + ("" if ok else ": " + detail), flush=True)
    if not ok:
        failures.append(name)


def left(cap):
    return max(0.1, min(cap, DEADLINE - time.monotonic()))


class Procs:
    """Children in their own sessions, so a kill reaches their children too
    (Chromium's renderers, `timeout`'s child)."""

    def __init__(self):
        self.procs = []

    def start(self, args, **kw):
        p = subprocess.Popen(args, start_new_session=True, **kw)
        self.procs.append(p)
        return p

    def stop_all(self):
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        end = time.monotonic() + 3
        for p in self.procs:
            try:
                p.wait(timeout=max(0.1, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()


def read_url(proc, what, pattern):
    """The first line of `proc`'s stdout matching `pattern` (both servers print
    their URL at start), bounded in time."""
    found = []

    def reader():
        for line in proc.stdout:
            m = re.search(pattern, line)
            if m:
                found.append(m.group(0))
                return

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    t.join(left(15))
    if not found:
        raise RuntimeError(f"{what} printed no URL within 15 s (exit status {proc.poll()})")
    # Keep draining stdout so the child never blocks on a full pipe.
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
    return found[0]


PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>capi browser test</title></head>
<body><pre id="result">running</pre>
<script>
const gw = "%(gateway)s", pixel = "%(pixel)s", run = "%(run)s";
const ids = {page_view: "pv-" + run, add_to_cart: "atc-" + run, purchase: "order-" + run};
const result = {user_agent: navigator.userAgent, ids: ids, steps: []};
function image(src) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img.naturalWidth + "x" + img.naturalHeight);
    img.onerror = () => reject(new Error("image failed: " + src));
    img.src = src;
  });
}
async function main() {
  // 1. the image pixel: the gateway answers a 1x1 GIF and sets _fbp
  const q = new URLSearchParams({id: pixel, ev: "PageView", eid: ids.page_view, dl: location.href});
  result.steps.push({image: await image(gw + "/tr?" + q)});
  // 2. a beacon: POST /tr with a form body, the browser's own cookies
  const b = new URLSearchParams({id: pixel, ev: "AddToCart", eid: ids.add_to_cart, dl: location.href,
                                 "cd[value]": "12.5", "cd[currency]": "EUR"});
  result.steps.push({beacon: navigator.sendBeacon(gw + "/tr", b)});
  // 3. POST /events from script: CORS with credentials (the JSON content type needs a preflight)
  const r = await fetch(gw + "/events?id=" + pixel, {
    method: "POST", credentials: "include", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({event_name: "Purchase", event_id: ids.purchase, event_source_url: location.href,
                          action_source: "website", custom_data: {value: 49.9, currency: "USD"}})});
  result.steps.push({events_status: r.status, events_body: await r.text()});
  // 4. the seed's image-only pixel URL, as a hand-written <img> would load it
  result.steps.push({seed: await image(gw + "/tr?id=" + pixel + "&%(seed)s")});
  result.cookie = document.cookie;  // _fbp, unless the gateway made it HttpOnly
}
main().catch(e => { result.error = String(e); }).finally(async () => {
  document.getElementById("result").textContent = JSON.stringify(result);
  await fetch("/result", {method: "POST", body: JSON.stringify(result)});
});
</script></body></html>
"""


class PageServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, page):
        self.page = page.encode()
        self.result = None
        self.got_result = threading.Event()
        super().__init__(("127.0.0.1", 0), PageHandler)


class PageHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path != "/page.html":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(self.server.page)))
        self.end_headers()
        self.wfile.write(self.server.page)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(204)
        self.end_headers()
        if self.path == "/result":
            self.server.result = json.loads(body)
            self.server.got_result.set()

    def log_message(self, *args):
        pass


def read_events(path, want, limit):
    """The JSON lines of the mock's --events-out file, once `want` are there."""
    end = time.monotonic() + limit
    events = []
    while time.monotonic() < end:
        try:
            with open(path, encoding="utf-8") as f:
                events = [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            events = []
        if len(events) >= want:
            break
        time.sleep(0.05)
    return events


def main():
    if len(sys.argv) < 2:
        print("usage: browser_test.py PATH_TO_CAPI [PATH_TO_CHROMIUM]")
        return 2
    capi = sys.argv[1]
    chromium = sys.argv[2] if len(sys.argv) > 2 else (shutil.which("chromium") or "/usr/bin/chromium")
    if not os.access(chromium, os.X_OK):
        print(f"FAIL: no Chromium at {chromium}: install Debian's chromium package "
              "(scripts/test.sh does when it is missing)")
        return 1

    tmp = tempfile.mkdtemp(prefix="capi_browser_")
    procs = Procs()
    page_server = None
    try:
        env = dict(os.environ, CAPI_ACCESS_TOKEN="mock-token")
        events_out = os.path.join(tmp, "events.jsonl")
        mock = procs.start(["timeout", "110", capi, "mock-server", "--port", "0", "--cert-out", tmp,
                            "--events-out", events_out], env=env, stdout=subprocess.PIPE, text=True)
        mock_url = read_url(mock, "capi mock-server", r"https://127\.0\.0\.1:\d+")

        # The page's origin first: the gateway allows it by name.
        run = str(int(time.time() * 1000))
        page_server = PageServer("")
        origin = f"http://127.0.0.1:{page_server.server_address[1]}"
        gateway = procs.start(["timeout", "110", capi, "gateway", "--listen", "127.0.0.1:0", "--pixel", PIXEL,
                               "--endpoint", mock_url, "--ca", os.path.join(tmp, "ca.pem"),
                               "--allow-origin", origin], env=env, stdout=subprocess.PIPE, text=True)
        gateway_url = read_url(gateway, "capi gateway", r"http://127\.0\.0\.1:\d+").rstrip("/")
        page_server.page = (PAGE % {"gateway": gateway_url, "pixel": PIXEL, "run": run,
                                    "seed": SEED_QUERY}).encode()
        threading.Thread(target=page_server.serve_forever, daemon=True).start()

        profile = os.path.join(tmp, "profile")
        os.mkdir(profile)
        # --no-sandbox: Chromium refuses to run as root with its sandbox, and
        # containers often lack the namespaces it needs; the page is our own.
        args = [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
                "--disable-extensions", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--password-store=basic", "--user-data-dir=" + profile,
                origin + "/page.html"]
        log = open(os.path.join(tmp, "chromium.log"), "w")
        browser = procs.start(["timeout", "90"] + args, stdout=log, stderr=subprocess.STDOUT)
        # The page's result, or Chromium gone without one (it could not start).
        end = time.monotonic() + left(60)
        while not page_server.got_result.wait(0.2) and time.monotonic() < end:
            if browser.poll() is not None and not page_server.got_result.wait(1):
                break
        if not page_server.got_result.is_set():
            log.close()
            with open(os.path.join(tmp, "chromium.log"), encoding="utf-8", errors="replace") as f:
                tail = f.read()[-3000:]
            print(f"FAIL: Chromium ({chromium}) did not report the page's result "
                  f"(exit status {browser.poll()}, None: still running after 60 s); its output ends:\n{tail}")
            return 1
        result = page_server.result
        print("page:", json.dumps(result))

        check("the page ran every step", "error" not in result, result.get("error", ""))
        steps = {k: v for s in result.get("steps", []) for k, v in s.items()}
        check("image pixel answered a 1x1 image", steps.get("image") == "1x1", str(steps.get("image")))
        check("sendBeacon queued", steps.get("beacon") is True, str(steps.get("beacon")))
        check("fetch POST /events answered 200 through CORS", steps.get("events_status") == 200,
              f"{steps.get('events_status')} {steps.get('events_body')}")
        check("the seed's image URL answered a 1x1 image", steps.get("seed") == "1x1", str(steps.get("seed")))

        events = read_events(events_out, 4, left(30))
        print("mock received:", json.dumps(events))
        by_name = {e.get("event_name"): e for e in events}
        check("the mock received four events", len(events) == 4, f"{len(events)} events")
        ids = result["ids"]
        for name, key in (("PageView", "page_view"), ("AddToCart", "add_to_cart"), ("Purchase", "purchase")):
            ev = by_name.get(name, {})
            check(f"{name}: the page's event id", ev.get("event_id") == ids[key], str(ev.get("event_id")))
        ua = result["user_agent"]
        fbps = set()
        for ev in events:
            ud = ev.get("user_data", {})
            check(f"{ev.get('event_name')}: Chromium's user agent", ud.get("client_user_agent") == ua,
                  f"{ud.get('client_user_agent')!r} != {ua!r}")
            check(f"{ev.get('event_name')}: client_ip_address 127.0.0.1",
                  ud.get("client_ip_address") == "127.0.0.1", str(ud.get("client_ip_address")))
            check(f"{ev.get('event_name')}: action_source website", ev.get("action_source") == "website",
                  str(ev.get("action_source")))
            fbps.add(ud.get("fbp"))
        fbp = next(iter(fbps)) if len(fbps) == 1 else None
        check("one _fbp on every event (set on the first hit, sent back after)", fbp is not None, str(fbps))
        check("_fbp in Meta's format", fbp is not None and re.fullmatch(r"fb\.1\.\d{13}\.\d+", fbp) is not None,
              str(fbp))
        m = re.search(r"(?:^|;\s*)_fbp=([^;]+)", result.get("cookie", ""))
        if m:  # readable by the page unless HttpOnly: then it must be the same cookie
            check("the page's _fbp cookie is the events' fbp", m.group(1) == fbp, f"{m.group(1)} != {fbp}")
        atc = by_name.get("AddToCart", {}).get("custom_data", {})
        check("AddToCart: the beacon's cd[value], cd[currency]",
              atc.get("value") == 12.5 and atc.get("currency") == "eur", json.dumps(atc))
        pur = by_name.get("Purchase", {}).get("custom_data", {})
        check("Purchase: value 49.9, currency usd", pur.get("value") == 49.9 and pur.get("currency") == "usd",
              json.dumps(pur))
        pv = by_name.get("PageView", {})
        check("PageView: event_source_url is the page", pv.get("event_source_url") == origin + "/page.html",
              str(pv.get("event_source_url")))
        vc = by_name.get("ViewContent", {})
        cd = vc.get("custom_data", {})
        check("seed URL: ViewContent with content_ids [\"1234\"], value 0.5, currency usd, content_type product",
              cd.get("content_ids") == ["1234"] and cd.get("value") == 0.5 and cd.get("currency") == "usd"
              and cd.get("content_type") == "product", json.dumps(vc))
        # No dl: the Referer, which Chromium cuts to the origin for another origin
        # (strict-origin-when-cross-origin, its default policy).
        check("seed URL: event_source_url from the Referer (no dl)",
              str(vc.get("event_source_url")).startswith(origin + "/"), str(vc.get("event_source_url")))
        print(f"{len(failures)} check(s) failed" if failures else "all checks passed")
        return 1 if failures else 0
    except Exception as e:  # a harness error is a failure with its reason
        print(f"FAIL: {type(e).__name__}: {e}")
        return 1
    finally:
        if page_server is not None:
            page_server.server_close()
        procs.stop_all()
        if os.environ.get("KEEP_TMP"):
            print("kept", tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
