// SHA-256: NIST vectors, every short length and a random batch against OpenSSL,
// for the selected implementation and every other supported one.
#include <capi/sha256.hpp>

#include "sha256/impl.hpp"

#include <catch2/catch.hpp>
#include <openssl/evp.h>

#include <cstdio>
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

TEST_CASE("sha256: implementation choice", "[sha256]") {
    CHECK_FALSE(sha::implementation_name().empty());
    CHECK(sha::implementation_name() == sha::detail::selected().name);

    // The rule, checked without re-running the process under each variable.
    CHECK(std::string_view(sha::detail::choose(nullptr).name) == sha::detail::choose("").name);
    CHECK(std::string_view(sha::detail::choose("scalar").name) == "scalar");
    CHECK(std::string_view(sha::detail::choose("no-such-impl").name) == "scalar");
    for (const char* name : {"shani", "avx2", "avx512"}) {
        INFO(name);
        const auto& chosen = sha::detail::choose(name);
        bool available = false;
        for (const auto* i : sha::detail::implementations())
            available |= std::string_view(i->name) == name && i->supported();
        // A forced path is honoured only when it can run; otherwise scalar, and
        // the reported name is what actually runs.
        CHECK(std::string_view(chosen.name) == (available ? name : "scalar"));
    }

    const auto all = sha::detail::implementations();
    REQUIRE_FALSE(all.empty());
    CHECK(std::string_view(all.back()->name) == "scalar");
}
