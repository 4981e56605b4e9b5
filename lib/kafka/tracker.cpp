#include "kafka/tracker.hpp"

#include <algorithm>

namespace capi::kafka::detail {

bool OffsetTracker::add(std::int64_t offset) {
    if (offset < 0 || (next_ >= 0 && offset < next_)) return false;
    window_.push_back({offset, false});
    next_ = offset + 1;
    ++pending_;
    return true;
}

bool OffsetTracker::settle(std::int64_t offset) {
    // The window is sorted by offset: a binary search finds the slot.
    auto it = std::lower_bound(window_.begin(), window_.end(), offset,
                               [](const slot& s, std::int64_t o) { return s.offset < o; });
    if (it == window_.end() || it->offset != offset || it->settled) return false;
    it->settled = true;
    --pending_;
    while (!window_.empty() && window_.front().settled) window_.pop_front();
    return true;
}

bool OffsetTracker::pending(std::int64_t offset) const {
    auto it = std::lower_bound(window_.begin(), window_.end(), offset,
                               [](const slot& s, std::int64_t o) { return s.offset < o; });
    return it != window_.end() && it->offset == offset && !it->settled;
}

std::int64_t OffsetTracker::committable() const noexcept {
    if (!window_.empty()) return window_.front().offset;
    return next_;
}

std::int64_t OffsetTracker::first_pending() const noexcept {
    return window_.empty() ? -1 : window_.front().offset;
}

}  // namespace capi::kafka::detail
