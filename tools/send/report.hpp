// capi send's outcomes and reports: the counters the reader, the completions
// and the progress bar share, the --failed / --rejects records, the failure
// table and the summary.
#pragma once

#include "send/options.hpp"
#include "send/outcome_log.hpp"

#include <capi/client.hpp>
#include <capi/event.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <fstream>
#include <map>
#include <mutex>
#include <ostream>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace capi_send {

using steady = std::chrono::steady_clock;

/// TSV fields hold no tabs or line breaks; the input line is the last field, verbatim.
std::string tsv(std::string_view s);

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

/// The failure's message, e.g. "retries exhausted (last attempt: connection refused)".
std::string message_of(const capi::SendResult& r);

/// Meta's fbtrace_id of the failure, when it gave one.
std::string fbtrace_of(const capi::SendResult& r);

// Shared by the reader (main thread), the completions (io thread) and the progress thread.
/// One line of the --rejects file: line number, field paths, reasons, the input
/// line (docs/cli.md, Report files). The send and the dry run write the same.
std::string reject_record(std::size_t line_no, const std::vector<capi::FieldError>& errors, std::string_view line);

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
    std::uint64_t values_unmatchable = 0, unmatchable_printed = 0;
    capi::MatchQuality match_quality;  ///< the client's, once it has drained
    static constexpr std::uint64_t max_printed_rejects = 10, max_printed_drops = 10;

    /// Values the encoder will drop from an event that is still sent. Takes mu.
    void dropped_values(std::size_t line_no, const std::vector<capi::FieldError>& drops);
    /// Values hashed as given that Meta will not match: counted, the first ones printed.
    void unmatchable_values(std::size_t line_no, const std::vector<capi::FieldError>& values);

    // Wipes the progress line before other text goes to the terminal. Holds mu.
    void clear_bar();

    /// A line that never reached the client, or that it refused: its outcome
    /// (`ticket` from log.add). Takes mu.
    void reject(std::uint64_t ticket, std::size_t line_no, const std::vector<capi::FieldError>& errors,
                std::string_view line);

    /// A line read, in input order (the reader's thread). Takes mu.
    std::uint64_t read_line(std::uint64_t end, std::size_t line_no);

    /// An accepted event's outcome. Runs on the io thread. `had_id`: the input
    /// line carried its own event_id.
    void settle(std::uint64_t ticket, std::size_t line_no, std::string_view line, bool had_id,
                const capi::SendResult& r);

    // Holds mu.
    void settle_line(std::uint64_t ticket, LineOutcome o, std::string failed_record, std::string reject_record);

    /// Waits (in 100 ms slices) until at most `limit` lines are kept in the log
    /// or an interrupt arrives: lines settled behind one still in flight wait
    /// there, with their records, and this bounds them.
    void wait_kept(std::size_t limit);

    /// Waits until at most `limit` events are in flight, the time passes or (when
    /// `interruptible`) an interrupt arrives; true when the limit was reached.
    bool wait_in_flight(std::uint64_t limit, steady::time_point until, bool interruptible);
};

/// One progress line; holds st.mu.
void draw_bar(SendState& st, std::uint64_t total_bytes, steady::time_point start);

/// The summary table on `out`; `checkpoint_note` (when not empty) is its checkpoint row.
void print_summary(SendState& st, const Args& a, std::ostream& out, std::size_t lines, double secs,
                   bool read_all, std::string_view checkpoint_note);

} // namespace capi_send
