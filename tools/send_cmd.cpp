// capi send: reads NDJSON events (Meta's wire format) and either prints the request
// bodies (--dry-run) or sends them through capi::Client, giving every input line an
// outcome: rejected (before sending), delivered, failed (Graph code, subcode,
// fbtrace_id), expired or dropped. docs/cli.md is the user's documentation.
//
// Memory stays bounded for any input: lines are read one at a time, and reading
// pauses while --max-in-flight events are between the reader and their outcome
// (the client runs with Overflow::block behind that as a second guard).
#include "send_cmd.hpp"

#include "send/checkpoint.hpp"
#include "send/input.hpp"
#include "send/outcome_log.hpp"

#include <capi/client.hpp>
#include <capi/encode.hpp>
#include <capi/ndjson.hpp>
#include <capi/normalize.hpp>
#include <capi/validate.hpp>

#include "json/prepared.hpp"
#include "wire/schema.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <iterator>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <tuple>
#include <vector>

// Options that would put a secret in argv, where every user sees it (ps,
// /proc/PID/cmdline) and the shell history keeps it: refused, never read.
std::optional<std::string> secret_option_refusal(std::string_view a) {
    const auto name = a.substr(0, a.find('='));
    for (std::string_view t : {"--token", "--access-token", "--access_token", "--accesstoken"})
        if (name == t)
            return std::string(name) +
                   " is refused: a token on the command line is visible to every user in the process "
                   "list and stays in the shell history. Set CAPI_ACCESS_TOKEN or put the token in a "
                   "file and use --token-file FILE";
    for (std::string_view s : {"--app-secret", "--app_secret", "--appsecret", "--secret"})
        if (name == s)
            return std::string(name) +
                   " is refused: a secret on the command line is visible to every user in the process "
                   "list and stays in the shell history. Set CAPI_APP_SECRET or use --app-secret-file FILE";
    return std::nullopt;
}

