// Internal: the https transport's endpoint parsing and options checks (no Asio:
// parse_endpoint is handed the address parser). The string helpers they use are
// util/ascii.hpp's.
#pragma once

#include <string>
#include <string_view>

namespace capi {
struct TransportOptions;
}

namespace capi::detail::transport {

struct endpoint_parts {
    std::string host;         ///< name or address, without brackets
    std::string port = "443";
    std::string host_header;  ///< Host: value
    bool is_ip = false;
};

/// What an address literal parses as; none when it is not one.
enum class address_kind { none, v4, v6 };
using address_parser = address_kind (*)(const std::string& host);

/// Splits an https://host[:port] endpoint, throwing invalid_option for anything
/// else. `kind_of` reads address literals (Asio's parser, in the Asio TU).
endpoint_parts parse_endpoint(std::string_view s, address_parser kind_of);

/// vNN.N, as Graph names its versions.
bool valid_api_version(std::string_view v) noexcept;

/// Throws invalid_option, naming the field, for transport options out of range
/// (the endpoint is parse_endpoint's).
void validate(const TransportOptions& o);

} // namespace capi::detail::transport
