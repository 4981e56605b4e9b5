// capi::SmallString (include/capi/small_string.hpp), the type of SendResult's ids:
// in place up to its capacity, on the heap past it, NUL-terminated, and usable
// where a std::string or a std::string_view is.
#include <capi/client.hpp>
#include <capi/small_string.hpp>

#include <catch2/catch.hpp>

#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>

using capi::SmallString;

namespace {

std::string text(std::size_t n, char first = 'a') {
    std::string s;
    for (std::size_t i = 0; i < n; ++i) s += static_cast<char>(first + static_cast<char>(i % 26));
    return s;
}

void check_value(const SmallString& s, std::string_view want) {
    CHECK(s.view() == want);
    CHECK(s.size() == want.size());
    CHECK(s.empty() == want.empty());
    CHECK(std::string_view(s.c_str()) == want);  // NUL right after the value
}

} // namespace

TEST_CASE("SmallString holds short values in place and long ones on the heap, NUL-terminated") {
    SmallString e;
    check_value(e, "");
    for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{23}, std::size_t{32},
                          SmallString::inline_capacity - 1, SmallString::inline_capacity,
                          SmallString::inline_capacity + 1, std::size_t{200}}) {
        const auto v = text(n);
        SmallString s(v);
        check_value(s, v);
        // In place exactly up to the capacity: the bytes lie inside the object.
        const auto* lo = reinterpret_cast<const char*>(&s);
        const bool inside = s.data() >= lo && s.data() < lo + sizeof s;
        CHECK(inside == (n <= SmallString::inline_capacity));
        // Reassigned shorter, longer, and from its own bytes.
        s = std::string_view(v).substr(n / 2);
        check_value(s, std::string_view(v).substr(n / 2));
        s = text(n + 50, 'A');
        check_value(s, text(n + 50, 'A'));
        s.assign(s.view().substr(3));
        check_value(s, std::string_view(text(n + 50, 'A')).substr(3));
        s.clear();
        check_value(s, "");
    }
}

TEST_CASE("SmallString copies and moves, short and long") {
    for (std::size_t n : {std::size_t{5}, SmallString::inline_capacity, std::size_t{100}}) {
        const auto v = text(n);
        SmallString a(v);
        SmallString b(a);  // copy
        check_value(a, v);
        check_value(b, v);
        SmallString c(std::move(a));  // move: the source is left empty
        check_value(c, v);
        check_value(a, "");
        SmallString d(text(7, 'x'));
        d = std::move(c);
        check_value(d, v);
        check_value(c, "");
        d = d;  // self-assignment keeps the value
        check_value(d, v);
        SmallString f(text(300, 'k'));
        f = b;  // a long value replaced by a copy
        check_value(f, v);
        a = std::move(f);  // into a moved-from one
        check_value(a, v);
    }
}

TEST_CASE("SmallString compares, hashes and converts like the string it holds") {
    const SmallString a("abc"), b("abd"), a2("abc");
    CHECK(a == a2);
    CHECK(a != b);
    CHECK(a == "abc");
    CHECK("abc" == a);
    CHECK(a == std::string("abc"));
    CHECK(std::string("abd") == b);
    CHECK(a != std::string_view("ab"));
    CHECK(a < b);
    CHECK(b > std::string_view("abc"));
    CHECK(std::hash<SmallString>{}(a) == std::hash<std::string_view>{}("abc"));

    // Where a std::string is asked for: a map's key, an initialization.
    std::map<std::string, int> count;
    ++count[a];
    ++count[a2];
    CHECK(count.at("abc") == 2);
    const std::string s = b;
    CHECK(s == "abd");
    std::string t;
    t = a;
    CHECK(t == "abc");
    std::unordered_set<SmallString> set{a, b, a2};
    CHECK(set.size() == 2);
    // Concatenation, with every kind of string on either side.
    const std::string str = "-s";
    CHECK("id " + a == "id abc");
    CHECK(a + "-x" == "abc-x");
    CHECK(str + a == "-sabc");
    CHECK(a + str == "abc-s");
    CHECK(a + b == "abcabd");
    CHECK(std::string_view("v:") + a == "v:abc");
    CHECK(a + std::string_view(":v") == "abc:v");
    const SmallString long_one(text(60));
    std::string want = "<";  // built piecewise: g++ 12 warns falsely on "<" + std::string&&
    want += text(60);
    want += '>';
    CHECK("<" + long_one + ">" == want);
    std::ostringstream out;
    out << a << '|' << b;
    CHECK(out.str() == "abc|abd");
}

TEST_CASE("a SendResult's ids survive its moves and copies") {
    capi::SendResult r;
    r.event_id = std::string(32, 'e');
    r.fbtrace_id = "ATHEd8F7ddsITPV0fE5TWjY";
    capi::SendResult copy = r;
    capi::SendResult moved = std::move(r);
    CHECK(moved.event_id == std::string(32, 'e'));
    CHECK(moved.fbtrace_id == "ATHEd8F7ddsITPV0fE5TWjY");
    CHECK(copy.event_id == moved.event_id);
    CHECK(copy.fbtrace_id == moved.fbtrace_id);
    CHECK(r.event_id.empty());
}
