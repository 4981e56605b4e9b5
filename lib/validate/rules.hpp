// Internal: the value rules that schema flags name (wire::http_url,
// wire::ip_address, wire::fb_click_cookie, wire::fb_browser_cookie), shared by
// validate() and the encoder's fused checks, so both accept exactly the same
// values.
#pragma once

#include <string_view>

namespace capi::detail {

/// Absolute http(s) URL with a non-empty authority and no spaces or control
/// characters.
bool is_http_url(std::string_view s) noexcept;
/// An IPv4 or IPv6 address, as inet_pton reads it (no zone id).
bool is_ip_address(std::string_view s) noexcept;
/// fb.<subdomain index>.<creation time>.<id> (the _fbc and _fbp cookies).
bool looks_like_fb_cookie(std::string_view s) noexcept;

} // namespace capi::detail
