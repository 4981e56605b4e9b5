// capi: private lookup tables of the enhanced (opt-in) normalization rules
// (docs/normalization.md, "Enhanced, opt-in"; lib/normalize/enhanced.cpp).
//
// Every lookup takes a key already in the shape the default rule leaves it:
// lowercase, letters only for names (country, st, ge: "unitedstates",
// "newyork", "calif", "québec"), so a table row is written once in that shape.
// Tables are sorted arrays searched by binary search, built at compile time
// (static_assert'ed sorted and unique): no allocation, no static initializer.
#pragma once

#include <cstdint>
#include <string_view>

namespace capi::detail::tables {

/// A country for `letters` (lowercase, letters only): an ISO 3166-1 alpha-2
/// code ("us"), its alpha-3 ("usa"), an English short name or common variant
/// ("unitedstates", "unitedstatesofamerica", "us"/"usa"/"america" ... ,
/// "uk"/"greatbritain"/"england" -> "gb", "germany", "deutschland" ...).
struct CountryLookup {
    enum class Result : std::uint8_t { found, ambiguous, unknown };
    Result result = Result::unknown;
    std::string_view alpha2;  ///< lowercase, static storage (found)
};
CountryLookup find_country(std::string_view letters) noexcept;

/// A US state, district or territory (`country` "us") or Canadian province or
/// territory (`country` "ca") for `letters` (lowercase, letters only): the full
/// name ("california", "districtofcolumbia", "puertorico", "ontario",
/// "québec"/"quebec"), a common abbreviation ("calif", "mass", "penna",
/// "ont", "que") or the 2-letter code itself. With an empty `country`, both
/// tables are searched (their names and codes do not collide). Returns the
/// 2-letter code, lowercase, or an empty view when not found or when
/// `country` is another country.
std::string_view find_state(std::string_view letters, std::string_view country) noexcept;

/// The gender a word means, for `letters` (lowercase, letters only) from the
/// documented list (female/woman/women/girl/lady/frau/femme/mujer/...,
/// male/man/men/boy/mann/homme/hombre/...): 'f', 'm', or 0 when not listed.
char find_gender(std::string_view letters) noexcept;

/// A country's telephone numbering plan, as far as matching needs it.
struct PhonePlan {
    std::string_view country;       ///< ISO alpha-2, lowercase
    std::string_view calling_code;  ///< digits, no '+': "1", "44", "49", "1" for CA too
    std::string_view trunk_prefix;  ///< national (trunk) prefix dialed before the
                                    ///< national number: "0" (GB, DE, FR), "1" (US, CA),
                                    ///< "8" (RU, BY, ...), "" when none (IT, ES, ...)
    std::uint8_t min_length = 0;    ///< national significant number length range;
    std::uint8_t max_length = 0;    ///< 0/0 when the table does not know (then only
                                    ///< the 7-15 digit rule of the default path holds)
};
/// The plan of `alpha2` (lowercase), or nullptr when it is not an assigned code.
/// Every assigned alpha-2 code with a calling code has a plan; lengths and trunk
/// prefixes are given for the documented set of countries (docs/normalization.md).
const PhonePlan* find_phone_plan(std::string_view alpha2) noexcept;

} // namespace capi::detail::tables
