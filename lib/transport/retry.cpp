// capi: what to do after one attempt, and how long to wait before the next.
//
// reference/graph-api.md §2, "Recommended client policy". Order matters: the
// Graph error code decides first, because throttling arrives as 400/403 with
// code 4/17/32/613/800xx and a 500 can carry a final code 100; then
// is_transient; then the HTTP status; then the transport's error.
#include <capi/retry.hpp>
#include <capi/transport.hpp>

#include <algorithm>
#include <limits>

namespace capi {

namespace {

namespace gc = graph_code;

bool is_throttle_code(std::int64_t code) noexcept {
    return code == gc::api_too_many_calls || code == gc::api_user_too_many_calls ||
           code == gc::page_too_many_calls || code == gc::rate_limit ||
           (code >= gc::business_use_case_first && code <= gc::business_use_case_last);
}

bool is_retry_code(std::int64_t code) noexcept {
    return code == gc::api_unknown || code == gc::api_service || code == gc::application_limit ||
           code == gc::temporarily_blocked;
}

bool is_final_code(std::int64_t code) noexcept {
    // 100: a bad event in the batch (split it); 190: token; 10, 200-299, 3:
    // permissions and capabilities; 2635: deprecated API version. 102 (session)
    // is not here: an unknown code, the HTTP status decides as before.
    return code == gc::invalid_parameter || code == gc::access_token || code == gc::api_permission_denied ||
           (code >= gc::permission_first && code <= gc::permission_last) || code == gc::api_method ||
           code == gc::deprecated_version;
}

Disposition classify_error(std::error_code ec) noexcept {
    if (ec.category() == category()) {
        switch (static_cast<errc>(ec.value())) {
        // A DNS failure is usually configuration, but resolvers also fail
        // transiently (SERVFAIL, a restarting local cache): retrying is cheap
        // and bounded by the policy's caps.
        case errc::resolve_failed:
        case errc::connect_failed:
        case errc::connect_timeout:
        case errc::handshake_timeout:
        case errc::request_timeout:
        case errc::connection_lost:
        case errc::bad_response:
            return Disposition::retry;
        // The reply had no retryable code and no retryable status.
        case errc::graph_error:
        case errc::http_error:
        // A certificate does not become trusted by asking again.
        case errc::certificate_verify_failed:
        case errc::tls_handshake_failed:
        case errc::invalid_option:
        case errc::auth_error:
        case errc::invalid_event:
        // The transport's in-flight cap: the caller's overflow policy decides,
        // not a hidden retry loop under it.
        case errc::queue_full:
        case errc::retries_exhausted:
        case errc::expired:
        case errc::shutdown:
        case errc::cancelled:
            return Disposition::fail;
        }
        return Disposition::fail;
    }
    // A user Transport reporting its own stack's errors (asio, errno): those are
    // network failures, except an aborted operation, which someone asked for.
    if (ec == std::errc::operation_canceled) return Disposition::fail;
    return Disposition::retry;
}

bool is_local_final(std::error_code ec) noexcept {
    if (ec.category() != category()) return false;
    const auto e = static_cast<errc>(ec.value());
    return e == errc::shutdown || e == errc::cancelled || e == errc::expired || e == errc::invalid_option ||
           e == errc::invalid_event || e == errc::queue_full || e == errc::retries_exhausted ||
           e == errc::auth_error;
}

} // namespace

Action decide(std::error_code ec, const PostResult& result, std::size_t batch_events) noexcept {
    // Decisions made on this side of the wire are never reconsidered, whatever
    // a (stale) result says.
    if (is_local_final(ec)) return Action::fail;

    if (result.error) {
        const auto code = result.error->code;
        if (is_throttle_code(code)) return Action::throttle;
        if (is_final_code(code)) {
            // Only when Meta's error object is the reason the request failed:
            // the Sender completes such a request with graph_error.
            if (!ec || ec == errc::graph_error) {
                if (code == gc::access_token) return Action::refuse_destination;
                if (code == gc::invalid_parameter && batch_events > 1) return Action::split;
            }
            return Action::fail;
        }
        if (is_retry_code(code)) return Action::retry;
        if (result.error->is_transient) return Action::retry;
        // An unknown code: the HTTP status decides.
    }

    const int status = result.http_status;
    if (!ec && !result.error && status >= 200 && status <= 299) return Action::success;
    if (status == 429 || (status >= 500 && status <= 599)) return Action::retry;
    if (status >= 400 && status <= 499) return Action::fail;
    if (ec) {
        switch (classify_error(ec)) {
        case Disposition::retry: return Action::retry;
        case Disposition::throttle: return Action::throttle;
        case Disposition::success:
        case Disposition::fail: return Action::fail;
        }
        return Action::fail;
    }
    // No transport error, yet no 2xx success body: a 2xx carrying an error
    // object with an unknown code, or a 1xx/3xx Meta never sends.
    return Action::fail;
}

Disposition classify(std::error_code ec, const PostResult& result) noexcept {
    switch (decide(ec, result)) {
    case Action::success: return Disposition::success;
    case Action::retry: return Disposition::retry;
    case Action::throttle: return Disposition::throttle;
    case Action::split:
    case Action::refuse_destination:
    case Action::fail: return Disposition::fail;
    }
    return Disposition::fail;
}

std::chrono::milliseconds backoff_delay(const RetryPolicy& policy, Disposition d, unsigned attempt,
                                        std::optional<std::chrono::seconds> retry_after,
                                        std::uint64_t random) noexcept {
    using std::chrono::milliseconds;
    // The largest delay returned: converts to nanoseconds (any clock) without
    // overflow. ~292 years; the policy's max_total gives up long before.
    constexpr std::int64_t limit = std::numeric_limits<std::int64_t>::max() / 1'000'000;

    if (d != Disposition::retry && d != Disposition::throttle) return milliseconds{0};
    const bool slow = d == Disposition::throttle;
    const std::int64_t initial =
        std::clamp<std::int64_t>((slow ? policy.throttle_initial_backoff : policy.initial_backoff).count(), 0, limit);
    const std::int64_t max =
        std::clamp<std::int64_t>((slow ? policy.throttle_max_backoff : policy.max_backoff).count(), 0, limit);

    // cap = min(max, initial * 2^(attempt-1)), without overflowing the shift.
    const unsigned shift = attempt == 0 ? 0 : attempt - 1;
    std::int64_t cap = max;
    if (shift < 62 && initial <= (max >> shift)) cap = initial << shift;

    // Full jitter: uniform in [0, cap]. The modulo bias is below 2^-20 for any
    // cap under ~300 years of milliseconds.
    auto delay = static_cast<std::int64_t>(random % (static_cast<std::uint64_t>(cap) + 1));

    // value_or: one branch on has_value, never on the payload of an empty optional
    // (a copied nullopt carries indeterminate bytes there; valgrind flags reading them).
    const std::int64_t floor_s = retry_after.value_or(std::chrono::seconds{0}).count();
    if (floor_s > 0) {
        const std::int64_t floor_ms = floor_s >= limit / 1000 ? limit : floor_s * 1000;
        delay = std::max(delay, floor_ms);
    }
    return milliseconds{delay};
}

} // namespace capi
