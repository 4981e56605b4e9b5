// SHA-256 benchmark: hashes/s on one core for PII-like inputs, every capi path
// the CPU supports (called through the dispatch table, so all are measured in
// one run), the public hash_many (the path chosen at start-up), and OpenSSL's
// three usual ways, in the same run. A second table does the same for longer
// messages (several blocks each) to show the multi-block code paths.
//
//   bench_sha256 [--seconds S] [--rounds R] [--count N]
//   (S may be fractional; default 5 rounds of 0.3 s per contender)
//
// The machine is shared and noisy: contenders alternate within each round and
// the best round of each is reported, so a slow spell hits everybody.
#include "sha256/impl.hpp"

#include "args.hpp"

#include <capi/sha256.hpp>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace sha = capi::sha256;
using clock_type = std::chrono::steady_clock;
using batch_fn = std::function<void(const std::vector<std::string_view>&, std::vector<sha::digest>&)>;

const char* const given[] = {"mary", "jose", "ana", "john", "emile", "zoe", "wei", "olga",
                             "christopher", "alexandra", "muhammad", "guadalupe", "li", "sven"};
const char* const family[] = {"smith", "garcia", "muller", "jones", "nguyen", "kowalski",
                              "oconnor", "vanderberg", "papadopoulos", "kim", "fernandez"};
const char* const domains[] = {"gmail.com", "yahoo.com", "example.com", "outlook.com",
                               "icloud.com", "mail.example.co.uk", "web.de"};

// Normalized PII as the batchers hash it, clamped to 8..55 bytes (one SHA-256
// block each, the case that dominates): emails, E.164 phone digits, full
// names, zip+4 codes and external ids. Seeded, so every run hashes the same set.
std::vector<std::string> make_pii(std::size_t n) {
    std::mt19937_64 rng(20261203);
    auto pick = [&](const auto& arr) { return std::string(arr[rng() % std::size(arr)]); };
    auto digits = [&](std::size_t k) {
        std::string s;
        for (std::size_t i = 0; i < k; ++i) s += static_cast<char>('0' + rng() % 10);
        return s;
    };
    std::vector<std::string> out;
    out.reserve(n);
    while (out.size() < n) {
        std::string s;
        switch (rng() % 10) {
        case 0: case 1: case 2: case 3:  // email, 40 %
            s = pick(given) + (rng() % 2 ? "." : "") + pick(family) + digits(rng() % 4) + "@" + pick(domains);
            break;
        case 4: case 5:  // phone digits with country code, 20 %
            s = (rng() % 3 ? "1" : "49") + digits(10 + rng() % 2);
            break;
        case 6: case 7:  // first + last name, 20 %
            s = pick(given) + pick(family);
            break;
        case 8:  // zip+4, 10 %
            s = digits(9);
            break;
        default:  // external id, 10 %
            s = "cust-" + digits(6 + rng() % 10);
            break;
        }
        while (s.size() < 8) s += pick(family);
        if (s.size() > 55) s.resize(55);
        out.push_back(std::move(s));
    }
    return out;
}

// Longer messages (user agents, URLs, JSON-ish payloads): 200..1000 bytes, 4..16 blocks.
std::vector<std::string> make_long(std::size_t n) {
    std::mt19937_64 rng(20261204);
    std::vector<std::string> out;
    out.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        std::string s(200 + rng() % 801, '\0');
        for (char& c : s) c = static_cast<char>(' ' + rng() % 95);
        out.push_back(std::move(s));
    }
    return out;
}

std::vector<std::string_view> views(const std::vector<std::string>& v) {
    return {v.begin(), v.end()};
}

std::uint64_t sink = 0;

// Every digest is folded into the sink (the cost is the same for every
// contender and a small fraction of a hash).
void consume(const std::vector<sha::digest>& out) {
    std::uint64_t acc = 0;
    for (const auto& d : out) {
        std::uint64_t w[4];
        std::memcpy(w, d.data(), sizeof w);
        acc ^= w[0] ^ w[1] ^ w[2] ^ w[3];
    }
    sink ^= acc;
}

