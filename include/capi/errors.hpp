// capi: error codes and Meta's Graph error object.
//
// Every failure the library reports is a std::error_code in capi's category
// (capi::errc), plus the Graph fields (code, error_subcode, fbtrace_id, ...) when
// Meta's reply carried them. Branch on codes, never on message text: Meta
// localizes error_user_title and error_user_msg.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <system_error>

#pragma GCC visibility push(default)  // exported: docs/install.md#symbol-visibility
namespace capi {

enum class errc {
    // 0 is success.
    invalid_event = 1,          ///< failed validation; never sent
    queue_full,                 ///< the overflow policy refused the event
    graph_error,                ///< Meta answered with a Graph error object (see GraphError)
    http_error,                 ///< a non-2xx reply without a Graph error object
    bad_response,               ///< a reply that is not the JSON Meta sends (truncated, HTML, ...)
    resolve_failed,             ///< the endpoint's host name did not resolve
    connect_failed,             ///< TCP connect failed or was refused
    tls_handshake_failed,       ///< TLS handshake failed for a reason other than the certificate
    certificate_verify_failed,  ///< the server certificate is untrusted, expired or for another host
    connect_timeout,            ///< connect deadline passed
    handshake_timeout,          ///< TLS handshake deadline passed
    request_timeout,            ///< no complete reply within the request deadline
    connection_lost,            ///< the connection was reset or closed mid-request
    retries_exhausted,          ///< the retry policy gave up (attempts or total time)
    expired,                    ///< the event left its 7/62-day window before delivery
    shutdown,                   ///< the client shut down before the event had an outcome
    cancelled,                  ///< cancelled through the completion token's slot
    invalid_option,             ///< an Options field is out of range (named in the message)
    auth_error,                 ///< the destination's access token was refused (Graph code 190):
                                ///< its queued and later events fail without a request
};

const std::error_category& category() noexcept;
std::error_code make_error_code(errc e) noexcept;

/// Meta's error object: `{"error":{"message","type","code","error_subcode",
/// "is_transient","error_user_title","error_user_msg","fbtrace_id"}}`.
struct GraphError {
    std::int64_t code = 0;
    std::int64_t error_subcode = 0;  ///< 0 when absent
    bool is_transient = false;
    std::string type, message, error_user_title, error_user_msg, fbtrace_id;
};

/// Graph error codes capi acts on (GraphError::code), named after Meta's "Error
/// Codes" reference. What capi does with each is decided in one place,
/// capi::decide (<capi/retry.hpp>); docs/errors.md has the table.
namespace graph_code {
inline constexpr std::int64_t api_unknown = 1;            ///< temporary issue on Meta's side: retried
inline constexpr std::int64_t api_service = 2;            ///< temporary service error: retried
inline constexpr std::int64_t api_method = 3;             ///< capability missing: final
inline constexpr std::int64_t api_too_many_calls = 4;     ///< app rate limit: throttled
inline constexpr std::int64_t api_permission_denied = 10; ///< final
inline constexpr std::int64_t api_user_too_many_calls = 17;  ///< user rate limit: throttled
inline constexpr std::int64_t page_too_many_calls = 32;   ///< page rate limit: throttled
inline constexpr std::int64_t invalid_parameter = 100;    ///< a bad event: a batch of several is split
inline constexpr std::int64_t api_session = 102;          ///< session invalid: final (not a token refusal)
inline constexpr std::int64_t access_token = 190;         ///< token invalid or expired: its destination is refused
inline constexpr std::int64_t permission_first = 200;     ///< 200-299: a permission is missing: final
inline constexpr std::int64_t permission_last = 299;
inline constexpr std::int64_t application_limit = 341;    ///< application limit reached: retried
inline constexpr std::int64_t temporarily_blocked = 368;  ///< temporarily blocked (policy): retried
inline constexpr std::int64_t rate_limit = 613;           ///< calls exceed the rate limit: throttled
inline constexpr std::int64_t deprecated_version = 2635;  ///< deprecated API version: final
/// 80000-80014: business use case rate limits (80004: too many calls to this ad
/// account, ads_management): throttled.
inline constexpr std::int64_t business_use_case_first = 80000;
inline constexpr std::int64_t ads_management_too_many_calls = 80004;
inline constexpr std::int64_t business_use_case_last = 80014;
} // namespace graph_code

} // namespace capi
#pragma GCC visibility pop

template <>
struct std::is_error_code_enum<capi::errc> : std::true_type {};
