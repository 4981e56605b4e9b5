// capi: the step after the default rules (lib/normalize/enhanced.cpp), split so
// a hot loop (the encoder's) decides inline whether a value needs it: with the
// enhanced rules off, only a db, a ph, or a st or zp of an event with a known
// country can draw a match warning; every other value's outcome is its status.
#pragma once

#include <capi/normalize.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace capi::detail {

/// The outcome a status means, before anything is known against the value.
constexpr MatchOutcome outcome_of(NormalizeStatus st) noexcept {
    constexpr MatchOutcome by_status[] = {MatchOutcome::as_given, MatchOutcome::already_hashed, MatchOutcome::omitted,
                                          MatchOutcome::dropped};
    static_assert(static_cast<int>(NormalizeStatus::ok) == 0 && static_cast<int>(NormalizeStatus::already_hashed) == 1 &&
                  static_cast<int>(NormalizeStatus::omitted) == 2 && static_cast<int>(NormalizeStatus::rejected) == 3);
    return by_status[static_cast<unsigned>(st) & 3u];
}

/// The fields (bit i: Field i) whose accepted values can draw a match warning
/// with the enhanced rules off: db and ph always, st and zp once the event's
/// country is known.
constexpr std::uint32_t warned_fields(bool country_known) noexcept {
    constexpr auto bit = [](Field f) { return std::uint32_t{1} << static_cast<unsigned>(f); };
    return bit(Field::db) | bit(Field::ph) | (country_known ? bit(Field::st) | bit(Field::zp) : 0u);
}

/// A phone number that starts with '+' is written in international form:
/// nothing to warn about (the common case; written_international() has the rest).
inline bool starts_international(Field f, std::string_view value) noexcept {
    return f == Field::ph && !value.empty() && value.front() == '+';
}

/// Five ASCII digits: a US ZIP code as Meta asks for it.
inline bool zip5(std::string_view zp) noexcept {
    if (zp.size() != 5) return false;
    for (const char c : zp)
        if (c < '0' || c > '9') return false;
    return true;
}

/// With the enhanced rules off: whether a warning rule can say anything of an
/// accepted value (`normalized`, from `value`) of a warned field. A st of two
/// letters, a 5-digit zp and a phone number written with '+' never draw one,
/// whatever the country: most values, which then need neither the event's
/// country nor refine().
inline bool may_warn(Field f, std::string_view value, std::string_view normalized) noexcept {
    switch (f) {
    case Field::ph: return !starts_international(f, value);
    case Field::st: return normalized.size() > 2;
    case Field::zp: return !zip5(normalized);
    default: return true;
    }
}

/// Whether refine() can change what the default rules made of a value
/// (`st`, `normalized`).
inline bool needs_refine(Field f, std::string_view value, std::string_view normalized, NormalizeStatus st,
                         const NormalizeContext& ctx) noexcept {
    if (ctx.enhanced != nullptr && ctx.enhanced->enabled) return true;
    if (st != NormalizeStatus::ok) return false;
    return (warned_fields(!ctx.country.empty()) >> static_cast<unsigned>(f) & 1u) != 0 && may_warn(f, value, normalized);
}

/// The enhanced rules (when ctx enables them) and the match warnings, applied to
/// what normalize_into(field, value, out, reason) returned (`st`, `out`), with
/// `outcome` set to outcome_of(st) by the caller. normalize_into() with a
/// context is exactly: the default rules, then refine() when needs_refine().
NormalizeStatus refine(Field field, std::string_view value, NormalizeStatus st, std::string& out,
                       std::string_view& reason, const NormalizeContext& ctx, MatchOutcome& outcome);

} // namespace capi::detail
