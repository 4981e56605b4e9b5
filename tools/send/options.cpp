// capi send's command line (options.hpp).
#include "send/options.hpp"

#include "send_cmd.hpp"
#include "cli/cli.hpp"

#include <CLI/CLI.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace capi_send {

namespace {

constexpr std::string_view command = "send";

constexpr const char* description =
    "Reads NDJSON events (one JSON object per line, Meta's wire field names, PII in clear or\n"
    "already hashed) from FILE or stdin and sends them to the Conversions API through capi's\n"
    "client: validates, normalizes, hashes, batches, retries; prints a summary table on\n"
    "stdout. The access token comes from $CAPI_ACCESS_TOKEN or --token-file, never the\n"
    "command line. docs/cli.md has the details.";

constexpr const char* footer =
    "--dry-run prints each request body on stdout instead of sending (no token needed); with\n"
    "it: --form (form-encoded bodies), --now UNIX_SECONDS.\n"
    "Exit status: 0 every event delivered, 1 some lines rejected or events failed, expired or\n"
    "dropped, 2 usage, I/O or configuration error, 130 interrupted.";

/// A validator refusing an empty value.
CLI::Validator non_empty(std::string what) {
    return CLI::Validator(
        [what](std::string& v) { return v.empty() ? "takes " + what : std::string(); }, "");
}

} // namespace

std::string read_secret(const std::string& path, std::string_view option, std::string& why, std::ostream& err) {
    std::string secret;
    if (auto e = capi_cli::read_secret_file(path, option, secret)) {
        why = *e;
        return {};
    }
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & (S_IRGRP | S_IROTH)) != 0)
        err << "capi send: warning: " << option << " names a file other users can read (chmod 600 it)\n";
    return secret;
}

int usage_error(std::ostream& err, std::string_view why) { return capi_cli::fail(command, why, err); }

