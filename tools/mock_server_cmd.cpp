// capi mock-server: serves Meta's /events edge on 127.0.0.1 until interrupted, so
// any client (curl, other SDKs) can be pointed at it.
#include "mock_server_cmd.hpp"

#include "cli/cli.hpp"

#include <capi/testing/mock_graph.hpp>

#include <CLI/CLI.hpp>

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

constexpr std::string_view command = "mock-server";

constexpr const char* description =
    "Serves Meta's POST /{version}/{pixel_id}/events on https://127.0.0.1:PORT with a\n"
    "certificate minted at start-up, applying Meta's rules, until SIGINT/SIGTERM. Prints\n"
    "the URL on stdout. The access token requests must carry comes from --token-file,\n"
    "else $CAPI_ACCESS_TOKEN, else is mock-token (never from the command line, where\n"
    "the process list shows it). docs/cli.md has the details.";

bool throttling_code(long long code) {
    return code == 4 || code == 17 || code == 32 || code == 613 || code == 429 || (code >= 80000 && code <= 80014);
}

} // namespace

int run_mock_server(int argc, char** argv) {
    capi::testing::MockOptions options;
    capi::testing::ThrottleBurst burst;
    if (const char* env = std::getenv("CAPI_ACCESS_TOKEN"); env != nullptr && *env != '\0')
        options.access_token = env;
    std::string cert_out, events_out, token_file, app_secret_file;
    unsigned latency_ms = 0;
    long long throttle_code = burst.code;

    CLI::App app{description, "capi mock-server"};
    app.add_option("--port", options.port, "TCP port on 127.0.0.1 (0: an ephemeral port)")
        ->capture_default_str();
    app.add_option("--cert-out", cert_out, "write the CA certificate as DIR/ca.pem (curl --cacert DIR/ca.pem)")
        ->type_name("DIR");
    app.add_option("--token-file", token_file, "the access token requests must carry, read from FILE")
        ->type_name("FILE");
    app.add_option("--app-secret-file", app_secret_file,
                   "require appsecret_proof keyed by FILE's content (trailing newline ignored)")
        ->type_name("FILE");
    app.add_option("--events-out", events_out,
                   "append every event of every request answered with success to FILE, one JSON line\n"
                   "each, exactly as received in `data`, flushed before the answer is sent")
        ->type_name("FILE");
    app.add_option("--latency-ms,--delay-ms", latency_ms,
                   "answer every request MS ms after it arrived, on a timer (a far or slow Graph API;\n"
                   "any number of connections wait at once)")
        ->type_name("MS")
        ->check(CLI::Range(0u, 600'000u));
    app.add_option("--threads", options.threads, "serve connections on N threads")
        ->type_name("N")
        ->capture_default_str()
        ->check(CLI::Range(1u, 256u));
    app.add_option("--throttle-after-requests", burst.after_requests,
                   "start the throttling burst after the first K requests")
        ->type_name("K")
        ->check(CLI::Range(std::size_t{0}, std::size_t{1'000'000'000}));
    app.add_option("--throttle-requests", burst.requests, "throttle M requests, then serve normally again")
        ->type_name("M")
        ->check(CLI::Range(std::size_t{0}, std::size_t{1'000'000'000}));
    app.add_option("--throttle-code", throttle_code,
                   "the throttling answer: 4 (HTTP 403, Graph code 4; default), 17, 32, 613 or\n"
                   "80000-80014 (HTTP 400 and that code), 429 (HTTP 429, plain text)")
        ->type_name("CODE")
        ->check(CLI::Validator(
            [](std::string& v) -> std::string {
                long long code = 0;
                auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), code);
                if (ec != std::errc() || end != v.data() + v.size() || !throttling_code(code))
                    return "takes 4, 17, 32, 613, 80000..80014 or 429, not " + v;
                return {};
            },
            ""));
    if (auto rc = capi_cli::parse(app, command, argc - 1, argv + 1)) return *rc;
    options.delay = std::chrono::milliseconds(latency_ms);
    burst.code = static_cast<int>(throttle_code);
    if (!token_file.empty()) {
        if (auto why = capi_cli::read_secret_file(token_file, "--token-file", options.access_token))
            return capi_cli::fail(command, *why);
    }
    if (!app_secret_file.empty()) {
        if (auto why = capi_cli::read_secret_file(app_secret_file, "--app-secret-file", options.app_secret))
            return capi_cli::fail(command, *why);
    }
    if (!cert_out.empty()) {
        if (auto why = capi_cli::check_writable_dir(cert_out, "--cert-out")) return capi_cli::fail(command, *why);
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
            return capi_cli::fail(command, "--events-out: " + events_out + ": " + std::strerror(errno));
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
            std::FILE* out = std::fopen(path.c_str(), "wb");
            const std::string pem = server.ca_pem();
            bool written = out != nullptr && std::fwrite(pem.data(), 1, pem.size(), out) == pem.size();
            const int err = errno;
            if (out != nullptr && std::fclose(out) != 0) written = false;
            if (!written) {
                std::cerr << "capi mock-server: --cert-out: cannot write " << path << ": " << std::strerror(err)
                          << "\n";
                return 2;
            }
        }
        std::cout << server.url() << std::endl;  // flushed: scripts read it to find the port
        int sig = 0;
        while (sigwait(&signals, &sig) != 0) {
        }
        server.stop();
        const auto plural = [](std::uint64_t n, const char* one, const char* many) {
            return std::to_string(n) + " " + (n == 1 ? one : many);
        };
        std::cerr << "capi mock-server: " << plural(server.request_count(), "request", "requests") << ", "
                  << plural(server.events_accepted(), "event", "events") << " accepted";
        if (burst.requests > 0) std::cerr << ", " << server.requests_throttled() << " throttled";
        std::cerr << "\n";
    } catch (const std::exception& e) {
        std::cerr << "capi mock-server: " << e.what() << "\n";
        return 2;
    }
    return 0;
}
