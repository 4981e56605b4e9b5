// Internal: one connection of the https transport (https_transport.cpp, its
// only includer): TLS done here on a plain socket, with its deadline, its
// buffered socket I/O and the writing of a request's records.
//
// Asio's ssl::stream moves ciphertext through a 17 KB BIO pair, so a 1.3 MB
// batch body took ~80 SSL_write and socket write steps, each with timer
// bookkeeping and copies. Here OpenSSL writes its records through a custom BIO
// that never blocks, a large slice of the body per SSL_write_ex: each record
// goes from OpenSSL's buffer straight to the socket with a non-blocking send
// when the socket has room (no copy of the ciphertext in user space), and what
// the socket does not take waits in a buffer the connection owns, sent by one
// async_write after the SSL_* call (the BIO and its buffers: tls_bio.hpp). Every
// record of a request but its last goes with MSG_MORE, so the kernel transmits
// whole segments (64 KB on loopback) rather than one per 16 KB record. The
// SSL object comes from the same SSL_CTX, with the same SNI, host name and IP
// checks.
#pragma once

#include "transport/tls_bio.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include <openssl/ssl.h>

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

namespace capi::detail::transport {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = boost::asio::ip::tcp;

inline constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

/// tls_buffers' view of a connection's socket: its descriptor, -1 once closed.
inline int socket_descriptor(void* s) noexcept {
    auto& socket = *static_cast<tcp::socket*>(s);
    return socket.is_open() ? socket.native_handle() : -1;
}

/// Plaintext handed to SSL_write_ex at once, at most: ~16 records. When the
/// socket is full, what it refuses of a slice is copied into `out` and written
/// before the next slice is encrypted, so this bounds that copy and the memory a
/// pool of connections holds. (1 MB measured no better.)
inline constexpr std::size_t write_slice = 256 * 1024;
/// The first slice: little is queued while a new connection's socket buffers
/// are still small; slices then double up to write_slice.
inline constexpr std::size_t first_write_slice = 16 * 1024;
/// Plaintext of the request's last record, sent apart without MSG_MORE: one
/// record at TLS's default maximum fragment.
inline constexpr std::size_t last_record = 16 * 1024;
/// Ciphertext read from the socket at once (replies are a few hundred bytes).
inline constexpr std::size_t read_chunk = 32 * 1024;

struct connection {
    explicit connection(const net::any_io_executor& ex)
        : socket(ex), io(&socket, socket_descriptor), deadline(ex), idle_timer(ex) {}

    void close() noexcept {
        idle_timer.cancel();
        ++deadline_generation;
        deadline.cancel();
        boost::system::error_code ignored;
        socket.close(ignored);
    }

    /// True when the server has visibly closed this idle connection (FIN or RST
    /// already received). A cheap, non-blocking check before reuse; a close that
    /// races the request is caught by the stale-connection resend instead.
    bool peer_closed() noexcept {
        if (!socket.is_open()) return true;
        char b = 0;
        auto n = ::recv(socket.native_handle(), &b, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n == 0) return true;
        if (n < 0) return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
        // Unread bytes on an idle connection: usually a close_notify alert ahead of
        // the FIN, possibly a late TLS 1.3 session ticket. Keep it; a dead one is
        // resent transparently.
        return false;
    }

