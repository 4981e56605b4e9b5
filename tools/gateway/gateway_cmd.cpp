// capi gateway: option parsing, secrets and files, signals, the exit summary.
// The server itself is server.cpp.
#include "gateway_cmd.hpp"

#include "cli/cli.hpp"
#include "server.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <charconv>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <iostream>
#include <pthread.h>
#include <string>
#include <string_view>

namespace {

constexpr std::string_view command = "gateway";

constexpr const char* description =
    "Serves the Meta Pixel's own routes on a first-party origin and forwards every hit as\n"
    "a server event through capi's client:\n"
    "  GET /tr, POST /tr    pixel hits (id, ev, eid, dl, rl, ts, cd[..], ud[..]): a 1x1 GIF / 204\n"
    "  POST /events         JSON events in Meta's wire names (CORS for --allow-origin)\n"
    "  GET /healthz         200 ok (503 while stopping)\n"
    "  GET /metrics         Prometheus text format\n"
    "Prints its URL (http://HOST:PORT or https://HOST:PORT) on stdout once listening. The\n"
    "access token comes from $CAPI_ACCESS_TOKEN or --token-file, never the command line.";

constexpr const char* footer =
    "SIGINT/SIGTERM: stop accepting, finish the requests in progress, deliver what is\n"
    "queued (within --drain-timeout), print a summary on stderr. Exit status: 0 every\n"
    "accepted event delivered, 1 some failed or were still queued at the bound, 2 usage,\n"
    "configuration or start-up error. docs/cli.md has the details.";

bool parse_number(std::string_view s, long long lo, long long hi, long long& out) {
    auto r = std::from_chars(s.data(), s.data() + s.size(), out);
    return r.ec == std::errc() && r.ptr == s.data() + s.size() && out >= lo && out <= hi;
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
    std::string listen = "127.0.0.1:8080", token_file, app_secret_file, ca_file, tls_cert, tls_key;
    std::vector<std::string> pixels, trusted, origins;
    long long drain_ms = 10'000, read_ms = 10'000, idle_ms = 60'000, linger_ms = 50;

    CLI::App app{description, "capi gateway"};
    app.footer(footer);
    app.add_option("--listen", listen, "address to listen on (port 0: ephemeral; IPv6 as [::1]:PORT)")
        ->type_name("HOST:PORT")
        ->capture_default_str();
    app.add_option("--pixel", pixels, "a pixel served (digits); repeat for several; hits for others: 403")
        ->type_name("ID")
        ->allow_extra_args(false)
        ->check(CLI::Validator(
            [](std::string& v) -> std::string {
                if (!v.empty() && std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; }))
                    return {};
                return "a pixel id is a string of digits, not '" + v + "'";
            },
            ""));
    app.add_option("--endpoint", o.client.transport.endpoint, "Graph API base")
        ->type_name("URL")
        ->capture_default_str();
    app.add_option("--ca", ca_file, "extra CA certificates (PEM) for --endpoint")->type_name("FILE");
    app.add_option("--api-version", o.client.transport.api_version, "Graph API version")->capture_default_str();
    app.add_option("--token-file", token_file, "access token file; default $CAPI_ACCESS_TOKEN")->type_name("FILE");
    app.add_option("--app-secret-file", app_secret_file, "appsecret_proof key; default $CAPI_APP_SECRET (optional)")
        ->type_name("FILE");
    app.add_option("--test-event-code", o.client.destination.test_event_code, "send to Events Manager's Test Events")
        ->type_name("CODE")
        ->check(CLI::Validator([](std::string& v) { return v.empty() ? std::string("takes a code") : std::string(); }, ""));
    app.add_option("--trust-proxy", trusted, "believe X-Forwarded-For / Forwarded from these peers; repeatable")
        ->type_name("CIDR")
        ->allow_extra_args(false);
    app.add_option("--allow-origin", origins, "allow POST /events from this browser origin (CORS); repeatable")
        ->type_name("ORIGIN")
        ->allow_extra_args(false)
        ->check(CLI::Validator(
            [](std::string& v) { return v.empty() ? std::string("takes an origin (https://shop.example)") : std::string(); },
            ""));
    app.add_option("--cookie-domain", o.pixel.cookie_domain, "Domain of the _fbp/_fbc cookies set; default host-only")
        ->type_name("DOMAIN");
    app.add_option("--tls-cert", tls_cert, "serve HTTPS with this PEM certificate chain (needs --tls-key)")
        ->type_name("FILE");
    app.add_option("--tls-key", tls_key, "its PEM private key")->type_name("FILE");
    app.add_option("--max-connections", o.limits.max_connections, "open connections; more are closed at once")
        ->type_name("N")
        ->capture_default_str()
        ->check(CLI::Range(1, 1'000'000));
    app.add_option("--max-body", o.pixel.max_body_bytes, "request body bound (413)")
        ->type_name("BYTES")
        ->capture_default_str()
        ->check(CLI::Range(1LL, 64LL << 20));
    app.add_option("--read-timeout-ms", read_ms, "a request must arrive whole within MS")
        ->type_name("MS")
        ->capture_default_str()
        ->check(CLI::Range(1, 600'000));
    app.add_option("--idle-timeout-ms", idle_ms, "keep-alive connections idle longer are closed")
        ->type_name("MS")
        ->capture_default_str()
        ->check(CLI::Range(1, 3'600'000));
    app.add_option("--drain-timeout", drain_ms, "on SIGTERM, bound on finishing requests and delivering queued events")
        ->type_name("MS")
        ->capture_default_str()
        ->check(CLI::Range(0, 3'600'000));
    app.add_option("--linger-ms", linger_ms, "how long a partial batch waits for more events")
        ->type_name("MS")
        ->capture_default_str()
        ->check(CLI::Range(1, 60'000));
    app.add_option("--queue", o.client.queue_capacity, "events the client queues (more: 503)")
        ->type_name("N")
        ->capture_default_str()
        ->check(CLI::Range(1, 1 << 24));
    app.add_option("--threads", o.threads, "HTTP threads")->type_name("N")->capture_default_str()->check(CLI::Range(1, 256));
    capi_cli::add_enhanced_options(app, o.client.encode.enhanced);
    if (auto rc = capi_cli::parse(app, command, argc - 1, argv + 1)) return *rc;

    if (!parse_listen(listen, o.listen_host, o.port))
        return capi_cli::fail(command, "--listen takes HOST:PORT (an IP address or localhost; IPv6 as [::1]:PORT), not " + listen);
    o.pixel.pixels = std::move(pixels);
    for (const auto& t : trusted) {
        auto cidr = capi::pixel::Cidr::parse(t);
        if (!cidr) return capi_cli::fail(command, "--trust-proxy: '" + t + "' is not an IPv4 or IPv6 network");
        o.pixel.trusted_proxies.push_back(*cidr);
    }
    o.pixel.allow_origins = std::move(origins);
    o.limits.read_timeout = std::chrono::milliseconds(read_ms);
    o.limits.idle_timeout = std::chrono::milliseconds(idle_ms);
    o.client.linger = std::chrono::milliseconds(linger_ms);
    const std::chrono::milliseconds drain(drain_ms);
    if (o.pixel.pixels.empty()) return capi_cli::fail(command, "no pixel: use --pixel ID (once per pixel served)");
    if (tls_cert.empty() != tls_key.empty())
        return capi_cli::fail(command, tls_cert.empty() ? "--tls-key needs --tls-cert" : "--tls-cert needs --tls-key");

    if (!token_file.empty()) {
        if (auto why = capi_cli::read_secret_file(token_file, "--token-file", o.client.destination.access_token))
            return capi_cli::fail(command, *why);
    } else if (const char* t = std::getenv("CAPI_ACCESS_TOKEN"); t != nullptr && *t != '\0') {
        o.client.destination.access_token = t;
    } else {
        return capi_cli::fail(command, "no access token: set CAPI_ACCESS_TOKEN or use --token-file FILE "
                                       "(never the command line, where the process list shows it)");
    }
    if (!app_secret_file.empty()) {
        if (auto why = capi_cli::read_secret_file(app_secret_file, "--app-secret-file", o.client.destination.app_secret))
            return capi_cli::fail(command, *why);
    } else if (const char* sec = std::getenv("CAPI_APP_SECRET"); sec != nullptr && *sec != '\0') {
        o.client.destination.app_secret = sec;
    }
    if (!ca_file.empty()) {
        std::string pem;
        if (auto why = capi_cli::read_file(ca_file, "--ca", pem)) return capi_cli::fail(command, *why);
        o.client.transport.ca_file = ca_file;
    }
    if (!tls_cert.empty()) {
        if (auto why = capi_cli::read_file(tls_cert, "--tls-cert", o.tls_cert_pem)) return capi_cli::fail(command, *why);
        if (auto why = capi_cli::read_file(tls_key, "--tls-key", o.tls_key_pem)) return capi_cli::fail(command, *why);
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
        return capi_cli::fail(command, m);
    } catch (const std::exception& e) {
        return capi_cli::fail(command, capi_cli::option_error(e, {{"transport.ca_file", "--ca"},
                                                                  {"transport.endpoint", "--endpoint"},
                                                                  {"ca_file", "--ca"},
                                                                  {"endpoint", "--endpoint"},
                                                                  {"api_version", "--api-version"}}));
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
