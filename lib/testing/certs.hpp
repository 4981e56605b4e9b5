// Private to capi-testing: the certificates MockGraphServer presents, minted in
// memory with OpenSSL at start-up (EC P-256 keys: the fastest to generate).
#pragma once

#include <capi/testing/mock_graph.hpp>

#include <string>

namespace capi::testing::detail {

struct ServerIdentity {
    std::string ca_pem;    ///< the CA exposed through MockGraphServer::ca_pem()
    std::string cert_pem;  ///< the server certificate the server presents
    std::string key_pem;   ///< its private key (PKCS#8 PEM)
};

/// Mints a fresh CA (CA:TRUE, valid from an hour ago for ten days) and a server
/// certificate of `kind`:
///   valid       signed by the CA, SAN IP:127.0.0.1 + DNS:localhost, now-1h .. now+1d
///   expired     signed by the CA, right SAN, now-2d .. now-1d
///   wrong_host  signed by the CA, SAN DNS:wrong.example.com only, now-1h .. now+1d
///   untrusted   right SAN and dates, signed by a second CA that is never exposed
/// Throws std::system_error when OpenSSL fails.
ServerIdentity mint_identity(CertKind kind);

} // namespace capi::testing::detail
