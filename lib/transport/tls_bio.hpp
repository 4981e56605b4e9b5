// Internal: the https transport's TLS glue on the OpenSSL side: the BIO through
// which OpenSSL's records go straight to the socket (see "The connection" in
// https_transport.cpp), and the SSL_* call helpers. No Asio.
#pragma once

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cstddef>
#include <vector>

namespace capi::detail::transport {

/// Ciphertext between OpenSSL and the socket. @locality strand_ (OpenSSL calls
/// the BIO only from SSL_* calls made on the strand, where the socket is also
/// closed, so it cannot close under a send).
struct tls_buffers {
    /// The descriptor of `socket` while it is open, -1 once it is closed. The
    /// socket is the connection's Asio socket, reached through this so that the
    /// BIO needs no Asio.
    using descriptor_fn = int (*)(void* socket) noexcept;

    tls_buffers(void* s, descriptor_fn d) noexcept : socket(s), descriptor(d) {}
    void* socket;            ///< where bio_write sends directly while `out` is empty
    descriptor_fn descriptor;
    std::vector<char> out;   ///< records OpenSSL wrote that the socket did not take yet
    std::vector<char> in;    ///< bytes read from the socket, OpenSSL's from in_pos
    std::size_t in_pos = 0;
    /// Set while more of the same request follows what OpenSSL writes now:
    /// bio_write then sends with MSG_MORE, and the kernel transmits a full
    /// segment (64 KB on loopback) instead of one per 16 KB record. The
    /// connection clears it for the request's last record, whose send pushes
    /// out what waits; every other write (handshake, alerts) goes at once.
    bool more = false;
};

/// The BIO type of tls_buffers, made once per process (never freed: connections
/// may outlive any pool). Null if OpenSSL could not make it.
BIO_METHOD* buffers_method() noexcept;

struct ssl_free_t {
    void operator()(SSL* s) const noexcept { SSL_free(s); }
};

/// One SSL_* call's outcome, with OpenSSL's per-thread error queue left empty
/// (the io threads serve every connection).
struct ssl_status {
    int error = SSL_ERROR_NONE;  ///< SSL_get_error, or SSL_ERROR_NONE on success
    unsigned long reason = 0;    ///< ERR_GET_REASON of the first queued error
};

template <class Call>
ssl_status ssl_call(SSL* ssl, Call&& call) {
    ERR_clear_error();
    ssl_status st;
    const int r = call();
    if (r != 1) {
        st.error = SSL_get_error(ssl, r);
        if (auto e = ERR_peek_error(); e != 0) st.reason = ERR_GET_REASON(e);
    }
    ERR_clear_error();
    return st;
}

} // namespace capi::detail::transport