struct contender {
    std::string name;
    bool capi;  // false: an OpenSSL way
    batch_fn run;
    double best = 0;  // hashes per second
};

double measure(contender& c, const std::vector<std::string_view>& in, std::vector<sha::digest>& out,
               double seconds) {
    std::size_t hashes = 0;
    const auto start = clock_type::now();
    const auto deadline = start + std::chrono::duration<double>(seconds);
    auto now = start;
    do {
        c.run(in, out);
        consume(out);
        hashes += in.size();
        now = clock_type::now();
    } while (now < deadline);
    return static_cast<double>(hashes) / std::chrono::duration<double>(now - start).count();
}

struct openssl_state {
    EVP_MD* md = nullptr;
    EVP_MD_CTX* ctx = nullptr;
};

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "bench_sha256: %s\n", what);
    std::exit(1);
}

std::vector<contender> make_contenders(const openssl_state& ossl) {
    std::vector<contender> cs;
    for (const sha::detail::impl* im : sha::detail::implementations()) {
        if (!im->supported()) continue;
        auto fn = im->hash_many;
        cs.push_back({std::string("capi ") + im->name, true,
                      [fn](const std::vector<std::string_view>& in, std::vector<sha::digest>& out) {
                          fn(in.data(), out.data(), in.size());
                      }});
    }
    cs.push_back({"capi hash_many (" + std::string(sha::implementation_name()) + ")", true,
                  [](const std::vector<std::string_view>& in, std::vector<sha::digest>& out) {
                      sha::hash_many(in, out);
                  }});
    cs.push_back({"OpenSSL SHA256()", false,
                  [](const std::vector<std::string_view>& in, std::vector<sha::digest>& out) {
                      for (std::size_t i = 0; i < in.size(); ++i)
                          SHA256(reinterpret_cast<const unsigned char*>(in[i].data()), in[i].size(),
                                 out[i].data());
                  }});
    cs.push_back({"OpenSSL EVP_Digest", false,
                  [md = ossl.md](const std::vector<std::string_view>& in, std::vector<sha::digest>& out) {
                      for (std::size_t i = 0; i < in.size(); ++i)
                          if (EVP_Digest(in[i].data(), in[i].size(), out[i].data(), nullptr, md, nullptr) != 1)
                              fail("EVP_Digest failed");
                  }});
    cs.push_back({"OpenSSL EVP_DigestInit/Update/Final", false,
                  [ossl](const std::vector<std::string_view>& in, std::vector<sha::digest>& out) {
                      for (std::size_t i = 0; i < in.size(); ++i) {
                          if (EVP_DigestInit_ex(ossl.ctx, ossl.md, nullptr) != 1 ||
                              EVP_DigestUpdate(ossl.ctx, in[i].data(), in[i].size()) != 1 ||
                              EVP_DigestFinal_ex(ossl.ctx, out[i].data(), nullptr) != 1)
                              fail("EVP_DigestInit_ex/Update/Final_ex failed");
                      }
                  }});
    return cs;
}

// Every contender, OpenSSL's included, must give the reference digests.
void verify(const std::vector<contender>& cs, const std::vector<std::string_view>& in, const EVP_MD* md,
            const char* set) {
    std::vector<sha::digest> ref(in.size()), got(in.size());
    for (std::size_t i = 0; i < in.size(); ++i)
        if (EVP_Digest(in[i].data(), in[i].size(), ref[i].data(), nullptr, md, nullptr) != 1)
            fail("EVP_Digest failed");
    for (const auto& c : cs) {
        std::fill(got.begin(), got.end(), sha::digest{});
        c.run(in, got);
        for (std::size_t i = 0; i < in.size(); ++i) {
            if (got[i] != ref[i]) {
                std::fprintf(stderr,
                             "bench_sha256: %s gives a wrong digest for %s input %zu (%zu bytes); "
                             "not timing a wrong answer\n",
                             c.name.c_str(), set, i, in[i].size());
                std::exit(1);
            }
        }
    }
}

