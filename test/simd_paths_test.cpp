// The word-at-a-time and SSE2 fast paths of the compute floor, against plain
// byte-by-byte references, at every length around their block sizes and with
// the interesting byte at every position (where a block or overlapping-tail
// bug would show): is_ascii, is_valid_utf8, the writer's escape scan,
// json::Buffer, ASCII lowercasing, the URL and IPv4 checks of validate().
#include <capi/normalize.hpp>
#include <capi/validate.hpp>

#include "json/buffer.hpp"
#include "json/writer.hpp"
#include "normalize/unicode.hpp"
#include "validate/rules.hpp"

#include <arpa/inet.h>
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace {

bool ascii_reference(std::string_view s) {
    for (const char c : s)
        if (static_cast<unsigned char>(c) >= 0x80) return false;
    return true;
}

// Bytes a JSON string may carry unescaped as lib/json/writer.hpp writes it.
std::size_t plain_prefix_reference(std::string_view s) {
    for (std::size_t i = 0; i < s.size(); ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x20 || c == '"' || c == '\\') return i;
        if (c == 0xE2 && i + 2 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0x80 &&
            (static_cast<unsigned char>(s[i + 2]) == 0xA8 || static_cast<unsigned char>(s[i + 2]) == 0xA9))
            return i;
    }
    return s.size();
}

// looks_like_fb_cookie() one byte at a time.
bool fb_cookie_reference(std::string_view s) {
    const auto digit = [](char c) { return c >= '0' && c <= '9'; };
    if (s.size() < 6 || s.substr(0, 3) != "fb." || !digit(s[3]) || s[4] != '.') return false;
    std::size_t i = 5;
    while (i < s.size() && digit(s[i])) ++i;
    return i > 5 && i + 1 < s.size() && s[i] == '.';
}

std::string filler(std::size_t n) {
    std::string s;
    for (std::size_t i = 0; i < n; ++i) s += static_cast<char>('a' + i % 26);
    return s;
}

} // namespace

TEST_CASE("is_ascii and is_valid_utf8 see a non-ASCII byte anywhere", "[simd]") {
    for (std::size_t n = 0; n <= 70; ++n) {
        const std::string base = filler(n);
        CHECK(capi::detail::is_ascii(base));
        CHECK(capi::is_valid_utf8(base));
        for (std::size_t at = 0; at < n; ++at) {
            INFO("length " << n << ", byte " << at);
            std::string s = base;
            s[at] = static_cast<char>(0x80);  // a lone continuation byte: not ASCII, not UTF-8
            CHECK_FALSE(capi::detail::is_ascii(s));
            CHECK(capi::detail::is_ascii(s) == ascii_reference(s));
            CHECK_FALSE(capi::is_valid_utf8(s));
            if (at + 1 < n) {
                s[at] = static_cast<char>(0xC3);  // é: valid UTF-8, not ASCII
                s[at + 1] = static_cast<char>(0xA9);
                CHECK_FALSE(capi::detail::is_ascii(s));
                CHECK(capi::is_valid_utf8(s));
                s[at + 1] = 'x';  // truncated sequence
                CHECK_FALSE(capi::is_valid_utf8(s));
            }
        }
    }
}

TEST_CASE("is_valid_utf8 reads nothing past the end of an exact-size buffer", "[simd]") {
    // Regression (found by fuzz_normalize and fuzz_json_writer): after a non-ASCII
    // prefix, a 16-byte ASCII skip that ended exactly at the end was followed by a
    // read of the byte after it. A std::string hides that read (its terminator is
    // addressable); a buffer of exactly the input's size does not, under ASan.
    for (const std::string prefix : {"\xC3\xA9", "a\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80", "\xC3"}) {
        for (std::size_t tail = 0; tail <= 64; ++tail) {
            const std::string text = prefix + std::string(tail, 'x');
            auto exact = std::make_unique<char[]>(text.size());
            std::memcpy(exact.get(), text.data(), text.size());
            INFO("prefix " << prefix.size() << " bytes, tail " << tail);
            CHECK(capi::is_valid_utf8({exact.get(), text.size()}) == (prefix != "\xC3"));
            CHECK(capi::detail::is_ascii({exact.get(), text.size()}) == false);
        }
    }
}

