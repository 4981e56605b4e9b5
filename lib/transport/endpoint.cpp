// capi: the https transport's endpoint parsing and options checks. Plain C++:
// Asio stays in https_transport.cpp.

#include "transport/endpoint.hpp"

#include "errors/invalid_option.hpp"
#include "util/ascii.hpp"

#include <capi/errors.hpp>
#include <capi/transport.hpp>

#include <charconv>
#include <string>
#include <string_view>
#include <system_error>

namespace capi::detail::transport {

endpoint_parts parse_endpoint(std::string_view s, address_parser kind_of) {
    constexpr std::string_view scheme = "https://";
    if (s.size() < scheme.size() || !ascii::iequals(s.substr(0, scheme.size()), scheme))
        invalid_option("endpoint: must be https://host[:port]; plaintext http and other schemes are "
                       "refused");
    s.remove_prefix(scheme.size());
    if (!s.empty() && s.back() == '/') s.remove_suffix(1);

    endpoint_parts ep;
    std::string_view host, rest;
    if (!s.empty() && s.front() == '[') {
        auto close = s.find(']');
        if (close == std::string_view::npos) invalid_option("endpoint: unterminated [IPv6 address]");
        host = s.substr(1, close - 1);
        rest = s.substr(close + 1);
        if (kind_of(std::string(host)) != address_kind::v6)
            invalid_option("endpoint: bad IPv6 address in brackets");
        ep.is_ip = true;
    } else {
        auto colon = s.find(':');
        host = s.substr(0, colon);
        rest = colon == std::string_view::npos ? std::string_view{} : s.substr(colon);
        for (char c : host) {
            bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '.';
            if (!ok) invalid_option("endpoint: the host may not have a path, query or user info");
        }
        ep.is_ip = kind_of(std::string(host)) == address_kind::v4;
    }
    if (host.empty()) invalid_option("endpoint: no host");
    if (!rest.empty()) {
        if (rest.front() != ':') invalid_option("endpoint: the host may not have a path, query or user info");
        auto port = rest.substr(1);
        unsigned value = 0;
        auto [p, e] = std::from_chars(port.data(), port.data() + port.size(), value);
        if (!ascii::all_digits(port) || e != std::errc{} || p != port.data() + port.size() || value == 0 ||
            value > 65535)
            invalid_option("endpoint: port must be 1-65535");
        ep.port = std::to_string(value);
    }
    ep.host = std::string(host);
    ep.host_header = s.front() == '[' ? "[" + ep.host + "]" : ep.host;
    if (ep.port != "443") ep.host_header += ":" + ep.port;
    return ep;
}

bool valid_api_version(std::string_view v) noexcept {
    // vNN.N, as Graph names its versions.
    if (v.size() < 4 || v.front() != 'v') return false;
    auto dot = v.find('.');
    return dot != std::string_view::npos && ascii::all_digits(v.substr(1, dot - 1)) &&
           ascii::all_digits(v.substr(dot + 1));
}

void validate(const TransportOptions& o) {
    if (!valid_api_version(o.api_version)) invalid_option("api_version: must look like v24.0");
    if (o.max_connections < 1) invalid_option("max_connections: must be at least 1");
    if (o.max_in_flight < 1) invalid_option("max_in_flight: must be at least 1");
    if (o.connect_timeout.count() <= 0) invalid_option("connect_timeout: must be positive");
    if (o.handshake_timeout.count() <= 0) invalid_option("handshake_timeout: must be positive");
    if (o.request_timeout.count() <= 0) invalid_option("request_timeout: must be positive");
    if (o.idle_timeout.count() <= 0) invalid_option("idle_timeout: must be positive");
    for (char c : o.user_agent)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
            invalid_option("user_agent: control characters are not allowed");
}

} // namespace capi::detail::transport
