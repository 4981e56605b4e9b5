// capi mock-server: serves Meta's /events edge on 127.0.0.1 until interrupted, so
// any client (curl, other SDKs) can be pointed at it.
#include "mock_server_cmd.hpp"

#include <capi/testing/mock_graph.hpp>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <csignal>
#include <cstdio>
#include <exception>
#include <fstream>
#include <iostream>
#include <iterator>
#include <pthread.h>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

namespace {

constexpr std::string_view usage =
    "usage: capi mock-server [--port P] [--cert-out DIR] [--token-file F] [--app-secret-file F]\n"
    "                        [--events-out FILE] [--latency-ms MS] [--threads N]\n"
    "                        [--throttle-after-requests K --throttle-requests M\n"
    "                         [--throttle-code 4|17|32|613|80000..80014|429]]\n"
    "  Serves Meta's POST /{version}/{pixel_id}/events on https://127.0.0.1:P (P = 0 or\n"
    "  absent: an ephemeral port) with a certificate minted at start-up, applying Meta's\n"
    "  rules. Prints the URL on stdout; --cert-out writes the CA certificate as\n"
    "  DIR/ca.pem (curl --cacert DIR/ca.pem ...). The access token requests must carry\n"
    "  comes from --token-file, else $CAPI_ACCESS_TOKEN, else is mock-token (never from\n"
    "  the command line, where the process list shows it); --app-secret-file makes\n"
    "  appsecret_proof required,\n"
    "  keyed by the file's content (trailing newline ignored). --events-out appends every\n"
    "  event of every request answered with success to FILE, one JSON line each: the\n"
    "  event object exactly as received in `data` (what Meta would have received), flushed\n"
    "  before the answer is sent. --latency-ms (or --delay-ms) sends every answer MS\n"
    "  milliseconds after its request arrived, on a timer (a far or slow Graph; any\n"
    "  number of connections wait at once). --threads N serves connections on N\n"
    "  threads (default 1). --throttle-requests M throttles M requests after the first\n"
    "  K (--throttle-after-requests, default 0) with Meta's throttling error for\n"
    "  --throttle-code (default 4: HTTP 403, Graph code 4; 17, 32, 613, 80000-80014:\n"
    "  HTTP 400 and that code; 429: HTTP 429, plain text), then serves normally again.\n"
    "  Runs until SIGINT/SIGTERM.\n";

int usage_error(std::string_view why) {
    std::cerr << "capi mock-server: " << why << "\n" << usage;
    return 2;
}

// Reads a secret from a file (trailing newlines dropped); false when unreadable or empty.
bool read_secret(std::string_view path, std::string& out) {
    std::ifstream in{std::string(path), std::ios::binary};
    if (!in) return false;
    std::string secret{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
    if (secret.empty()) return false;
    out = std::move(secret);
    return true;
}

bool parse_unsigned(std::string_view value, unsigned long long max, unsigned long long& out) {
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), out);
    return ec == std::errc() && end == value.data() + value.size() && out <= max;
}

bool throttling_code(unsigned long long code) {
    return code == 4 || code == 17 || code == 32 || code == 613 || code == 429 || (code >= 80000 && code <= 80014);
}

} // namespace

