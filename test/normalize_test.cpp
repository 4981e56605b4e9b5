// Normalization: every field rule and example of docs/normalization.md, the
// common steps (trim, Unicode lowercase, already-hashed, invalid UTF-8), and the
// UTF-8 / ISO code helpers other subsystems rely on.
#include <capi/normalize.hpp>

#include "normalize/unicode.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <string>
#include <string_view>
#include <vector>

using capi::Field;
using capi::NormalizeStatus;

namespace {

constexpr auto ok = NormalizeStatus::ok;
constexpr auto hashed = NormalizeStatus::already_hashed;
constexpr auto omitted = NormalizeStatus::omitted;
constexpr auto rejected = NormalizeStatus::rejected;

constexpr std::array<Field, capi::field_count> all_fields = {
    Field::em,      Field::ph,     Field::ge,          Field::db,     Field::fn,
    Field::ln,      Field::ct,     Field::st,          Field::zp,     Field::country,
    Field::external_id, Field::f5first, Field::f5last, Field::fi,     Field::dobd,
    Field::dobm,    Field::doby,   Field::currency,
};

const char* status_name(NormalizeStatus s) {
    switch (s) {
    case NormalizeStatus::ok: return "ok";
    case NormalizeStatus::already_hashed: return "already_hashed";
    case NormalizeStatus::omitted: return "omitted";
    case NormalizeStatus::rejected: return "rejected";
    }
    return "?";
}

/// One row: field, input, expected status, expected value (ok/already_hashed) or a
/// word the reason must contain (rejected/omitted; empty = only non-empty).
struct Case {
    Field field;
    std::string_view input;
    NormalizeStatus status;
    std::string_view expected;
};

void check(const Case& c) {
    INFO("field " << capi::to_string(c.field) << ", input \"" << c.input << "\"");
    std::string out = "garbage from a previous call";
    std::string_view reason = "stale";
    const auto status = capi::normalize_into(c.field, c.input, out, reason);
    INFO("status " << status_name(status) << ", out \"" << out << "\", reason \"" << reason
                   << "\"");
    REQUIRE(status == c.status);
    if (status == ok || status == hashed) {
        CHECK(out == c.expected);
        CHECK(reason.empty());
    } else {
        CHECK(out.empty());
        CHECK(reason.size() >= 5);  // a phrase, not a code
        CHECK(reason.find(c.expected) != std::string_view::npos);
    }
    // normalize() is the same thing with its own string.
    const auto n = capi::normalize(c.field, c.input);
    CHECK(n.status == status);
    CHECK(n.value == out);
    CHECK(n.reason == reason);
    CHECK(n.ok() == (status == ok || status == hashed));
}

void check_all(const std::vector<Case>& cases) {
    for (const auto& c : cases) check(c);
}

const std::string sha_lower = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
const std::string sha_upper = "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08";
const std::string md5_lower = "098f6bcd4621d373cade4e832627b4f6";
const std::string md5_upper = "098F6BCD4621D373CADE4E832627B4F6";

} // namespace

// ---------------------------------------------------------------------------
// Field names

TEST_CASE("to_string and parse_field round-trip all 18 fields", "[normalize][field]") {
    const std::array<std::string_view, capi::field_count> keys = {
        "em", "ph", "ge", "db", "fn", "ln", "ct", "st", "zp", "country", "external_id",
        "f5first", "f5last", "fi", "dobd", "dobm", "doby", "currency",
    };
    for (std::size_t i = 0; i < capi::field_count; ++i) {
        INFO(keys[i]);
        CHECK(capi::to_string(all_fields[i]) == keys[i]);
        const auto parsed = capi::parse_field(keys[i]);
        REQUIRE(parsed.has_value());
        CHECK(*parsed == all_fields[i]);
        CHECK(capi::parse_field(capi::to_string(all_fields[i])) == all_fields[i]);
    }
    for (std::string_view bad : {"", "EM", "email", "phone", "e", "f5", "client_ip_address",
                                 "fbc", "value", "currency "}) {
        INFO(bad);
        CHECK_FALSE(capi::parse_field(bad).has_value());
    }
    CHECK_FALSE(capi::parse_field(std::string_view("em\0", 3)).has_value());
}

TEST_CASE("is_hashed_field: all but external_id and currency", "[normalize][field]") {
    for (const Field f : all_fields) {
        INFO(capi::to_string(f));
        CHECK(capi::is_hashed_field(f) == (f != Field::external_id && f != Field::currency));
    }
}

// ---------------------------------------------------------------------------
// Helpers used by validation

