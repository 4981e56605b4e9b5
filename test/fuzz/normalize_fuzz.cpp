// libFuzzer target: normalization of every field (capi/normalize.hpp) on the
// whole input, checking the contract of docs/normalization.md rather than
// just "no crash". For each of the 18 fields:
//  - normalize() and normalize_into() (with a dirty, reused output buffer) agree;
//  - invalid UTF-8 is rejected with "invalid UTF-8", and nothing else is;
//  - ok / already_hashed give a non-empty, valid UTF-8 value and no reason;
//    rejected / omitted give an empty value (no half-normalized PII) and a reason;
//  - the value has the field's shape (phone 7-15 digits, gender f/m, ISO codes,
//    two-digit day/month, ...), has no ASCII uppercase and, external_id aside,
//    no surrounding whitespace (f5first/f5last/fi may end inside the value);
//  - idempotence: normalizing the normalized value gives it back, ok or
//    already_hashed. Two exceptions follow from the contract itself: a phone
//    left starting with "00" (only one leading "00" is removed) and an
//    f5first/f5last/fi cut that ends in whitespace (trimmed on the second pass);
//    with the enhanced rules, a phone written with '+' or 00 is normalized
//    again with a '+' (its digits alone may read as a national number);
//  - f5first/f5last/fi are the first 5/5/1 code points of the fn value.
// A broken invariant is __builtin_trap().
#include <capi/normalize.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

using capi::Field;
using capi::NormalizeStatus;

void check(bool ok) {
    if (!ok) __builtin_trap();
}

bool is_digits(std::string_view s) {
    for (char c : s) {
        if (c < '0' || c > '9') return false;
    }
    return true;
}

bool has_ascii_upper(std::string_view s) {
    for (char c : s) {
        if (c >= 'A' && c <= 'Z') return true;
    }
    return false;
}

bool ascii_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

// The Unicode spaces of the contract, as UTF-8 (docs/normalization.md, trim).
bool starts_with_space(std::string_view s) {
    static constexpr std::string_view spaces[] = {
        "\xC2\x85", "\xC2\xA0", "\xE1\x9A\x80", "\xE2\x80\xA8", "\xE2\x80\xA9", "\xE2\x80\xAF",
        "\xE2\x81\x9F", "\xE3\x80\x80", "\xEF\xBB\xBF"};
    if (s.empty()) return false;
    if (ascii_space(s.front())) return true;
    for (auto sp : spaces) {
        if (s.starts_with(sp)) return true;
    }
    // U+2000..U+200A: E2 80 80..8A
    return s.size() >= 3 && static_cast<unsigned char>(s[0]) == 0xE2 &&
           static_cast<unsigned char>(s[1]) == 0x80 && static_cast<unsigned char>(s[2]) <= 0x8A;
}

bool ends_with_space(std::string_view s) {
    if (s.empty()) return false;
    if (ascii_space(s.back())) return true;
    // The last code point, re-checked with starts_with_space.
    std::size_t i = s.size() - 1;
    while (i > 0 && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) --i;
    return starts_with_space(s.substr(i));
}

std::size_t prefix_bytes(std::string_view s, std::size_t n) {
    std::size_t i = 0;
    for (; n > 0 && i < s.size(); --n) {
        ++i;
        while (i < s.size() && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) ++i;
    }
    return i;
}

void check_shape(Field f, const capi::Normalized& r) {
    const std::string_view v = r.value;
    if (r.status == NormalizeStatus::already_hashed) {
        check(f != Field::currency && capi::looks_hashed(v));
        return;
    }
    switch (f) {
    case Field::em: {
        const auto at = v.find('@');
        check(at != std::string_view::npos && at > 0 && v.find('@', at + 1) == std::string_view::npos);
        break;
    }
    case Field::ph: check(v.size() >= 7 && v.size() <= 15 && is_digits(v)); break;
    case Field::ge: check(v == "f" || v == "m"); break;
    case Field::zp: check(v.find('-') == std::string_view::npos && v.find(' ') == std::string_view::npos); break;
    case Field::country: check(v.size() == 2 && capi::is_iso3166_alpha2(v)); break;
    case Field::currency: check(v.size() == 3 && capi::is_iso4217(v)); break;
    case Field::dobd:
    case Field::dobm: check(v.size() == 2 && is_digits(v) && v != "00"); break;
    case Field::doby: check(v.size() == 4 && is_digits(v)); break;
    case Field::ct:
        check(v.find_first_of("0123456789 .-()\t\n") == std::string_view::npos);
        break;
    default: break;
    }
}