TEST_CASE("the writer's escape scan stops exactly where the byte loop does", "[simd]") {
    const std::vector<std::string> specials = {"\"", "\\", "\n", std::string(1, '\0'), "\x1f", "\x7f",
                                               "\xe2\x80\xa8", "\xe2\x80\xa9", "\xe2\x80\xa6", "\xc3\xa9"};
    for (std::size_t n = 0; n <= 70; ++n) {
        const std::string base = filler(n);
        CHECK(capi::json::detail::plain_prefix(base) == n);
        for (std::size_t at = 0; at <= n; ++at) {
            for (const auto& sp : specials) {
                std::string s = base;
                s.insert(at, sp);
                INFO("length " << s.size() << ", special at " << at);
                CHECK(capi::json::detail::plain_prefix(s) == plain_prefix_reference(s));
            }
        }
    }
}

TEST_CASE("the encoder's writer on json::Buffer writes what the std::string one writes", "[simd]") {
    std::mt19937_64 rng(7);
    const std::vector<std::string> pieces = {"", "a", "key", filler(15), filler(16), filler(17), filler(40),
                                             "q\"uote", "line\nbreak", "\xe2\x80\xa8", "caf\xc3\xa9", filler(300)};
    for (int round = 0; round < 300; ++round) {
        std::string expected;
        capi::json::Buffer buffer;
        capi::json::Writer a(expected);
        capi::json::BasicWriter<capi::json::Buffer> b(buffer);
        a.begin_object();
        b.begin_object();
        const int members = static_cast<int>(rng() % 12);
        for (int m = 0; m < members; ++m) {
            const auto& k = pieces[rng() % pieces.size()];
            const auto& v = pieces[rng() % pieces.size()];
            switch (rng() % 7) {
                case 0: a.member(k, v); b.member(k, v); break;
                case 1: a.key(v); b.key(v); a.string_raw(k); b.string_raw(k); break;
                case 2: {
                    const auto i = static_cast<std::int64_t>(rng());
                    a.member_int(k, i);
                    b.member_int(k, i);
                    break;
                }
                case 3: {
                    const double d = static_cast<double>(rng() % 100000) / 7.0;
                    a.member_num(k, d);
                    b.member_num(k, d);
                    break;
                }
                case 4: a.member_bool(k, m % 2 == 0); b.member_bool(k, m % 2 == 0); break;
                case 5:
                    a.lit_key(k); b.lit_key(k);
                    a.begin_array(); b.begin_array();
                    a.string(v); b.string(v);
                    a.null(); b.null();
                    a.end_array(); b.end_array();
                    break;
                default: a.key(k); b.key(k); a.raw("[1,{}]"); b.raw("[1,{}]"); break;
            }
        }
        a.end_object();
        b.end_object();
        REQUIRE(std::string_view(buffer) == expected);
    }
}

TEST_CASE("json::Buffer appends, resizes and grows like std::string", "[simd]") {
    capi::json::Buffer buffer{"{\"data\":["};
    std::string expected = "{\"data\":[";
    for (std::size_t n = 0; n <= 600; n += 1 + n / 16) {
        const std::string piece = filler(n);
        buffer.append(piece);
        expected += piece;
        buffer += ',';
        expected += ',';
        REQUIRE(std::string_view(buffer) == expected);
    }
    buffer.resize(5);
    expected.resize(5);
    CHECK(std::string_view(buffer) == expected);
    buffer.resize(9);
    expected.resize(9);
    CHECK(std::string_view(buffer) == expected);
    buffer.clear();
    CHECK(buffer.empty());
}

