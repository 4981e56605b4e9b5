// Internal: parsing Graph API reply bodies (simdjson).
#pragma once

#include <capi/transport.hpp>

#include <chrono>
#include <optional>
#include <string_view>

namespace capi::detail {

/// Fills `out` from a reply body: events_received, messages and fbtrace_id of a
/// success body, or `out.error` from {"error":{...}}. Returns false when the body
/// is not a JSON object of either shape (HTML from a proxy, truncated, empty).
bool parse_graph_reply(std::string_view body, PostResult& out);

/// How long Meta's usage headers say to stay away: the largest
/// `estimated_time_to_regain_access` (minutes) of X-Business-Use-Case-Usage, and
/// X-Ad-Account-Usage's `reset_time_duration` (seconds) when `acc_id_util_pct`
/// is at 100 or more. Nothing when neither header says so or they do not parse.
std::optional<std::chrono::seconds> usage_wait(const PostResult& result);

/// A Retry-After HTTP-date (IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT", the
/// form RFC 9110 requires senders to use) as a delay from `now`: zero for a date
/// already past, nothing when it does not parse.
std::optional<std::chrono::seconds> retry_after_date(std::string_view value,
                                                     std::chrono::system_clock::time_point now);

} // namespace capi::detail
