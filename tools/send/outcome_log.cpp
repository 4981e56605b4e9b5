// capi send's outcome log (outcome_log.hpp).
#include "send/outcome_log.hpp"

#include <algorithm>

namespace capi_send {

std::uint64_t OutcomeLog::add(std::uint64_t end, std::uint64_t line_no) {
    Line l;
    l.end = end;
    l.line_no = line_no;
    lines_.push_back(std::move(l));
    return first_ticket_ + lines_.size() - 1;
}

void OutcomeLog::settle(std::uint64_t ticket, LineOutcome outcome, std::string failed_record,
                        std::string reject_record) {
    if (ticket < first_ticket_ || ticket - first_ticket_ >= lines_.size()) return;  // not a live ticket
    auto& l = lines_[static_cast<std::size_t>(ticket - first_ticket_)];
    if (l.done) return;
    l.done = true;
    l.outcome = outcome;
    l.failed = std::move(failed_record);
    l.reject = std::move(reject_record);
    advance();
}

void OutcomeLog::input_ends_at(std::uint64_t end) noexcept {
    input_end_ = end;
    if (lines_.empty()) position_ = std::max(position_, input_end_);
}

void OutcomeLog::advance() {
    while (!lines_.empty() && lines_.front().done) {
        auto& l = lines_.front();
        if (failed_ && !l.failed.empty()) {
            *failed_ << l.failed;
            failed_bytes_ += l.failed.size();
        }
        if (rejects_ && !l.reject.empty()) {
            *rejects_ << l.reject;
            rejects_bytes_ += l.reject.size();
        }
        switch (l.outcome) {
        case LineOutcome::delivered: ++tally_.delivered; break;
        case LineOutcome::rejected: ++tally_.rejected; break;
        case LineOutcome::failed: ++tally_.failed; break;
        case LineOutcome::expired: ++tally_.expired; break;
        case LineOutcome::dropped: ++tally_.dropped; break;
        }
        position_ = l.end;
        line_ = l.line_no;
        lines_.pop_front();
        ++first_ticket_;
    }
    if (lines_.empty()) position_ = std::max(position_, input_end_);
}

std::string line_with_event_id(std::string_view line, bool had_id, std::string_view id) {
    const auto brace = line.find_first_not_of(" \t");
    if (had_id || id.empty() || brace == std::string_view::npos || line[brace] != '{') return std::string(line);
    // The id is 32 hex digits (or the caller's own, never inserted): nothing to escape.
    std::string out(line.substr(0, brace + 1));
    out += "\"event_id\":\"";
    out += id;
    out += '"';
    const auto next = line.find_first_not_of(" \t", brace + 1);
    if (next != std::string_view::npos && line[next] != '}') out += ',';
    out += line.substr(brace + 1);
    return out;
}

} // namespace capi_send