TEST_CASE("is_valid_utf8", "[normalize][utf8]") {
    const std::vector<std::pair<std::string, bool>> cases = {
        {"", true},
        {"plain ascii", true},
        {"\x7F", true},
        {"\xC3\xA9", true},                  // é
        {"\xC2\x80", true},                  // U+0080, smallest 2-byte
        {"\xDF\xBF", true},                  // U+07FF
        {"\xE0\xA0\x80", true},              // U+0800, smallest 3-byte
        {"\xE2\x82\xAC", true},              // €
        {"\xED\x9F\xBF", true},              // U+D7FF, just below the surrogates
        {"\xEE\x80\x80", true},              // U+E000, just above them
        {"\xEF\xBF\xBF", true},              // U+FFFF
        {"\xF0\x90\x80\x80", true},          // U+10000, smallest 4-byte
        {"\xF0\x9F\x98\x80", true},          // 😀
        {"\xF4\x8F\xBF\xBF", true},          // U+10FFFF, the last scalar value
        {"\xC0\x80", false},                 // overlong NUL
        {"\xC1\xBF", false},                 // overlong U+007F
        {"\xE0\x80\x80", false},             // overlong 3-byte NUL
        {"\xE0\x9F\xBF", false},             // overlong U+07FF
        {"\xF0\x80\x80\x80", false},         // overlong 4-byte NUL
        {"\xF0\x8F\xBF\xBF", false},         // overlong U+FFFF
        {"\xED\xA0\x80", false},             // U+D800, high surrogate
        {"\xED\xBF\xBF", false},             // U+DFFF, low surrogate
        {"\xED\xA0\xBD\xED\xB8\x80", false}, // CESU-8 surrogate pair
        {"\xF4\x90\x80\x80", false},         // U+110000
        {"\xF5\x80\x80\x80", false},
        {"\xF8\x88\x80\x80\x80", false},     // old 5-byte form
        {"\xFE", false},
        {"\xFF", false},
        {"\x80", false},                     // lone continuation byte
        {"\xBF", false},
        {"\xC3", false},                     // truncated 2-byte
        {"\xE2\x82", false},                 // truncated 3-byte
        {"\xF0\x9F\x98", false},             // truncated 4-byte
        {"abc\xF0\x9F", false},
        {"\xC3\x28", false},                 // bad continuation
        {"\xE2\x28\xA1", false},
        {"\xE2\x82\x28", false},
        {"\xF0\x9F\x98\x28", false},
        {std::string("a\0b", 3), true},      // NUL is a valid code point
        // Long ASCII runs go through the 8-byte fast path; the error sits after it.
        {std::string(40, 'x'), true},
        {std::string(40, 'x') + "\xC3\xA9" + std::string(17, 'y'), true},
        {std::string(40, 'x') + "\xED\xA0\x80" + std::string(17, 'y'), false},
        {std::string(17, 'x') + "\xC3", false},
        {std::string(16, 'x') + "\x80" + std::string(7, 'x'), false},
    };
    for (const auto& [bytes, valid] : cases) {
        INFO("case of " << bytes.size() << " bytes, first byte "
                        << (bytes.empty() ? 0 : static_cast<unsigned char>(bytes[0])));
        CHECK(capi::is_valid_utf8(bytes) == valid);
    }
}

TEST_CASE("is_valid_utf8 agrees with a scalar decoder on every code point", "[normalize][utf8]") {
    std::string s;
    for (char32_t c = 0; c <= 0x10FFFF; c += (c < 0x3000 ? 1 : 97)) {
        if (c >= 0xD800 && c <= 0xDFFF) continue;
        s.clear();
        capi::detail::append_utf8(s, c);
        REQUIRE(capi::is_valid_utf8(s));
        std::size_t i = 0;
        REQUIRE(capi::detail::decode_utf8(s, i) == c);
        REQUIRE(i == s.size());
    }
}

TEST_CASE("looks_hashed", "[normalize][hashed]") {
    CHECK(capi::looks_hashed(sha_lower));
    CHECK(capi::looks_hashed(sha_upper));
    CHECK(capi::looks_hashed(md5_lower));
    CHECK(capi::looks_hashed(md5_upper));
    CHECK(capi::looks_hashed(std::string(64, 'a')));
    CHECK(capi::looks_hashed(std::string(32, '0')));
    CHECK_FALSE(capi::looks_hashed(""));
    CHECK_FALSE(capi::looks_hashed(sha_lower.substr(1)));        // 63
    CHECK_FALSE(capi::looks_hashed(sha_lower + "0"));            // 65
    CHECK_FALSE(capi::looks_hashed(md5_lower.substr(1)));        // 31
    CHECK_FALSE(capi::looks_hashed(std::string(40, 'a')));       // SHA-1 length
    CHECK_FALSE(capi::looks_hashed(std::string(63, 'a') + "g")); // not hex
    CHECK_FALSE(capi::looks_hashed(std::string(31, 'a') + "z"));
    CHECK_FALSE(capi::looks_hashed(std::string(1, ' ').append(md5_lower, 1)));  // no trim
}