// The VmFlags of the mapping holding `p` in /proc/self/smaps ("" when none).
static std::string vm_flags_at(const void* p) {
    std::ifstream smaps("/proc/self/smaps");
    const auto at = reinterpret_cast<std::uintptr_t>(p);
    bool inside = false;
    for (std::string line; std::getline(smaps, line);) {
        unsigned long lo = 0, hi = 0;
        if (std::sscanf(line.c_str(), "%lx-%lx ", &lo, &hi) == 2 && line.find(':') > line.find(' ')) {
            inside = at >= lo && at < hi;
        } else if (inside && line.rfind("VmFlags:", 0) == 0) {
            return line;
        }
    }
    return {};
}

TEST_CASE("json::Buffer holds a batch's body in whole 2 MB pages, advised as huge pages", "[simd]") {
    using capi::json::Buffer;
    constexpr std::size_t page = Buffer::large_page;
    Buffer buffer{"{\"data\":["};
    std::string expected = "{\"data\":[";
    std::size_t growths = 0;
    const char* last = buffer.data();
    // Past 1 MB by appends that double the capacity, up to three huge pages.
    while (expected.size() < 5 * (std::size_t{1} << 20)) {
        const std::string piece = filler(1000 + expected.size() % 700);
        buffer.append(piece);
        expected += piece;
        if (buffer.data() != last) {
            last = buffer.data();
            if (buffer.capacity() >= Buffer::large_capacity) {
                ++growths;
                INFO("capacity " << buffer.capacity());
                CHECK(buffer.capacity() % page == 0);
                CHECK(reinterpret_cast<std::uintptr_t>(buffer.data()) % page == 0);
                // The bytes written before the move came along.
                REQUIRE(std::string_view(buffer) == expected);
            }
        }
    }
    CHECK(growths >= 2);
    REQUIRE(std::string_view(buffer) == expected);
    if (std::ifstream("/sys/kernel/mm/transparent_hugepage/enabled")) {
        // "hg": the range carries MADV_HUGEPAGE (the kernel backs it with huge
        // pages where it can; the buffer works the same where it cannot).
        const auto flags = vm_flags_at(buffer.data());
        INFO(flags);
        CHECK(flags.find(" hg") != std::string::npos);
    } else {
        WARN("this kernel has no transparent huge pages: the advice is not checked");
    }

    // reserve() on a small buffer goes straight to whole pages.
    Buffer reserved{"{"};
    reserved.reserve(page + 1);
    CHECK(reserved.capacity() == 2 * page);
    CHECK(reinterpret_cast<std::uintptr_t>(reserved.data()) % page == 0);
    CHECK(std::string_view(reserved) == "{");
    // Below the threshold, nothing changes: std::realloc, exact sizes.
    Buffer small;
    small.reserve(Buffer::large_capacity - 1);
    CHECK(small.capacity() == Buffer::large_capacity - 1);

    // Lent storage is std::malloc memory: std::free takes it (as
    // PreparedEvent's destructor does after BatchEncoder::prepare lends it).
    char* data = nullptr;
    std::size_t size = 0, capacity = 0;
    reserved.swap_storage(data, size, capacity);
    CHECK(capacity == 2 * page);
    std::free(data);
    CHECK(reserved.capacity() == 0);
    reserved.append("ok");
    CHECK(std::string_view(reserved) == "ok");
}