// Whether a phone number is written in international form: '+', or "00",
// before its first other digit (what the enhanced rule keeps as it is).
bool written_international(std::string_view v) {
    const auto first = v.find_first_of("+0123456789");
    if (first == std::string_view::npos) return false;
    if (v[first] == '+') return true;
    const auto second = v.find_first_of("+0123456789", first + 1);
    return v[first] == '0' && second != std::string_view::npos && v[second] == '0';
}

// May normalize(f, v) differ from v although v came out of normalize(f, ...)?
bool idempotence_exception(Field f, std::string_view v) {
    switch (f) {
    case Field::ph: return v.starts_with("00");
    case Field::f5first:
    case Field::f5last:
    case Field::fi: return ends_with_space(v);
    default: return false;
    }
}

std::string dirty(64, 'X');  // normalize_into must clear what it is given

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    const bool valid = capi::is_valid_utf8(in);

    capi::Normalized fn;
    for (std::size_t i = 0; i < capi::field_count; ++i) {
        const auto f = static_cast<Field>(i);
        const capi::Normalized r = capi::normalize(f, in);

        std::string_view reason = "unset";
        const NormalizeStatus s = capi::normalize_into(f, in, dirty, reason);
        check(s == r.status && dirty == r.value && reason == r.reason);
        dirty.assign(64, 'X');

        if (!valid) {
            check(r.status == NormalizeStatus::rejected && r.reason == "invalid UTF-8");
            continue;
        }
        if (r.ok()) {
            check(!r.value.empty() && r.reason.empty() && capi::is_valid_utf8(r.value));
            if (f == Field::external_id) {
                check(r.value == in);  // byte-exact, untrimmed
                continue;
            }
            check(!has_ascii_upper(r.value) && !starts_with_space(r.value));
            const bool cut = f == Field::f5first || f == Field::f5last || f == Field::fi;
            check(cut || !ends_with_space(r.value));
            check_shape(f, r);

            const capi::Normalized again = capi::normalize(f, r.value);
            if (!idempotence_exception(f, r.value))
                check(again.ok() && again.value == r.value);
        } else {
            check(r.value.empty() && !r.reason.empty());
            check(r.reason != "invalid UTF-8");
        }

        // Enhanced normalization (opt-in): off, byte for byte the default; on,
        // in one context, a value it accepts is accepted again unchanged and
        // never reported as converted the second time.
        for (const std::string_view country : {std::string_view{}, std::string_view("us"), std::string_view("gb")}) {
            capi::MatchOutcome outcome{};
            std::string out;
            std::string_view why;
            const capi::EnhancedNormalization off{};
            check(capi::normalize_into(f, in, out, why, {&off, country}, outcome) == r.status && out == r.value);
            static const capi::EnhancedNormalization on{true, "DE", capi::DateOrder::unspecified};
            const auto st = capi::normalize_into(f, in, out, why, {&on, country}, outcome);
            if (st != NormalizeStatus::ok || f == Field::external_id || idempotence_exception(f, out)) continue;
            check(!out.empty() && capi::is_valid_utf8(out));
            // A phone number written with '+' or 00 comes out as digits only,
            // which the rule, run again without them, may read as a national
            // number of the context's country (docs/normalization.md, the
            // limit of digits-only data): with the '+' it is unchanged.
            const bool intl = f == Field::ph && written_international(in);
            const std::string again = intl ? "+" + out : out;
            std::string out2;
            capi::MatchOutcome outcome2{};
            // Ok or already_hashed, as for the default rules above: letters
            // left of a city can be 32 or 64 of a-f, which read as a digest.
            const auto st2 = capi::normalize_into(f, again, out2, why, {&on, country}, outcome2);
            check(st2 == NormalizeStatus::ok || st2 == NormalizeStatus::already_hashed);
            check(out2 == out && outcome2 != capi::MatchOutcome::converted);
        }

        if (f == Field::fn) fn = r;
        if (f == Field::f5first || f == Field::f5last || f == Field::fi) {
            // fn and the cuts share trim + lowercase + the digest check.
            check(fn.status == r.status);
            if (r.status == NormalizeStatus::ok) {
                const std::size_t n = f == Field::fi ? 1 : 5;
                check(r.value == std::string_view(fn.value).substr(0, prefix_bytes(fn.value, n)));
            } else {
                check(r.value == fn.value);
            }
        }
    }
    return 0;
}
