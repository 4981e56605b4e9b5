// Internal: what the pixel's translation units share.
#pragma once

#include <capi/pixel.hpp>

#include <string>
#include <string_view>

namespace capi::pixel::detail {

/// Where a hit is parsed to: a Hit's members, or (Endpoint) a Routed's, so the
/// event is built where it is handed over, never moved.
struct HitTarget {
    std::string& pixel_id;
    Event& event;
    bool& noscript;
};

/// parse_hit over the concatenation of two parameter lists (`POST /tr`: the
/// query, then the body), without copying them into one string. `out` must be
/// fresh (default-constructed) or reset by reset_for_reuse; on failure it is
/// left half-read.
bool parse_hit(std::string_view first, std::string_view second, HitTarget out, HitError& error,
               std::chrono::system_clock::time_point now, const HitOptions& options);

/// Makes `r` a default Routed again but for the storage of its vectors (user
/// data, custom_data's ids, contents and properties), kept cleared: a server
/// reusing one Response per connection then allocates them once, not per hit.
/// custom_data may stay engaged and empty: parse_hit makes it absent then.
void reset_for_reuse(Routed& r);

/// The hit parameter a validation path names (`custom_data.value` -> `cd[value]`,
/// `user_data.em[0]` -> `ud[em]`, `event_time` -> `ts`, ...), and what of the
/// path is below it (`[0].quantity` of `custom_data.contents[0].quantity`).
struct HitPath {
    std::string parameter;
    std::string_view rest;
};
HitPath hit_path(std::string_view wire_path);

/// The cookies one answer sets, shared by the events of one request so that a
/// POST /events of several events mints one `_fbp`, not one per event.
struct CookieState {
    std::string new_fbp;       ///< minted for this request (empty: none yet)
    std::string new_fbc;       ///< built from an fbclid for this request
    std::string fbclid;        ///< the click id new_fbc was built from
};

/// apply_context, with the cookies already minted for this request.
void apply_context(const Request& request, const Options& options, Event& ev,
                   std::vector<std::string>& set_cookies, CookieState& state,
                   std::chrono::system_clock::time_point now);

} // namespace capi::pixel::detail
