// capi: the normalization contract (docs/normalization.md) for every hashed field
// and custom_data.currency.
//
// normalize_into() is the hot path: it validates once, trims with a view, writes
// the lowercased value straight into the caller's `out` and applies the field rule
// in place, so the only allocation is `out` growing (and the caller reuses it).
// Pure-ASCII values (most PII) never touch utf8proc.
#include <capi/normalize.hpp>

#include "normalize/unicode.hpp"
#include "util/ascii.hpp"
#include "wire/schema.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace capi {
namespace {

// Wire keys by Field, from the schema's rows.
constexpr auto& field_names = wire::field_keys;

constexpr bool is_hex(char c) noexcept {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

using detail::ascii::is_digit;

// A rejected value leaves `out` empty: callers log rejects, and a half-normalized
// value is PII that should not end up in a log line.
NormalizeStatus rejected(std::string& out, std::string_view& reason,
                         std::string_view why) noexcept {
    out.clear();
    reason = why;
    return NormalizeStatus::rejected;
}

NormalizeStatus omitted(std::string& out, std::string_view& reason,
                        std::string_view why) noexcept {
    out.clear();
    reason = why;
    return NormalizeStatus::omitted;
}

// Byte classes for the email rule (which runs on the lowercased value).
enum : unsigned char { email_local = 1, email_domain = 2, email_lower = 4 };
struct EmailClasses {
    unsigned char of[256] = {};
    constexpr EmailClasses() {
        for (int c = 'a'; c <= 'z'; ++c) of[c] = email_local | email_domain | email_lower;
        for (int c = '0'; c <= '9'; ++c) of[c] = email_local | email_domain;
        of[static_cast<unsigned char>('-')] = email_local | email_domain;
        // The rest of the local part's characters, as Java's SDK regex and the
        // contract list them (after lowercasing, so only lowercase letters remain).
        for (const char c : std::string_view(".!#$%&'*+/=?^_`{}|~")) of[static_cast<unsigned char>(c)] = email_local;
    }
};
constexpr EmailClasses email_classes{};

NormalizeStatus email_rule(std::string& out, std::string_view& reason) {
    const std::string_view v = out;
    const auto at = v.find('@');
    if (at == std::string_view::npos || v.find('@', at + 1) != std::string_view::npos)
        return rejected(out, reason, "email must contain exactly one '@'");
    const auto local = v.substr(0, at);
    const auto domain = v.substr(at + 1);
    if (local.empty()) return rejected(out, reason, "email has nothing before the '@'");
    for (const char c : local) {
        if (!(email_classes.of[static_cast<unsigned char>(c)] & email_local))
            return rejected(out, reason, "email has a character not allowed before the '@'");
    }
    if (domain.empty()) return rejected(out, reason, "email has no domain after the '@'");
    std::size_t labels = 0;
    std::size_t label_start = 0;
    for (std::size_t i = 0; i < domain.size(); ++i) {
        if (email_classes.of[static_cast<unsigned char>(domain[i])] & email_domain) continue;
        if (domain[i] != '.')
            return rejected(out, reason, "email domain may contain only letters, digits, '-' and '.'");
        if (i == label_start) return rejected(out, reason, "email domain has an empty label");
        ++labels;
        label_start = i + 1;
    }
    if (label_start == domain.size()) return rejected(out, reason, "email domain has an empty label");
    ++labels;  // the last one
    if (labels < 2) return rejected(out, reason, "email domain must have at least two labels");
    const auto tld = domain.substr(domain.rfind('.') + 1);
    bool tld_ok = tld.size() >= 2;
    for (const char c : tld) tld_ok = tld_ok && (email_classes.of[static_cast<unsigned char>(c)] & email_lower);
    if (!tld_ok) return rejected(out, reason, "email top-level domain must be 2 or more letters");
    return NormalizeStatus::ok;
}

// Whether phone_keep() drops the character; then what it flags.
constexpr bool phone_separator(char32_t c) noexcept {
    return c == '-' || c == '(' || c == ')' || c == '.' || detail::is_space(c);
}

NormalizeStatus phone_finish(std::string& out, std::string_view& reason, bool letter, bool other);

NormalizeStatus phone_rule(std::string& out, std::string_view& reason) {
    // Separators go first so "+ 44" and "(00)44" lose their prefix like "+44".
    bool letter = false;
    bool other = false;
    detail::retain(out, [&](char32_t c) {
        if (phone_separator(c)) return false;
        if (detail::is_letter(c)) letter = true;
        else if (c != '+' && (c < '0' || c > '9')) other = true;
        return true;
    });
    return phone_finish(out, reason, letter, other);
}

// phone_rule for ASCII `in` (trimmed, not lowercased, not 32 or 64 bytes, so
// it cannot look hashed): in one pass, without lowercasing first. A number
// with a letter is rejected, so lowercasing never changed an accepted one.
// What phone_ascii() does with each ASCII byte, as bits: keep it (all but the
// separators), and flag it as a letter or as another character.
enum : unsigned char { phone_keep = 1, phone_letter = 2, phone_other = 4 };
struct PhoneClasses {
    unsigned char of[128] = {};
    constexpr PhoneClasses() {
        for (int c = 0; c < 128; ++c) {
            // phone_separator() on ASCII (is_space is not constexpr).
            if (c == '-' || c == '(' || c == ')' || c == '.' || c == ' ' || (c >= '\t' && c <= '\r')) of[c] = 0;
            else if (static_cast<unsigned char>((c | 0x20) - 'a') < 26) of[c] = phone_keep | phone_letter;
            else if (c == '+' || (c >= '0' && c <= '9')) of[c] = phone_keep;
            else of[c] = phone_keep | phone_other;
        }
    }
};
constexpr PhoneClasses phone_classes{};

NormalizeStatus phone_ascii(std::string_view in, std::string& out, std::string_view& reason) {
    out.resize(in.size());
    char* const d = out.data();
    std::size_t w = 0;
    unsigned seen = 0;
    // Branch-free: every byte is stored, and kept by advancing past it.
    for (const char ch : in) {
        const unsigned char k = phone_classes.of[static_cast<unsigned char>(ch) & 0x7F];
        d[w] = ch;
        w += k & phone_keep;
        seen |= k;
    }
    out.resize(w);
    return phone_finish(out, reason, (seen & phone_letter) != 0, (seen & phone_other) != 0);
}

NormalizeStatus phone_finish(std::string& out, std::string_view& reason, bool letter, bool other) {
    if (letter) return rejected(out, reason, "phone number must not contain letters");
    std::string_view v = out;
    if (!v.empty() && v.front() == '+') v.remove_prefix(1);
    if (v.starts_with("00")) v.remove_prefix(2);
    if (other || v.find('+') != std::string_view::npos)
        return rejected(out, reason,
                        "phone number may contain only digits, spaces, '+', '-', '(', ')' and '.'");
    if (v.size() < 7 || v.size() > 15)
        return rejected(out, reason, "phone number must have 7 to 15 digits");
    out.erase(0, out.size() - v.size());
    return NormalizeStatus::ok;
}

NormalizeStatus gender_rule(std::string& out, std::string_view& reason) {
    detail::retain(out, [](char32_t c) { return detail::is_letter(c); });
    if (out == "f" || out == "female") {
        out = "f";
        return NormalizeStatus::ok;
    }
    if (out == "m" || out == "male") {
        out = "m";
        return NormalizeStatus::ok;
    }
    return omitted(out, reason, "gender is not f, female, m or male");
}

NormalizeStatus city_rule(std::string& out, std::string_view& reason) {
    detail::retain(out, [](char32_t c) {
        return !(c >= '0' && c <= '9') && c != '.' && c != '-' && c != '(' && c != ')' &&
               !detail::is_space(c);
    });
    if (out.empty()) return omitted(out, reason, "city has nothing left after normalization");
    return NormalizeStatus::ok;
}

NormalizeStatus state_rule(std::string& out, std::string_view& reason) {
    detail::retain(out, [](char32_t c) { return detail::is_letter(c); });
    if (out.empty()) return omitted(out, reason, "state has no letters");
    return NormalizeStatus::ok;
}

NormalizeStatus zip_rule(std::string& out, std::string_view& reason) {
    detail::retain(out, [](char32_t c) { return !detail::is_space(c); });
    if (const auto dash = out.find('-'); dash != std::string::npos) out.resize(dash);
    if (detail::code_point_count(out) < 2)
        return omitted(out, reason, "zip code has fewer than 2 characters");
    return NormalizeStatus::ok;
}

NormalizeStatus country_rule(std::string& out, std::string_view& reason) {
    detail::retain(out, [](char32_t c) { return detail::is_letter(c); });
    if (!is_iso3166_alpha2(out))
        return rejected(out, reason, "not an ISO 3166-1 alpha-2 country code");
    return NormalizeStatus::ok;
}

NormalizeStatus currency_rule(std::string& out, std::string_view& reason) {
    detail::retain(out, [](char32_t c) { return detail::is_letter(c); });
    if (!is_iso4217(out)) return rejected(out, reason, "not an ISO 4217 currency code");
    return NormalizeStatus::ok;
}

// dobd/dobm: one or two ASCII digits, in [1, max], zero-padded to two.
NormalizeStatus day_month_rule(std::string& out, std::string_view& reason, int max,
                               std::string_view why) {
    if (out.empty() || out.size() > 2 || !is_digit(out[0]) ||
        (out.size() == 2 && !is_digit(out[1])))
        return rejected(out, reason, why);
    const int n = out.size() == 1 ? out[0] - '0' : (out[0] - '0') * 10 + (out[1] - '0');
    if (n < 1 || n > max) return rejected(out, reason, why);
    if (out.size() == 1) out.insert(out.begin(), '0');
    return NormalizeStatus::ok;
}

NormalizeStatus year_rule(std::string& out, std::string_view& reason) {
    if (out.size() != 4 || !is_digit(out[0]) || !is_digit(out[1]) || !is_digit(out[2]) ||
        !is_digit(out[3]))
        return rejected(out, reason, "year of birth must be exactly 4 digits");
    return NormalizeStatus::ok;
}

// Copies n bytes with 'A'..'Z' lowered to 'a'..'z'. Reads only `src`: reading
// back bytes just stored into `dst` would stall on store forwarding.
void lower_ascii_copy(char* dst, const char* src, std::size_t n) noexcept {
#if defined(__SSE2__)
    if (n >= 16) {
        const auto lower16 = [](char* d, const char* q) {
            const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q));
            // c - 'A' < 26 (unsigned) as a signed compare after a shift by -128.
            const __m128i shifted = _mm_sub_epi8(v, _mm_set1_epi8(static_cast<char>('A' + 128)));
            const __m128i upper = _mm_cmplt_epi8(shifted, _mm_set1_epi8(static_cast<char>(-128 + 26)));
            _mm_storeu_si128(reinterpret_cast<__m128i*>(d),
                             _mm_add_epi8(v, _mm_and_si128(upper, _mm_set1_epi8(0x20))));
        };
        for (std::size_t i = 0; i + 16 <= n; i += 16) lower16(dst + i, src + i);
        // The rest as the (overlapping) last 16 bytes.
        if (n % 16 != 0) lower16(dst + n - 16, src + n - 16);
        return;
    }
#endif
    // Short values (most names, cities, states) as two overlapping words:
    // ASCII bytes, so adding 0x3F (0x25) to each sets its high bit exactly when
    // it is >= 'A' (> 'Z'), with no carry into the next byte.
    if (n >= 4) {
        const auto lower = [](auto x) {
            using W = decltype(x);
            constexpr W ones = static_cast<W>(0x0101010101010101ULL), high = ones * 0x80;
            const W upper = (x + ones * 0x3F) & ~(x + ones * 0x25) & high;
            return x | (upper >> 2);
        };
        const auto two = [&](auto word) {
            using W = decltype(word);
            W a, b;
            std::memcpy(&a, src, sizeof a);
            std::memcpy(&b, src + n - sizeof b, sizeof b);
            a = lower(a);
            b = lower(b);
            std::memcpy(dst, &a, sizeof a);
            std::memcpy(dst + n - sizeof b, &b, sizeof b);
        };
        if (n >= 8) two(std::uint64_t{});
        else two(std::uint32_t{});
        return;
    }
    for (std::size_t i = 0; i < n; ++i) {
        const auto c = static_cast<unsigned char>(src[i]);
        dst[i] = static_cast<char>(c + ((static_cast<unsigned char>(c - 'A') < 26) << 5));
    }
}