std::optional<int> parse_args(int argc, char** argv, Args& a, std::ostream& out, std::ostream& err) {
    CLI::App app{description, "capi send"};
    app.footer(footer);
    std::string test_event_code, partner_agent, event_ids = "deterministic";
    long long now = -1;
    bool pass_unknown = false, reject_invalid_pii = false, progress = false, no_progress = false;
    std::size_t max_batch = a.enc.max_batch_events;
    long long linger_ms = a.linger.count(), timeout_ms = a.request_timeout.count();

    app.add_option("FILE", a.input, "the NDJSON input; - or none: stdin")->capture_default_str();
    auto* dest = "destination";
    app.add_option("--pixel", a.pixel, "pixel (dataset) id; default $CAPI_PIXEL_ID")->type_name("ID")->group(dest);
    app.add_option("--token-file", a.token_file, "access token file; default $CAPI_ACCESS_TOKEN")
        ->type_name("FILE")
        ->group(dest);
    app.add_option("--app-secret-file", a.app_secret_file, "app secret for appsecret_proof; default $CAPI_APP_SECRET")
        ->type_name("FILE")
        ->group(dest);
    app.add_option("--endpoint", a.endpoint, "https://host[:port]")->type_name("URL")->capture_default_str()->group(dest);
    app.add_option("--ca", a.ca_file, "PEM CA file to trust instead of the system store")->type_name("FILE")->group(dest);
    app.add_option("--api-version", a.api_version, "Graph API version")->capture_default_str()->group(dest);
    app.add_option("--test-event-code", test_event_code, "send to Events Manager's Test Events")
        ->type_name("CODE")
        ->check(non_empty("a code"))
        ->group(dest);
    app.add_option("--partner-agent", partner_agent, "partner_agent of every request")
        ->type_name("AGENT")
        ->check(non_empty("a value"))
        ->group(dest);
    auto* events = "events";
    app.add_option("--max-batch", max_batch, "events per request")
        ->type_name("N")
        ->capture_default_str()
        ->check(CLI::Range(1, 1000))
        ->group(events);
    app.add_flag("--pass-unknown", pass_unknown, "pass keys capi does not model through to Meta")->group(events);
    app.add_flag("--reject-invalid-pii", reject_invalid_pii, "reject the event when a PII value is invalid")
        ->group(events);
capi_cli::add_enhanced_options(app, a.enc.enhanced, events);
        app.add_flag("--hash-external-id", a.enc.hash_external_id, "hash user_data.external_id (default: sent raw)")
        ->group(events);
    app.add_flag("--strict", a.strict,
                 "exit 1 also when customer-information values were dropped as invalid or\n"
                 "will not match as given (a db not in YYYYMMDD, ...)")
        ->group(events);
    app.add_option("--event-ids", event_ids,
                   "id of an event without one: deterministic (from the pixel and the event),\n"
                   "random, none")
        ->type_name("MODE")
        ->capture_default_str()
        ->check(CLI::IsMember({"deterministic", "random", "none"}))
        ->group(events);
    app.add_option("--max-event-bytes", a.enc.validation.max_event_bytes,
                   "the largest event, serialized: a bigger one is rejected naming its heaviest\n"
                   "field or list")
        ->type_name("N")
        ->capture_default_str()
        ->check(CLI::Range(1024, 4 * 1024 * 1024))
        ->group(events);
    auto* reports = "reports";
    app.add_option("--rejects", a.rejects_path,
                   "one line per rejected input line (TSV: line, fields, reasons, the input line)")
        ->type_name("FILE")
        ->group(reports);
    app.add_option("--failed", a.failed_path,
                   "one line per failed, expired or dropped input line (TSV: line, outcome, code,\n"
                   "subcode, fbtrace_id, message, the input line with the event_id its attempts used)")
        ->type_name("FILE")
        ->group(reports);
    app.add_option("--checkpoint", a.checkpoint_path,
                   "record durably how far every line has an outcome; started again with it, resume\n"
                   "there (a file input)")
        ->type_name("FILE")
        ->check(non_empty("a file"))
        ->group(reports);
    app.add_flag("--progress", progress, "progress bar on stderr (default: when stderr is a terminal)")->group(reports);
    app.add_flag("--no-progress", no_progress, "no progress bar")->group(reports);
    auto* tuning = "tuning";
    app.add_option("--max-in-flight", a.max_in_flight,
                   "events read but without an outcome (default: 2 x connections x max batch)")
        ->type_name("N")
        ->check(CLI::Range(1, 1 << 24))
        ->group(tuning);
    app.add_option("--connections", a.connections, "keep-alive TLS connections")
        ->type_name("N")
        ->capture_default_str()
        ->check(CLI::Range(1, 256))
        ->group(tuning);
    app.add_option("--linger-ms", linger_ms, "a partial batch waits at most this long")
        ->type_name("MS")
        ->capture_default_str()
        ->check(CLI::Range(1, 60'000))
        ->group(tuning);
    app.add_option("--request-timeout-ms", timeout_ms, "deadline of one request")
        ->type_name("MS")
        ->capture_default_str()
        ->check(CLI::Range(1, 600'000))
        ->group(tuning);
    app.add_option("--max-attempts", a.max_attempts, "attempts per batch, retries included")
        ->type_name("N")
        ->capture_default_str()
        ->check(CLI::Range(1, 100))
        ->group(tuning);
    auto* dry = "dry run";
    app.add_flag("--dry-run", a.dry_run, "print each request body on stdout instead of sending")->group(dry);
    app.add_flag("--form", a.form, "form-encoded bodies (with --dry-run)")->group(dry);
    app.add_option("--now", now, "the clock of the validation windows, in Unix seconds (with --dry-run)")
        ->type_name("UNIX_SECONDS")
        ->check(CLI::Range(0LL, 1LL << 40))
        ->group(dry);
    if (auto rc = capi_cli::parse(app, command, argc - 1, argv + 1, out, err)) return *rc;

    a.enc.max_batch_events = max_batch;
    a.rd.pass_unknown_keys = pass_unknown;
    if (reject_invalid_pii) a.enc.invalid_pii = capi::InvalidPiiPolicy::reject_event;
    if (!test_event_code.empty()) a.fields.test_event_code = std::move(test_event_code);
    if (!partner_agent.empty()) a.fields.partner_agent = std::move(partner_agent);
    if (now >= 0) a.fixed_now = std::chrono::system_clock::time_point(std::chrono::seconds(now));
    if (progress && no_progress) return usage_error(err, "--progress and --no-progress: choose one");
    if (progress) a.progress = 1;
    if (no_progress) a.progress = 0;
    a.linger = std::chrono::milliseconds(linger_ms);
    a.request_timeout = std::chrono::milliseconds(timeout_ms);
    a.event_ids = event_ids == "random" ? capi::EventIdMode::random
                  : event_ids == "none" ? capi::EventIdMode::none
                                        : capi::EventIdMode::deterministic;
    if (a.input.empty()) a.input = "-";

    if (a.dry_run && !a.failed_path.empty())
        return usage_error(err, "--failed applies to sending only: a dry run fails nothing (--rejects works with "
                                "--dry-run)");
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
