// capi gateway: option parsing, secrets and files, signals, the exit summary.
// The server itself is server.cpp.
#include "gateway_cmd.hpp"

#include "send_cmd.hpp"  // secret_option_refusal: one rule, one wording for every command
#include "server.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <iostream>
#include <iterator>
#include <pthread.h>
#include <string>
#include <string_view>
#include <sys/stat.h>

namespace {

constexpr std::string_view usage_text =
    "usage: capi gateway --pixel ID [--pixel ID ...] [options]\n"
    "  Serves the Meta Pixel's own routes on a first-party origin and forwards every\n"
    "  hit as a server event through capi's client:\n"
    "    GET /tr, POST /tr    pixel hits (id, ev, eid, dl, rl, ts, cd[..], ud[..]): a 1x1 GIF / 204\n"
    "    POST /events         JSON events in Meta's wire names (CORS for --allow-origin)\n"
    "    GET /healthz         200 ok (503 while stopping)\n"
    "    GET /metrics         Prometheus text format\n"
    "  Prints its URL (http://HOST:PORT or https://HOST:PORT) on stdout once listening.\n"
    "  The access token comes from $CAPI_ACCESS_TOKEN or --token-file, never the command line.\n"
    "options:\n"
    "  --listen HOST:PORT      address to listen on; default 127.0.0.1:8080 (port 0: ephemeral;\n"
    "                          IPv6 as [::1]:PORT)\n"
    "  --pixel ID              a pixel served (digits); repeat for several; hits for others: 403\n"
    "  --endpoint URL          Graph API base; default https://graph.facebook.com\n"
    "  --ca FILE               extra CA certificates (PEM) for --endpoint\n"
    "  --api-version V         default v24.0\n"
    "  --token-file FILE       access token file; default $CAPI_ACCESS_TOKEN\n"
    "  --app-secret-file FILE  appsecret_proof key; default $CAPI_APP_SECRET (optional)\n"
    "  --test-event-code CODE  send to Events Manager's Test Events\n"
    "  --trust-proxy CIDR      believe X-Forwarded-For / Forwarded from these peers; repeatable\n"
    "  --allow-origin ORIGIN   allow POST /events from this browser origin (CORS); repeatable\n"
    "  --cookie-domain DOMAIN  Domain of the _fbp/_fbc cookies set; default host-only\n"
    "  --tls-cert FILE         serve HTTPS with this PEM certificate chain (needs --tls-key)\n"
    "  --tls-key FILE          its PEM private key\n"
    "  --max-connections N     open connections; more are closed at once; default 1024\n"
    "  --max-body BYTES        request body bound (413); default 1048576\n"
    "  --read-timeout-ms MS    a request must arrive whole within MS; default 10000\n"
    "  --idle-timeout-ms MS    keep-alive connections idle longer are closed; default 60000\n"
    "  --drain-timeout MS      on SIGTERM, bound on finishing requests and delivering queued\n"
    "                          events; default 10000\n"
    "  --linger-ms MS          how long a partial batch waits for more events; default 50\n"
    "  --queue N               events the client queues (more: 503); default 65536\n"
    "  --threads N             HTTP threads; default 1\n"
    "SIGINT/SIGTERM: stop accepting, finish the requests in progress, deliver what is\n"
    "queued (within --drain-timeout), print a summary on stderr. Exit status: 0 every\n"
    "accepted event delivered, 1 some failed or were still queued at the bound, 2 usage,\n"
    "configuration or start-up error.\n";

int usage_error(std::string_view why) {
    std::cerr << "capi gateway: " << why << "\n(capi gateway --help lists the options)\n";
    return gateway_usage;
}

bool parse_number(std::string_view s, long long lo, long long hi, long long& out) {
    auto r = std::from_chars(s.data(), s.data() + s.size(), out);
    return r.ec == std::errc() && r.ptr == s.data() + s.size() && out >= lo && out <= hi;
}

// Reads a file named by `option`; an empty string and `why` (naming the option
// and the file, never its content) when it is missing, a directory, unreadable
// or empty. `trim` drops trailing newlines and spaces (secrets).
std::string read_file_option(std::string_view option, const std::string& path, bool trim, std::string& why,
                             bool secret = false) {
    // A secret's file name is not echoed: people pass the token itself where the
    // file belongs, and the message would print it.
    const std::string named = secret ? std::string("the file it names") : path;
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        why = std::string(option) + ": cannot open " + named + ": " + std::strerror(errno) +
              (secret ? " (it takes a file, never the secret itself)" : "");
        return {};
    }
    if (S_ISDIR(st.st_mode)) {
        why = std::string(option) + ": " + named + " is a directory, not a file";
        return {};
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        why = std::string(option) + ": cannot open " + named + ": " + std::strerror(errno) +
              (secret ? " (it takes a file, never the secret itself)" : "");
        return {};
    }
    std::string s{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    if (trim)
        while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
    if (s.empty()) why = std::string(option) + ": " + named + " is empty";
    return s;
}

// "127.0.0.1:8080", "[::1]:0", "localhost:8080".
bool parse_listen(std::string_view s, std::string& host, std::uint16_t& port) {
    std::string_view h, p;
    if (s.starts_with('[')) {
        const auto close = s.find(']');
        if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':') return false;
        h = s.substr(1, close - 1);
        p = s.substr(close + 2);
    } else {
        const auto colon = s.rfind(':');
        if (colon == std::string_view::npos) return false;
        h = s.substr(0, colon);
        p = s.substr(colon + 1);
        if (h.find(':') != std::string_view::npos) return false;  // IPv6 needs brackets
    }
    long long n = 0;
    if (h.empty() || !parse_number(p, 0, 65535, n)) return false;
    host = std::string(h);
    port = static_cast<std::uint16_t>(n);
    return true;
}

} // namespace