int run_mock_server(int argc, char** argv) {
    capi::testing::MockOptions options;
    capi::testing::ThrottleBurst burst;
    if (const char* env = std::getenv("CAPI_ACCESS_TOKEN"); env != nullptr && *env != '\0')
        options.access_token = env;
    std::string cert_out;
    std::string events_out;
    for (int i = 2; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            std::cout << usage;
            return 0;
        }
        if (i + 1 >= argc) return usage_error(std::string("missing value for ") + std::string(arg));
        const std::string_view value = argv[++i];
        if (arg == "--port") {
            unsigned port = 0;
            auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), port);
            if (ec != std::errc() || end != value.data() + value.size() || port > 65535)
                return usage_error("--port takes a number 0..65535");
            options.port = static_cast<std::uint16_t>(port);
        } else if (arg == "--cert-out") {
            cert_out = value;
        } else if (arg == "--events-out") {
            if (value.empty()) return usage_error("--events-out takes a file");
            events_out = value;
        } else if (arg == "--latency-ms" || arg == "--delay-ms") {
            unsigned long long ms = 0;
            if (!parse_unsigned(value, 600'000, ms))
                return usage_error(std::string(arg) + " takes milliseconds 0..600000");
            options.delay = std::chrono::milliseconds(ms);
        } else if (arg == "--threads") {
            unsigned long long n = 0;
            if (!parse_unsigned(value, 256, n) || n == 0) return usage_error("--threads takes a number 1..256");
            options.threads = static_cast<unsigned>(n);
        } else if (arg == "--throttle-after-requests" || arg == "--throttle-requests") {
            unsigned long long n = 0;
            if (!parse_unsigned(value, 1'000'000'000, n))
                return usage_error(std::string(arg) + " takes a number 0..1000000000");
            (arg == "--throttle-requests" ? burst.requests : burst.after_requests) = static_cast<std::size_t>(n);
        } else if (arg == "--throttle-code") {
            unsigned long long code = 0;
            if (!parse_unsigned(value, 99'999, code) || !throttling_code(code))
                return usage_error("--throttle-code takes 4, 17, 32, 613, 80000..80014 or 429");
            burst.code = static_cast<int>(code);
        } else if (arg == "--token-file") {
            if (!read_secret(value, options.access_token))
                return usage_error("cannot read a token from " + std::string(value));
        } else if (arg == "--app-secret-file") {
            if (!read_secret(value, options.app_secret))
                return usage_error("cannot read a secret from " + std::string(value));
        } else {
            return usage_error("unknown option " + std::string(arg));
        }
    }

    // Block the signals before the server's threads exist, so they inherit the
    // mask and only sigwait() below sees SIGINT/SIGTERM.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);

    // One line per event, written and flushed under a lock before the answer goes
    // out, so a reader of FILE sees every event its sender saw acknowledged.
    struct EventsFile {
        std::mutex mu;
        std::FILE* f = nullptr;
        ~EventsFile() {
            if (f != nullptr) std::fclose(f);
        }
    };
    auto sink = std::make_shared<EventsFile>();
    if (!events_out.empty()) {
        sink->f = std::fopen(events_out.c_str(), "ab");
        if (sink->f == nullptr)
            return usage_error("--events-out: cannot open " + events_out + ": " + std::strerror(errno));
        options.on_accepted = [sink](std::string_view, const std::vector<std::string>& events) {
            std::lock_guard lock(sink->mu);
            for (const auto& e : events) {
                std::fwrite(e.data(), 1, e.size(), sink->f);
                std::fputc('\n', sink->f);
            }
            std::fflush(sink->f);
        };
    }

    try {
        capi::testing::MockGraphServer server(std::move(options));
        if (burst.requests > 0) server.throttle_burst(burst);
        if (!cert_out.empty()) {
            const std::string path = cert_out + "/ca.pem";
            std::ofstream out(path, std::ios::binary | std::ios::trunc);
            out << server.ca_pem();
            out.close();
            if (!out) {
                std::cerr << "capi mock-server: cannot write " << path << "\n";
                return 2;
            }
        }
        std::cout << server.url() << std::endl;  // flushed: scripts read it to find the port
        int sig = 0;
        while (sigwait(&signals, &sig) != 0) {
        }
        server.stop();
        std::cerr << "capi mock-server: " << server.request_count() << " requests, "
                  << server.events_accepted() << " events accepted";
        if (burst.requests > 0) std::cerr << ", " << server.requests_throttled() << " throttled";
        std::cerr << "\n";
    } catch (const std::exception& e) {
        std::cerr << "capi mock-server: " << e.what() << "\n";
        return 2;
    }
    return 0;
}
