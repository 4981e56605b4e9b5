// libFuzzer target: every SHA-256 path this CPU supports, called through the
// dispatch table, plus the public hash() and hash_many(), against OpenSSL's
// EVP_Digest on a batch of messages cut from the input. Traps on the first
// disagreement; ASan catches a path reading past a message's end, since every
// message is a view into libFuzzer's exactly-sized input buffer.
//
// Input: byte 0 picks the message count (0..32); the next `count` bytes each
// give one message's length (below 128: that many bytes; from 128: a length
// of 64..1088 just around a block boundary, 64k + 55/56/63/64/0/1/31/32); the
// rest is the payload, cut into consecutive messages, the last ones short or
// empty once it runs out.
#include "sha256/impl.hpp"

#include <capi/sha256.hpp>

#include <openssl/evp.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace {

namespace sha = capi::sha256;
constexpr std::size_t max_messages = 32;

std::size_t decode_length(std::uint8_t c) {
    if (c < 128) return c;
    constexpr std::array<std::size_t, 8> near_boundary = {55, 56, 63, 64, 0, 1, 31, 32};
    return 64 + 64 * ((c >> 3) & 15u) + near_boundary[c & 7u];
}

void check(bool ok) {
    if (!ok) __builtin_trap();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    check(md != nullptr);
    if (size == 0) return 0;

    const std::size_t count = data[0] % (max_messages + 1);
    std::size_t header = 1 + count;
    if (header > size) header = size;
    const char* payload = reinterpret_cast<const char*>(data) + header;
    std::size_t left = size - header;

    std::array<std::string_view, max_messages> in;
    std::array<sha::digest, max_messages> ref;
    for (std::size_t i = 0; i < count; ++i) {
        const std::size_t want = 1 + i < header ? decode_length(data[1 + i]) : 0;
        const std::size_t len = want < left ? want : left;
        in[i] = std::string_view(payload, len);
        payload += len;
        left -= len;
        check(EVP_Digest(in[i].data(), in[i].size(), ref[i].data(), nullptr, md, nullptr) == 1);
    }

    std::array<sha::digest, max_messages + 1> out;
    const sha::digest canary = {0xa5, 0x5a};
    for (const sha::detail::impl* im : sha::detail::implementations()) {
        if (!im->supported()) continue;  // would be SIGILL, not a finding
        // The whole batch at once (lanes of different lengths), then one at a
        // time (the single-message path); neither may write past outputs[n-1].
        out.fill(canary);
        im->hash_many(in.data(), out.data(), count);
        for (std::size_t i = 0; i < count; ++i) check(out[i] == ref[i]);
        check(out[count] == canary);
        for (std::size_t i = 0; i < count; ++i) {
            out[i] = canary;
            im->hash_many(&in[i], &out[i], 1);
            check(out[i] == ref[i]);
        }
    }

    out.fill(canary);
    sha::hash_many(std::span<const std::string_view>(in.data(), count), std::span<sha::digest>(out.data(), count));
    for (std::size_t i = 0; i < count; ++i) check(out[i] == ref[i] && sha::hash(in[i]) == ref[i]);
    check(out[count] == canary);
    return 0;
}
