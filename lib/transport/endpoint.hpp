// Internal: the https transport's endpoint parsing and the plain string helpers
// of its options checks and request targets (no Asio: parse_endpoint is handed
// the address parser).
#pragma once

#include <string>
#include <string_view>

namespace capi::detail::transport {

/// Throws std::system_error with errc::invalid_option and `what`.
[[noreturn]] void bad_option(const std::string& what);

/// ASCII case-insensitive equality.
bool iequals(std::string_view a, std::string_view b) noexcept;

/// `s` without leading and trailing spaces and tabs.
std::string_view trim(std::string_view s) noexcept;

struct endpoint_parts {
    std::string host;         ///< name or address, without brackets
    std::string port = "443";
    std::string host_header;  ///< Host: value
    bool is_ip = false;
};

/// What an address literal parses as; none when it is not one.
enum class address_kind { none, v4, v6 };
using address_parser = address_kind (*)(const std::string& host);

/// Splits an https://host[:port] endpoint, throwing bad_option for anything
/// else. `kind_of` reads address literals (Asio's parser, in the Asio TU).
endpoint_parts parse_endpoint(std::string_view s, address_parser kind_of);

/// vNN.N, as Graph names its versions.
bool valid_api_version(std::string_view v) noexcept;

/// `s` with every byte but RFC 3986's unreserved ones percent-encoded.
std::string percent_encode(std::string_view s);

} // namespace capi::detail::transport
