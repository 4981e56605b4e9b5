// capi send's outcomes and reports (report.hpp).
#include "send/report.hpp"

#include "cli/cli.hpp"

#include <algorithm>
#include <iomanip>
#include <sstream>
#include <tuple>

namespace capi_send {

using namespace std::chrono_literals;

std::string tsv(std::string_view s) {
    std::string o(s);
    std::replace_if(o.begin(), o.end(), [](char c) { return c == '\t' || c == '\n' || c == '\r'; }, ' ');
    return o;
}

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

std::string reject_record(std::size_t line_no, const std::vector<capi::FieldError>& errors, std::string_view line) {
    std::string paths, reasons;
    for (const auto& e : errors) {
        if (!paths.empty()) paths += ',', reasons += " | ";
        paths += e.path.empty() ? "-" : tsv(e.path);
        reasons += tsv(e.reason);
    }
    return std::to_string(line_no) + '\t' + paths + '\t' + reasons + '\t' + std::string(line) + '\n';
}

void SendState::reject(std::uint64_t ticket, std::size_t line_no, const std::vector<capi::FieldError>& errors,
            std::string_view line) {
    rejected.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard lock(mu);
    std::string record;
    if (write_rejects) {
        record = reject_record(line_no, errors, line);
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

std::uint64_t SendState::read_line(std::uint64_t end, std::size_t line_no) {
    std::lock_guard lock(mu);
    const auto t = log.add(end, line_no);
    kept.store(log.size(), std::memory_order_relaxed);
    return t;
}

void SendState::settle(std::uint64_t ticket, std::size_t line_no, std::string_view line, bool had_id,
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

void SendState::dropped_values(std::size_t line_no, const std::vector<capi::FieldError>& drops) {
    std::lock_guard lock(mu);
    for (const auto& d : drops) {
        ++values_dropped;
        if (drops_printed++ >= max_printed_drops) continue;
        clear_bar();
        *err << "line " << line_no << ": value dropped: " << d.path << ": " << d.reason << "\n";
    }
}

void SendState::unmatchable_values(std::size_t line_no, const std::vector<capi::FieldError>& values) {
    std::lock_guard lock(mu);
    for (const auto& v : values) {
        ++values_unmatchable;
        if (unmatchable_printed++ >= max_printed_drops) continue;
        clear_bar();
        *err << "line " << line_no << ": warning: " << v.path << ": " << v.reason << "\n";
    }
}

void SendState::clear_bar() {
    if (bar_shown) *err << "\r\033[K";
    bar_shown = false;
}

void SendState::settle_line(std::uint64_t ticket, LineOutcome o, std::string failed_record, std::string reject_record) {
    log.settle(ticket, o, std::move(failed_record), std::move(reject_record));
    kept.store(log.size(), std::memory_order_relaxed);
}

void SendState::wait_kept(std::size_t limit) {
    std::unique_lock lock(mu);
    while (kept.load(std::memory_order_relaxed) > limit && !interrupted()) cv.wait_for(lock, 100ms);
}

bool SendState::wait_in_flight(std::uint64_t limit, steady::time_point until, bool interruptible) {
    std::unique_lock lock(mu);
    reader_waiting.store(true, std::memory_order_seq_cst);
    // The 100 ms slices notice an interrupt; a missed wake-up costs one slice.
    while (in_flight.load(std::memory_order_seq_cst) > limit && !(interruptible && interrupted()) &&
           steady::now() < until)
        cv.wait_for(lock, std::min<steady::duration>(100ms, until - steady::now()));
    reader_waiting.store(false, std::memory_order_seq_cst);
    return in_flight.load(std::memory_order_seq_cst) <= limit;
}

std::string with_commas(std::uint64_t n) {
    const std::string digits = std::to_string(n);
    std::string s;
    for (std::size_t i = 0; i < digits.size(); ++i) {
        if (i > 0 && (digits.size() - i) % 3 == 0) s += ',';
        s += digits[i];
    }
    return s;
}

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
    if (st.values_unmatchable)
        row("pii_unmatchable", st.values_unmatchable, "values hashed that Meta will not match (see the warnings)");
    capi_cli::print_match_quality(out, st.match_quality);
    if (!checkpoint_note.empty()) out << "  " << std::left << std::setw(12) << "checkpoint" << std::right << "  " << checkpoint_note << "\n";
    out << "  " << std::left << std::setw(12) << "throughput" << std::right << std::setw(12)
        << static_cast<std::uint64_t>(secs > 0 ? static_cast<double>(delivered) / secs : 0.0)
        << "  events/s delivered\n";
    out << "  " << std::left << std::setw(12) << "elapsed" << std::right << std::setw(12) << std::fixed
        << std::setprecision(3) << secs << "  s\n";
    out.flush();
}
} // namespace capi_send
