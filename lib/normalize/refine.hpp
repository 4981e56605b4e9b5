// capi: the step after the default rules (lib/normalize/enhanced.cpp), split so
// a hot loop (the encoder's) decides inline whether a value needs it: with the
// enhanced rules off, only a db, a ph, or a st or zp of an event with a known
// country can draw a match warning; every other value's outcome is its status.
#pragma once

#include <capi/normalize.hpp>

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

/// Whether refine() can change what the default rules made of a value.
inline bool needs_refine(Field f, NormalizeStatus st, const NormalizeContext& ctx) noexcept {
    if (ctx.enhanced != nullptr && ctx.enhanced->enabled) return true;
    if (st != NormalizeStatus::ok) return false;
    if (f == Field::db || f == Field::ph) return true;
    return (f == Field::st || f == Field::zp) && !ctx.country.empty();
}

/// The enhanced rules (when ctx enables them) and the match warnings, applied to
/// what normalize_into(field, value, out, reason) returned (`st`, `out`), with
/// `outcome` set to outcome_of(st) by the caller. normalize_into() with a
/// context is exactly: the default rules, then refine() when needs_refine().
NormalizeStatus refine(Field field, std::string_view value, NormalizeStatus st, std::string& out,
                       std::string_view& reason, const NormalizeContext& ctx, MatchOutcome& outcome);

} // namespace capi::detail
