// The internal JSON writer: escaping, numbers and structure, checked by parsing
// what it writes back with simdjson.
#include "json/writer.hpp"

#include <catch2/catch.hpp>
#include <simdjson.h>

#include <cstdint>
#include <limits>
#include <random>
#include <string>

using capi::json::Writer;

namespace {

// Writes `s` as a JSON string and parses it back.
std::string round_trip_string(std::string_view s) {
    std::string out;
    Writer w(out);
    w.string(s);
    simdjson::dom::parser parser;
    simdjson::padded_string padded(out);
    std::string_view back;
    auto err = parser.parse(padded).get_string().get(back);
    REQUIRE(err == simdjson::SUCCESS);
    return std::string(back);
}

double round_trip_double(double v) {
    std::string out;
    Writer w(out);
    w.number(v);
    simdjson::dom::parser parser;
    simdjson::padded_string padded(out);
    double back = 0;
    auto err = parser.parse(padded).get_double().get(back);
    REQUIRE(err == simdjson::SUCCESS);
    return back;
}

} // namespace

TEST_CASE("strings survive the round trip, hostile ones included", "[json]") {
    const std::string cases[] = {
        "",
        "plain",
        "quote \" inside",
        "back\\slash",
        "\"},{\"event_name\":\"x",
        "tab\tnew\nline\rcr",
        "\b\f",
        std::string("nul\0inside", 10),
        "line sep \xE2\x80\xA8 para sep \xE2\x80\xA9 end",
        "valéry 정 ÉMILE 😀",
        "\x01\x02\x1f\x7f",
        "trailing backslash \\",
    };
    for (const auto& s : cases) {
        INFO(s);
        CHECK(round_trip_string(s) == s);
    }
}

TEST_CASE("every control character is escaped", "[json]") {
    for (int c = 0; c < 0x20; ++c) {
        std::string out;
        capi::json::append_escaped(out, std::string(1, static_cast<char>(c)));
        INFO(c);
        CHECK(out.size() >= 2);
        CHECK(out[0] == '\\');
        CHECK(round_trip_string(std::string(1, static_cast<char>(c))) ==
              std::string(1, static_cast<char>(c)));
    }
}

TEST_CASE("U+2028 and U+2029 are written as escapes", "[json]") {
    std::string out;
    capi::json::append_escaped(out, "a\xE2\x80\xA8" "b\xE2\x80\xA9" "c");
    CHECK(out == "a\\u2028b\\u2029c");
    // Neighbours of the pattern are not touched.
    out.clear();
    capi::json::append_escaped(out, "\xE2\x80\xA7\xE2\x80\xAA");
    CHECK(out == "\xE2\x80\xA7\xE2\x80\xAA");
}

TEST_CASE("doubles are written in shortest round-trip form", "[json]") {
    CHECK(round_trip_double(123.45) == 123.45);
    CHECK(round_trip_double(0.1) == 0.1);
    CHECK(round_trip_double(-0.0) == 0.0);
    CHECK(round_trip_double(1e300) == 1e300);
    CHECK(round_trip_double(5e-324) == 5e-324);
    CHECK(round_trip_double(std::numeric_limits<double>::max()) ==
          std::numeric_limits<double>::max());

    std::string out;
    Writer w(out);
    w.number(123.45);
    CHECK(out == "123.45");

    std::mt19937_64 rng(42);
    std::uniform_real_distribution<double> money(0, 100000);
    for (int i = 0; i < 2000; ++i) {
        double v = money(rng);
        REQUIRE(round_trip_double(v) == v);
        double bits;
        auto raw = rng();
        std::memcpy(&bits, &raw, sizeof bits);
        if (std::isfinite(bits)) REQUIRE(round_trip_double(bits) == bits);
    }
}

TEST_CASE("non-finite numbers never produce invalid JSON", "[json]") {
    std::string out;
    Writer w(out);
    w.begin_array();
    w.number(std::numeric_limits<double>::infinity());
    w.number(std::numeric_limits<double>::quiet_NaN());
    w.end_array();
    CHECK(out == "[null,null]");
}

TEST_CASE("integers at the extremes", "[json]") {
    std::string out;
    Writer w(out);
    w.begin_array();
    w.integer(std::numeric_limits<std::int64_t>::min());
    w.integer(std::numeric_limits<std::int64_t>::max());
    w.integer(0);
    w.end_array();
    CHECK(out == "[-9223372036854775808,9223372036854775807,0]");
}

TEST_CASE("commas follow the structure", "[json]") {
    std::string out;
    Writer w(out);
    w.begin_object();
    w.member("a", "x");
    w.key("b");
    w.begin_array();
    w.begin_object();
    w.member_int("n", 1);
    w.end_object();
    w.begin_object();
    w.end_object();
    w.begin_array();
    w.end_array();
    w.end_array();
    w.member_bool("c", true);
    w.key("d");
    w.null();
    w.key("e");
    w.raw("{\"k\":[1,2]}");
    w.member_num("f", 2.5);
    w.end_object();
    CHECK(out == R"({"a":"x","b":[{"n":1},{},[]],"c":true,"d":null,"e":{"k":[1,2]},"f":2.5})");

    simdjson::dom::parser parser;
    simdjson::padded_string padded(out);
    CHECK(parser.parse(padded).error() == simdjson::SUCCESS);
}

TEST_CASE("form encoding escapes everything but unreserved characters", "[json]") {
    std::string out;
    capi::json::append_form_encoded(out, R"([{"a":"b c&d=e+f%"}])");
    CHECK(out == "%5B%7B%22a%22%3A%22b+c%26d%3De%2Bf%25%22%7D%5D");
    out.clear();
    capi::json::append_form_encoded(out, "AZaz09-_.*~\xC3\xA9");
    CHECK(out == "AZaz09-_.*%7E%C3%A9");
}

TEST_CASE("escapes are found at every position of long strings", "[json]") {
    // Exercises the 16-byte fast path and its hand-over to the byte loop.
    const std::string specials[] = {"\"", "\\", "\n", std::string(1, '\0'), "\x1f",
                                    "\xE2\x80\xA8", "\xC3\xA9", "\xE2\x82\xAC"};
    for (std::size_t len = 0; len <= 70; ++len) {
        for (const auto& sp : specials) {
            for (std::size_t pos = 0; pos <= len; ++pos) {
                std::string s(len, 'a');
                s.insert(pos, sp);
                REQUIRE(round_trip_string(s) == s);
            }
        }
    }
    std::string out;
    Writer w(out);
    w.lit_key("k");
    w.string(std::string(40, 'x') + "\"" + std::string(20, 'y'));
    CHECK(out == "\"k\":\"" + std::string(40, 'x') + "\\\"" + std::string(20, 'y') + "\"");
}