TEST_CASE("is_iso3166_alpha2", "[normalize][iso]") {
    int count = 0;
    for (char a = 'A'; a <= 'Z'; ++a) {
        for (char b = 'A'; b <= 'Z'; ++b) {
            const char upper[2] = {a, b};
            const char lower[2] = {static_cast<char>(a + 32), static_cast<char>(b + 32)};
            const bool is = capi::is_iso3166_alpha2(std::string_view(upper, 2));
            CHECK(capi::is_iso3166_alpha2(std::string_view(lower, 2)) == is);
            count += is;
        }
    }
    CHECK(count == 249);
    for (std::string_view code : {"US", "us", "Us", "uS", "GB", "DE", "FR", "JP", "KR", "BR",
                                  "IN", "ZW", "AX", "BQ", "CW", "SS", "SX", "AQ", "PS", "TW"}) {
        INFO(code);
        CHECK(capi::is_iso3166_alpha2(code));
    }
    for (std::string_view code : {"UU", "UK", "EU", "XK", "AN", "YU", "ZZ", "AA", "", "U",
                                  "USA", "U1", "u.", " us", "us ", "\xC3\xBC" "s"}) {
        INFO(code);
        CHECK_FALSE(capi::is_iso3166_alpha2(code));
    }
}

TEST_CASE("is_iso4217", "[normalize][iso]") {
    int count = 0;
    char code[3];
    for (code[0] = 'A'; code[0] <= 'Z'; ++code[0]) {
        for (code[1] = 'A'; code[1] <= 'Z'; ++code[1]) {
            for (code[2] = 'A'; code[2] <= 'Z'; ++code[2]) {
                count += capi::is_iso4217(std::string_view(code, 3));
            }
        }
    }
    CHECK(count == 181);  // the embedded list: change both together
    for (std::string_view c : {"USD", "usd", "Usd", "EUR", "GBP", "JPY", "CHF", "CNY", "INR",
                               "BRL", "KRW", "XAU", "XAG", "XDR", "XOF", "XAF", "CHE", "BOV",
                               "USN", "VES", "SLE", "ZWG", "XCG", "MRU", "STN"}) {
        INFO(c);
        CHECK(capi::is_iso4217(c));
    }
    for (std::string_view c : {"ABC", "XYZ", "EURO", "US", "U", "", "DEM", "FRF", "ITL",
                               "US1", "us ", "$$$", "BTC", "RMB", "XTS", "XXX"}) {
        INFO(c);
        CHECK_FALSE(capi::is_iso4217(c));
    }
}

// ---------------------------------------------------------------------------
// Common steps

TEST_CASE("empty and whitespace-only values are omitted for every field",
          "[normalize][common]") {
    for (const Field f : all_fields) {
        for (std::string_view blank :
             {"", " ", "   ", "\t", "\n", "\r\n", " \t\v\f\r\n ",
              "\xC2\xA0",                  // U+00A0 no-break space
              "\xE3\x80\x80",              // U+3000 ideographic space
              "\xEF\xBB\xBF",              // U+FEFF stray BOM
              " \xE2\x80\x83\xC2\xA0 "}) { // em space + NBSP
            check({f, blank, omitted, "empty"});
        }
    }
}

TEST_CASE("invalid UTF-8 is rejected for every field, with a reason naming UTF-8",
          "[normalize][common][utf8]") {
    for (const Field f : all_fields) {
        for (std::string_view bad :
             {"\xC3", "Val\xE9ry", "\xC0\x80", "\xED\xA0\x80", "\xF4\x90\x80\x80",
              "   \xFF   ", "a@b.com\x80", "  \xE2\x82"}) {
            check({f, bad, rejected, "UTF-8"});
        }
    }
}

TEST_CASE("already-hashed digests pass through every hashed field", "[normalize][common][hashed]") {
    for (const Field f : all_fields) {
        if (!capi::is_hashed_field(f)) continue;
        check_all({
            {f, sha_lower, hashed, sha_lower},
            {f, sha_upper, hashed, sha_lower},  // uppercase hex is lowercased
            {f, md5_lower, hashed, md5_lower},
            {f, md5_upper, hashed, md5_lower},
            {f, "  " + sha_upper + "\t\n", hashed, sha_lower},  // padded digest detected
            {f, "\xC2\xA0" + sha_lower + "\xE3\x80\x80", hashed, sha_lower},
            {f, std::string(64, '1'), hashed, std::string(64, '1')},  // even for dobd
        });
    }
    // Not a digest: the field rule applies (and truncates, for f5*).
    check_all({
        {Field::f5last, sha_lower.substr(1), ok, sha_lower.substr(1, 5)},
        {Field::f5first, " " + sha_upper + "0 ", ok, "9f86d"},
        {Field::fn, std::string(63, 'a') + "g", ok, std::string(63, 'a') + "g"},
        {Field::fi, std::string(40, 'F'), ok, "f"},
    });
}