int run_gateway(int argc, char** argv) {
    capi_gateway::GatewayOptions o;
    o.port = 8080;
    o.client.overflow = capi::Overflow::reject;  // a full queue answers 503 at once
    std::string token_file, app_secret_file, ca_file, tls_cert, tls_key;
    std::chrono::milliseconds drain{10'000};
    for (int i = 2; i < argc; ++i) {
        const std::string_view a = argv[i];
        if (auto why = secret_option_refusal(a)) {
            std::cerr << "capi gateway: " << *why << "\n";
            return gateway_usage;
        }
        if (a == "--help" || a == "-h") {
            std::cout << usage_text;
            return gateway_ok;
        }
        if (!a.starts_with("--")) return usage_error("unexpected argument '" + std::string(a) + "'");
        if (i + 1 >= argc) return usage_error(std::string(a) + " takes a value");
        const std::string_view v = argv[++i];
        long long n = 0;
        auto number = [&](long long lo, long long hi) { return parse_number(v, lo, hi, n); };
        if (a == "--listen") {
            if (!parse_listen(v, o.listen_host, o.port))
                return usage_error("--listen takes HOST:PORT (an IP address or localhost; IPv6 as [::1]:PORT)");
        } else if (a == "--pixel") {
            if (v.empty() || !std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; }))
                return usage_error("--pixel: a pixel id is a string of digits, not '" + std::string(v) + "'");
            o.pixel.pixels.emplace_back(v);
        } else if (a == "--endpoint") {
            o.client.transport.endpoint = std::string(v);
        } else if (a == "--ca") {
            ca_file = std::string(v);
        } else if (a == "--api-version") {
            o.client.transport.api_version = std::string(v);
        } else if (a == "--token-file") {
            token_file = std::string(v);
        } else if (a == "--app-secret-file") {
            app_secret_file = std::string(v);
        } else if (a == "--test-event-code") {
            if (v.empty()) return usage_error("--test-event-code takes a code");
            o.client.destination.test_event_code = std::string(v);
        } else if (a == "--trust-proxy") {
            auto cidr = capi::pixel::Cidr::parse(v);
            if (!cidr) return usage_error("--trust-proxy: '" + std::string(v) + "' is not an IPv4 or IPv6 network");
            o.pixel.trusted_proxies.push_back(*cidr);
        } else if (a == "--allow-origin") {
            if (v.empty()) return usage_error("--allow-origin takes an origin (https://shop.example)");
            o.pixel.allow_origins.emplace_back(v);
        } else if (a == "--cookie-domain") {
            o.pixel.cookie_domain = std::string(v);
        } else if (a == "--tls-cert") {
            tls_cert = std::string(v);
        } else if (a == "--tls-key") {
            tls_key = std::string(v);
        } else if (a == "--max-connections") {
            if (!number(1, 1'000'000)) return usage_error("--max-connections takes a number from 1 to 1000000");
            o.limits.max_connections = static_cast<std::size_t>(n);
        } else if (a == "--max-body") {
            if (!number(1, 64LL << 20)) return usage_error("--max-body takes bytes from 1 to 67108864");
            o.pixel.max_body_bytes = static_cast<std::size_t>(n);
        } else if (a == "--read-timeout-ms") {
            if (!number(1, 600'000)) return usage_error("--read-timeout-ms takes milliseconds from 1 to 600000");
            o.limits.read_timeout = std::chrono::milliseconds(n);
        } else if (a == "--idle-timeout-ms") {
            if (!number(1, 3'600'000)) return usage_error("--idle-timeout-ms takes milliseconds from 1 to 3600000");
            o.limits.idle_timeout = std::chrono::milliseconds(n);
        } else if (a == "--drain-timeout") {
            if (!number(0, 3'600'000)) return usage_error("--drain-timeout takes milliseconds from 0 to 3600000");
            drain = std::chrono::milliseconds(n);
        } else if (a == "--linger-ms") {
            if (!number(1, 60'000)) return usage_error("--linger-ms takes milliseconds from 1 to 60000");
            o.client.linger = std::chrono::milliseconds(n);
        } else if (a == "--queue") {
            if (!number(1, 1 << 24)) return usage_error("--queue takes a number from 1 to 16777216");
            o.client.queue_capacity = static_cast<std::size_t>(n);
        } else if (a == "--threads") {
            if (!number(1, 256)) return usage_error("--threads takes a number from 1 to 256");
            o.threads = static_cast<unsigned>(n);
        } else {
            return usage_error("unknown option '" + std::string(a) + "'");
        }
    }
    if (o.pixel.pixels.empty()) return usage_error("no pixel: use --pixel ID (once per pixel served)");
    if (tls_cert.empty() != tls_key.empty())
        return usage_error(tls_cert.empty() ? "--tls-key needs --tls-cert" : "--tls-cert needs --tls-key");

    std::string why;
    if (!token_file.empty()) {
        o.client.destination.access_token = read_file_option("--token-file", token_file, true, why, true);
        if (!why.empty()) return usage_error(why);
    } else if (const char* t = std::getenv("CAPI_ACCESS_TOKEN"); t != nullptr && *t != '\0') {
        o.client.destination.access_token = t;
    } else {
        return usage_error("no access token: set CAPI_ACCESS_TOKEN or use --token-file FILE "
                           "(never the command line, where the process list shows it)");
    }
    if (!app_secret_file.empty()) {
        o.client.destination.app_secret = read_file_option("--app-secret-file", app_secret_file, true, why, true);
        if (!why.empty()) return usage_error(why);
    } else if (const char* s = std::getenv("CAPI_APP_SECRET"); s != nullptr && *s != '\0') {
        o.client.destination.app_secret = s;
    }
    if (!ca_file.empty()) {
        read_file_option("--ca", ca_file, false, why);
        if (!why.empty()) return usage_error(why);
        o.client.transport.ca_file = ca_file;
    }
    if (!tls_cert.empty()) {
        o.tls_cert_pem = read_file_option("--tls-cert", tls_cert, false, why);
        if (!why.empty()) return usage_error(why);
        o.tls_key_pem = read_file_option("--tls-key", tls_key, false, why);
        if (!why.empty()) return usage_error(why);
    }

    // Block the signals before any thread exists, so every thread inherits the
    // mask and only sigwait() below sees SIGINT/SIGTERM.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);

    std::unique_ptr<capi_gateway::Gateway> gw;
    try {
        gw = std::make_unique<capi_gateway::Gateway>(std::move(o));
    } catch (const std::invalid_argument& e) {
        // Option names of GatewayOptions: say which command-line option they are.
        std::string m = e.what();
        for (auto [field, opt] : {std::pair{"tls_cert_pem", "--tls-cert"}, {"tls_key_pem", "--tls-key"},
                                  {"listen_host", "--listen"}})
            if (m.starts_with(field)) m = opt + m.substr(std::strlen(field));
        std::cerr << "capi gateway: " << m << "\n";
        return gateway_usage;
    } catch (const std::exception& e) {
        std::cerr << "capi gateway: " << e.what() << "\n";
        return gateway_usage;
    }
    std::cout << gw->url() << std::endl;  // flushed: scripts read it to find the port

    int sig = 0;
    while (sigwait(&signals, &sig) != 0) {
    }
    std::cerr << "capi gateway: " << (sig == SIGINT ? "SIGINT" : "SIGTERM")
              << ": stopping (draining for at most " << drain.count() << " ms)\n";
    const capi_gateway::Summary s = gw->stop(drain);
    const auto& t = s.totals;
    const std::uint64_t left = t.accepted - t.delivered - t.failed;
    std::cerr << "capi gateway: " << t.requests << " requests answered; events: " << t.accepted << " accepted, "
              << t.delivered << " delivered, " << t.failed << " failed, " << t.rejected << " rejected"
              << " (" << s.client.batches << " batches, " << s.client.retries << " retries); "
              << (s.drained ? "drained in time." : "NOT drained in time: " + std::to_string(left) + " left.")
              << "\n";
    return (t.failed == 0 && left == 0 && s.drained) ? gateway_ok : gateway_some_failed;
}
