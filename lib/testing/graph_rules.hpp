// Private to capi-testing: Meta's rules for POST /{version}/{pixel_id}/events as
// pure functions (no sockets, no Beast), so every rule is unit-testable.
//
// The mock server hands evaluate() the parts of an HTTP request it read; the
// Verdict says what Graph would answer and what the request log records.
#pragma once

#include "util/ascii.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace capi::testing::rules {

/// The parts of an HTTP request the rules look at.
struct Request {
    std::string_view method;        ///< "POST"
    std::string_view target;        ///< path and query
    std::string_view content_type;  ///< Content-Type header, parameters included
    std::string_view authorization; ///< Authorization header ("Bearer T" / "OAuth T"), may be empty
    std::string_view body;
    /// Bytes readable (allocated, of any value) past the end of `body`: with at
    /// least 64 the JSON parser reads the body where it is instead of copying it.
    std::size_t body_padding = 0;
};

struct Config {
    /// The token requests must carry; empty: any non-empty token is accepted.
    std::string_view access_token;
    /// When non-empty, appsecret_proof must be HMAC-SHA256(app_secret, token), lowercase hex.
    std::string_view app_secret;
    /// "Now" for the 7/62-day window.
    std::chrono::system_clock::time_point now;
    /// Fill Verdict::event_json on success (the mock's on_accepted hook; off
    /// otherwise, so benchmarks do not pay for the copies).
    bool collect_events = false;
};

/// What Graph would answer, plus what the request log wants to know.
struct Verdict {
    int status = 0;
    std::string body;                    ///< a Graph success or error body (JSON)
    bool success = false;                ///< 200 with events_received
    bool access_token_ok = false;
    bool appsecret_proof_ok = false;     ///< true when no app secret is configured
    std::size_t events = 0;              ///< elements of `data` when it parsed as an array
    std::vector<std::string> event_ids;  ///< event_id of each event, "" where absent
    std::string test_event_code;         ///< the request's, "" where absent
    std::string api_version;             ///< "v24.0" from the path, "" when the path is wrong
    std::string fbtrace_id;              ///< the one in `body`
    std::int64_t code = 0;               ///< Graph error code (0 on success)
    std::int64_t subcode = 0;            ///< Graph error_subcode (0 when none)
    std::string pixel_id;                ///< from the path, "" when the path is wrong
    /// With Config::collect_events, on success: each element of `data` exactly as
    /// received (its JSON text, byte for byte; for a form or multipart body, or a
    /// `data` given as a JSON string, the text after decoding).
    std::vector<std::string> event_json;
};

/// Applies the rules, in this order: path shape (else 404, code 2500), access
/// token (401, code 190), appsecret_proof (400, code 100), method (400, code 100),
/// numeric pixel id (400, code 100 subcode 33), body and `data` shape, the
/// 1000-event cap, then each event in order (object, unknown keys, required fields,
/// action_source, user_data and its hashed fields, customer information 2804050,
/// the 7/62-day window 2804003). The first failing rule answers for the whole
/// request, as Meta rejects a whole batch for one bad event.
Verdict evaluate(const Request& request, const Config& config);

// ---- building blocks, exposed for the tests ------------------------------------

/// The keys the rules know, as Meta documents them. The mock plays Meta, so it
/// keeps its own lists rather than capi's schema; test/wire_schema_test.cpp
/// names every place where the two differ.
struct KnownKeys {
    std::span<const std::string_view> event;             ///< top-level event keys
    std::span<const std::string_view> hashed_user_data;  ///< must arrive SHA-256 hashed
    std::span<const std::string_view> plain_user_data;   ///< sent as they are
};
KnownKeys known_keys() noexcept;

/// Fields of a Graph error object; empty strings and a zero subcode are omitted.
struct ErrorFields {
    std::string message;
    std::string type = "OAuthException";
    std::int64_t code = 100;
    std::int64_t subcode = 0;
    std::optional<bool> is_transient;
    std::string user_title;
    std::string user_msg;
    std::string fbtrace_id;  ///< empty: a fresh random one
};

/// {"error":{"message":..,"type":..,"code":..,["error_subcode":..,]["is_transient":..,]
/// ["error_user_title":..,"error_user_msg":..,]"fbtrace_id":..}}
std::string error_body(const ErrorFields& fields);
/// {"events_received":N,"messages":[],"fbtrace_id":".."}
std::string success_body(std::size_t events, std::string_view fbtrace_id);
/// 23 characters of [A-Za-z0-9_-], the shape of Meta's fbtrace_id.
std::string random_fbtrace_id();

/// JSON string escaping (quotes not included).
std::string json_escape(std::string_view s);
/// Percent-decoding; `plus_is_space` for form bodies and query strings. A bad
/// escape is kept as is (Graph is lenient there too).
std::string url_decode(std::string_view s, bool plus_is_space = true);
/// Percent-encoding of everything but unreserved characters (RFC 3986).
inline constexpr auto& url_encode = capi::detail::ascii::percent_encode;

using Fields = std::map<std::string, std::string, std::less<>>;

/// Parses `a=1&b=2` (query strings and form bodies); the first of a repeated key wins.
Fields parse_urlencoded(std::string_view s);
/// Parses a multipart/form-data body; nullopt when it is malformed or the
/// content type carries no boundary.
std::optional<Fields> parse_multipart(std::string_view content_type, std::string_view body);
/// The media type of a Content-Type value, lowercased, parameters dropped.
std::string media_type(std::string_view content_type);
/// `target` with the value of every access_token query parameter replaced by
/// "REDACTED" (appsecret_proof is kept: it is a MAC, not a secret).
std::string redact_target(std::string_view target);
/// The elements of a JSON array, each its exact text (surrounding whitespace
/// dropped); nullopt when `array` is not one array (the text is assumed to have
/// parsed: this only matches brackets and strings).
std::optional<std::vector<std::string_view>> json_array_elements(std::string_view array);
/// The exact text of member `key` of a JSON object (the key compared as it is
/// spelled, escapes not decoded); nullopt when absent or `object` is not one.
std::optional<std::string_view> json_member(std::string_view object, std::string_view key);
/// 64 lowercase hex characters.
bool is_sha256_hex(std::string_view s) noexcept;

} // namespace capi::testing::rules