    tcp::socket socket;
    std::unique_ptr<SSL, ssl_free_t> ssl;  ///< owns the BIO over `io`
    tls_buffers io;
    beast::flat_buffer plain;  ///< decrypted reply bytes not yet parsed
    /// One deadline per operation (connect, handshake, exchange): it closes the
    /// socket, so the pending operation fails and `timed_out` names why.
    net::steady_timer deadline;
    std::uint64_t deadline_generation = 0;
    bool timed_out = false;
    net::steady_timer idle_timer;
    std::uint64_t idle_generation = 0;
    bool idle = false;
};

using connection_ptr = std::shared_ptr<connection>;

/// @locality strand_. Arms `c`'s deadline for the next operation.
inline void arm(const connection_ptr& c, std::chrono::steady_clock::time_point at) {
    c->timed_out = false;
    const auto generation = ++c->deadline_generation;
    c->deadline.expires_at(at);
    c->deadline.async_wait([weak = std::weak_ptr<connection>(c), generation](const boost::system::error_code& ec) {
        auto conn = weak.lock();
        // A generation mismatch: the operation ended while this expiry was queued.
        if (ec || !conn || conn->deadline_generation != generation) return;
        conn->timed_out = true;
        boost::system::error_code ignored;
        conn->socket.close(ignored);
    });
}

/// @locality strand_. Ends the operation's deadline when it goes out of scope.
struct deadline_guard {
    connection_ptr c;
    ~deadline_guard() {
        ++c->deadline_generation;
        c->deadline.cancel();
    }
};

/// @locality strand_. Sends the ciphertext the socket did not take at once, in
/// one write.
inline net::awaitable<boost::system::error_code> flush(connection& c) {
    if (c.io.out.empty()) co_return boost::system::error_code{};
    auto [ec, n] = co_await net::async_write(c.socket, net::buffer(c.io.out), use_tuple);
    c.io.out.clear();
    co_return ec;
}

/// @locality strand_. Reads more ciphertext for OpenSSL (EOF is an error here).
inline net::awaitable<boost::system::error_code> fill(connection& c) {
    if (c.io.in_pos != 0) {
        c.io.in.erase(c.io.in.begin(), c.io.in.begin() + static_cast<std::ptrdiff_t>(c.io.in_pos));
        c.io.in_pos = 0;
    }
    const std::size_t old = c.io.in.size();
    c.io.in.resize(old + read_chunk);
    auto [ec, n] = co_await c.socket.async_read_some(net::buffer(c.io.in.data() + old, read_chunk), use_tuple);
    c.io.in.resize(old + n);
    co_return ec;
}

/// @locality strand_. Writes all of `data` as TLS records: to the socket, what
/// it does not take into `c.io.out`.
inline bool encrypt(connection& c, std::string_view data) {
    if (data.empty()) return true;
    std::size_t written = 0;
    SSL* ssl = c.ssl.get();
    auto st = ssl_call(ssl, [&] { return SSL_write_ex(ssl, data.data(), data.size(), &written); });
    // The BIO never asks to retry a write, so anything short is a failure.
    return st.error == SSL_ERROR_NONE && written == data.size();
}

/// @locality strand_. Writes a request as TLS records: `head` rides with the
/// first slice of `body`, and the slices double from first_write_slice to
/// write_slice, one socket write each. Every record but the request's last goes
/// with MSG_MORE (tls_buffers::more): the last record of plaintext is encrypted
/// apart, and its send pushes them all. False when a write failed (the socket
/// closed, by the peer or by the deadline).
inline net::awaitable<bool> write_request(connection& c, std::string_view head, std::string_view body) {
    // No buffer reserved up front: records go straight to the socket
    // (bio_write), and `out` grows only when the socket refuses some.
    std::size_t pos = 0;
    std::size_t slice = first_write_slice;
    for (bool first = true; first || pos < body.size(); first = false) {
        const std::size_t n = std::min(slice, body.size() - pos);
        const bool last = pos + n == body.size();
        const std::size_t tail = last ? std::min(n, last_record) : 0;
        // Only an empty body leaves the head as the request's last piece.
        c.io.more = !(last && n == 0);
        bool ok = encrypt(c, first ? head : std::string_view()) && encrypt(c, body.substr(pos, n - tail));
        c.io.more = !last;
        ok = ok && encrypt(c, body.substr(pos + n - tail, tail));
        c.io.more = false;
        boost::system::error_code ec;
        if (ok) ec = co_await flush(c);
        if (!ok || ec) {
            c.io.out.clear();
            co_return false;
        }
        pos += n;
        slice = std::min(slice * 2, write_slice);
    }
    co_return true;
}

} // namespace capi::detail::transport