void run_rounds(std::vector<contender>& cs, const std::vector<std::string_view>& in, int rounds,
                double seconds) {
    std::vector<sha::digest> out(in.size());
    for (int r = 0; r < rounds; ++r)
        for (auto& c : cs) c.best = std::max(c.best, measure(c, in, out, seconds));
}

void print_table(const std::vector<contender>& cs, double mean_bytes) {
    std::printf("  %-38s %12s %10s %10s\n", "", "M hashes/s", "ns/hash", "MB/s");
    for (const auto& c : cs)
        std::printf("  %-38s %12.2f %10.1f %10.0f\n", c.name.c_str(), c.best / 1e6, 1e9 / c.best,
                    c.best * mean_bytes / 1e6);
}

double mean_size(const std::vector<std::string_view>& in) {
    double total = 0;
    for (auto s : in) total += static_cast<double>(s.size());
    return total / static_cast<double>(in.size());
}

} // namespace

int main(int argc, char** argv) {
    capi_bench::Args args(argc, argv, "[--seconds S] [--rounds R] [--count N]");  // tools/bench/args.hpp
    const double seconds = args.number("--seconds", 0.3, 0.01, 3600);
    const int rounds = static_cast<int>(args.integer("--rounds", 5, 1, 10'000));
    const auto count = static_cast<std::size_t>(args.integer("--count", 4096, 16, 10'000'000));
    args.finish();

    openssl_state ossl;
    ossl.md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    ossl.ctx = EVP_MD_CTX_new();
    if (ossl.md == nullptr || ossl.ctx == nullptr) fail("cannot fetch OpenSSL's SHA256");

    const auto pii_store = make_pii(count);
    const auto long_store = make_long(std::max<std::size_t>(16, count / 8));
    const auto pii = views(pii_store);
    const auto longs = views(long_store);

    auto short_cs = make_contenders(ossl);
    auto long_cs = make_contenders(ossl);
    verify(short_cs, pii, ossl.md, "PII");
    verify(long_cs, longs, ossl.md, "long");

    std::printf("capi SHA-256 benchmark, one thread; best of %d rounds of %.2f s per contender, alternated\n",
                rounds, seconds);
    std::printf("selected implementation: %s; built:", std::string(sha::implementation_name()).c_str());
    for (const sha::detail::impl* im : sha::detail::implementations())
        std::printf(" %s%s", im->name, im->supported() ? "" : " (unsupported here)");
    std::printf("\nevery contender's digests checked equal to OpenSSL's on both sets before timing\n\n");

    run_rounds(short_cs, pii, rounds, seconds);
    std::printf("PII-like inputs: %zu values of 8..55 bytes (mean %.1f), one hash_many per pass\n", pii.size(),
                mean_size(pii));
    print_table(short_cs, mean_size(pii));

    run_rounds(long_cs, longs, rounds, seconds);
    std::printf("\nlong inputs: %zu messages of 200..1000 bytes (mean %.1f)\n", longs.size(), mean_size(longs));
    print_table(long_cs, mean_size(longs));

    // The ratio is over the short PII set, the workload the batchers have.
    const contender* best_capi = nullptr;
    const contender* best_ossl = nullptr;
    for (const auto& c : short_cs) {
        const contender*& best = c.capi ? best_capi : best_ossl;
        if (best == nullptr || c.best > best->best) best = &c;
    }
    std::printf("\nbest capi path (%s) / best OpenSSL way (%s): %.2fx\n", best_capi->name.c_str(),
                best_ossl->name.c_str(), best_capi->best / best_ossl->best);
    std::printf("(sink %016llx)\n", static_cast<unsigned long long>(sink));

    EVP_MD_CTX_free(ossl.ctx);
    EVP_MD_free(ossl.md);
    return 0;
}