TEST_CASE("currency is never hashed: a digest is just not a currency code",
          "[normalize][currency][hashed]") {
    check_all({
        {Field::currency, sha_lower, rejected, "ISO 4217"},
        {Field::currency, md5_upper, rejected, "ISO 4217"},
        {Field::currency, std::string(64, 'a'), rejected, "ISO 4217"},
    });
}

TEST_CASE("trim removes ASCII and Unicode spaces on both ends only", "[normalize][common][trim]") {
    // Each Unicode space we trim, around a name.
    for (std::string_view sp :
         {"\xC2\x85", "\xC2\xA0", "\xE1\x9A\x80", "\xE2\x80\x80", "\xE2\x80\x81", "\xE2\x80\x82",
          "\xE2\x80\x83", "\xE2\x80\x84", "\xE2\x80\x85", "\xE2\x80\x86", "\xE2\x80\x87",
          "\xE2\x80\x88", "\xE2\x80\x89", "\xE2\x80\x8A", "\xE2\x80\xA8", "\xE2\x80\xA9",
          "\xE2\x80\xAF", "\xE2\x81\x9F", "\xE3\x80\x80", "\xEF\xBB\xBF", " ", "\t", "\n",
          "\v", "\f", "\r"}) {
        std::string in = std::string(sp) + "Anne" + std::string(sp) + std::string(sp);
        check({Field::fn, in, ok, "anne"});
    }
    check_all({
        {Field::fn, "\xC2\xA0" "Anne Marie\xC2\xA0", ok, "anne marie"},
        {Field::fn, "Anne\xC2\xA0Marie", ok, "anne\xC2\xA0marie"},  // inner spaces stay
        // Zero-width space is not whitespace (Unicode White_Space says no): kept.
        {Field::fn, "\xE2\x80\x8B" "Anne", ok, "\xE2\x80\x8B" "anne"},
        {Field::ln, "  \xC3\x89MILE\xE2\x80\x83", ok, "\xC3\xA9mile"},
    });
}

TEST_CASE("lowercasing is Unicode-aware", "[normalize][common][lower]") {
    check_all({
        {Field::fn, "Valéry", ok, "valéry"},
        {Field::fn, "ÉMILE", ok, "émile"},
        {Field::ln, "정", ok, "정"},
        {Field::ln, "김민준", ok, "김민준"},
        {Field::fn, "山田", ok, "山田"},
        {Field::fn, "ÑOÑO", ok, "ñoño"},
        {Field::ln, "MÜLLER", ok, "müller"},
        {Field::ln, "ŁÓDŹ", ok, "łódź"},
        {Field::fn, "ΑΘΗΝΆ", ok, "αθηνά"},
        {Field::fn, "АННА", ok, "анна"},
        {Field::ln, "ДОСТОЕВСКИЙ", ok, "достоевский"},
        {Field::ln, "ՀԱՅ", ok, "հայ"},                   // Armenian
        {Field::fn, "ＡＢＣ", ok, "ａｂｃ"},               // fullwidth
        {Field::fn, "ǅEMAL", ok, "ǆemal"},              // titlecase digraph
        {Field::ln, "STRAẞE", ok, "straße"},            // capital sharp s
        {Field::fn, "\xF0\x90\x90\x80", ok, "\xF0\x90\x90\xA8"},  // Deseret, 4 bytes
        {Field::fn, "straße", ok, "straße"},            // lowercase only, no folding
        {Field::fn, "MIXED ascii ÀND ütf", ok, "mixed ascii ànd ütf"},
        // Full (not simple) lowercase, as Python/JS/Java do: İ -> i + U+0307.
        {Field::ct, "İSTANBUL", ok, "i\xCC\x87stanbul"},
        // Final sigma, as Python/JS/Java do.
        {Field::ln, "ΟΔΥΣΣΕΑΣ", ok, "οδυσσεας"},
        {Field::fn, "ΣΩΚΡΑΤΗΣ", ok, "σωκρατης"},
        {Field::fn, "ΣΑΣ ΣΑΣ", ok, "σας σας"},
        {Field::fn, "Σ", ok, "σ"},                      // nothing cased before it
        {Field::fn, "ΑΣ'Α", ok, "ασ'α"},                 // apostrophe is case-ignorable
        {Field::fn, "ΑΣ.", ok, "ας."},
    });
}

