// capi send's command line (options.hpp).
#include "send/options.hpp"

#include "send_cmd.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>

namespace capi_send {

namespace {

constexpr std::string_view send_usage_text =
    "usage: capi send [options] [FILE|-]\n"
    "  Reads NDJSON events (one JSON object per line, Meta's wire field names, PII in\n"
    "  clear or already hashed) from FILE or stdin and sends them to the Conversions\n"
    "  API; prints a summary table on stdout. docs/cli.md has the details.\n"
    "  destination:\n"
    "    --pixel ID              pixel (dataset) id; default $CAPI_PIXEL_ID\n"
    "    --token-file FILE       access token file; default $CAPI_ACCESS_TOKEN\n"
    "                            (never on the command line: --token is refused)\n"
    "    --app-secret-file FILE  app secret for appsecret_proof; default $CAPI_APP_SECRET\n"
    "    --endpoint URL          https://host[:port] (default https://graph.facebook.com)\n"
    "    --ca FILE               PEM CA file to trust instead of the system store\n"
    "    --api-version V         Graph API version (default v24.0)\n"
    "    --test-event-code C     send to Events Manager's Test Events\n"
    "    --partner-agent A       partner_agent of every request\n"
    "  events:\n"
    "    --max-batch N           events per request (1..1000, default 1000)\n"
    "    --pass-unknown          pass keys capi does not model through to Meta\n"
    "    --reject-invalid-pii    reject the event when a PII value is invalid\n"
    "    --hash-external-id      hash user_data.external_id (default: sent raw)\n"
    "    --event-ids MODE        id of an event without one: deterministic (default;\n"
    "                            from the pixel and the event), random, none\n"
    "  reports:\n"
    "    --rejects FILE          one line per rejected input line (TSV: line, fields,\n"
    "                            reasons, the input line)\n"
    "    --failed FILE           one line per failed, expired or dropped input line\n"
    "                            (TSV: line, outcome, code, subcode, fbtrace_id,\n"
    "                            message, the input line with the event_id its\n"
    "                            attempts used)\n"
    "    --checkpoint FILE       record durably how far every line has an outcome;\n"
    "                            started again with it, resume there (a file input)\n"
    "    --progress | --no-progress   progress bar on stderr (default: when a terminal)\n"
    "  tuning:\n"
    "    --max-in-flight N       events read but without an outcome (default:\n"
    "                            2 x connections x max batch = 16000)\n"
    "    --connections N         keep-alive TLS connections (default 8)\n"
    "    --linger-ms MS          a partial batch waits at most this long (default 50)\n"
    "    --request-timeout-ms MS deadline of one request (default 10000)\n"
    "    --max-attempts N        attempts per batch, retries included (default 6)\n"
    "  --dry-run prints each request body on stdout instead of sending (no token\n"
    "  needed); with it: --form (form-encoded bodies), --now UNIX_SECONDS.\n"
    "  Exit status: 0 every event delivered, 1 some lines rejected or events failed,\n"
    "  expired or dropped, 2 usage, I/O or configuration error, 130 interrupted.\n";


bool parse_uint(std::string_view s, long long& out) {
    auto r = std::from_chars(s.data(), s.data() + s.size(), out);
    return r.ec == std::errc() && r.ptr == s.data() + s.size() && out >= 0;
}

} // namespace

std::string read_secret(const std::string& path, std::string& why, std::ostream& err) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        why = "cannot open " + path + ": " + std::strerror(errno);
        return {};
    }
    std::string s{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
    if (s.empty()) {
        why = path + " is empty";
        return {};
    }
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && (st.st_mode & (S_IRGRP | S_IROTH)) != 0)
        err << "capi send: warning: " << path << " is readable by other users (chmod 600 " << path << ")\n";
    return s;
}

int usage_error(std::ostream& err, std::string_view why) {
    err << "capi send: " << why << "\n" << send_usage_text;
    return send_usage;
}

