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

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

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

/// Why a value normalize() accepted (status ok) will not match at Meta as it is,
/// or an empty view when nothing is known against it. Meta compares hashes, so
/// a `db` of `31/01/1990` is hashed and sent, exactly as Meta's SDKs do, and never
/// matches anyone. Known today: `db` not a real date in YYYYMMDD; `ph` starting
/// with 0 (a national number without its country code). Static storage.
/// `capi normalize` prints it as a warning.
std::string_view match_warning(Field field, std::string_view normalized) noexcept;

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