// ---------------------------------------------------------------------------
// Field rules

TEST_CASE("em", "[normalize][em]") {
    check_all({
        {Field::em, "  Foo@Test.COM ", ok, "foo@test.com"},
        {Field::em, "foo@test.com", ok, "foo@test.com"},
        {Field::em, "First.Last+Tag@Sub.Example.co.uk", ok, "first.last+tag@sub.example.co.uk"},
        {Field::em, "o'brien@example.ie", ok, "o'brien@example.ie"},
        {Field::em, "a!#$%&'*+/=?^_`{}|~-z@x-y.io", ok, "a!#$%&'*+/=?^_`{}|~-z@x-y.io"},
        {Field::em, "user@123.example.com", ok, "user@123.example.com"},
        {Field::em, "\xC2\xA0" "A@B.CD\xC2\xA0", ok, "a@b.cd"},
        {Field::em, "a@b", rejected, "two labels"},
        {Field::em, "@b.c", rejected, "before the '@'"},
        {Field::em, "324342@@@@bar.com", rejected, "exactly one '@'"},
        {Field::em, "test", rejected, "exactly one '@'"},
        {Field::em, "a@b@c.com", rejected, "exactly one '@'"},
        {Field::em, "a@", rejected, "domain"},
        {Field::em, "a@b.c", rejected, "top-level domain"},
        {Field::em, "a@b.c1", rejected, "top-level domain"},
        {Field::em, "a@b.123", rejected, "top-level domain"},
        {Field::em, "a@.com", rejected, "empty label"},
        {Field::em, "a@b..com", rejected, "empty label"},
        {Field::em, "a@b.com.", rejected, "empty label"},
        {Field::em, "a b@c.com", rejected, "before the '@'"},
        {Field::em, "\"a b\"@c.com", rejected, "before the '@'"},
        {Field::em, "a\\@b@c.com", rejected, "exactly one '@'"},
        {Field::em, "a(b)@c.com", rejected, "before the '@'"},
        {Field::em, "josé@example.com", rejected, "before the '@'"},
        {Field::em, "user@exämple.com", rejected, "domain"},
        {Field::em, "user@exa_mple.com", rejected, "domain"},
        {Field::em, "user@[127.0.0.1]", rejected, "domain"},
        {Field::em, "user@example.com/", rejected, "domain"},
    });
}

TEST_CASE("ph", "[normalize][ph]") {
    check_all({
        {Field::ph, "(123)-456-7890", ok, "1234567890"},
        {Field::ph, "+442071838750", ok, "442071838750"},
        {Field::ph, "+44 20 7183 8750", ok, "442071838750"},
        {Field::ph, "0044 20 7183 8750", ok, "442071838750"},
        {Field::ph, "+0044 (20) 7183-8750", ok, "442071838750"},
        {Field::ph, "+1 (650) 555-1212", ok, "16505551212"},
        {Field::ph, "1.650.555.1212", ok, "16505551212"},
        {Field::ph, "16505551212", ok, "16505551212"},
        {Field::ph, " + 1 650 555 1212 ", ok, "16505551212"},
        {Field::ph, "\xC2\xA0" "650\xC2\xA0" "555 1212", ok, "6505551212"},
        {Field::ph, "1234567", ok, "1234567"},                  // 7 digits, the minimum
        {Field::ph, "123456789012345", ok, "123456789012345"},  // 15, the maximum
        {Field::ph, "0207 183 8750", ok, "02071838750"},        // one leading 0 stays
        {Field::ph, "12345", rejected, "7 to 15 digits"},
        {Field::ph, "123456", rejected, "7 to 15 digits"},
        {Field::ph, "1234567890123456", rejected, "7 to 15 digits"},
        {Field::ph, "0012345", rejected, "7 to 15 digits"},      // 5 after "00"
        {Field::ph, "+", rejected, "7 to 15 digits"},
        {Field::ph, "---", rejected, "7 to 15 digits"},
        {Field::ph, "650-555-CALL", rejected, "letters"},
        {Field::ph, "650 555 1212 ext 5", rejected, "letters"},
        {Field::ph, "abc", rejected, "letters"},
        {Field::ph, "+1 650 555 1212 x", rejected, "letters"},
        {Field::ph, "650/555/1212", rejected, "only digits"},
        {Field::ph, "#6505551212", rejected, "only digits"},
        {Field::ph, "1+6505551212", rejected, "only digits"},    // '+' only leads
        {Field::ph, "++16505551212", rejected, "only digits"},
        {Field::ph, "٦٥٠٥٥٥١٢١٢", rejected, "only digits"},       // not ASCII digits
    });
}