std::string_view trim_ascii(std::string_view s) noexcept {
    // Every ASCII space is <= ' ': most values have nothing to trim.
    if (!s.empty() && static_cast<unsigned char>(s.front()) > ' ' && static_cast<unsigned char>(s.back()) > ' ')
        return s;
    const auto space = [](char c) { return c == ' ' || (c >= '\t' && c <= '\r'); };
    while (!s.empty() && space(s.front())) s.remove_prefix(1);
    while (!s.empty() && space(s.back())) s.remove_suffix(1);
    return s;
}

} // namespace

std::string_view to_string(Field field) noexcept {
    const auto i = static_cast<std::size_t>(field);
    return i < field_names.size() ? field_names[i] : std::string_view{};
}

std::optional<Field> parse_field(std::string_view key) noexcept {
    for (std::size_t i = 0; i < field_names.size(); ++i) {
        if (field_names[i] == key) return static_cast<Field>(i);
    }
    return std::nullopt;
}

bool is_hashed_field(Field field) noexcept {
    return field != Field::external_id && field != Field::currency &&
           static_cast<std::size_t>(field) < field_count;
}

bool looks_hashed(std::string_view s) noexcept {
    if (s.size() != 64 && s.size() != 32) return false;
    for (const char c : s) {
        if (!is_hex(c)) return false;
    }
    return true;
}

