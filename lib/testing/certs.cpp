// Certificates for MockGraphServer, minted in memory with OpenSSL 3.
#include "testing/certs.hpp"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <system_error>

namespace capi::testing::detail {

namespace {

struct pkey_free { void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); } };
struct x509_free { void operator()(X509* p) const noexcept { X509_free(p); } };
struct bio_free { void operator()(BIO* p) const noexcept { BIO_free(p); } };
struct ext_free { void operator()(X509_EXTENSION* p) const noexcept { X509_EXTENSION_free(p); } };
struct bn_free { void operator()(BIGNUM* p) const noexcept { BN_free(p); } };
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;
using x509_ptr = std::unique_ptr<X509, x509_free>;

constexpr long hour = 3600;
constexpr long day = 24 * hour;

[[noreturn]] void fail(const char* what) {
    std::string msg = std::string("minting certificates: ") + what;
    if (unsigned long e = ERR_get_error(); e != 0) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        msg += ": ";
        msg += buf;
    }
    ERR_clear_error();
    throw std::system_error(std::make_error_code(std::errc::protocol_error), msg);
}

void check(int ok, const char* what) {
    if (ok <= 0) fail(what);
}

pkey_ptr make_key() {
    pkey_ptr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    if (!key) fail("EC P-256 key generation");
    return key;
}

void add_ext(X509* cert, X509V3_CTX* ctx, int nid, const char* value) {
    std::unique_ptr<X509_EXTENSION, ext_free> ext(X509V3_EXT_conf_nid(nullptr, ctx, nid, value));
    if (!ext) fail("building an X509v3 extension");
    check(X509_add_ext(cert, ext.get(), -1), "adding an X509v3 extension");
}

struct CertSpec {
    const char* common_name;
    bool ca = false;
    const char* san = nullptr;  // subjectAltName for server certificates
    long not_before = -hour;    // seconds from now
    long not_after = day;
};

// Builds a certificate for `key`, signed by `issuer_key` as `issuer` (both null:
// self-signed).
x509_ptr make_cert(const CertSpec& spec, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key) {
    x509_ptr cert(X509_new());
    if (!cert) fail("X509_new");
    check(X509_set_version(cert.get(), X509_VERSION_3), "X509_set_version");

    // A random positive 63-bit serial: browsers and OpenSSL dislike repeated serials
    // from one issuer, and every server start mints new ones.
    std::unique_ptr<BIGNUM, bn_free> serial(BN_new());
    if (!serial) fail("BN_new");
    check(BN_rand(serial.get(), 63, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY), "BN_rand");
    if (!BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get()))) fail("serial number");

    if (!X509_gmtime_adj(X509_getm_notBefore(cert.get()), spec.not_before)) fail("notBefore");
    if (!X509_gmtime_adj(X509_getm_notAfter(cert.get()), spec.not_after)) fail("notAfter");

    X509_NAME* name = X509_get_subject_name(cert.get());
    check(X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                                     reinterpret_cast<const unsigned char*>("capi mock Graph API"), -1,
                                     -1, 0),
          "subject O");
    check(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                     reinterpret_cast<const unsigned char*>(spec.common_name), -1, -1,
                                     0),
          "subject CN");
    check(X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : name),
          "issuer name");
    check(X509_set_pubkey(cert.get(), key), "X509_set_pubkey");

    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer ? issuer : cert.get(), cert.get(), nullptr, nullptr, 0);
    if (spec.ca) {
        add_ext(cert.get(), &ctx, NID_basic_constraints, "critical,CA:TRUE");
        add_ext(cert.get(), &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
        add_ext(cert.get(), &ctx, NID_subject_key_identifier, "hash");
    } else {
        add_ext(cert.get(), &ctx, NID_basic_constraints, "critical,CA:FALSE");
        add_ext(cert.get(), &ctx, NID_key_usage, "critical,digitalSignature");
        add_ext(cert.get(), &ctx, NID_ext_key_usage, "serverAuth");
        add_ext(cert.get(), &ctx, NID_subject_key_identifier, "hash");
        add_ext(cert.get(), &ctx, NID_authority_key_identifier, "keyid");
        add_ext(cert.get(), &ctx, NID_subject_alt_name, spec.san);
    }
    if (X509_sign(cert.get(), issuer_key ? issuer_key : key, EVP_sha256()) <= 0) fail("X509_sign");
    return cert;
}

std::string bio_text(BIO* bio) {
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    return n > 0 ? std::string(data, static_cast<std::size_t>(n)) : std::string();
}

std::string cert_pem(X509* cert) {
    std::unique_ptr<BIO, bio_free> bio(BIO_new(BIO_s_mem()));
    if (!bio) fail("BIO_new");
    check(PEM_write_bio_X509(bio.get(), cert), "PEM_write_bio_X509");
    return bio_text(bio.get());
}

std::string key_pem(EVP_PKEY* key) {
    std::unique_ptr<BIO, bio_free> bio(BIO_new(BIO_s_mem()));
    if (!bio) fail("BIO_new");
    check(PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr),
          "PEM_write_bio_PrivateKey");
    return bio_text(bio.get());
}

struct Authority {
    pkey_ptr key;
    x509_ptr cert;
};

Authority make_ca(const char* common_name) {
    Authority ca;
    ca.key = make_key();
    CertSpec spec{common_name, true, nullptr, -hour, 10 * day};
    ca.cert = make_cert(spec, ca.key.get(), nullptr, nullptr);
    return ca;
}

constexpr const char* right_san = "IP:127.0.0.1,DNS:localhost";

} // namespace

ServerIdentity mint_identity(CertKind kind) {
    Authority ca = make_ca("capi mock Graph API CA");
    pkey_ptr key = make_key();

    CertSpec spec{"127.0.0.1", false, right_san, -hour, day};
    const Authority* signer = &ca;
    Authority other;
    switch (kind) {
    case CertKind::valid: break;
    case CertKind::expired:
        spec.not_before = -2 * day;
        spec.not_after = -day;
        break;
    case CertKind::wrong_host:
        spec.common_name = "wrong.example.com";
        spec.san = "DNS:wrong.example.com";
        break;
    case CertKind::untrusted:
        other = make_ca("capi mock untrusted CA");
        signer = &other;
        break;
    }
    x509_ptr cert = make_cert(spec, key.get(), signer->cert.get(), signer->key.get());

    ServerIdentity id;
    id.ca_pem = cert_pem(ca.cert.get());
    id.cert_pem = cert_pem(cert.get());
    id.key_pem = key_pem(key.get());
    return id;
}

} // namespace capi::testing::detail
