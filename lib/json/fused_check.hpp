// Internal: the encoder's fused checks (BatchEncoder::impl's). validate() walks
// the whole event on its own, before the walks that normalize and write it;
// encode() first tries one walk that also checks what validate() would, and
// falls back to validate() and the plain walk when anything is not certainly
// valid: an error (so the errors are always validate()'s, field and reason), or
// a part it leaves to validate() (raw members, app events, app_data,
// original_event_data, attribution_data).
#pragma once

#include <capi/event.hpp>
#include <capi/normalize.hpp>
#include <capi/validate.hpp>

#include "normalize/unicode.hpp"
#include "validate/rules.hpp"
#include "wire/schema.hpp"
#include "wire/window.hpp"

#include <chrono>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace capi::detail {

struct FusedCheck {
    bool checking = false;  // the walk checks what validate() checks
    bool failed = false;    // ... and found something it cannot vouch for

    [[gnu::always_inline]] void text(std::string_view s) noexcept {
        if (!detail::is_ascii(s) && !is_valid_utf8(s)) failed = true;
    }
    // The rules a string row's flags name, for a non-empty value (validate.cpp's
    // string_rules).
    void rules(unsigned flags, std::string_view s) noexcept {
        if ((flags & wire::http_url) && !detail::is_http_url(s)) failed = true;
        if ((flags & wire::ip_address) && !detail::is_ip_address(s)) failed = true;
        if ((flags & (wire::fb_click_cookie | wire::fb_browser_cookie)) && !detail::looks_like_fb_cookie(s))
            failed = true;
        if (flags & wire::attribution_method) failed = true;  // attribution_data: validate()'s
    }
    // What validate() checks of one row of an object other than user_data.
    template <class R, class V>
    void row(const V& v) noexcept {
        if constexpr (std::is_same_v<V, std::string>) {
            text(v);
        } else if constexpr (R::kind == wire::Kind::normalized) {
            // The currency: precheck() took it.
        } else if constexpr (std::is_same_v<V, std::optional<std::string>>) {
            if (v) {
                text(*v);
                if (!v->empty()) rules(R::flags, *v);
            }
        } else if constexpr (std::is_same_v<V, std::vector<std::string>>) {
            for (const auto& s : v) text(s);
        } else if constexpr (std::is_same_v<V, std::optional<std::vector<std::string>>>) {
            if (v) {
                for (const auto& s : *v) {
                    text(s);
                    if (R::has(wire::ldu) && s != "LDU") failed = true;
                }
            }
        } else if constexpr (std::is_same_v<V, std::optional<double>>) {
            if (v && !std::isfinite(*v)) failed = true;
        } else if constexpr (std::is_same_v<V, std::optional<std::int64_t>>) {
            if (R::has(wire::non_negative) && v && *v < 0) failed = true;
        } else if constexpr (R::kind == wire::Kind::raw) {
            if (!v.empty()) failed = true;
        } else if constexpr (R::kind == wire::Kind::object && !std::is_same_v<V, UserData> &&
                             !std::is_same_v<V, std::optional<CustomData>>) {
            if (v) failed = true;
        }
    }
};

// validate()'s event-level rules, for events it certainly accepts (false
// does not mean invalid: validate() decides).
inline bool precheck(const Event& ev, std::chrono::system_clock::time_point now, const ValidationOptions& o) noexcept {
    if (ev.event_name.empty()) return false;
    if (wire::check_window(ev.event_time, ev.action_source, now, o) != wire::WindowVerdict::ok) return false;
    if (ev.action_source == ActionSource::unset || ev.action_source == ActionSource::app) return false;
    const auto has_text = [](const std::optional<std::string>& v) { return v && !v->empty(); };
    if (ev.action_source == ActionSource::website && o.require_website_fields &&
        (!has_text(ev.event_source_url) || !has_text(ev.user_data.client_user_agent)))
        return false;
    const bool purchase = ev.event_name == event_names::purchase;
    if (!ev.custom_data) return !purchase;
    const auto& cd = *ev.custom_data;
    if (purchase && (!cd.currency || !cd.value)) return false;
    if (cd.currency) {
        // validate()'s common case (three ASCII letters); anything else is its to judge.
        const auto& c = *cd.currency;
        const auto letter = [](char ch) { return static_cast<unsigned char>((ch | 0x20) - 'a') < 26; };
        if (c.size() != 3 || !letter(c[0]) || !letter(c[1]) || !letter(c[2]) || !is_iso4217(c)) return false;
    }
    return true;
}

} // namespace capi::detail
