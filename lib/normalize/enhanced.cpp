// capi: enhanced normalization (opt-in) and the match-quality outcome of a value
// (docs/normalization.md, "Enhanced, opt-in" and "What will not match").
//
// The enhanced rules run after the default ones, on what they left (lowercased,
// trimmed, the field's characters kept) or, where the default rule refused the
// value (a country name) or left it out (a gender word), on the value's letters.
// Every conversion is a lookup in lib/normalize/tables.cpp or the date parser of
// lib/normalize/dates.cpp: nothing here knows a name. With the rules off, a value
// comes out byte for byte as normalize_into() makes it, and only its outcome is
// added.
#include <capi/normalize.hpp>

#include "normalize/dates.hpp"
#include "normalize/refine.hpp"
#include "normalize/tables.hpp"
#include "normalize/unicode.hpp"
#include "util/ascii.hpp"

#include <algorithm>

namespace capi {
namespace {

using detail::ascii::all_digits;
using detail::ascii::is_digit;

// YYYYMMDD naming a day that exists, years 1900 to 2099.
bool is_yyyymmdd(std::string_view s) noexcept {
    if (s.size() != 8 || !all_digits(s)) return false;
    const auto num = [&](std::size_t at, std::size_t n) {
        int v = 0;
        for (std::size_t i = at; i < at + n; ++i) v = v * 10 + (s[i] - '0');
        return v;
    };
    const int y = num(0, 4), m = num(4, 2), d = num(6, 2);
    if (y < 1900 || y > 2099 || m < 1 || m > 12 || d < 1) return false;
    static constexpr int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return d <= days[m - 1] + (m == 2 && leap ? 1 : 0);
}

// `value` lowercased, trimmed, letters only: the key of the name tables.
void letters_of(std::string_view value, std::string& out) {
    out.clear();
    detail::append_lower(out, detail::trim(value));
    detail::retain(out, [](char32_t c) { return detail::is_letter(c); });
}

// Whether a phone number was written in international form: '+' or "00"
// before its first digit (the default rule drops both, so the digits alone no
// longer say).
bool written_international(std::string_view raw) noexcept {
    std::size_t zeros = 0;
    for (const char c : raw) {
        if (c == '+') return zeros == 0;
        if (c == '0') {
            if (++zeros == 2) return true;
            continue;
        }
        if (is_digit(c)) return false;
        // Separators and spaces (and anything the default rule refused) between.
    }
    return false;
}

bool in_range(std::size_t n, const detail::tables::PhonePlan& p) noexcept {
    return p.max_length != 0 && n >= p.min_length && n <= p.max_length;
}

// The plan the phone rules read: the event's country, else the default.
// find_phone_plan() for a country, remembered per thread: the events of a
// stream mostly share their country, and every phone number of the default
// path asks (for the match report).
const detail::tables::PhonePlan* plan_of(std::string_view country) noexcept {
    thread_local char last[2] = {0, 0};
    thread_local const detail::tables::PhonePlan* last_plan = nullptr;
    if (country.size() == 2 && country[0] == last[0] && country[1] == last[1]) return last_plan;
    const auto* plan = detail::tables::find_phone_plan(country);
    if (country.size() == 2) {
        last[0] = country[0];
        last[1] = country[1];
        last_plan = plan;
    }
    return plan;
}

const detail::tables::PhonePlan* phone_plan(const NormalizeContext& ctx) noexcept {
    if (!ctx.country.empty()) return plan_of(ctx.country);
    if (ctx.enhanced != nullptr && ctx.enhanced->enabled && !ctx.enhanced->default_phone_country.empty()) {
        char cc[2];
        const auto& d = ctx.enhanced->default_phone_country;
        if (d.size() != 2) return nullptr;
        for (int i = 0; i < 2; ++i) cc[i] = static_cast<char>(d[i] | 0x20);
        return plan_of(std::string_view(cc, 2));
    }
    return nullptr;
}

// What the digits of a phone number written without '+' or 00 are, for the
// plan of the event's country. Digits alone cannot tell a national number from
// an international one, so a number counts as national only when its form says
// so: dialed with the trunk prefix (07911 123456 in GB), or, in a country whose
// numbers are dialed without one (NANP, where the trunk prefix is the calling
// code; IT, ES, NO, ...), exactly a national number's length. A number without
// the trunk prefix of a country that has one is left alone: it is either
// international already (447911123456 in a German event) or ambiguous.
enum class PhoneForm : std::uint8_t { international, national_trunk, national, too_short, unknown };

PhoneForm phone_form(std::string_view d, const detail::tables::PhonePlan& p) noexcept {
    if (p.max_length == 0) return PhoneForm::unknown;  // lengths unknown: never guess
    const auto& cc = p.calling_code;
    const auto& trunk = p.trunk_prefix;
    if (!trunk.empty() && d.starts_with(trunk) && in_range(d.size() - trunk.size(), p))
        return PhoneForm::national_trunk;
    if (d.starts_with(cc) && in_range(d.size() - cc.size(), p)) return PhoneForm::international;
    const bool dialed_with_trunk = !trunk.empty() && trunk != cc;
    if (!dialed_with_trunk && in_range(d.size(), p)) {
        // NANP area codes start with 2-9: 1xx... of that length is not one.
        if (cc == "1" && (d.empty() || d.front() < '2')) return PhoneForm::unknown;
        return PhoneForm::national;
    }
    if (d.starts_with(cc) && d.size() - cc.size() < p.min_length) return PhoneForm::too_short;
    return PhoneForm::unknown;
}

// Adds the calling code to a national number (phone_form); true when that
// changed it (in NANP the trunk prefix is the calling code: 1 650... stays).
bool add_calling_code(std::string& digits, const detail::tables::PhonePlan& p) {
    switch (phone_form(digits, p)) {
    case PhoneForm::national_trunk: {
        std::string out;
        out.reserve(p.calling_code.size() + digits.size() - p.trunk_prefix.size());
        out.append(p.calling_code).append(std::string_view(digits).substr(p.trunk_prefix.size()));
        const bool changed = out != digits;
        digits = std::move(out);
        return changed;
    }
    case PhoneForm::national: digits.insert(0, p.calling_code); return true;
    default: return false;
    }
}

// Why a phone number will not match, knowing the plan of its country: national
// digits without the calling code, or fewer digits than the country's numbers.
std::string_view phone_warning(std::string_view d, const detail::tables::PhonePlan& p) noexcept {
    switch (phone_form(d, p)) {
    case PhoneForm::national_trunk:
        if (p.trunk_prefix == p.calling_code) return {};  // 1 650 555 1234: the calling code is there
        [[fallthrough]];
    case PhoneForm::national:
        return "a national number of the address's country, without its country code: Meta will not match it "
               "(--enhanced with the country or --phone-country adds it)";
    case PhoneForm::too_short: return "fewer digits than the numbers of the address's country: Meta will not match it";
    default: return {};
    }
}

std::string_view warning_of(Field field, std::string_view v, std::string_view country,
                            const detail::tables::PhonePlan* plan, bool international) noexcept {
    switch (field) {
    case Field::db:
        if (!is_yyyymmdd(v)) return "not a date in YYYYMMDD (e.g. 19900131): hashed as given, Meta will not match it";
        return {};
    case Field::ph:
        // (Fewer than 7 digits is already rejected by the field rule.)
        if (international) return {};
        if (plan != nullptr && plan->max_length != 0) return phone_warning(v, *plan);
        if (!v.empty() && v.front() == '0')
            return "starts with 0: a national number without its country code (44 for the UK, 1 for the US, ...), "
                   "Meta will not match it";
        return {};
    case Field::st:
        if ((country == "us" || country == "ca") && v.size() > 2 && detail::code_point_count(v) > 2)
            return "a US or Canadian state must be its 2-letter code (california -> ca): Meta will not match it "
                   "(--enhanced converts names)";
        return {};
    case Field::zp:
        if (country == "us" && !detail::zip5(v))
            return "a US ZIP code must be its first 5 digits: Meta will not match it";
        return {};
    default: return {};
    }
}

NormalizeStatus reject(std::string& out, std::string_view& reason, std::string_view why) noexcept {
    out.clear();
    reason = why;
    return NormalizeStatus::rejected;
}

} // namespace

std::string_view to_string(DateOrder o) noexcept {
    switch (o) {
    case DateOrder::unspecified: return "unspecified";
    case DateOrder::dmy: return "dmy";
    case DateOrder::mdy: return "mdy";
    case DateOrder::ymd: return "ymd";
    }
    return "unspecified";
}

std::optional<DateOrder> parse_date_order(std::string_view s) noexcept {
    if (s == "dmy") return DateOrder::dmy;
    if (s == "mdy") return DateOrder::mdy;
    if (s == "ymd") return DateOrder::ymd;
    return std::nullopt;
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
    return "as_given";
}

std::uint64_t MatchQuality::values(Field f) const noexcept {
    std::uint64_t n = 0;
    for (const auto c : counts[static_cast<std::size_t>(f)]) n += c;
    return n;
}

std::uint64_t MatchQuality::total(MatchOutcome o) const noexcept {
    std::uint64_t n = 0;
    for (const auto& row : counts) n += row[static_cast<std::size_t>(o)];
    return n;
}

MatchQuality& MatchQuality::operator+=(const MatchQuality& other) noexcept {
    for (std::size_t f = 0; f < counts.size(); ++f)
        for (std::size_t o = 0; o < match_outcome_count; ++o) counts[f][o] += other.counts[f][o];
    return *this;
}

std::string_view match_warning(Field field, std::string_view normalized, std::string_view country) noexcept {
    const detail::tables::PhonePlan* plan = nullptr;
    if (field == Field::ph && !country.empty()) plan = plan_of(country);
    return warning_of(field, normalized, country, plan, false);
}

std::string_view match_warning(Field field, std::string_view normalized) noexcept {
    return warning_of(field, normalized, {}, nullptr, false);
}

void context_country(const std::vector<std::string>& countries, const EnhancedNormalization* enhanced,
                     std::string& out) {
    out.clear();
    const NormalizeContext ctx{enhanced, {}};
    for (const auto& c : countries) {
        // The common case: two ASCII letters, a code.
        if (c.size() == 2) {
            const char a = static_cast<char>(c[0] | 0x20), b = static_cast<char>(c[1] | 0x20);
            if (a >= 'a' && a <= 'z' && b >= 'a' && b <= 'z') {
                const char code[2] = {a, b};
                if (is_iso3166_alpha2(std::string_view(code, 2))) {
                    out.assign(code, 2);
                    return;
                }
            }
        }
        std::string_view reason;
        MatchOutcome outcome;
        if (normalize_into(Field::country, c, out, reason, ctx, outcome) == NormalizeStatus::ok) return;
    }
    out.clear();
}

NormalizeStatus normalize_into(Field field, std::string_view value, std::string& out, std::string_view& reason,
                               const NormalizeContext& ctx, MatchOutcome& outcome) {
    const NormalizeStatus st = normalize_into(field, value, out, reason);
    outcome = detail::outcome_of(st);
    if (!detail::needs_refine(field, value, out, st, ctx)) return st;
    return detail::refine(field, value, st, out, reason, ctx, outcome);
}

NormalizeStatus detail::refine(Field field, std::string_view value, NormalizeStatus st, std::string& out,
                               std::string_view& reason, const NormalizeContext& ctx, MatchOutcome& outcome) {
    const bool enhanced = ctx.enhanced != nullptr && ctx.enhanced->enabled;
    bool converted = false;
    if (enhanced) {
        switch (field) {
        case Field::db:
            if (st == NormalizeStatus::ok) {
                const auto date = detail::parse_date(out, ctx.enhanced->date_order);
                if (!date.ok) {
                    st = reject(out, reason, date.reason);
                } else if (std::string_view(date.yyyymmdd, 8) != out) {
                    out.assign(date.yyyymmdd, 8);
                    converted = true;
                }
            }
            break;
        case Field::st:
            if (st == NormalizeStatus::ok) {
                const auto code = detail::tables::find_state(out, ctx.country);
                if (!code.empty() && code != out) {
                    out.assign(code);
                    converted = true;
                }
            }
            break;
        case Field::country:
            if (st == NormalizeStatus::rejected && reason == std::string_view("not an ISO 3166-1 alpha-2 country code")) {
                letters_of(value, out);
                const auto found = detail::tables::find_country(out);
                using R = detail::tables::CountryLookup::Result;
                if (found.result == R::found) {
                    out.assign(found.alpha2);
                    reason = {};
                    st = NormalizeStatus::ok;
                    converted = true;
                } else {
                    st = reject(out, reason,
                                found.result == R::ambiguous
                                    ? "ambiguous country name: it names more than one country; give the ISO 3166-1 "
                                      "alpha-2 code"
                                    : "not an ISO 3166-1 alpha-2 country code, nor a country name or alpha-3 code "
                                      "capi knows");
                }
            }
            break;
        case Field::ge:
            if (st == NormalizeStatus::omitted) {
                letters_of(value, out);
                if (const char g = detail::tables::find_gender(out); g != 0) {
                    out.assign(1, g);
                    reason = {};
                    st = NormalizeStatus::ok;
                    converted = true;
                } else {
                    out.clear();
                }
            }
            break;
        case Field::ph:
            if (st == NormalizeStatus::ok && !written_international(value)) {
                if (const auto* plan = phone_plan(ctx); plan != nullptr) converted = add_calling_code(out, *plan);
            }
            break;
        case Field::zp:
            if (st == NormalizeStatus::ok && ctx.country == "us" && out.size() == 9 && all_digits(out)) {
                out.resize(5);
                converted = true;
            }
            break;
        default: break;
        }
    }

    // What became of the value: its status, unless a rule of warning_of()
    // knows something against it (with the enhanced rules on too: a value they
    // could not convert).
    outcome = detail::outcome_of(st);
    if (st != NormalizeStatus::ok) return st;
    const bool intl = field == Field::ph && written_international(value);
    const detail::tables::PhonePlan* plan = field == Field::ph && !intl ? phone_plan(ctx) : nullptr;
    if (const auto why = warning_of(field, out, ctx.country, plan, intl); !why.empty()) {
        outcome = MatchOutcome::unmatchable;
        reason = why;
    } else if (converted) {
        outcome = MatchOutcome::converted;
    }
    return st;
}

} // namespace capi