TEST_CASE("ge", "[normalize][ge]") {
    check_all({
        {Field::ge, "F", ok, "f"},
        {Field::ge, "f", ok, "f"},
        {Field::ge, "Female", ok, "f"},
        {Field::ge, " FEMALE ", ok, "f"},
        {Field::ge, "m", ok, "m"},
        {Field::ge, "MALE", ok, "m"},
        {Field::ge, " m. ", ok, "m"},
        {Field::ge, "f!", ok, "f"},
        {Field::ge, "fe-male", ok, "f"},  // non-letters go first
        {Field::ge, "x", omitted, "gender"},
        {Field::ge, "fem", omitted, "gender"},
        {Field::ge, "unknown", omitted, "gender"},
        {Field::ge, "woman", omitted, "gender"},
        {Field::ge, "123", omitted, "gender"},
        {Field::ge, "?", omitted, "gender"},
        {Field::ge, "männlich", omitted, "gender"},
    });
}

TEST_CASE("db: trim and lowercase only", "[normalize][db]") {
    check_all({
        {Field::db, "19900101", ok, "19900101"},
        {Field::db, "  19900101 ", ok, "19900101"},
        {Field::db, "1990-01-01", ok, "1990-01-01"},  // not reformatted
        {Field::db, "01/01/2001", ok, "01/01/2001"},
        {Field::db, "JAN 1 1990", ok, "jan 1 1990"},
    });
}

TEST_CASE("fn and ln: trim and Unicode lowercase only", "[normalize][fn][ln]") {
    for (const Field f : {Field::fn, Field::ln}) {
        check_all({
            {f, "  Eg  ", ok, "eg"},
            {f, "first_name-5", ok, "first_name-5"},
            {f, "Mary-Jane", ok, "mary-jane"},
            {f, "O'Brien", ok, "o'brien"},
            {f, "St. John", ok, "st. john"},
            {f, "Valéry", ok, "valéry"},
            {f, "JOHN", ok, "john"},
        });
    }
}

TEST_CASE("ct", "[normalize][ct]") {
    check_all({
        {Field::ct, "Menlo Park", ok, "menlopark"},
        {Field::ct, "Seattle-98121", ok, "seattle"},
        {Field::ct, "San José", ok, "sanjosé"},
        {Field::ct, "St. Louis", ok, "stlouis"},
        {Field::ct, "Winston-Salem (NC)", ok, "winstonsalemnc"},
        {Field::ct, "São\xC2\xA0Paulo", ok, "sãopaulo"},  // inner NBSP is whitespace
        {Field::ct, "Washington, D.C.", ok, "washington,dc"},  // ',' is not in the list
        {Field::ct, "МОСКВА", ok, "москва"},
        {Field::ct, "서울", ok, "서울"},
        {Field::ct, "12345", omitted, "city"},
        {Field::ct, "(-.)", omitted, "city"},
    });
}

TEST_CASE("st", "[normalize][st]") {
    check_all({
        {Field::st, "North Carolina", ok, "northcarolina"},
        {Field::st, "Washington, D.C.", ok, "washingtondc"},
        {Field::st, "CA", ok, "ca"},
        {Field::st, "NY 10001", ok, "ny"},
        {Field::st, "Île-de-France", ok, "îledefrance"},
        {Field::st, "Baden-Württemberg", ok, "badenwürttemberg"},
        {Field::st, "Québec", ok, "québec"},
        {Field::st, "Que\xCC\x81" "bec", ok, "que\xCC\x81" "bec"},  // combining mark kept
        {Field::st, "東京都", ok, "東京都"},
        {Field::st, "123", omitted, "state"},
        {Field::st, "--", omitted, "state"},
    });
}

TEST_CASE("zp", "[normalize][zp]") {
    check_all({
        {Field::zp, "98 121-9431", ok, "98121"},
        {Field::zp, "NR9 5AL", ok, "nr95al"},
        {Field::zp, "12345-6789", ok, "12345"},
        {Field::zp, "641041", ok, "641041"},  // no truncation to 5
        {Field::zp, "K1A 0B1", ok, "k1a0b1"},
        {Field::zp, "1000-", ok, "1000"},
        {Field::zp, "12", ok, "12"},
        {Field::zp, "A", omitted, "fewer than 2"},
        {Field::zp, "1", omitted, "fewer than 2"},
        {Field::zp, "-1234", omitted, "fewer than 2"},
        {Field::zp, "1-2345", omitted, "fewer than 2"},
        {Field::zp, "-", omitted, "fewer than 2"},
        {Field::zp, "é", omitted, "fewer than 2"},     // 2 bytes, 1 character
        {Field::zp, "éé", ok, "éé"},
    });
}

