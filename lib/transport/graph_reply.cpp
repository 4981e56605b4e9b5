// capi: reading Graph API reply bodies.
//
// simdjson's DOM parser, one per thread and reused, over a padded copy of the
// body kept per thread too, so a steady stream of replies allocates nothing.
// Strict about shape (an object, of the success or the error kind: anything
// else, such as a proxy's HTML 502 or a truncated body, is "not Meta's JSON")
// and tolerant about types where Meta or proxies in front of it differ: codes
// may arrive as numeric strings, is_transient as 0/1 or "true".
#include "transport/graph_reply.hpp"

#include "util/ascii.hpp"

#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <iterator>
#include <limits>

namespace capi::detail {

namespace dom = simdjson::dom;

namespace {

using element_type = dom::element_type;

/// An integer from a JSON integer, an integral double, or a string of digits
/// (optionally signed, surrounding blanks allowed).
std::optional<std::int64_t> as_int(dom::element v) {
    switch (v.type()) {
    case element_type::INT64: return v.get_int64().value_unsafe();
    case element_type::UINT64: {
        const std::uint64_t u = v.get_uint64().value_unsafe();
        if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return std::nullopt;
        return static_cast<std::int64_t>(u);
    }
    case element_type::DOUBLE: {
        const double d = v.get_double().value_unsafe();
        // 2^53: the range where a double holds every integer exactly.
        if (std::trunc(d) != d || std::fabs(d) > 9007199254740992.0) return std::nullopt;
        return static_cast<std::int64_t>(d);
    }
    case element_type::STRING: {
        std::string_view s = ascii::trim(v.get_string().value_unsafe());
        if (!s.empty() && s.front() == '+') s.remove_prefix(1);
        std::int64_t out = 0;
        const auto r = std::from_chars(s.data(), s.data() + s.size(), out);
        if (s.empty() || r.ec != std::errc{} || r.ptr != s.data() + s.size()) return std::nullopt;
        return out;
    }
    default: return std::nullopt;
    }
}

std::optional<bool> as_bool(dom::element v) {
    switch (v.type()) {
    case element_type::BOOL: return v.get_bool().value_unsafe();
    case element_type::STRING: {
        const std::string_view s = v.get_string().value_unsafe();
        if (s == "true" || s == "1") return true;
        if (s == "false" || s == "0") return false;
        return std::nullopt;
    }
    default:
        if (auto i = as_int(v)) return *i != 0;
        return std::nullopt;
    }
}

void copy_string(dom::object obj, std::string_view key, std::string& out) {
    std::string_view s;
    if (obj.at_key(key).get_string().get(s) == simdjson::SUCCESS) out.assign(s);
}

bool read_error(dom::object err, PostResult& out) {
    dom::element code_el;
    if (err.at_key("code").get(code_el) != simdjson::SUCCESS) return false;
    const auto code = as_int(code_el);
    if (!code) return false;  // the one field classification cannot do without

    GraphError g;
    g.code = *code;
    dom::element el;
    if (err.at_key("error_subcode").get(el) == simdjson::SUCCESS) {
        if (auto sub = as_int(el)) g.error_subcode = *sub;
    }
    if (err.at_key("is_transient").get(el) == simdjson::SUCCESS) {
        if (auto t = as_bool(el)) g.is_transient = *t;
    }
    copy_string(err, "type", g.type);
    copy_string(err, "message", g.message);
    copy_string(err, "error_user_title", g.error_user_title);
    copy_string(err, "error_user_msg", g.error_user_msg);
    copy_string(err, "fbtrace_id", g.fbtrace_id);
    if (!g.fbtrace_id.empty()) out.fbtrace_id = g.fbtrace_id;
    out.error = std::move(g);
    return true;
}

bool read_success(dom::object obj, dom::element events_received, PostResult& out) {
    const auto n = as_int(events_received);
    if (!n || *n < 0) return false;
    out.events_received = *n;
    out.messages.clear();
    dom::array messages;
    if (obj.at_key("messages").get_array().get(messages) == simdjson::SUCCESS) {
        for (dom::element m : messages) {
            std::string_view s;
            if (m.get_string().get(s) == simdjson::SUCCESS) {
                out.messages.emplace_back(s);
            } else {
                // Not documented as anything but strings; keep whatever it is as JSON text.
                out.messages.push_back(simdjson::to_string(m));
            }
        }
    }
    copy_string(obj, "fbtrace_id", out.fbtrace_id);
    return true;
}

} // namespace

bool parse_graph_reply(std::string_view body, PostResult& out) {
    try {
        thread_local dom::parser parser;
        thread_local std::string padded;
        // A padded copy so the parser does not allocate one for every body.
        padded.reserve(body.size() + simdjson::SIMDJSON_PADDING);
        padded.assign(body);

        dom::element root;
        if (parser.parse(padded.data(), padded.size(), false).get(root) != simdjson::SUCCESS) return false;
        dom::object obj;
        if (root.get_object().get(obj) != simdjson::SUCCESS) return false;

        dom::element el;
        if (obj.at_key("error").get(el) == simdjson::SUCCESS) {
            dom::object err;
            if (el.get_object().get(err) != simdjson::SUCCESS) return false;
            return read_error(err, out);
        }
        if (obj.at_key("events_received").get(el) == simdjson::SUCCESS) return read_success(obj, el, out);
        return false;
    } catch (...) {
        // Allocation failure: report "unreadable" rather than throw into a
        // completion handler (STYLE rule 9).
        return false;
    }
}

std::optional<std::chrono::seconds> usage_wait(const PostResult& result) {
    std::int64_t wait = 0;  // seconds
    const auto parse = [](std::string_view text, dom::element& root) {
        thread_local dom::parser parser;
        thread_local std::string padded;
        padded.reserve(text.size() + simdjson::SIMDJSON_PADDING);
        padded.assign(text);
        return parser.parse(padded.data(), padded.size(), false).get(root) == simdjson::SUCCESS;
    };
    constexpr std::int64_t day = 24 * 3600;  // a bound on what a header can ask for
    try {
        dom::element root;
        dom::object buc;
        if (!result.business_use_case_usage.empty() && parse(result.business_use_case_usage, root) &&
            root.get_object().get(buc) == simdjson::SUCCESS) {
            // {"<business id>":[{"type":"ads_management","call_count":..,
            //   "estimated_time_to_regain_access":<minutes>}, ...], ...}
            for (auto field : buc) {
                dom::array entries;
                if (field.value.get_array().get(entries) != simdjson::SUCCESS) continue;
                for (dom::element entry : entries) {
                    dom::element minutes;
                    if (entry.at_key("estimated_time_to_regain_access").get(minutes) != simdjson::SUCCESS) continue;
                    if (auto m = as_int(minutes); m && *m > 0) wait = std::max(wait, std::min(*m, day / 60) * 60);
                }
            }
        }
        dom::object acc;
        if (!result.ad_account_usage.empty() && parse(result.ad_account_usage, root) &&
            root.get_object().get(acc) == simdjson::SUCCESS) {
            // {"acc_id_util_pct":9.67,"reset_time_duration":0,"ads_api_access_tier":"..."}
            double pct = 0;
            dom::element el;
            if (acc.at_key("acc_id_util_pct").get(el) == simdjson::SUCCESS &&
                el.get_double().get(pct) == simdjson::SUCCESS && pct >= 100 &&
                acc.at_key("reset_time_duration").get(el) == simdjson::SUCCESS) {
                if (auto s = as_int(el); s && *s > 0) wait = std::max(wait, std::min(*s, day));
            }
        }
    } catch (...) {
        return std::nullopt;  // allocation failure: no hint (STYLE rule 9)
    }
    if (wait == 0) return std::nullopt;
    return std::chrono::seconds{wait};
}

std::optional<std::chrono::seconds> retry_after_date(std::string_view v, std::chrono::system_clock::time_point now) {
    // "Sun, 06 Nov 1994 08:49:37 GMT": fixed width, 29 characters.
    static constexpr std::string_view days[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
    static constexpr std::string_view months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    if (v.size() != 29 || v.substr(3, 2) != ", " || v[7] != ' ' || v[11] != ' ' || v[16] != ' ' ||
        v[19] != ':' || v[22] != ':' || v.substr(25) != " GMT")
        return std::nullopt;
    if (std::find(std::begin(days), std::end(days), v.substr(0, 3)) == std::end(days)) return std::nullopt;
    const auto month_it = std::find(std::begin(months), std::end(months), v.substr(8, 3));
    if (month_it == std::end(months)) return std::nullopt;
    const auto number = [&](std::size_t pos, std::size_t len) -> int {
        int out = 0;
        for (std::size_t i = pos; i < pos + len; ++i) {
            if (v[i] < '0' || v[i] > '9') return -1;
            out = out * 10 + (v[i] - '0');
        }
        return out;
    };
    const int day = number(5, 2), year = number(12, 4), hour = number(17, 2), minute = number(20, 2),
              second = number(23, 2);
    if (day < 1 || year < 1970 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 60)
        return std::nullopt;
    const auto ymd = std::chrono::year{year} / std::chrono::month{static_cast<unsigned>(month_it - std::begin(months) + 1)} /
                     std::chrono::day{static_cast<unsigned>(day)};
    if (!ymd.ok()) return std::nullopt;
    const auto at = std::chrono::sys_days{ymd} + std::chrono::hours{hour} + std::chrono::minutes{minute} +
                    std::chrono::seconds{second};
    const auto delta = std::chrono::ceil<std::chrono::seconds>(at - now);
    return delta.count() > 0 ? delta : std::chrono::seconds{0};
}

} // namespace capi::detail
