// capi::kafka::detail::OffsetTracker: which offsets of one partition may be
// committed. Records arrive in offset order (with gaps: compaction, transaction
// markers) and settle in any order; the committable offset is Kafka's "next to
// read": the first offset still unsettled, or one past the last record when all
// settled. Nothing below it is ever left without an outcome.
//
// Pure and single-threaded: the forwarder guards each tracker with its own mutex
// (outcomes arrive on the client's io threads), so this file needs no librdkafka
// and is unit-tested alone (test/kafka_tracker_test.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>

namespace capi::kafka::detail {

class OffsetTracker {
public:
    /// A record was read. Offsets must increase; a smaller or repeated one is
    /// refused (false), as a partition never goes back without a new tracker.
    bool add(std::int64_t offset);
    /// The record at `offset` has its final outcome. False when it is not
    /// pending (never added, or settled already): callers count that, never crash.
    bool settle(std::int64_t offset);
    /// Is `offset` read and not settled yet?
    bool pending(std::int64_t offset) const;
    /// The offset to commit (the next record to read after a restart), or -1
    /// when no record was read yet.
    std::int64_t committable() const noexcept;
    /// Records read and not settled.
    std::size_t pending_count() const noexcept { return pending_; }
    /// The lowest pending offset, -1 when none.
    std::int64_t first_pending() const noexcept;

private:
    struct slot {
        std::int64_t offset;
        bool settled;
    };
    // Unsettled records and the settled ones above the first unsettled: the
    // front is always unsettled (settled fronts are popped), so the window
    // holds only what a commit cannot pass yet.
    std::deque<slot> window_;
    std::int64_t next_ = -1;  // one past the last offset added; -1: none
    std::size_t pending_ = 0;
};

}  // namespace capi::kafka::detail
