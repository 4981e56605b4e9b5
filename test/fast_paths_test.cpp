// Fast paths pinned against their references, byte for byte: the writer's
// number() against std::to_chars (with the writer's large-integer rule), and
// normalization's Latin lowercase table against utf8proc for every code point
// it covers.
#include "json/writer.hpp"
#include "normalize/unicode.hpp"

#include <capi/normalize.hpp>

#include <catch2/catch.hpp>
#include <utf8proc.h>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>

namespace {

// What number() wrote before it had a fast path: the shortest round-trip form,
// in scientific form for large integral values.
std::string reference_number(double v) {
    if (!std::isfinite(v)) return "null";
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    if (std::fabs(v) >= 1e15 &&
        std::string_view(buf, static_cast<std::size_t>(r.ptr - buf)).find_first_of(".e") == std::string_view::npos)
        r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
    return std::string(buf, static_cast<std::size_t>(r.ptr - buf));
}

std::string written(double v) {
    std::string out;
    capi::json::Writer w(out);
    w.number(v);
    return out;
}

} // namespace

TEST_CASE("number() writes what std::to_chars writes", "[json][fast]") {
    const double edges[] = {0.0, -0.0, 0.01, -0.01, 0.05, 0.1, 0.5, 1, -1, 9.99, 10, 99.99, 100, 1000, 9999.99,
                            10000, 12000, 99999, 99999.99, 100000, 123456.78, 1e6, 1e7, 1e12, 1e13 - 0.01,
                            1e13, 1e14, 1e15, 1e16, 3e19, -3e19, 0.005, 0.015, 1.005, 4.35, 0.07, 1.1, 2.675,
                            8.325, 1e-5, 5e-324, std::numeric_limits<double>::max(),
                            std::numeric_limits<double>::min(), 0.1 + 0.2, 1.0 / 3, 2.0 / 3,
                            std::numeric_limits<double>::infinity(), std::numeric_limits<double>::quiet_NaN(),
                            9007199254740991.0, 90071992547409.92, 4503599627370495.5};
    for (const double e : edges) {
        for (const double v : {e, -e}) {
            INFO(reference_number(v));
            REQUIRE(written(v) == reference_number(v));
        }
    }
    std::mt19937_64 rng(2024);
    for (int i = 0; i < 200000; ++i) {
        // Cents (what prices are), cents plus a little, whole numbers, random bits.
        const auto cents = static_cast<std::int64_t>(rng() % 100000000000ULL) - 50000000000LL;
        double v;
        switch (i % 5) {
        case 0: v = static_cast<double>(cents) / 100.0; break;
        case 1: v = static_cast<double>(cents % 10000000) / 100.0; break;
        case 2: v = static_cast<double>(cents) / 100.0 + 1e-9; break;
        case 3: v = static_cast<double>(cents % 1000000); break;
        default: {
            const auto raw = rng();
            std::memcpy(&v, &raw, sizeof v);
        }
        }
        INFO(reference_number(v));
        REQUIRE(written(v) == reference_number(v));
    }
    // Every cent value from -1000.00 to 1000.00, and in tenths of a cent near 0.
    for (std::int64_t c = -100000; c <= 100000; ++c) {
        REQUIRE(written(static_cast<double>(c) / 100.0) == reference_number(static_cast<double>(c) / 100.0));
        REQUIRE(written(static_cast<double>(c) / 1000.0) == reference_number(static_cast<double>(c) / 1000.0));
    }
}

namespace {

std::string utf8(char32_t c) {
    std::string s;
    capi::detail::append_utf8(s, c);
    return s;
}

// Lowercase of one code point as utf8proc maps it (the reference), with the
// one SpecialCasing rule append_lower adds in this range (U+0130).
std::string reference_lower(char32_t c) {
    if (c == 0x0130) return "i\xCC\x87";
    return utf8(static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c))));
}

} // namespace

TEST_CASE("the Latin lowercase table agrees with utf8proc on every code point it covers", "[normalize][fast]") {
    // The table covers U+0080..U+017F; its neighbours go to utf8proc.
    for (char32_t c = 0x80; c <= 0x24F; ++c) {
        INFO(static_cast<unsigned>(c));
        std::string out;
        capi::detail::append_lower(out, utf8(c));
        REQUIRE(out == reference_lower(c));
        // Between ASCII letters, as in a name.
        // (Strings built piecewise: GCC 12 warns -Wrestrict, falsely, on "a" + s + "b".)
        const auto wrap = [](char a, const std::string& mid, char b) {
            std::string s(1, a);
            s += mid;
            s += b;
            return s;
        };
        out.clear();
        capi::detail::append_lower(out, wrap('A', utf8(c), 'b'));
        REQUIRE(out == wrap('a', reference_lower(c), 'b'));
        // Through normalize(), first name (no rule after lowercasing).
        const auto n = capi::normalize(capi::Field::fn, wrap('Z', utf8(c), 'Q'));
        if (n.status == capi::NormalizeStatus::ok && !capi::detail::is_space(c)) {
            REQUIRE(n.value == wrap('z', reference_lower(c), 'q'));
        }
    }
}

TEST_CASE("ASCII values normalize as through the general (non-ASCII) path", "[normalize][fast]") {
    // A trailing U+00A0 is trimmed, but makes the value non-ASCII: the general
    // path (decode, utf8proc, retain) is the reference for the ASCII fast paths.
    static constexpr std::string_view alphabet = "0123456789+-().  \tabcxyzABCXYZ@._!#-";
    const capi::Field fields[] = {capi::Field::em, capi::Field::ph, capi::Field::ge, capi::Field::ct,
                                  capi::Field::st, capi::Field::zp, capi::Field::country, capi::Field::fn,
                                  capi::Field::f5first, capi::Field::fi, capi::Field::dobd, capi::Field::currency};
    const std::string fixed[] = {"+1 (650) 555-1234", "+44 20 7946 0958", "0044 20 7946 0958", "(00)44 1234567",
                                 "555-CALL-NOW", "1.650.555.1234", "+1+2345678", "123456", "1234567890123456",
                                 "  Customer.1@Example.COM ", "a@b.co", "a@@b.co", "A.B@C.D", "x@y", "m", "Female",
                                 "US", "u s", "12345-1234", "San Jose", "usd"};
    std::mt19937_64 rng(7);
    for (int i = 0; i < 60000; ++i) {
        std::string s;
        if (i < static_cast<int>(std::size(fixed))) {
            s = fixed[i];
        } else {
            const std::size_t len = rng() % 20;
            for (std::size_t k = 0; k < len; ++k) s += alphabet[rng() % alphabet.size()];
        }
        for (const auto f : fields) {
            INFO(s);
            INFO(std::string(capi::to_string(f)));
            const auto a = capi::normalize(f, s);
            const auto b = capi::normalize(f, s + "\xC2\xA0");
            REQUIRE(a.status == b.status);
            REQUIRE(a.value == b.value);
            REQUIRE(a.reason == b.reason);
        }
    }
}