std::optional<int> parse_args(int argc, char** argv, Args& a, std::ostream& out, std::ostream& err) {
    bool have_input = false;
    for (int i = 2; i < argc; ++i) {
        const std::string_view o = argv[i];
        if (auto why = secret_option_refusal(o)) {
            err << "capi send: " << *why << "\n";
            return send_usage;
        }
        auto value = [&]() -> std::optional<std::string_view> {
            if (i + 1 >= argc) return std::nullopt;
            return std::string_view(argv[++i]);
        };
        auto string_opt = [&](std::string& dst) -> bool {
            auto v = value();
            if (!v) return false;
            dst = std::string(*v);
            return true;
        };
        auto number_opt = [&](long long lo, long long hi, long long& n) -> bool {
            auto v = value();
            return v && parse_uint(*v, n) && n >= lo && n <= hi;
        };
        long long n = 0;
        if (o == "--help" || o == "-h") {
            out << send_usage_text;
            return send_ok;
        } else if (o == "--dry-run") {
            a.dry_run = true;
        } else if (o == "--form") {
            a.form = true;
        } else if (o == "--pass-unknown") {
            a.rd.pass_unknown_keys = true;
        } else if (o == "--reject-invalid-pii") {
            a.enc.invalid_pii = capi::InvalidPiiPolicy::reject_event;
        } else if (o == "--hash-external-id") {
            a.enc.hash_external_id = true;
        } else if (o == "--progress") {
            a.progress = 1;
        } else if (o == "--no-progress") {
            a.progress = 0;
        } else if (o == "--max-batch") {
            if (!number_opt(1, 1000, n)) return usage_error(err, "--max-batch takes a number from 1 to 1000");
            a.enc.max_batch_events = static_cast<std::size_t>(n);
        } else if (o == "--test-event-code") {
            std::string v;
            if (!string_opt(v) || v.empty()) return usage_error(err, "--test-event-code takes a value");
            a.fields.test_event_code = std::move(v);
        } else if (o == "--partner-agent") {
            std::string v;
            if (!string_opt(v) || v.empty()) return usage_error(err, "--partner-agent takes a value");
            a.fields.partner_agent = std::move(v);
        } else if (o == "--now") {
            if (!number_opt(0, 1LL << 40, n)) return usage_error(err, "--now takes Unix seconds");
            a.fixed_now = std::chrono::system_clock::time_point(std::chrono::seconds(n));
        } else if (o == "--pixel") {
            if (!string_opt(a.pixel)) return usage_error(err, "--pixel takes a pixel id");
        } else if (o == "--endpoint") {
            if (!string_opt(a.endpoint)) return usage_error(err, "--endpoint takes https://host[:port]");
        } else if (o == "--ca") {
            if (!string_opt(a.ca_file)) return usage_error(err, "--ca takes a PEM file");
        } else if (o == "--api-version") {
            if (!string_opt(a.api_version)) return usage_error(err, "--api-version takes a version (v24.0)");
        } else if (o == "--token-file") {
            if (!string_opt(a.token_file)) return usage_error(err, "--token-file takes a file");
        } else if (o == "--app-secret-file") {
            if (!string_opt(a.app_secret_file)) return usage_error(err, "--app-secret-file takes a file");
        } else if (o == "--rejects") {
            if (!string_opt(a.rejects_path)) return usage_error(err, "--rejects takes a file");
        } else if (o == "--failed") {
            if (!string_opt(a.failed_path)) return usage_error(err, "--failed takes a file");
        } else if (o == "--checkpoint") {
            if (!string_opt(a.checkpoint_path) || a.checkpoint_path.empty())
                return usage_error(err, "--checkpoint takes a file");
        } else if (o == "--event-ids") {
            std::string v;
            if (!string_opt(v)) return usage_error(err, "--event-ids takes deterministic, random or none");
            if (v == "deterministic") a.event_ids = capi::EventIdMode::deterministic;
            else if (v == "random") a.event_ids = capi::EventIdMode::random;
            else if (v == "none") a.event_ids = capi::EventIdMode::none;
            else return usage_error(err, "--event-ids takes deterministic, random or none, not '" + v + "'");
        } else if (o == "--max-in-flight") {
            if (!number_opt(1, 1 << 24, n)) return usage_error(err, "--max-in-flight takes a number from 1 to 16777216");
            a.max_in_flight = static_cast<std::size_t>(n);
        } else if (o == "--connections") {
            if (!number_opt(1, 256, n)) return usage_error(err, "--connections takes a number from 1 to 256");
            a.connections = static_cast<std::size_t>(n);
        } else if (o == "--linger-ms") {
            if (!number_opt(1, 60'000, n)) return usage_error(err, "--linger-ms takes milliseconds from 1 to 60000");
            a.linger = std::chrono::milliseconds(n);
        } else if (o == "--request-timeout-ms") {
            if (!number_opt(1, 600'000, n))
                return usage_error(err, "--request-timeout-ms takes milliseconds from 1 to 600000");
            a.request_timeout = std::chrono::milliseconds(n);
        } else if (o == "--max-attempts") {
            if (!number_opt(1, 100, n)) return usage_error(err, "--max-attempts takes a number from 1 to 100");
            a.max_attempts = static_cast<unsigned>(n);
        } else if (o.size() > 1 && o[0] == '-' && o != "-") {
            return usage_error(err, "unknown option '" + std::string(o) + "'");
        } else if (!have_input) {
            a.input = std::string(o);
            have_input = true;
        } else {
            return usage_error(err, "send takes one input file");
        }
    }
    if (!a.checkpoint_path.empty()) {
        if (a.dry_run) return usage_error(err, "--checkpoint applies to sending only, not to --dry-run");
        if (a.input == "-")
            return usage_error(err, "--checkpoint needs an input file: stdin cannot be read again from a "
                                    "position (save it to a file first, then send the file)");
    }
    if (a.pixel.empty()) {
        if (const char* p = std::getenv("CAPI_PIXEL_ID"); p != nullptr) a.pixel = p;
    }
    if (!a.dry_run) {
        if (a.form) return usage_error(err, "--form applies to --dry-run only (the client sends JSON bodies)");
        if (a.fixed_now)
            return usage_error(err, "--now applies to --dry-run only (Meta checks event_time against its own clock)");
    }
    return std::nullopt;
}

void terminal_hint(const Args& a, std::ostream& err) {
    if (a.input == "-" && ::isatty(0))
        err << "capi send: reading events from the terminal, one per line; end with Ctrl-D\n";
}

} // namespace capi_send
