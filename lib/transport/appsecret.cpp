// capi: appsecret_proof, the HMAC Meta asks for when "Require App Secret" is on.
#include <capi/transport.hpp>

#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace capi {

std::string appsecret_proof(std::string_view access_token, std::string_view app_secret) {
    // HMAC() treats a null key as "reuse the previous key", so an empty secret
    // or token still gets a real (zero-length) buffer.
    static const unsigned char empty[1] = {0};
    const auto* key = app_secret.empty()
                          ? empty
                          : reinterpret_cast<const unsigned char*>(app_secret.data());
    const auto* data = access_token.empty()
                           ? empty
                           : reinterpret_cast<const unsigned char*>(access_token.data());
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    if (HMAC(EVP_sha256(), key, static_cast<int>(app_secret.size()), data, access_token.size(), mac,
             &mac_len) == nullptr) {
        return {};  // only on allocation failure inside OpenSSL
    }
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    out.resize(std::size_t{mac_len} * 2);
    for (unsigned int i = 0; i < mac_len; ++i) {
        out[2 * std::size_t{i}] = hex[mac[i] >> 4];
        out[2 * std::size_t{i} + 1] = hex[mac[i] & 0x0f];
    }
    return out;
}

} // namespace capi
