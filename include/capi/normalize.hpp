// capi: normalization of customer information, exactly as Meta hashes it.
//
// Meta matches a hashed field only when our bytes equal the bytes Meta hashed, so
// these rules are a contract (docs/normalization.md). Each value goes through:
// omit when empty or whitespace-only; trim (ASCII and Unicode spaces); Unicode
// lowercase; pass through when already a SHA-256 or MD5 hex digest; the field rule,
// which may reject the value with a reason.
//
// Thread safety: all functions are reentrant.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#pragma GCC visibility push(default)  // exported: docs/install.md#symbol-visibility
namespace capi {

/// Fields with a normalization rule, by Meta's wire key. Which object key each
/// one normalizes, and whether it is hashed, is the wire schema's business
/// (lib/wire/schema.hpp); to_string() and parse_field() read it from there.
enum class Field : std::uint8_t {
    em, ph, ge, db, fn, ln, ct, st, zp, country, external_id,
    f5first, f5last, fi, dobd, dobm, doby,
    currency,  ///< custom_data.currency: normalized, never hashed
};
inline constexpr std::size_t field_count = 18;

/// Wire key of a field ("em", "f5first", "currency").
std::string_view to_string(Field) noexcept;
/// Field for a wire key; nullopt when the key has no normalization rule.
std::optional<Field> parse_field(std::string_view key) noexcept;
/// True for the fields hashed on the wire (all but external_id and currency;
/// external_id is hashed only when asked, see EncodeOptions).
bool is_hashed_field(Field) noexcept;

enum class NormalizeStatus : std::uint8_t {
    ok,              ///< normalized; hash it
    already_hashed,  ///< a SHA-256 (64 hex) or MD5 (32 hex) digest: send as is
    omitted,         ///< empty or carrying no information: no key, no error
    rejected,        ///< the field rule refuses the value; `reason` says why
};

/// What normalize() makes of a value.
struct Normalized {
    NormalizeStatus status = NormalizeStatus::omitted;
    std::string value;        ///< the normalized value (ok, already_hashed)
    std::string_view reason;  ///< why (rejected, omitted); static storage

    bool ok() const noexcept {
        return status == NormalizeStatus::ok || status == NormalizeStatus::already_hashed;
    }
};

/// Normalizes one value of `field`.
Normalized normalize(Field field, std::string_view value);

/// The allocation-free form for hot paths: writes the normalized value into `out`
/// (cleared first) and returns the status; `reason` is set for rejected/omitted.
NormalizeStatus normalize_into(Field field, std::string_view value, std::string& out,
                               std::string_view& reason);

/// Which of day and month comes first in numeric dates with the year last
/// (`01/02/1990`), for the enhanced `db` rule. Year-first dates are always
/// year-month-day.
enum class DateOrder : std::uint8_t {
    unspecified,  ///< only unambiguous dates (day > 12): `02/03/1990` is rejected
    dmy,          ///< `31/01/1990`
    mdy,          ///< `01/31/1990`
    ymd,          ///< numeric dates are year first; year-last ones are rejected
};
/// "dmy", "mdy", "ymd", "unspecified".
std::string_view to_string(DateOrder) noexcept;
/// DateOrder for "dmy", "mdy", "ymd"; nullopt otherwise.
std::optional<DateOrder> parse_date_order(std::string_view) noexcept;

/// Enhanced normalization: opt-in conversions into the form Meta matches, beyond
/// what Meta's SDKs do (docs/normalization.md, "Enhanced, opt-in"). Off by
/// default: with `enabled` false every byte is as the default rules make it.
///  - db: dates in common forms -> YYYYMMDD; ambiguous or impossible dates are
///    rejected with the reason, never guessed;
///  - st: US state and territory names and abbreviations -> the 2-letter code
///    (Canadian provinces when the country is CA);
///  - country: English names, alpha-3 codes and common variants -> alpha-2;
///  - ge: common words in a documented list -> f / m;
///  - ph: numbers without a country calling code get the one of
///    `default_phone_country`, the trunk prefix removed (a leading 0 in GB, DE, FR);
///  - zp: ZIP+4 and 9-digit ZIPs -> the 5-digit ZIP when the country is US.
/// st, zp and ph read the event's country (user_data.country's first value);
/// without one, st searches US and Canadian names and ph uses
/// default_phone_country.
struct EnhancedNormalization {
    bool enabled = false;
    /// ISO 3166-1 alpha-2 (any case) whose calling code is added to phone
    /// numbers given without one when the event has no country (the event's
    /// country comes first); empty: only the event's country.
    std::string default_phone_country;
    DateOrder date_order = DateOrder::unspecified;
};

/// What normalization made of one value, for the match-quality report.
enum class MatchOutcome : std::uint8_t {
    as_given,        ///< normalized by the default rules, nothing known against it
    converted,       ///< an enhanced rule put it in the form Meta matches
    already_hashed,  ///< a digest, sent as is
    unmatchable,     ///< hashed, but Meta will not match it as it is (match_warning)
    dropped,         ///< rejected by the field rule
    omitted,         ///< empty, or carrying no information (a gender not listed)
};
inline constexpr std::size_t match_outcome_count = 6;
/// "as_given", "converted", "already_hashed", "unmatchable", "dropped", "omitted".
std::string_view to_string(MatchOutcome) noexcept;

/// Per field, how many values came out each way (values of events accepted).
struct MatchQuality {
    std::array<std::array<std::uint64_t, match_outcome_count>, field_count> counts{};

