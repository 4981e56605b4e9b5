// TEMPORARY: trivial definitions of the contract's new functions that the
// gateway and forwarder commands link, until lib/normalize/enhanced.cpp lands.
// Drop this file (and its line in lib/meson.build) at integration.
#include <capi/normalize.hpp>

namespace capi {

std::optional<DateOrder> parse_date_order(std::string_view s) noexcept {
    if (s == "dmy") return DateOrder::dmy;
    if (s == "mdy") return DateOrder::mdy;
    if (s == "ymd") return DateOrder::ymd;
    return std::nullopt;
}

std::string_view to_string(DateOrder o) noexcept {
    switch (o) {
    case DateOrder::dmy: return "dmy";
    case DateOrder::mdy: return "mdy";
    case DateOrder::ymd: return "ymd";
    case DateOrder::unspecified: break;
    }
    return "unspecified";
}

std::string_view to_string(MatchOutcome o) noexcept {
    switch (o) {
    case MatchOutcome::as_given: return "as_given";
    case MatchOutcome::converted: return "converted";
    case MatchOutcome::already_hashed: return "already_hashed";
    case MatchOutcome::unmatchable: return "unmatchable";
    case MatchOutcome::dropped: return "dropped";
    case MatchOutcome::omitted: return "omitted";
    }
    return "unknown";
}

std::uint64_t MatchQuality::values(Field f) const noexcept {
    std::uint64_t n = 0;
    for (const auto c : counts[static_cast<std::size_t>(f)]) n += c;
    return n;
}

}  // namespace capi
