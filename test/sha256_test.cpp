// SHA-256: NIST vectors, every short length and a random batch against OpenSSL,
// for the selected implementation and every other supported one.
#include <capi/sha256.hpp>

#include "sha256/impl.hpp"

#include <catch2/catch.hpp>
#include <openssl/evp.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

namespace sha = capi::sha256;

namespace {

std::string hex(const sha::digest& d) {
    std::string s(64, '\0');
    sha::to_hex(d, s.data());
    return s;
}

sha::digest openssl_sha256(std::string_view s) {
    sha::digest d{};
    unsigned int len = 0;
    const int ok = EVP_Digest(s.data(), s.size(), d.data(), &len, EVP_sha256(), nullptr);
    REQUIRE(ok == 1);
    REQUIRE(len == 32);
    return d;
}

std::vector<sha::digest> run(const sha::detail::impl& i, const std::vector<std::string_view>& in) {
    std::vector<sha::digest> out(in.size());
    i.hash_many(in.data(), out.data(), in.size());
    return out;
}

// Every implementation this build can run here, the selected one included.
std::vector<const sha::detail::impl*> runnable() {
    std::vector<const sha::detail::impl*> v;
    for (const auto* i : sha::detail::implementations()) {
        if (i->supported()) v.push_back(i);
    }
    return v;
}

} // namespace