namespace {

using namespace std::chrono_literals;
using capi_send::Input;
using capi_send::LineOutcome;
using steady = std::chrono::steady_clock;

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
    "                            message, the input line)\n"
    "                            (the line with the event_id its attempts used)\n"
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

// The SIGINT/SIGTERM flag: the reader stops at the next line, the summary still prints.
volatile std::sig_atomic_t g_interrupted = 0;
timespec g_first_signal{};  // written and read by the handler only

// A second signal ends the process at once, unless it comes within half a second
// of the first: one ^C often arrives twice (`timeout` sends it to the process and
// to its group, a terminal to the whole pipeline). Async-signal-safe calls only.
extern "C" void on_interrupt(int sig) {
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (g_interrupted == 0) {
        g_first_signal = now;
        g_interrupted = 1;
        return;
    }
    const long long ms = (now.tv_sec - g_first_signal.tv_sec) * 1000LL +
                         (now.tv_nsec - g_first_signal.tv_nsec) / 1'000'000;
    if (ms >= 500) {
        std::signal(sig, SIG_DFL);
        std::raise(sig);
    }
}

bool interrupted() { return g_interrupted != 0; }

struct Args {
    bool dry_run = false, form = false;
    int progress = -1;  // -1 auto (a terminal), 0 off, 1 on
    capi::EncodeOptions enc;
    capi::ReaderOptions rd;
    capi::RequestFields fields;
    std::optional<std::chrono::system_clock::time_point> fixed_now;
    std::string input = "-";
    std::string pixel, endpoint = "https://graph.facebook.com", api_version = "v24.0", ca_file;
    std::string token_file, app_secret_file, rejects_path, failed_path, checkpoint_path;
    capi::EventIdMode event_ids = capi::EventIdMode::deterministic;
    std::size_t max_in_flight = 0, connections = 8;  // max_in_flight 0: 2 x connections x max batch
    unsigned max_attempts = 6;
    std::chrono::milliseconds linger{50}, request_timeout{10'000};
};

bool parse_uint(std::string_view s, long long& out) {
    auto r = std::from_chars(s.data(), s.data() + s.size(), out);
    return r.ec == std::errc() && r.ptr == s.data() + s.size() && out >= 0;
}

// Reads a secret (trailing newlines dropped). Empty string and an error message
// when unreadable or empty; the secret itself never appears in a message.
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

// Parses argv into `a`; returns an exit status when the command must stop.
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

const capi::FieldError too_long_error{
    "", "line longer than " + std::to_string(Input::max_line >> 20) + " MiB, skipped"};

//------------------------------------------------------------------------------
// --dry-run

void terminal_hint(const Args& a, std::ostream& err) {
    if (a.input == "-" && ::isatty(0))
        err << "capi send: reading events from the terminal, one per line; end with Ctrl-D\n";
}

int dry_run(const Args& a, Input& in, std::ostream& out, std::ostream& err) {
    terminal_hint(a, err);
    capi::EventReader reader(a.rd);
    capi::BatchEncoder encoder(a.enc);
    capi::Event ev;
    capi::FieldError perr;
    std::string line;
    std::size_t accepted = 0, rejected = 0, dropped = 0;

    auto emit = [&] {
        if (encoder.empty()) return;
        auto body = a.form ? encoder.form_body(a.fields) : encoder.json_body(a.fields);
        out.write(body.data(), static_cast<std::streamsize>(body.size()));
        out.put('\n');
        encoder.clear();
    };
    // The ids a send to the same pixel gives events without one (EventIdMode::
    // deterministic), prepared and derived as capi::Client does; without a pixel,
    // or with --event-ids random or none, such events are shown without an id.
    using capi::detail::batch_access;
    const bool derive = a.event_ids == capi::EventIdMode::deterministic && !a.pixel.empty();
    capi::BatchEncoder staging(a.enc);
    capi::detail::PreparedEvent prepared;
    std::string id;
    auto add = [&](const capi::Event& e, std::chrono::system_clock::time_point now) {
        if (!derive || e.event_id) return encoder.add(e, now);
        auto r = batch_access::prepare(staging, e, now, prepared, capi::detail::derived_id_placeholder);
        if (r.status != capi::EncodeStatus::added) return r;
        batch_access::derive_event_id(prepared, a.pixel, id);
        auto added = batch_access::add_prepared(encoder, prepared, now);
        added.dropped = std::move(r.dropped);
        return added;
    };
    auto report = [&](const capi::FieldError& e, std::string_view prefix = {}) {
        err << "line " << in.line_no() << ": " << prefix;
        if (!e.path.empty()) err << e.path << ": ";
        err << e.reason << "\n";
    };

    for (Input::Got got; (got = in.next(line)) != Input::Got::end;) {
        if (got == Input::Got::too_long) {
            ++rejected;
            report(too_long_error);
            continue;
        }
        if (!reader.parse(line, ev, perr)) {
            ++rejected;
            report(perr);
            continue;
        }
        auto now = a.fixed_now ? *a.fixed_now : std::chrono::system_clock::now();
        auto r = add(ev, now);
        if (r.status == capi::EncodeStatus::batch_full) {
            emit();
            r = add(ev, now);
        }
        for (const auto& d : r.dropped) report(d, "value dropped: ");
        dropped += r.dropped.size();
        if (r.status == capi::EncodeStatus::added) {
            ++accepted;
        } else {
            ++rejected;
            for (const auto& e : r.errors) report(e);
        }
    }
    emit();
    out.flush();
    if (in.error() != 0) {
        err << "capi send: read error on " << a.input << ": " << std::strerror(in.error()) << "\n";
        return send_usage;
    }
    if (interrupted()) return send_interrupted;
    if (dropped) err << "values dropped " << dropped << "\n";
    err << "accepted " << accepted << ", rejected " << rejected << "\n";
    // Like grep: 0 when every event was accepted, 1 when some line was rejected
    // (all other lines were still processed), 2 for usage and I/O errors.
    return rejected ? send_some_failed : send_ok;
}

//------------------------------------------------------------------------------
// Sending

// TSV fields hold no tabs or line breaks; the input line is the last field, verbatim.
std::string tsv(std::string_view s) {
    std::string o(s);
    std::replace_if(o.begin(), o.end(), [](char c) { return c == '\t' || c == '\n' || c == '\r'; }, ' ');
    return o;
}

// Failures grouped by what Meta (or the network) said.
struct FailKey {
    bool graph = false;
    std::int64_t code = 0, subcode = 0;
    int errc = 0;
    friend bool operator<(const FailKey& x, const FailKey& y) {
        return std::tie(x.graph, x.code, x.subcode, x.errc) < std::tie(y.graph, y.code, y.subcode, y.errc);
    }
};
struct FailGroup {
    std::uint64_t count = 0;
    std::string fbtrace_id, message;
};

std::string message_of(const capi::SendResult& r) {
    // e.g. "retries exhausted (last attempt: connection refused)"
    if (!r.graph)
        return r.cause ? r.error.message() + " (last attempt: " + r.cause.message() + ")" : r.error.message();
    std::string m = r.graph->message;
    if (!r.graph->error_user_msg.empty()) m += " - " + r.graph->error_user_msg;
    // e.g. a transient Graph error the retry policy gave up on.
    if (r.error != capi::errc::graph_error) m += " (" + r.error.message() + ")";
    return m;
}

std::string fbtrace_of(const capi::SendResult& r) {
    if (!r.fbtrace_id.empty()) return r.fbtrace_id;
    return r.graph ? r.graph->fbtrace_id : std::string{};
}

// The customer-information values the client's encoder will drop (InvalidPiiPolicy::
// drop_value): the client sends the event without them and says nothing, the dry
// run reports them, so the send reports them too. Paths as the encoder's.
void pii_drops(const capi::UserData& ud, std::string& scratch, std::vector<capi::FieldError>& out) {
    namespace wire = capi::wire;
    auto check = [&](capi::Field f, std::string_view key, std::string_view value, std::optional<std::size_t> index) {
        std::string_view reason;
        if (capi::normalize_into(f, value, scratch, reason) != capi::NormalizeStatus::rejected) return;
        std::string path(wire::schema<capi::UserData>::name);
        path += '.';
        path += key;
        if (index) {  // appended piecewise: g++ 12 warns falsely on "[" + std::to_string(i) + "]"
            path += '[';
            path += std::to_string(*index);
            path += ']';
        }
        out.push_back({std::move(path), std::string(reason)});
    };
    // The keys the encoder normalizes, as it walks them.
    for (const auto& k : wire::user_multi_keys) {
        const auto& values = ud.*k.member;
        for (std::size_t i = 0; i < values.size(); ++i) check(k.field, k.key, values[i], i);
    }
    for (const auto& k : wire::user_single_keys)
        if (const auto& value = ud.*k.member) check(k.field, k.key, *value, std::nullopt);
}

// Shared by the reader (main thread), the completions (io thread) and the progress thread.
struct SendState {
    std::atomic<std::uint64_t> in_flight{0}, sent{0}, delivered{0}, failed{0}, expired{0}, dropped{0},
        rejected{0}, bytes_read{0};
    std::atomic<bool> reader_waiting{false};
    std::uint64_t low_water = 0;

