// Internal: the event_time window, written once.
//
// Meta accepts an event up to 7 days after it happened (62 for physical_store
// events) and, by capi's rule, at most ValidationOptions::max_future_skew ahead
// of the clock. validate() applies the whole rule at intake, the encoder the age
// bound again when a batch is built (an event ages while it waits; the future
// bound needs no second look, time only moves forward), and the client's
// batcher seals a batch before its first event expires.
#pragma once

#include <capi/event.hpp>
#include <capi/validate.hpp>

#include <chrono>
#include <cstdint>

namespace capi::wire {

enum class WindowVerdict : std::uint8_t {
    ok,
    expired,            ///< older than the age bound
    too_far_in_future,  ///< newer than now + max_future_skew
    invalid,            ///< not a Unix time in seconds (zero or negative)
};

/// The oldest age accepted for an event of `source`.
constexpr std::chrono::seconds max_age(ActionSource source, const ValidationOptions& o) noexcept {
    return source == ActionSource::physical_store ? o.physical_store_max_age : o.max_age;
}

/// Inclusive bounds of event_time at one instant, in Unix seconds. They
/// saturate rather than overflow on absurd options.
struct Window {
    std::int64_t oldest;
    std::int64_t newest;
};

inline std::int64_t unix_seconds(std::chrono::system_clock::time_point t) noexcept {
    return std::chrono::floor<std::chrono::seconds>(t.time_since_epoch()).count();
}

inline std::int64_t oldest_at(std::int64_t now_s, ActionSource source, const ValidationOptions& o) noexcept {
    const auto age = max_age(source, o).count();
    std::int64_t oldest = 0;
    if (__builtin_sub_overflow(now_s, age, &oldest)) oldest = age > 0 ? INT64_MIN : INT64_MAX;
    return oldest;
}

inline Window window_at(std::chrono::system_clock::time_point now, ActionSource source,
                        const ValidationOptions& o) noexcept {
    const std::int64_t now_s = unix_seconds(now);
    const auto skew = o.max_future_skew.count();
    std::int64_t newest = 0;
    if (__builtin_add_overflow(now_s, skew, &newest)) newest = skew > 0 ? INT64_MAX : INT64_MIN;
    return {oldest_at(now_s, source, o), newest};
}

/// The whole rule: where event_time stands at `now`.
inline WindowVerdict check_window(std::int64_t event_time, ActionSource source,
                                  std::chrono::system_clock::time_point now,
                                  const ValidationOptions& o) noexcept {
    if (event_time <= 0) return WindowVerdict::invalid;
    const Window w = window_at(now, source, o);
    if (event_time < w.oldest) return WindowVerdict::expired;
    if (event_time > w.newest) return WindowVerdict::too_far_in_future;
    return WindowVerdict::ok;
}

/// The age bound alone, for an event that passed check_window() earlier.
inline bool expired_at(std::int64_t event_time, ActionSource source,
                       std::chrono::system_clock::time_point now, const ValidationOptions& o) noexcept {
    return event_time < oldest_at(unix_seconds(now), source, o);
}

/// The first instant at which the event is expired_at(): the whole second at the
/// limit is still accepted, so it is the start of the next one. Saturates at
/// the clock's range.
inline std::chrono::system_clock::time_point expiry(std::int64_t event_time, ActionSource source,
                                                    const ValidationOptions& o) noexcept {
    using clock = std::chrono::system_clock;
    const auto age = max_age(source, o).count();
    std::int64_t s = 0;
    if (__builtin_add_overflow(event_time, age, &s) || __builtin_add_overflow(s, std::int64_t{1}, &s))
        return age > 0 ? clock::time_point::max() : clock::time_point::min();
    // Past what a time_point of the clock's period can hold: never expires.
    constexpr auto max_s = std::chrono::duration_cast<std::chrono::seconds>(clock::duration::max()).count();
    constexpr auto min_s = std::chrono::duration_cast<std::chrono::seconds>(clock::duration::min()).count();
    if (s >= max_s) return clock::time_point::max();
    if (s <= min_s) return clock::time_point::min();
    return clock::time_point(std::chrono::seconds(s));
}

/// FieldError's typed reason for a verdict other than ok.
constexpr FieldErrorKind error_kind(WindowVerdict v) noexcept {
    switch (v) {
    case WindowVerdict::expired: return FieldErrorKind::expired;
    case WindowVerdict::too_far_in_future: return FieldErrorKind::too_far_in_future;
    default: return FieldErrorKind::invalid;
    }
}

} // namespace capi::wire
