// Internal: parsing Graph API reply bodies (simdjson).
#pragma once

#include <capi/transport.hpp>

#include <string_view>

namespace capi::detail {

/// Fills `out` from a reply body: events_received, messages and fbtrace_id of a
/// success body, or `out.error` from {"error":{...}}. Returns false when the body
/// is not a JSON object of either shape (HTML from a proxy, truncated, empty).
bool parse_graph_reply(std::string_view body, PostResult& out);

} // namespace capi::detail