    std::mutex mu;  // guards everything below and writes to `err`
    std::condition_variable cv;
    std::map<FailKey, FailGroup> groups;
    capi_send::OutcomeLog log;  // lines between reading and their records, in input order
    std::atomic<std::size_t> kept{0};  // log.size(), read without mu
    std::ofstream rejects, failures;
    bool write_rejects = false, write_failures = false;
    std::ostream* err = nullptr;
    bool bar_shown = false;  // a progress line is on the screen
    std::uint64_t rejects_printed = 0, values_dropped = 0, drops_printed = 0;
    static constexpr std::uint64_t max_printed_rejects = 10, max_printed_drops = 10;

    /// Values the encoder will drop from an event that is still sent. Takes mu.
    void dropped_values(std::size_t line_no, const std::vector<capi::FieldError>& drops) {
        std::lock_guard lock(mu);
        for (const auto& d : drops) {
            ++values_dropped;
            if (drops_printed++ >= max_printed_drops) continue;
            clear_bar();
            *err << "line " << line_no << ": value dropped: " << d.path << ": " << d.reason << "\n";
        }
    }

    // Wipes the progress line before other text goes to the terminal. Holds mu.
    void clear_bar() {
        if (bar_shown) *err << "\r\033[K";
        bar_shown = false;
    }

    /// A line that never reached the client, or that it refused: its outcome
    /// (`ticket` from log.add). Takes mu.
    void reject(std::uint64_t ticket, std::size_t line_no, const std::vector<capi::FieldError>& errors,
                std::string_view line) {
        rejected.fetch_add(1, std::memory_order_relaxed);
        std::lock_guard lock(mu);
        std::string record;
        if (write_rejects) {
            std::string paths, reasons;
            for (const auto& e : errors) {
                if (!paths.empty()) paths += ',', reasons += " | ";
                paths += e.path.empty() ? "-" : tsv(e.path);
                reasons += tsv(e.reason);
            }
            record = std::to_string(line_no) + '\t' + paths + '\t' + reasons + '\t' + std::string(line) + '\n';
        } else if (rejects_printed++ < max_printed_rejects) {
            clear_bar();
            for (const auto& e : errors) {
                *err << "line " << line_no << ": ";
                if (!e.path.empty()) *err << e.path << ": ";
                *err << e.reason << "\n";
            }
        }
        settle_line(ticket, LineOutcome::rejected, {}, std::move(record));
    }

    /// A line read, in input order (the reader's thread). Takes mu.
    std::uint64_t read_line(std::uint64_t end, std::size_t line_no) {
        std::lock_guard lock(mu);
        const auto t = log.add(end, line_no);
        kept.store(log.size(), std::memory_order_relaxed);
        return t;
    }

