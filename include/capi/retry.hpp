// capi: what to do after an attempt, and how long to wait before the next.
//
// One policy, decide(), turns the outcome of an attempt (the transport's error,
// the HTTP status, Meta's Graph error code) into an Action: the Sender retries on
// it, the client splits a batch or refuses a destination on it. classify() is the
// same decision seen by a retry loop (split and refuse are final there).
// reference: docs/errors.md (the codes), docs/transport.md (the retry loop).
#pragma once

#include <capi/errors.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <system_error>

#pragma GCC visibility push(default)  // exported: docs/install.md#symbol-visibility
namespace capi {

struct PostResult;  // <capi/transport.hpp>, included at the end

struct RetryPolicy {
    /// Attempts in all, the first included.
    unsigned max_attempts = 6;
    /// No new attempt starts later than this after the first.
    std::chrono::milliseconds max_total{120'000};
    /// Backoff for transient errors: full jitter in [0, min(max, initial * 2^n)].
    std::chrono::milliseconds initial_backoff{200};
    std::chrono::milliseconds max_backoff{10'000};
    /// The slower lane for throttling (codes 4, 17, 32, 613, 80000-80014).
    std::chrono::milliseconds throttle_initial_backoff{60'000};
    std::chrono::milliseconds throttle_max_backoff{15 * 60'000};
};

/// What to do with the outcome of one attempt.
enum class Disposition : std::uint8_t {
    success,
    retry,     ///< transient: network, timeout, 5xx, 429, non-JSON, is_transient, codes 1 2 341 368
    throttle,  ///< codes 4 17 32 613 80000-80014: the slower lane
    fail,      ///< final: 100 (split the batch), 190, 10, 200-299, 3, 2635, TLS verification, ...
};

/// What to do with the outcome of an attempt, or of a request the Sender finished.
enum class Action : std::uint8_t {
    success,             ///< 2xx with Meta's success body
    retry,               ///< Disposition::retry
    throttle,            ///< Disposition::throttle
    split,               ///< graph_code::invalid_parameter (100) on a batch of several
                         ///< events: send its halves apart to isolate the bad event(s)
    refuse_destination,  ///< graph_code::access_token (190): the destination's token is
                         ///< refused; its other batches fail with errc::auth_error, no request
    fail,                ///< final for this request (Disposition::fail otherwise)
};

/// The one policy. Decides by the Graph error code first (throttling arrives as
/// 400/403 with code 4/17/32/613/800xx, and a 500 can carry a final code 100),
/// then is_transient, then the HTTP status, then the transport's error. A
/// decision made on this side of the wire (shutdown, cancelled, expired,
/// retries_exhausted, auth_error, ...) is final whatever `result` says. split and
/// refuse_destination need Meta's error object to be the reason (`ec` empty or
/// errc::graph_error); split also needs `batch_events` > 1 (a single bad event
/// just fails). Pure, thread-safe.
Action decide(std::error_code ec, const PostResult& result, std::size_t batch_events = 1) noexcept;

/// decide() for one attempt of a retry loop: split, refuse_destination and fail
/// are all Disposition::fail.
Disposition classify(std::error_code ec, const PostResult& result) noexcept;

/// Delay before attempt `attempt + 1` (attempt counts from 1) under `policy`;
/// `random` is a uniform 64-bit value (full jitter). Retry-After, when given, is
/// a lower bound.
std::chrono::milliseconds backoff_delay(const RetryPolicy& policy, Disposition d, unsigned attempt,
                                        std::optional<std::chrono::seconds> retry_after,
                                        std::uint64_t random) noexcept;

} // namespace capi
#pragma GCC visibility pop

// PostResult for callers of decide() and classify(). At the end, not the top:
// transport.hpp's compatibility include brings this header back in, and by then
// everything above is declared whichever of the two a program includes first.
#include <capi/transport.hpp>
