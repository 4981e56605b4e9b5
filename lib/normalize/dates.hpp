// capi: private date parser of the enhanced (opt-in) `db` rule
// (docs/normalization.md, "Enhanced, opt-in"; lib/normalize/enhanced.cpp).
#pragma once

#include <capi/normalize.hpp>

#include <string_view>

namespace capi::detail {

/// What parse_date() makes of a date of birth.
struct ParsedDate {
    bool ok = false;
    char yyyymmdd[8] = {};    ///< the date, when ok
    std::string_view reason;  ///< why not, when !ok; static storage, names no value
};

/// Parses `text` (trimmed, lowercased, valid UTF-8) as a date of birth:
/// `19900131`, `1990-01-31`, `1990/01/31`, `1990.01.31`, `1990-1-31`; ISO 8601
/// with a time (`1990-01-31t00:00:00z`, `...+02:00`, `1990-01-31 12:00:00`);
/// year-last numeric forms `31/01/1990`, `01/31/1990`, `31.01.1990`,
/// `31-01-1990` (which of day and month comes first: `order`; without one,
/// only when one of the two is greater than 12, else rejected as ambiguous);
/// month names and 3-letter abbreviations in English (`january 31, 1990`,
/// `jan 31 1990`, `31 january 1990`, `31-jan-1990`, `31st january 1990`).
/// Rejected, with the reason, never guessed: an ambiguous day-month order; a day
/// that does not exist (`1990-02-30`, `19900229`); a two-digit year; a year
/// outside 1900-2099; anything else. With `order` ymd, year-last numeric dates
/// are rejected as not in the configured order.
ParsedDate parse_date(std::string_view text, DateOrder order) noexcept;

} // namespace capi::detail
