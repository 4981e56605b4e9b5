// capi send: reads NDJSON events (Meta's wire format) and either prints the request
// bodies (--dry-run) or sends them through capi::Client, giving every input line an
// outcome: rejected (before sending), delivered, failed (Graph code, subcode,
// fbtrace_id), expired or dropped. docs/cli.md is the user's documentation.
//
// Memory stays bounded for any input: lines are read one at a time, and reading
// pauses while --max-in-flight events are between the reader and their outcome
// (the client runs with Overflow::block behind that as a second guard).
//
// This file runs a send (signals, the client, the reader loop, --checkpoint's
// writer); its parts are in tools/send/: options (the command line), input
// (read(2) lines), dry_run, report (outcomes, --failed / --rejects records,
// summary), outcome_log (lines in input order until they have an outcome) and
// checkpoint (the durable position).
#include "send_cmd.hpp"
#include "cli/cli.hpp"

#include "send/checkpoint.hpp"
#include "send/dry_run.hpp"
#include "send/input.hpp"
#include "send/options.hpp"
#include "send/report.hpp"

#include <capi/client.hpp>
#include <capi/encode.hpp>
#include <capi/ndjson.hpp>
#include <capi/validate.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <tuple>
#include <vector>

namespace {

using namespace std::chrono_literals;
using namespace capi_send;

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
        opt.destination.access_token = read_secret(a.token_file, "--token-file", why, err);
        if (opt.destination.access_token.empty()) return usage_error(err, why);
    } else if (const char* t = std::getenv("CAPI_ACCESS_TOKEN"); t != nullptr && *t != '\0') {
        opt.destination.access_token = t;
    } else {
        return usage_error(err, "no access token: set CAPI_ACCESS_TOKEN or use --token-file FILE "
                                "(never the command line, where the process list shows it)");
    }
    if (!a.app_secret_file.empty()) {
        opt.destination.app_secret = read_secret(a.app_secret_file, "--app-secret-file", why, err);
        if (opt.destination.app_secret.empty()) return usage_error(err, why);
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
        if (auto e = capi_cli::check_readable(a.ca_file, "--ca")) return usage_error(err, *e);
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
    // The values the client drops (--invalid-pii drop) or will not match, as it
    // prepares each event inside async_send on this thread: for the line being sent.
    std::size_t sending_line = 0;
    if (a.enc.invalid_pii == capi::InvalidPiiPolicy::drop_value) {
        opt.on_values = [&st, &sending_line](const capi::ValueReport& r) {
            if (!r.dropped.empty()) st.dropped_values(sending_line, r.dropped);
            if (!r.unmatchable.empty()) st.unmatchable_values(sending_line, r.unmatchable);
        };
    }
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
        // One now: a checkpoint that cannot be written stops the send before it starts.
        if (!checkpointer->save()) {
            err << "capi send: --checkpoint: " << checkpointer->error() << "\n";
            return send_usage;
        }
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
            return usage_error(err, capi_cli::option_error(e, {{"transport.ca_file", "--ca"},
                                                               {"transport.endpoint", "--endpoint"},
                                                               {"transport.api_version", "--api-version"},
                                                               {"ca_file", "--ca"},
                                                               {"endpoint", "--endpoint"},
                                                               {"api_version", "--api-version"}}));
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

    if (checkpointer) checkpoint_thread = without_signals([&] { checkpointer->run(); });

    capi::EventReader reader(a.rd);
    capi::Event ev;
    capi::FieldError perr;
    std::string line;
    std::size_t lines = 0;
    const bool keep_lines = st.write_rejects || st.write_failures;
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
        sending_line = line_no;
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
    st.match_quality = client->stats().match_quality;
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
            err << "capi send: " << st.rejects_printed - SendState::max_printed_rejects << " more rejected "
                << (st.rejects_printed - SendState::max_printed_rejects == 1 ? "line" : "lines")
                << " not shown (--rejects FILE writes them all)\n";
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
    // --strict: customer information that will not match fails the run too.
    const bool pii_ok = !a.strict || st.values_dropped + st.values_unmatchable == 0;
    return all_ok && pii_ok ? send_ok : send_some_failed;
}

} // namespace

namespace capi_send {
bool interrupted() { return g_interrupted != 0; }
} // namespace capi_send

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
