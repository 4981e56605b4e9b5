// capi send: the input lines between reading and their outcome, in input order.
// Outcomes arrive in any order (batches complete out of order, retries take
// longer); this log keeps each line until every line before it has one too,
// then writes its --failed / --rejects record, so those files are in input
// order and the position below which every line has an outcome is known
// (--checkpoint records it).
#pragma once

#include "send/checkpoint.hpp"

#include <cstdint>
#include <deque>
#include <ostream>
#include <string>
#include <string_view>

namespace capi_send {

enum class LineOutcome : std::uint8_t { delivered, rejected, failed, expired, dropped };

/// Not thread-safe: the caller's lock guards it (SendState::mu).
class OutcomeLog {
public:
    /// Where the records go (either may be null: not written).
    void set_sinks(std::ostream* failed, std::ostream* rejects) noexcept {
        failed_ = failed;
        rejects_ = rejects;
    }
    /// Starts where a checkpoint stopped (bytes, last line number).
    void start_at(std::uint64_t position, std::uint64_t line) noexcept {
        position_ = position;
        line_ = line;
    }

    /// A line was read: it ends at byte `end` of the input (blank lines before it
    /// included) and is line `line_no`. Returns its ticket for settle().
    std::uint64_t add(std::uint64_t end, std::uint64_t line_no);
    /// The outcome of the line with `ticket`, and its record for the --failed or
    /// --rejects file (empty: none). Writes what is now in order.
    void settle(std::uint64_t ticket, LineOutcome outcome, std::string failed_record, std::string reject_record);
    /// The input was read up to `end` and nothing after the last line is a line
    /// (blank lines at its end): once every line has settled, the position is `end`.
    void input_ends_at(std::uint64_t end) noexcept;

    /// Every input line ending at or before this byte has its outcome and its record written.
    std::uint64_t position() const noexcept { return position_; }
    std::uint64_t line() const noexcept { return line_; }
    /// Outcomes of the lines below position(), this run.
    const Tally& tally() const noexcept { return tally_; }
    /// Bytes written to each sink since the start.
    std::uint64_t failed_bytes() const noexcept { return failed_bytes_; }
    std::uint64_t rejects_bytes() const noexcept { return rejects_bytes_; }
    /// Lines read and kept (settled or not) past position().
    std::size_t size() const noexcept { return lines_.size(); }

private:
    struct Line {
        std::uint64_t end = 0, line_no = 0;
        bool done = false;
        LineOutcome outcome = LineOutcome::delivered;
        std::string failed, reject;
    };
    void advance();

    std::deque<Line> lines_;
    std::uint64_t first_ticket_ = 0;  // the ticket of lines_.front()
    std::uint64_t position_ = 0, line_ = 0, input_end_ = 0, failed_bytes_ = 0, rejects_bytes_ = 0;
    Tally tally_;
    std::ostream* failed_ = nullptr;
    std::ostream* rejects_ = nullptr;
};

/// The input line as the --failed file writes it back: the JSON object with
/// `"event_id":"ID"` inserted first when `had_id` is false and `id` is not
/// empty (the id the attempts used), so that re-sending the line is idempotent;
/// otherwise the line itself.
std::string line_with_event_id(std::string_view line, bool had_id, std::string_view id);

} // namespace capi_send