TEST_CASE("sha256: NIST FIPS 180-4 vectors", "[sha256]") {
    const std::string million_a(1'000'000, 'a');
    const std::pair<std::string_view, std::string_view> vectors[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
        {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopq"
         "klmnopqrlmnopqrsmnopqrstnopqrstu",
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
        {million_a, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"},
    };
    for (const auto& [msg, want] : vectors) {
        INFO("length " << msg.size());
        CHECK(hex(sha::hash(msg)) == want);
        for (const auto* i : runnable()) {
            INFO("implementation " << i->name);
            CHECK(hex(run(*i, {msg})[0]) == want);
        }
    }
}

TEST_CASE("sha256: every length 0..300 matches OpenSSL", "[sha256]") {
    std::string msg;
    for (std::size_t len = 0; len <= 300; ++len) {
        msg.resize(len);
        for (std::size_t j = 0; j < len; ++j) msg[j] = static_cast<char>((j * 131 + len * 7 + 1) & 0xff);
        const auto want = openssl_sha256(msg);
        INFO("length " << len);
        CHECK(sha::hash(msg) == want);
        for (const auto* i : runnable()) {
            INFO("implementation " << i->name);
            CHECK(run(*i, {msg})[0] == want);
        }
    }
}

TEST_CASE("sha256: one hash_many call over a random mixed-length batch", "[sha256]") {
    std::mt19937 rng(20240601);
    std::uniform_int_distribution<int> len_dist(0, 1000);
    std::uniform_int_distribution<int> byte_dist(0, 255);
    std::vector<std::string> storage(5000);
    for (auto& s : storage) {
        s.resize(static_cast<std::size_t>(len_dist(rng)));
        for (auto& c : s) c = static_cast<char>(byte_dist(rng));
    }
    // The padding boundaries, so they are in the batch whatever the seed gives.
    for (std::size_t len : {55u, 56u, 63u, 64u, 65u, 119u, 120u, 128u}) storage.emplace_back(len, 'x');
    const std::vector<std::string_view> in(storage.begin(), storage.end());

    std::vector<sha::digest> want(in.size());
    for (std::size_t j = 0; j < in.size(); ++j) want[j] = openssl_sha256(in[j]);

    std::vector<sha::digest> got(in.size());
    sha::hash_many(in, got);
    std::size_t mismatches = 0;
    for (std::size_t j = 0; j < in.size(); ++j) mismatches += got[j] != want[j];
    CHECK(mismatches == 0);

    for (const auto* i : runnable()) {
        INFO("implementation " << i->name);
        const auto out = run(*i, in);
        std::size_t bad = 0;
        for (std::size_t j = 0; j < in.size(); ++j) bad += out[j] != want[j];
        CHECK(bad == 0);
    }
}

TEST_CASE("sha256: hash_many edge cases", "[sha256]") {
    SECTION("empty batch") {
        sha::hash_many({}, {});
        SUCCEED();
    }
    SECTION("extra outputs are left untouched") {
        const std::string_view in[] = {"a", "b"};
        sha::digest sentinel;
        sentinel.fill(0xAB);
        std::vector<sha::digest> out(3, sentinel);
        sha::hash_many(in, out);
        CHECK(out[0] == sha::hash("a"));
        CHECK(out[1] == sha::hash("b"));
        CHECK(out[2] == sentinel);
    }
    SECTION("more inputs than outputs hashes only what fits") {
        const std::string_view in[] = {"a", "b", "c"};
        std::vector<sha::digest> out(2);
        sha::hash_many(in, out);
        CHECK(out[0] == sha::hash("a"));
        CHECK(out[1] == sha::hash("b"));
    }
    SECTION("inputs with embedded NUL bytes") {
        const std::string s("a\0b\0", 4);
        CHECK(sha::hash(s) == openssl_sha256(s));
    }
}

TEST_CASE("sha256: to_hex matches snprintf", "[sha256]") {
    std::mt19937 rng(7);
    for (int round = 0; round < 200; ++round) {
        sha::digest d;
        for (auto& b : d) b = static_cast<std::uint8_t>(rng());
        if (round == 0) d.fill(0x00);
        if (round == 1) d.fill(0xff);
        std::string naive;
        char pair[3];
        for (auto b : d) {
            std::snprintf(pair, sizeof pair, "%02x", static_cast<unsigned>(b));
            naive += pair;
        }
        char out[65];
        out[64] = '#';
        sha::to_hex(d, out);
        CHECK(std::string_view(out, 64) == naive);
        CHECK(out[64] == '#');  // writes exactly 64 characters
    }
}

TEST_CASE("sha256: lanes of different lengths in one call", "[sha256]") {
    // Every length in every position of a 4-group: one-block, two-block tails
    // (56, 120) and a long lane next to empty ones, so the interleaved paths
    // must finish lanes at different blocks. Content differs per slot.
    constexpr std::array<std::size_t, 7> lengths = {0, 55, 56, 64, 119, 120, 1000};
    std::array<std::array<std::string, 4>, lengths.size()> text;
    std::array<std::array<sha::digest, 4>, lengths.size()> want;
    for (std::size_t li = 0; li < lengths.size(); ++li) {
        for (std::size_t pos = 0; pos < 4; ++pos) {
            auto& t = text[li][pos];
            t.resize(lengths[li]);
            for (std::size_t j = 0; j < t.size(); ++j) t[j] = static_cast<char>((j * 29 + li * 7 + pos * 101) & 0xff);
            want[li][pos] = openssl_sha256(t);
        }
    }

    // All 7^4 groups, each as its own call of 4, and all of them again as one
    // long call shifted by 0..3 leading inputs so groups also straddle the
    // 4/2/1 split at the end.
    std::vector<std::string_view> all;
    std::vector<sha::digest> all_want;
    for (std::size_t g = 0; g < 7 * 7 * 7 * 7; ++g) {
        std::size_t code = g;
        for (std::size_t pos = 0; pos < 4; ++pos, code /= 7) {
            all.push_back(text[code % 7][pos]);
            all_want.push_back(want[code % 7][pos]);
        }
    }
    for (const auto* i : runnable()) {
        INFO("implementation " << i->name);
        std::size_t bad = 0;
        std::array<sha::digest, 4> out;
        for (std::size_t g = 0; g < all.size(); g += 4) {
            i->hash_many(all.data() + g, out.data(), 4);
            for (std::size_t pos = 0; pos < 4; ++pos) bad += out[pos] != all_want[g + pos];
        }
        CHECK(bad == 0);

        for (std::size_t shift = 0; shift < 4; ++shift) {
            INFO("shift " << shift);
            const std::vector<std::string_view> in(all.begin() + static_cast<std::ptrdiff_t>(shift), all.end());
            const auto got = run(*i, in);
            std::size_t bad_long = 0;
            for (std::size_t j = 0; j < in.size(); ++j) bad_long += got[j] != all_want[shift + j];
            CHECK(bad_long == 0);
        }

        // Short calls of 2 and 3 mixing one- and multi-block messages.
        for (std::size_t n : {2u, 3u, 5u, 6u, 7u}) {
            INFO("n " << n);
            for (std::size_t start = 0; start + n <= 64; start += 3) {
                std::vector<std::string_view> in(all.begin() + static_cast<std::ptrdiff_t>(start),
                                                 all.begin() + static_cast<std::ptrdiff_t>(start + n));
                const auto got = run(*i, in);
                for (std::size_t j = 0; j < n; ++j) CHECK(got[j] == all_want[start + j]);
            }
        }
    }
}

namespace {

bool yes() noexcept { return true; }
bool no() noexcept { return false; }

// A candidate list that does not depend on this CPU: a preferred path that
// never runs, a supported middle one, and scalar.
const sha::detail::impl fake_unsupported = {"avx512", sha::detail::scalar_impl.hash_many, &no};
const sha::detail::impl fake_supported = {"shani", sha::detail::scalar_impl.hash_many, &yes};
constexpr std::array<const sha::detail::impl*, 3> fake_table = {&fake_unsupported, &fake_supported,
                                                                 &sha::detail::scalar_impl};

bool contains(std::string_view haystack, std::string_view needle) {
    return haystack.find(needle) != std::string_view::npos;
}

} // namespace

TEST_CASE("sha256: choose() honours a forced path only when it runs, and says why not", "[sha256]") {
    using sha::detail::choose;

    SECTION("unset or empty: the first supported candidate, no error") {
        for (const char* forced : {static_cast<const char*>(nullptr), ""}) {
            const auto c = choose(forced, fake_table);
            CHECK(c.chosen == &fake_supported);
            CHECK(c.error_text().empty());
        }
    }
    SECTION("a supported name is honoured, even when it is not the default") {
        auto c = choose("scalar", fake_table);
        CHECK(c.chosen == &sha::detail::scalar_impl);
        CHECK(c.error_text().empty());
        c = choose("shani", fake_table);
        CHECK(c.chosen == &fake_supported);
        CHECK(c.error_text().empty());
    }
    SECTION("an unsupported name keeps the default and reports it") {
        const auto c = choose("avx512", fake_table);
        CHECK(c.chosen == &fake_supported);
        CHECK(c.error_text() == "CAPI_SHA256_IMPL=avx512: not supported by this CPU (using shani)");
    }
    SECTION("an unknown name keeps the default and lists the known ones") {
        const auto c = choose("foo", fake_table);
        CHECK(c.chosen == &fake_supported);
        CHECK(c.error_text() == "CAPI_SHA256_IMPL=foo: unknown implementation (avx512, shani, scalar)");
        // Names are matched exactly.
        CHECK_FALSE(choose("SHANI", fake_table).error_text().empty());
        CHECK_FALSE(choose("shani ", fake_table).error_text().empty());
    }
    SECTION("a very long name is cut short, not overrun") {
        const std::string huge(10'000, 'z');
        const auto c = choose(huge.c_str(), fake_table);
        CHECK(c.chosen == &fake_supported);
        const auto e = c.error_text();
        CHECK(e.size() < c.error.size());
        CHECK(contains(e, "CAPI_SHA256_IMPL=zzz"));
        CHECK(contains(e, "...: unknown implementation"));
    }
    SECTION("nothing supported at all: scalar") {
        const std::array<const sha::detail::impl*, 1> none = {&fake_unsupported};
        CHECK(choose(nullptr, none).chosen == &sha::detail::scalar_impl);
    }
    SECTION("the real table on this CPU") {
        const auto& best = *choose(nullptr).chosen;
        CHECK(best.supported());
        for (const auto* i : sha::detail::implementations()) {
            INFO(i->name);
            const auto c = choose(i->name);
            if (i->supported()) {
                CHECK(c.chosen == i);
                CHECK(c.error_text().empty());
            } else {
                CHECK(c.chosen == &best);
                CHECK(contains(c.error_text(), std::string("CAPI_SHA256_IMPL=") + i->name));
                CHECK(contains(c.error_text(), "not supported"));
            }
        }
        const auto c = choose("no-such-impl");
        CHECK(c.chosen == &best);
        CHECK(contains(c.error_text(), "CAPI_SHA256_IMPL=no-such-impl: unknown implementation"));
    }
}

TEST_CASE("sha256: implementation choice", "[sha256]") {
    CHECK_FALSE(sha::implementation_name().empty());
    CHECK(sha::implementation_name() == sha::detail::selected().name);
    CHECK(sha::detail::selected().supported());

    const auto all = sha::detail::implementations();
    REQUIRE_FALSE(all.empty());
    CHECK(std::string_view(all.back()->name) == "scalar");
    for (const char* name : {"scalar", "shani", "avx2", "avx512"}) {
        INFO(name);
        std::size_t found = 0;
        for (const auto* i : all) found += std::string_view(i->name) == name;
        CHECK(found == 1);
    }
}

TEST_CASE("sha256: CAPI_SHA256_IMPL forces the path (meson runs this once per path)", "[sha256]") {
    const char* forced = std::getenv("CAPI_SHA256_IMPL");
    if (forced == nullptr || *forced == '\0') {
        CHECK(sha::selection_error().empty());
        CHECK(sha::implementation_name() == sha::detail::choose(nullptr).chosen->name);
        return;
    }
    const sha::detail::impl* named = nullptr;
    for (const auto* i : sha::detail::implementations()) {
        if (std::string_view(i->name) == forced) named = i;
    }
    if (named == nullptr) {  // a hand-run with a typo: reported, default path
        CHECK(contains(sha::selection_error(), "unknown implementation"));
        CHECK(sha::implementation_name() == sha::detail::choose(nullptr).chosen->name);
    } else if (named->supported()) {
        CHECK(sha::implementation_name() == forced);
        CHECK(sha::selection_error().empty());
    } else {
        const auto& f = sha::detail::cpu();
        WARN("CAPI_SHA256_IMPL=" << forced << " is not supported on this CPU (sha " << f.sha << ", avx2 "
                                  << f.avx2 << ", avx512f " << f.avx512f << "); the default path ran instead");
        CHECK(contains(sha::selection_error(), "CAPI_SHA256_IMPL"));
        CHECK(sha::implementation_name() == sha::detail::choose(nullptr).chosen->name);
    }
}
