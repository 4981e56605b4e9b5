// Internal: inflating gzip reply bodies (Beast's zlib port, no Asio).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace capi::detail::transport {

/// Inflates a gzip body (RFC 1952, concatenated members allowed). Beast's zlib
/// port inflates raw deflate only, so the gzip framing (header, CRC-32 and
/// ISIZE trailer) is handled here. Returns false for anything malformed or
/// truncated, or past `limit` bytes inflated.
bool gunzip(std::string_view in, std::string& out, std::size_t limit);

} // namespace capi::detail::transport