TEST_CASE("country", "[normalize][country]") {
    check_all({
        {Field::country, "  US! ", ok, "us"},
        {Field::country, "us", ok, "us"},
        {Field::country, "De", ok, "de"},
        {Field::country, "U.S.", ok, "us"},
        {Field::country, "G B", ok, "gb"},
        {Field::country, "Germany", rejected, "ISO 3166-1"},
        {Field::country, "UU", rejected, "ISO 3166-1"},
        {Field::country, "UK", rejected, "ISO 3166-1"},
        {Field::country, "USA", rejected, "ISO 3166-1"},
        {Field::country, "*****UU*****", rejected, "ISO 3166-1"},
        {Field::country, "123", rejected, "ISO 3166-1"},
        {Field::country, "Ü", rejected, "ISO 3166-1"},
        {Field::country, "ÜS", rejected, "ISO 3166-1"},
    });
}

TEST_CASE("external_id: sent as given", "[normalize][external_id]") {
    check_all({
        {Field::external_id, "external-1", ok, "external-1"},
        {Field::external_id, "  External-ID 1\t", ok, "  External-ID 1\t"},  // byte-exact
        {Field::external_id, "ABC", ok, "ABC"},
        {Field::external_id, "Valéry", ok, "Valéry"},
        {Field::external_id, sha_upper, ok, sha_upper},  // not lowercased either
        {Field::external_id, "  ", omitted, "empty"},
        {Field::external_id, "\xC2\xA0", omitted, "empty"},
        {Field::external_id, "id\xFF", rejected, "UTF-8"},
    });
}

TEST_CASE("f5first and f5last: first 5 code points", "[normalize][f5]") {
    for (const Field f : {Field::f5first, Field::f5last}) {
        check_all({
            {f, "Washington", ok, "washi"},
            {f, "  WASHINGTON  ", ok, "washi"},
            {f, "Élodie", ok, "élodi"},  // 6 bytes
            {f, "Bob", ok, "bob"},
            {f, "Smith", ok, "smith"},
            {f, "김민준이다요", ok, "김민준이다"},
            {f, "\xF0\x90\x90\x80" "ABCDEF", ok, "\xF0\x90\x90\xA8" "abcd"},
            {f, "ΣΣΣΣΣΣ", ok, "σσσσσ"},
            {f, "Jo Ann Smith", ok, "jo an"},
        });
    }
}

TEST_CASE("fi: first code point", "[normalize][fi]") {
    check_all({
        {Field::fi, " G ", ok, "g"},
        {Field::fi, "george", ok, "g"},
        {Field::fi, "Élodie", ok, "é"},
        {Field::fi, "정민", ok, "정"},
        {Field::fi, "Ωmega", ok, "ω"},
        {Field::fi, "\xF0\x90\x90\x80x", ok, "\xF0\x90\x90\xA8"},
    });
}

TEST_CASE("dobd", "[normalize][dob]") {
    check_all({
        {Field::dobd, "1", ok, "01"},
        {Field::dobd, "01", ok, "01"},
        {Field::dobd, "9", ok, "09"},
        {Field::dobd, "10", ok, "10"},
        {Field::dobd, "31", ok, "31"},
        {Field::dobd, " 5 ", ok, "05"},
        {Field::dobd, "0", rejected, "day of birth"},
        {Field::dobd, "00", rejected, "day of birth"},
        {Field::dobd, "32", rejected, "day of birth"},
        {Field::dobd, "99", rejected, "day of birth"},
        {Field::dobd, "001", rejected, "day of birth"},
        {Field::dobd, "1b", rejected, "day of birth"},
        {Field::dobd, "tenth", rejected, "day of birth"},
        {Field::dobd, "-1", rejected, "day of birth"},
        {Field::dobd, "+5", rejected, "day of birth"},
        {Field::dobd, "1 5", rejected, "day of birth"},
        {Field::dobd, "１", rejected, "day of birth"},  // fullwidth digit
    });
}

TEST_CASE("dobm", "[normalize][dob]") {
    check_all({
        {Field::dobm, "5", ok, "05"},
        {Field::dobm, "05", ok, "05"},
        {Field::dobm, "1", ok, "01"},
        {Field::dobm, "12", ok, "12"},
        {Field::dobm, "13", rejected, "month of birth"},
        {Field::dobm, "0", rejected, "month of birth"},
        {Field::dobm, "00", rejected, "month of birth"},
        {Field::dobm, "012", rejected, "month of birth"},
        {Field::dobm, "May", rejected, "month of birth"},
        {Field::dobm, "1a", rejected, "month of birth"},
    });
}