NormalizeStatus normalize_into(Field field, std::string_view value, std::string& out,
                               std::string_view& reason) {
    out.clear();
    reason = {};
    const bool ascii = detail::is_ascii(value);
    if (!ascii && !is_valid_utf8(value)) return rejected(out, reason, "invalid UTF-8");
    const std::string_view trimmed = ascii ? trim_ascii(value) : detail::trim(value);
    if (trimmed.empty()) return omitted(out, reason, "empty");

    // external_id is sent byte-exact, as every classic SDK does: its owner decides
    // what it looks like, and trimming or lowercasing would break the match.
    if (field == Field::external_id) {
        out.assign(value);
        return NormalizeStatus::ok;
    }

    if (ascii) {
        if (field == Field::ph && trimmed.size() != 32 && trimmed.size() != 64)
            return phone_ascii(trimmed, out, reason);
        out.resize(trimmed.size());
        lower_ascii_copy(out.data(), trimmed.data(), trimmed.size());
    } else {
        detail::append_lower(out, trimmed);
    }

    // currency is never hashed, so a hex string is just not a currency code.
    if (field == Field::currency) return currency_rule(out, reason);
    if ((out.size() == 64 || out.size() == 32) && looks_hashed(out)) return NormalizeStatus::already_hashed;

    switch (field) {
    case Field::em: return email_rule(out, reason);
    case Field::ph: return phone_rule(out, reason);
    case Field::ge: return gender_rule(out, reason);
    case Field::db:
    case Field::fn:
    case Field::ln: return NormalizeStatus::ok;
    case Field::ct: return city_rule(out, reason);
    case Field::st: return state_rule(out, reason);
    case Field::zp: return zip_rule(out, reason);
    case Field::country: return country_rule(out, reason);
    case Field::f5first:
    case Field::f5last: out.resize(detail::prefix_bytes(out, 5)); return NormalizeStatus::ok;
    case Field::fi: out.resize(detail::prefix_bytes(out, 1)); return NormalizeStatus::ok;
    case Field::dobd:
        return day_month_rule(out, reason, 31, "day of birth must be 1 to 31 (1 or 2 digits)");
    case Field::dobm:
        return day_month_rule(out, reason, 12, "month of birth must be 1 to 12 (1 or 2 digits)");
    case Field::doby: return year_rule(out, reason);
    case Field::external_id:
    case Field::currency: break;  // handled above
    }
    return rejected(out, reason, "unknown field");
}

Normalized normalize(Field field, std::string_view value) {
    Normalized result;
    result.status = normalize_into(field, value, result.value, result.reason);
    return result;
}

} // namespace capi