    /// An accepted event's outcome. Runs on the io thread. `had_id`: the input
    /// line carried its own event_id.
    void settle(std::uint64_t ticket, std::size_t line_no, std::string_view line, bool had_id,
                const capi::SendResult& r) {
        // The encoder's checks that need the normalized values (an invalid PII value
        // under --reject-invalid-pii, an event over the size cap) run in the client's
        // batcher, which fails the event with the fields; it was never sent, so for
        // this report it is a rejected line like the others.
        const bool never_sent = r.outcome == capi::Outcome::failed && r.error == capi::errc::invalid_event &&
                                !r.invalid.empty();
        switch (never_sent ? capi::Outcome::rejected : r.outcome) {
        case capi::Outcome::delivered: {
            delivered.fetch_add(1, std::memory_order_relaxed);
            std::lock_guard lock(mu);
            settle_line(ticket, LineOutcome::delivered, {}, {});
            break;
        }
        case capi::Outcome::rejected: {
            // Refused by the client after our own validation passed (a clock tick
            // across a window edge, queue_full, shutdown): still a rejected line.
            auto errors = r.invalid;
            if (errors.empty()) errors.push_back({"", r.error.message()});
            reject(ticket, line_no, errors, line);
            break;
        }
        case capi::Outcome::expired:
        case capi::Outcome::dropped:
        case capi::Outcome::failed: {
            auto& counter = r.outcome == capi::Outcome::expired   ? expired
                            : r.outcome == capi::Outcome::dropped ? dropped
                                                                  : failed;
            counter.fetch_add(1, std::memory_order_relaxed);
            std::lock_guard lock(mu);
            const auto trace = fbtrace_of(r);
            const auto message = message_of(r);
            if (r.outcome == capi::Outcome::failed) {
                FailKey k;
                if (r.graph) {
                    k.graph = true;
                    k.code = r.graph->code;
                    k.subcode = r.graph->error_subcode;
                } else {
                    k.errc = r.error.value();
                }
                auto& g = groups[k];
                if (g.count++ == 0) g.message = message;
                if (g.fbtrace_id.empty()) g.fbtrace_id = trace;
            }
            std::string record;
            if (write_failures) {
                // The line goes back with the id its attempts used, so re-sending
                // it (cut -f7-) is deduplicated by Meta against what may have arrived.
                std::ostringstream f;
                f << line_no << '\t' << capi::to_string(r.outcome) << '\t';
                if (r.graph)
                    f << r.graph->code << '\t' << r.graph->error_subcode;
                else
                    f << "-\t-";
                f << '\t' << (trace.empty() ? "-" : trace) << '\t' << tsv(message) << '\t'
                  << capi_send::line_with_event_id(line, had_id, r.event_id) << '\n';
                record = std::move(f).str();
            }
            settle_line(ticket, r.outcome == capi::Outcome::expired   ? LineOutcome::expired
                                : r.outcome == capi::Outcome::dropped ? LineOutcome::dropped
                                                                      : LineOutcome::failed,
                        std::move(record), {});
            break;
        }
        }
        const auto left = in_flight.fetch_sub(1, std::memory_order_seq_cst) - 1;
        if (left <= low_water && reader_waiting.load(std::memory_order_seq_cst)) {
            std::lock_guard lock(mu);
            cv.notify_all();
        }
    }

    // Holds mu.
    void settle_line(std::uint64_t ticket, LineOutcome o, std::string failed_record, std::string reject_record) {
        log.settle(ticket, o, std::move(failed_record), std::move(reject_record));
        kept.store(log.size(), std::memory_order_relaxed);
    }

    /// Waits (in 100 ms slices) until at most `limit` lines are kept in the log
    /// or an interrupt arrives: lines settled behind one still in flight wait
    /// there, with their records, and this bounds them.
    void wait_kept(std::size_t limit) {
        std::unique_lock lock(mu);
        while (kept.load(std::memory_order_relaxed) > limit && !interrupted()) cv.wait_for(lock, 100ms);
    }