TEST_CASE("ASCII lowercasing at every length and position", "[simd]") {
    for (std::size_t n = 1; n <= 70; ++n) {
        std::string s;
        std::string lower;
        for (std::size_t i = 0; i < n; ++i) {
            // Every byte around the A..Z range, '@' and '[' included.
            const char c = static_cast<char>('@' + (i * 7) % 28);
            s += c;
            lower += (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
        }
        const auto r = capi::normalize(capi::Field::fn, s);
        INFO(s);
        REQUIRE(r.status == capi::NormalizeStatus::ok);
        CHECK(r.value == lower);
    }
}

TEST_CASE("validate's URL and IPv4 checks agree with the byte loop and inet_pton", "[simd]") {
    using sys = std::chrono::system_clock;
    const auto now = sys::time_point(std::chrono::seconds(1'800'000'000));
    auto event = [&] {
        capi::Event ev;
        ev.event_name = "Lead";
        ev.event_time = 1'800'000'000 - 10;
        ev.action_source = capi::ActionSource::website;
        ev.user_data.client_user_agent = "ua";
        return ev;
    };
    auto has_error = [](const std::vector<capi::FieldError>& errors, std::string_view path) {
        for (const auto& e : errors)
            if (e.path == path) return true;
        return false;
    };
    for (std::size_t n = 0; n <= 60; ++n) {
        const std::string base = "https://example.com/" + filler(n);
        for (std::size_t at = 8; at < base.size(); ++at) {
            for (const char bad : {' ', '\x01', '\x7f'}) {
                auto ev = event();
                ev.event_source_url = base;
                (*ev.event_source_url)[at] = bad;
                INFO(*ev.event_source_url);
                CHECK(has_error(capi::validate(ev, now), "event_source_url"));
            }
        }
        auto ev = event();
        ev.event_source_url = base + "\xc3\xa9";  // non-ASCII is allowed through
        CHECK_FALSE(has_error(capi::validate(ev, now), "event_source_url"));
    }
    const std::vector<std::string> ips = {
        "1.2.3.4", "0.0.0.0", "255.255.255.255", "256.1.1.1", "01.2.3.4", "1.2.3.04", "1.2.3", "1.2.3.4.",
        ".1.2.3.4", "1..2.3", "1.2.3.4.5", "1.2.3.2555", "1.2.3.255", "10.0.0.1x", "1.2.3.-4", " 1.2.3.4",
        "1.2.3.4 ", "2001:db8::1", "::ffff:1.2.3.4", "1.2.3.00", "0.0.0.00", "192.168.1.1", "999.0.0.0",
        "1.2.3.4%eth0", std::string("1.2.3.4\0", 8), "1234", "a.b.c.d", "1.2.3.", "100.200.250.199"};
    for (const auto& ip : ips) {
        unsigned char addr[16];
        const bool expected = inet_pton(AF_INET, ip.c_str(), addr) == 1 && ip.find('\0') == std::string::npos
                                  ? true
                                  : inet_pton(AF_INET6, ip.c_str(), addr) == 1 && ip.find('\0') == std::string::npos;
        auto ev = event();
        ev.user_data.client_ip_address = ip;
        INFO(ip);
        CHECK(has_error(capi::validate(ev, now), "user_data.client_ip_address") == !expected);
    }
}

TEST_CASE("the fb cookie check reads the creation time eight digits at a time exactly", "[simd]") {
    // Every length of creation time, with every byte of it replaced by the
    // bytes next to the digits ('/' ':'), a letter, a high byte and '.'.
    for (std::size_t n = 0; n <= 33; ++n) {
        std::string digits;
        for (std::size_t i = 0; i < n; ++i) digits += static_cast<char>('0' + (i * 7 + 3) % 10);
        for (const std::string tail : {".AbC", ".", "", "x", ".1.2"}) {
            const std::string cookie = "fb.1." + digits + tail;
            INFO(cookie);
            CHECK(capi::detail::looks_like_fb_cookie(cookie) == fb_cookie_reference(cookie));
            for (std::size_t at = 5; at < 5 + n; ++at) {
                for (const char bad : {'/', ':', 'a', '\xff', '.', '\0', '9'}) {
                    std::string s = cookie;
                    s[at] = bad;
                    INFO(s);
                    CHECK(capi::detail::looks_like_fb_cookie(s) == fb_cookie_reference(s));
                }
            }
        }
    }
    CHECK(capi::detail::looks_like_fb_cookie("fb.1.1554763741205.AbCdEf"));
    CHECK_FALSE(capi::detail::looks_like_fb_cookie("fb.1.155476374120:.AbCdEf"));
}
