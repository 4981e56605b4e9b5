// capi: SHA-256 front end: the start-up choice of implementation, and hex.
#include "sha256/impl.hpp"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>

namespace capi::sha256 {

namespace detail {

namespace {

// Preferred first; scalar last, as the fallback that always runs.
constexpr std::array<const impl*, 4> table = {&avx512_impl, &shani_impl, &avx2_impl, &scalar_impl};

} // namespace

std::span<const impl* const> implementations() noexcept { return table; }

const impl& choose(const char* forced) noexcept {
    if (forced != nullptr && *forced != '\0') {
        for (const impl* i : table) {
            if (std::strcmp(i->name, forced) == 0 && i->supported()) return *i;
        }
        // A forced path that is not built or not supported here: the portable
        // reference rather than a guess, since forcing is for tests and triage.
        // Silent by design (the library never prints); implementation_name()
        // tells what actually runs.
        return scalar_impl;
    }
    for (const impl* i : table) {
        if (i->supported()) return *i;
    }
    return scalar_impl;
}

const impl& selected() noexcept {
    // Chosen once, on first use (thread-safe static init), so a hash run from
    // another translation unit's static initializer still finds a choice.
    static const impl& chosen = choose(std::getenv("CAPI_SHA256_IMPL"));
    return chosen;
}

} // namespace detail

digest hash(std::string_view data) noexcept {
    digest out;
    detail::selected().hash_many(&data, &out, 1);
    return out;
}

void hash_many(std::span<const std::string_view> inputs, std::span<digest> outputs) noexcept {
    // Unequal sizes are a caller bug; hash what fits rather than overrun.
    const std::size_t n = std::min(inputs.size(), outputs.size());
    if (n != 0) detail::selected().hash_many(inputs.data(), outputs.data(), n);
}

namespace {

constexpr std::array<char, 512> hex_pairs = [] {
    constexpr char digits[] = "0123456789abcdef";
    std::array<char, 512> t{};
    for (int i = 0; i < 256; ++i) {
        t[2 * i] = digits[i >> 4];
        t[2 * i + 1] = digits[i & 15];
    }
    return t;
}();

} // namespace

void to_hex(const digest& d, char* out64) noexcept {
    for (std::size_t i = 0; i < d.size(); ++i) std::memcpy(out64 + 2 * i, &hex_pairs[2 * d[i]], 2);
}

std::string_view implementation_name() noexcept { return detail::selected().name; }

} // namespace capi::sha256