    /// Waits until at most `limit` events are in flight, the time passes or (when
    /// `interruptible`) an interrupt arrives; true when the limit was reached.
    bool wait_in_flight(std::uint64_t limit, steady::time_point until, bool interruptible) {
        std::unique_lock lock(mu);
        reader_waiting.store(true, std::memory_order_seq_cst);
        // The 100 ms slices notice an interrupt; a missed wake-up costs one slice.
        while (in_flight.load(std::memory_order_seq_cst) > limit && !(interruptible && interrupted()) &&
               steady::now() < until)
            cv.wait_for(lock, std::min<steady::duration>(100ms, until - steady::now()));
        reader_waiting.store(false, std::memory_order_seq_cst);
        return in_flight.load(std::memory_order_seq_cst) <= limit;
    }
};

std::string with_commas(std::uint64_t n) {
    const std::string digits = std::to_string(n);
    std::string s;
    for (std::size_t i = 0; i < digits.size(); ++i) {
        if (i > 0 && (digits.size() - i) % 3 == 0) s += ',';
        s += digits[i];
    }
    return s;
}

// One progress line; holds st.mu.
void draw_bar(SendState& st, std::uint64_t total_bytes, steady::time_point start) {
    const double secs = std::chrono::duration<double>(steady::now() - start).count();
    const auto delivered = st.delivered.load(std::memory_order_relaxed);
    std::ostringstream line;
    line << "\r\033[K";
    if (total_bytes > 0) {
        const double frac = std::min(1.0, static_cast<double>(st.bytes_read.load()) / static_cast<double>(total_bytes));
        constexpr int width = 20;
        const int filled = static_cast<int>(frac * width);
        line << '[' << std::string(static_cast<std::size_t>(filled), '#')
             << std::string(static_cast<std::size_t>(width - filled), '.') << "] " << std::setw(3)
             << static_cast<int>(frac * 100) << "%  ";
    }
    line << "sent " << with_commas(st.sent.load()) << "  delivered " << with_commas(delivered) << "  rejected "
         << with_commas(st.rejected.load()) << "  failed "
         << with_commas(st.failed.load() + st.expired.load() + st.dropped.load()) << "  "
         << with_commas(secs > 0 ? static_cast<std::uint64_t>(static_cast<double>(delivered) / secs) : 0)
         << " ev/s  " << std::fixed << std::setprecision(1) << secs << " s";
    *st.err << line.str() << std::flush;
    st.bar_shown = true;
}

void print_summary(SendState& st, const Args& a, std::ostream& out, std::size_t lines, double secs,
                   bool read_all, std::string_view checkpoint_note) {
    const auto delivered = st.delivered.load(), failed = st.failed.load(), expired = st.expired.load(),
               dropped = st.dropped.load(), rejected = st.rejected.load();
    const auto accepted = delivered + failed + expired + dropped;
    auto row = [&](std::string_view name, std::uint64_t n, std::string_view note = {}) {
        out << "  " << std::left << std::setw(12) << name << std::right << std::setw(12) << n;
        if (!note.empty()) out << "  " << note;
        out << "\n";
    };
    out << "capi send: " << lines << (lines == 1 ? " line from " : " lines from ") << (a.input == "-" ? "stdin" : a.input) << " to "
        << a.endpoint << " pixel " << a.pixel;
    if (a.fields.test_event_code) out << " (test_event_code " << *a.fields.test_event_code << ")";
    if (!read_all) out << " (stopped before the end of the input)";
    out << "\n";
    row("accepted", accepted);
    row("delivered", delivered);
    const std::string rejects_note = rejected && !a.rejects_path.empty() ? "see " + a.rejects_path : "";
    const std::string failed_note = (failed + expired + dropped) && !a.failed_path.empty() ? "see " + a.failed_path : "";
    row("rejected", rejected, rejects_note);
    row("failed", failed, failed_note);
    if (!st.groups.empty()) {
        std::vector<std::pair<FailKey, FailGroup>> g(st.groups.begin(), st.groups.end());
        std::stable_sort(g.begin(), g.end(), [](const auto& x, const auto& y) { return x.second.count > y.second.count; });
        out << "    " << std::setw(10) << "count" << "  " << std::setw(6) << "code" << "  " << std::setw(8)
            << "subcode" << "  " << std::left << std::setw(28) << "fbtrace_id" << std::right << "  message\n";
        for (const auto& [k, v] : g) {
            out << "    " << std::setw(10) << v.count << "  " << std::setw(6)
                << (k.graph ? std::to_string(k.code) : "-") << "  " << std::setw(8)
                << (k.graph ? std::to_string(k.subcode) : "-") << "  " << std::left << std::setw(28)
                << (v.fbtrace_id.empty() ? "-" : v.fbtrace_id) << std::right << "  " << v.message << "\n";
        }
    }
    row("expired", expired);
    if (dropped) row("dropped", dropped);
    if (st.values_dropped)
        row("pii_dropped", st.values_dropped, "invalid customer-information values left out; their events were sent");
    if (!checkpoint_note.empty()) out << "  " << std::left << std::setw(12) << "checkpoint" << std::right << "  " << checkpoint_note << "\n";
    out << "  " << std::left << std::setw(12) << "throughput" << std::right << std::setw(12)
        << static_cast<std::uint64_t>(secs > 0 ? static_cast<double>(delivered) / secs : 0.0)
        << "  events/s delivered\n";
    out << "  " << std::left << std::setw(12) << "elapsed" << std::right << std::setw(12) << std::fixed
        << std::setprecision(3) << secs << "  s\n";
    out.flush();
}

// Starts a thread with SIGINT and SIGTERM blocked, so they reach the reading thread
// (whose read(2) they interrupt) and no other.
template <class F>
std::thread without_signals(F&& f) {
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    std::thread t;
    try {
        t = std::thread(std::forward<F>(f));
    } catch (...) {
        pthread_sigmask(SIG_SETMASK, &old, nullptr);
        throw;
    }
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    return t;
}

int real_send(Args& a, Input& input, const SendStreams& io, std::ostream& out, std::ostream& err) {
    // The destination: never from argv (see secret_option_refusal).
    capi::Options opt;
    if (a.pixel.empty()) return usage_error(err, "no pixel: use --pixel ID or set CAPI_PIXEL_ID");
    if (!std::all_of(a.pixel.begin(), a.pixel.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return usage_error(err, "--pixel: a pixel id is a string of digits");
    opt.destination.pixel_id = a.pixel;
    // Enough for every connection to carry a full batch while as many fill up
    // behind them: a real endpoint answers a batch in about a second.
    if (a.max_in_flight == 0) a.max_in_flight = 2 * a.connections * a.enc.max_batch_events;
    std::string why;
    if (!a.token_file.empty()) {
        opt.destination.access_token = read_secret(a.token_file, why, err);
        if (opt.destination.access_token.empty()) return usage_error(err, "--token-file: " + why);
    } else if (const char* t = std::getenv("CAPI_ACCESS_TOKEN"); t != nullptr && *t != '\0') {
        opt.destination.access_token = t;
    } else {
        return usage_error(err, "no access token: set CAPI_ACCESS_TOKEN or use --token-file FILE "
                                "(never the command line, where the process list shows it)");
    }
    if (!a.app_secret_file.empty()) {
        opt.destination.app_secret = read_secret(a.app_secret_file, why, err);
        if (opt.destination.app_secret.empty()) return usage_error(err, "--app-secret-file: " + why);
    } else if (const char* s = std::getenv("CAPI_APP_SECRET"); s != nullptr && *s != '\0') {
        opt.destination.app_secret = s;
    }
    if (a.fields.test_event_code) opt.destination.test_event_code = *a.fields.test_event_code;
    opt.request = a.fields;
    opt.request.test_event_code.reset();  // per destination
    opt.encode = a.enc;
    opt.transport.endpoint = a.endpoint;
    opt.transport.api_version = a.api_version;
    opt.transport.ca_file = a.ca_file;
    opt.transport.max_connections = a.connections;
    opt.transport.request_timeout = a.request_timeout;
    opt.retry.max_attempts = a.max_attempts;
    opt.linger = a.linger;
    opt.overflow = capi::Overflow::block;
    opt.event_ids = a.event_ids;
    // The queue holds only events not yet batched; --max-in-flight bounds the rest.
    opt.queue_capacity = std::clamp<std::size_t>(a.max_in_flight, 1024, 1 << 16);

    if (!a.ca_file.empty()) {
        std::ifstream ca(a.ca_file);
        if (!ca) return usage_error(err, "--ca: cannot open " + a.ca_file + ": " + std::strerror(errno));
    }

    // --checkpoint: this input's identity, and where an earlier run stopped.
    std::optional<capi_send::Checkpoint> resume;
    capi_send::Checkpoint base;  // the identity, and the tallies of earlier runs
    if (!a.checkpoint_path.empty()) {
        auto id = capi_send::identify_input(a.input, why);
        if (!id) {
            err << "capi send: --checkpoint: " << why << "\n";
            return send_usage;
        }
        resume = capi_send::read_checkpoint(a.checkpoint_path, why);
        if (!resume && !why.empty()) {
            err << "capi send: --checkpoint: " << why << "\n";
            return send_usage;
        }
        if (resume) {
            if (auto m = capi_send::checkpoint_mismatch(*resume, *id); !m.empty()) {
                err << "capi send: --checkpoint " << a.checkpoint_path << " belongs to another input: " << m
                    << ". Give this input its own checkpoint file, or delete this one to send it from the start\n";
                return send_usage;
            }
            base = *resume;
        } else {
            base.input = *id;
        }
    }

    SendState st;
    st.err = &err;
    st.low_water = a.max_in_flight - a.max_in_flight / 4;
    std::uint64_t failed_base = 0, rejects_base = 0;
    for (auto [path, stream, flag, recorded, at_open, name] :
         {std::tuple{&a.rejects_path, &st.rejects, &st.write_rejects, resume ? resume->rejects_bytes : 0,
                     &rejects_base, "--rejects"},
          std::tuple{&a.failed_path, &st.failures, &st.write_failures, resume ? resume->failed_bytes : 0,
                     &failed_base, "--failed"}}) {
        if (path->empty()) continue;
        std::string note;
        if (!capi_send::open_report(*path, *stream, resume.has_value(), recorded, *at_open, why, note))
            return usage_error(err, std::string(name) + ": " + why);
        if (!note.empty()) err << "capi send: " << name << ": " << note << "\n";
        *flag = true;
    }
    st.log.set_sinks(st.write_failures ? &st.failures : nullptr, st.write_rejects ? &st.rejects : nullptr);
    if (resume) {
        if (!input.seek(resume->position, static_cast<std::size_t>(resume->line), err)) return send_usage;
        st.log.start_at(resume->position, resume->line);
        err << "capi send: resuming " << a.input << " after line " << resume->line << " (byte " << resume->position
            << " of " << input.size() << "), as " << a.checkpoint_path << " records\n";
    }

    // Our own io_context, so every completion runs, also those shutdown() posts.
    boost::asio::io_context ioc(1);
    auto work = boost::asio::make_work_guard(ioc);
    std::optional<capi::Client> client;
    std::thread io_thread;
    {
        // Signals go to this thread only: the client's and the io thread inherit the block.
        sigset_t block, old;
        sigemptyset(&block);
        sigaddset(&block, SIGINT);
        sigaddset(&block, SIGTERM);
        pthread_sigmask(SIG_BLOCK, &block, &old);
        try {
            client.emplace(ioc.get_executor(), std::move(opt));
            io_thread = std::thread([&ioc] {
                for (;;) {
                    try {
                        ioc.run();
                        return;
                    } catch (...) {
                        // A completion threw (none of ours do): keep the loop alive.
                    }
                }
            });
        } catch (const std::exception& e) {
            pthread_sigmask(SIG_SETMASK, &old, nullptr);
            // The message names the option, never its value (tokens stay out of it).
            err << "capi send: " << e.what() << "\n";
            return send_usage;
        }
        pthread_sigmask(SIG_SETMASK, &old, nullptr);
    }
    terminal_hint(a, err);
    const bool show_bar = a.progress == 1 || (a.progress == -1 && io.err_is_tty == 1);
    const auto start = steady::now();
    std::mutex bar_mu;
    std::condition_variable bar_cv;
    bool bar_stop = false;
    std::thread bar;
    if (show_bar) {
        bar = without_signals([&] {
            std::unique_lock lock(bar_mu);
            while (!bar_cv.wait_for(lock, 100ms, [&] { return bar_stop; })) {  // at most 10 draws a second
                std::lock_guard g(st.mu);
                draw_bar(st, input.size(), start);
            }
        });
    }

    std::optional<capi_send::Checkpointer> checkpointer;
    std::thread checkpoint_thread;
    if (!a.checkpoint_path.empty()) {
        std::vector<std::string> sync_paths;
        if (st.write_failures) sync_paths.push_back(a.failed_path);
        if (st.write_rejects) sync_paths.push_back(a.rejects_path);
        checkpointer.emplace(
            a.checkpoint_path,
            [&st, &base, failed_base, rejects_base] {
                capi_send::Checkpoint cp = base;
                std::lock_guard lock(st.mu);
                if (st.write_failures) st.failures.flush();
                if (st.write_rejects) st.rejects.flush();
                cp.position = st.log.position();
                cp.line = st.log.line();
                cp.failed_bytes = failed_base + st.log.failed_bytes();
                cp.rejects_bytes = rejects_base + st.log.rejects_bytes();
                const auto& t = st.log.tally();
                cp.tally.delivered += t.delivered;
                cp.tally.rejected += t.rejected;
                cp.tally.failed += t.failed;
                cp.tally.expired += t.expired;
                cp.tally.dropped += t.dropped;
                return cp;
            },
            std::move(sync_paths));
        checkpoint_thread = without_signals([&] { checkpointer->run(); });
    }

    capi::EventReader reader(a.rd);
    capi::Event ev;
    capi::FieldError perr;
    std::string line;
    std::size_t lines = 0;
    const bool keep_lines = st.write_rejects || st.write_failures;
    const bool check_pii = a.enc.invalid_pii == capi::InvalidPiiPolicy::drop_value;
    std::vector<capi::FieldError> drops;
    std::string scratch;
    for (Input::Got got; !interrupted() && (got = input.next(line)) != Input::Got::end;) {
        ++lines;
        const auto line_no = input.line_no();
        st.bytes_read.store(input.bytes(), std::memory_order_relaxed);
        const auto ticket = st.read_line(input.bytes(), line_no);
        if (got == Input::Got::too_long) {
            st.reject(ticket, line_no, {too_long_error}, "-");
            continue;
        }
        if (!reader.parse(line, ev, perr)) {
            st.reject(ticket, line_no, {perr}, line);
            continue;
        }
        // Checked here as the client will check it, so rejects are reported in input
        // order by this thread (the client's check, still made, then passes).
        if (auto errors = capi::validate(ev, std::chrono::system_clock::now(), a.enc.validation); !errors.empty()) {
            st.reject(ticket, line_no, errors, line);
            continue;
        }
        if (check_pii) {
            drops.clear();
            pii_drops(ev.user_data, scratch, drops);
            if (!drops.empty()) st.dropped_values(line_no, drops);
        }
        if (st.in_flight.load(std::memory_order_seq_cst) >= a.max_in_flight) {
            // Partial batches would otherwise sit out their linger while reading
            // waits for them (a bound below a batch would send one batch per linger).
            client->async_flush([](std::error_code) {});
            if (!st.wait_in_flight(st.low_water, steady::time_point::max(), true)) break;  // interrupted
        }
        if (st.kept.load(std::memory_order_relaxed) >= 4 * a.max_in_flight) {
            // Lines settled behind one still in flight, kept for their records.
            client->async_flush([](std::error_code) {});
            st.wait_kept(2 * a.max_in_flight);
            if (interrupted()) break;
        }
        st.in_flight.fetch_add(1, std::memory_order_seq_cst);
        st.sent.fetch_add(1, std::memory_order_relaxed);
        const bool had_id = ev.event_id.has_value();
        client->async_send(std::move(ev), [&st, ticket, line_no, had_id, kept = keep_lines ? line : std::string()](
                                              std::error_code, capi::SendResult r) {
            st.settle(ticket, line_no, kept, had_id, r);
        });
    }
    const bool read_error = input.error() != 0;
    const bool read_all = !interrupted() && !read_error;

    // Everything read gets its outcome: wait for it (bounded by the retry policy's
    // total time; after an interrupt by 5 s), then shut down, failing the rest.
    if (!interrupted()) st.wait_in_flight(0, steady::time_point::max(), true);
    if (interrupted()) {
        {
            std::lock_guard g(st.mu);
            st.clear_bar();
            err << "capi send: interrupted, reading stopped";
            if (const auto n = st.in_flight.load(); n > 0)
                err << "; waiting up to 5 s for " << n << " events in flight (interrupt again to quit at once)";
            err << "\n";
        }
        st.wait_in_flight(0, steady::now() + 5s, false);
    }
    // After an interrupt the 5 s have been waited already: what is left fails now.
    client->shutdown(interrupted() ? 500ms : 5s);
    client.reset();
    // The completions shutdown() failed are posted to ioc: let them run (every
    // line then has its outcome), then stop, so no idle timer holds the join.
    work.reset();
    st.wait_in_flight(0, steady::now() + 5s, false);
    ioc.stop();
    io_thread.join();
    const double secs = std::chrono::duration<double>(steady::now() - start).count();
    if (read_all) {
        std::lock_guard g(st.mu);
        st.log.input_ends_at(input.bytes());  // blank lines at the end, if any
    }
    std::string checkpoint_note;
    if (checkpointer) {
        checkpointer->stop();
        checkpoint_thread.join();
        checkpointer->save();  // every line now has its outcome, or never will in this run
        std::lock_guard g(st.mu);
        const auto& t = st.log.tally();
        std::ostringstream note;
        note << a.checkpoint_path << ": every line up to " << st.log.line() << " has its outcome (byte "
             << st.log.position() << " of " << input.size() << "); all runs: delivered "
             << base.tally.delivered + t.delivered << ", rejected " << base.tally.rejected + t.rejected
             << ", failed " << base.tally.failed + t.failed + base.tally.expired + t.expired + base.tally.dropped + t.dropped;
        if (resume) note << "; this run resumed after line " << resume->line;
        checkpoint_note = note.str();
    }

    if (bar.joinable()) {
        {
            std::lock_guard lock(bar_mu);
            bar_stop = true;
        }
        bar_cv.notify_all();
        bar.join();
    }
    {
        std::lock_guard g(st.mu);
        st.clear_bar();
        if (!st.write_rejects && st.rejects_printed > SendState::max_printed_rejects)
            err << "capi send: " << st.rejects_printed - SendState::max_printed_rejects
                << " more rejected lines not shown (--rejects FILE writes them all)\n";
        if (st.drops_printed > SendState::max_printed_drops)
            err << "capi send: " << st.drops_printed - SendState::max_printed_drops
                << " more dropped values not shown (capi send --dry-run lists them all)\n";
    }
    st.rejects.close();
    st.failures.close();
    print_summary(st, a, out, lines, secs, read_all, checkpoint_note);
    if (checkpointer && !checkpointer->error().empty()) {
        err << "capi send: --checkpoint: " << checkpointer->error() << "\n";
        return send_usage;
    }

    if (read_error) {
        err << "capi send: read error on " << a.input << ": " << std::strerror(input.error()) << "\n";
        return send_usage;
    }
    if ((st.write_rejects && !st.rejects) || (st.write_failures && !st.failures)) {
        err << "capi send: error writing the --rejects or --failed file\n";
        return send_usage;
    }
    if (interrupted()) return send_interrupted;
    const bool all_ok = st.rejected.load() + st.failed.load() + st.expired.load() + st.dropped.load() == 0;
    return all_ok ? send_ok : send_some_failed;
}

} // namespace

int run_send(int argc, char** argv, const SendStreams& io) {
    std::ostream& out = io.out ? *io.out : std::cout;
    std::ostream& err = io.err ? *io.err : std::cerr;
    g_interrupted = 0;
    Args a;
    if (auto rc = parse_args(argc, argv, a, out, err)) return *rc;
    SendStreams streams = io;
    if (streams.err_is_tty == -1) streams.err_is_tty = ::isatty(2) ? 1 : 0;

    if (io.handle_signals) {
        struct sigaction sa {};
        sa.sa_handler = on_interrupt;
        sigemptyset(&sa.sa_mask);
        sigaddset(&sa.sa_mask, SIGINT);
        sigaddset(&sa.sa_mask, SIGTERM);
        sigaction(SIGINT, &sa, nullptr);
        sigaction(SIGTERM, &sa, nullptr);
    }
    Input input(interrupted);
    if (!input.open(a.input, err)) return send_usage;
    if (a.dry_run) return dry_run(a, input, out, err);
    return real_send(a, input, streams, out, err);
}
