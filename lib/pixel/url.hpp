// Internal: reading the URL and form encodings of pixel hits (writing them:
// util/ascii.hpp's append_percent_encoded).
//
// Hits arrive as browsers encode them: a query string (`location.href`'s rules,
// URLSearchParams' rules) or an application/x-www-form-urlencoded body. Both
// are `name=value` pairs joined by '&', with %XX escapes and '+' for a space
// (URLSearchParams writes a space as '+', a literal '+' as %2B; a hand-written
// image tag may leave either). So one decoder serves both, '+' always a space.
#pragma once

#include <string>
#include <string_view>

namespace capi::pixel::url {

/// Appends the percent-decoded `in` ('+' as a space) to `out`. Returns null, or
/// the reason `in` is malformed (a '%' not followed by two hex digits).
const char* decode_append(std::string_view in, std::string& out);

/// `in` decoded into `out` (replacing it); null or the reason, as decode_append.
inline const char* decode(std::string_view in, std::string& out) {
    out.clear();
    return decode_append(in, out);
}

/// True when `in` needs decoding (has a '%' or a '+').
bool needs_decoding(std::string_view in) noexcept;

/// Calls f(name, value) with the raw (still encoded) halves of each
/// '&'-separated pair of `params`, skipping empty pairs (`a=1&&b=2`, a trailing
/// '&'); a pair without '=' has an empty value. Stops when f returns false;
/// returns whether every call returned true.
template <class F>
bool each_pair(std::string_view params, F&& f) {
    while (!params.empty()) {
        const std::size_t amp = params.find('&');
        const std::string_view pair = params.substr(0, amp);
        params = amp == std::string_view::npos ? std::string_view{} : params.substr(amp + 1);
        if (pair.empty()) continue;
        const std::size_t eq = pair.find('=');
        const std::string_view name = pair.substr(0, eq);
        const std::string_view value = eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
        if (!f(name, value)) return false;
    }
    return true;
}

/// The raw value of the first `name` parameter in the query of `url` (after
/// '?', before '#'), still encoded; nullopt-like empty `found` when absent.
bool query_param(std::string_view url, std::string_view name, std::string_view& value) noexcept;

} // namespace capi::pixel::url