    std::uint64_t& at(Field f, MatchOutcome o) noexcept {
        return counts[static_cast<std::size_t>(f)][static_cast<std::size_t>(o)];
    }
    std::uint64_t count(Field f, MatchOutcome o) const noexcept {
        return counts[static_cast<std::size_t>(f)][static_cast<std::size_t>(o)];
    }
    /// All values of a field.
    std::uint64_t values(Field f) const noexcept;
    /// One outcome over all fields.
    std::uint64_t total(MatchOutcome o) const noexcept;
    MatchQuality& operator+=(const MatchQuality& other) noexcept;
};

/// What the rules of one value may read beyond the value.
struct NormalizeContext {
    /// The enhanced rules; null or not enabled: the default rules only.
    const EnhancedNormalization* enhanced = nullptr;
    /// The event's country, normalized (alpha-2, lowercase); empty when unknown.
    std::string_view country;
};

/// normalize_into() with context: the enhanced rules when `ctx` enables them,
/// and what became of the value (`outcome`; match_warning()'s rules, knowing
/// the event's country and whether a phone number was written with '+' or 00,
/// decide unmatchable). For an unmatchable value `reason` says why it will not
/// match (static storage).
NormalizeStatus normalize_into(Field field, std::string_view value, std::string& out,
                               std::string_view& reason, const NormalizeContext& ctx,
                               MatchOutcome& outcome);

/// The event's country as the rules of its other values read it: the first
/// value of user_data.country that normalizes (with the enhanced rules when
/// `enhanced` enables them), written into `out`; empty when none does.
void context_country(const std::vector<std::string>& countries, const EnhancedNormalization* enhanced,
                     std::string& out);

/// Why a value normalize() accepted (status ok) will not match at Meta as it is,
/// or an empty view when nothing is known against it. Meta compares hashes, so
/// a `db` of `31/01/1990` is hashed and sent, exactly as Meta's SDKs do, and never
/// matches anyone. Known today: `db` not a real date in YYYYMMDD; `ph` starting
/// with 0 (a national number without its country code). Static storage.
/// `capi normalize` prints it as a warning.
std::string_view match_warning(Field field, std::string_view normalized) noexcept;

/// match_warning() knowing the event's country (normalized alpha-2, may be
/// empty): also a `st` longer than 2 letters for a US or Canadian address, and a
/// `ph` that lacks the country's calling code or is shorter than its numbers.
std::string_view match_warning(Field field, std::string_view normalized, std::string_view country) noexcept;

/// True when `s` is 64 or 32 lowercase-or-uppercase hex characters.
bool looks_hashed(std::string_view s) noexcept;

/// True when `code` (lowercase or uppercase) is an ISO 3166-1 alpha-2 country code.
bool is_iso3166_alpha2(std::string_view code) noexcept;
/// True when `code` (lowercase or uppercase) is an active ISO 4217 currency code.
bool is_iso4217(std::string_view code) noexcept;

/// True when `s` is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
bool is_valid_utf8(std::string_view s) noexcept;

} // namespace capi
#pragma GCC visibility pop