TEST_CASE("doby", "[normalize][dob]") {
    check_all({
        {Field::doby, "1995", ok, "1995"},
        {Field::doby, " 1995 ", ok, "1995"},
        {Field::doby, "2000", ok, "2000"},
        {Field::doby, "0000", ok, "0000"},  // the classic SDKs do not range-check
        {Field::doby, "20", rejected, "year of birth"},
        {Field::doby, "95", rejected, "year of birth"},
        {Field::doby, "199a", rejected, "year of birth"},
        {Field::doby, "19955", rejected, "year of birth"},
        {Field::doby, "1 995", rejected, "year of birth"},
        {Field::doby, "nineteen", rejected, "year of birth"},
    });
}

TEST_CASE("currency", "[normalize][currency]") {
    check_all({
        {Field::currency, " USD ", ok, "usd"},
        {Field::currency, "usd", ok, "usd"},
        {Field::currency, "Eur", ok, "eur"},
        {Field::currency, "JPY.", ok, "jpy"},
        {Field::currency, "XAU", ok, "xau"},
        {Field::currency, "XDR", ok, "xdr"},
        {Field::currency, "U S D", ok, "usd"},
        {Field::currency, "US Dollars", rejected, "ISO 4217"},
        {Field::currency, "ABC", rejected, "ISO 4217"},
        {Field::currency, "US", rejected, "ISO 4217"},
        {Field::currency, "$", rejected, "ISO 4217"},
        {Field::currency, "€", rejected, "ISO 4217"},
        {Field::currency, "U$D", rejected, "ISO 4217"},
        {Field::currency, "ÜSD", rejected, "ISO 4217"},
        {Field::currency, "840", rejected, "ISO 4217"},  // numeric code
    });
}

// ---------------------------------------------------------------------------
// The hot-path form

TEST_CASE("normalize_into reuses its output string", "[normalize][into]") {
    std::string out;
    std::string_view reason;
    REQUIRE(capi::normalize_into(Field::em, " Foo@Test.COM ", out, reason) == ok);
    CHECK(out == "foo@test.com");
    CHECK(reason.empty());
    REQUIRE(capi::normalize_into(Field::ph, "12345", out, reason) == rejected);
    CHECK(out.empty());
    CHECK_FALSE(reason.empty());
    REQUIRE(capi::normalize_into(Field::fn, "Bo", out, reason) == ok);
    CHECK(out == "bo");
    CHECK(reason.empty());  // reason is cleared for ok
    REQUIRE(capi::normalize_into(Field::zp, "A", out, reason) == omitted);
    CHECK(out.empty());
    CHECK_FALSE(reason.empty());

    // A long value once, then short ones: no reallocation needed.
    REQUIRE(capi::normalize_into(Field::fn, std::string(200, 'A'), out, reason) == ok);
    const auto capacity = out.capacity();
    const char* const data = out.data();
    for (std::string_view v : {"Valéry", "ÉMILE", "Seattle", "Washington"}) {
        REQUIRE(capi::normalize_into(Field::ct, v, out, reason) == ok);
        CHECK(out.capacity() == capacity);
        CHECK(out.data() == data);
    }
}

TEST_CASE("Normalized::ok", "[normalize][into]") {
    CHECK(capi::normalize(Field::fn, "a").ok());
    CHECK(capi::normalize(Field::fn, sha_lower).ok());
    CHECK_FALSE(capi::normalize(Field::fn, " ").ok());
    CHECK_FALSE(capi::normalize(Field::em, "nope").ok());
}

TEST_CASE("match_warning: values hashed as given that Meta will not match", "[normalize][match]") {
    using capi::Field;
    // db: a real day in YYYYMMDD, or a warning.
    for (const char* ok : {"19900131", "20000229", "19000101", "20991231"})
        CHECK(capi::match_warning(Field::db, ok).empty());
    for (const char* bad : {"31/01/1990", "1990-01-31", "january 31, 1990", "19900230", "19000229", "19901301",
                            "19900100", "1990013", "199001311", "18991231"}) {
        INFO(bad);
        CHECK(capi::match_warning(Field::db, bad).find("YYYYMMDD") != std::string_view::npos);
    }
    // ph: a national number (leading 0) lacks its country code.
    CHECK(capi::match_warning(Field::ph, "447911123456").empty());
    CHECK(capi::match_warning(Field::ph, "07911123456").find("country code") != std::string_view::npos);
    // Fields without a known rule never warn.
    CHECK(capi::match_warning(Field::em, "a@b.c").empty());
    CHECK(capi::match_warning(Field::st, "california").empty());
    // What normalize() accepts for db is what the warning speaks of.
    CHECK(capi::normalize(Field::db, "31/01/1990").status == capi::NormalizeStatus::ok);
}
