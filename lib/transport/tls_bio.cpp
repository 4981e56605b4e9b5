// capi: the BIO of tls_buffers: OpenSSL writes its records through it to the
// socket (or into `out` when the socket is full) and reads what the connection
// read from the socket. No Asio: the socket is reached through tls_buffers.

#include "transport/tls_bio.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cstddef>
#include <cstring>

namespace capi::detail::transport {
namespace {

int bio_write(BIO* b, const char* data, int len) {
    BIO_clear_retry_flags(b);
    auto* io = static_cast<tls_buffers*>(BIO_get_data(b));
    if (io == nullptr || len < 0) return -1;
    const int whole = len;
    // Sent directly only while nothing waits in `out`, so records keep their
    // order. MSG_DONTWAIT leaves the socket's mode to Asio.
    const int fd = io->out.empty() ? io->descriptor(io->socket) : -1;
    if (fd != -1) {
        const int flags = MSG_NOSIGNAL | MSG_DONTWAIT | (io->more ? MSG_MORE : 0);
        const auto n = ::send(fd, data, static_cast<std::size_t>(len), flags);
        if (n == len) return whole;
        // A partial send or a full socket (EAGAIN) keeps the rest for the
        // async_write. So does a real failure (EPIPE, ECONNRESET): that write
        // then fails the way it always did, and the caller reports it.
        if (n > 0) {
            data += n;
            len -= static_cast<int>(n);
        }
    }
    try {
        io->out.insert(io->out.end(), data, data + len);
    } catch (...) {
        return -1;  // out of memory: OpenSSL reports a write failure
    }
    return whole;
}

int bio_read(BIO* b, char* data, int len) {
    BIO_clear_retry_flags(b);
    auto* io = static_cast<tls_buffers*>(BIO_get_data(b));
    if (io == nullptr || len < 0) return -1;
    const std::size_t avail = io->in.size() - io->in_pos;
    if (avail == 0) {
        // Not an end of stream: the caller reads the socket and calls OpenSSL again.
        BIO_set_retry_read(b);
        return -1;
    }
    const std::size_t n = std::min(avail, static_cast<std::size_t>(len));
    std::memcpy(data, io->in.data() + io->in_pos, n);
    io->in_pos += n;
    if (io->in_pos == io->in.size()) {
        io->in.clear();
        io->in_pos = 0;
    }
    return static_cast<int>(n);
}

long bio_ctrl(BIO* b, int cmd, long, void*) {
    switch (cmd) {
    case BIO_CTRL_FLUSH:
        return 1;  // the connection sends `out` itself
    case BIO_CTRL_PENDING: {
        auto* io = static_cast<tls_buffers*>(BIO_get_data(b));
        return io == nullptr ? 0 : static_cast<long>(io->in.size() - io->in_pos);
    }
    default:
        return 0;
    }
}

int bio_create(BIO* b) {
    BIO_set_init(b, 1);
    return 1;
}

int bio_destroy(BIO*) { return 1; }

} // namespace

BIO_METHOD* buffers_method() noexcept {
    static BIO_METHOD* const method = []() -> BIO_METHOD* {
        const int index = BIO_get_new_index();
        if (index == -1) return nullptr;
        BIO_METHOD* m = BIO_meth_new(index | BIO_TYPE_SOURCE_SINK, "capi tls buffers");
        if (m == nullptr) return nullptr;
        if (BIO_meth_set_write(m, bio_write) != 1 || BIO_meth_set_read(m, bio_read) != 1 ||
            BIO_meth_set_ctrl(m, bio_ctrl) != 1 || BIO_meth_set_create(m, bio_create) != 1 ||
            BIO_meth_set_destroy(m, bio_destroy) != 1) {
            BIO_meth_free(m);
            return nullptr;
        }
        return m;
    }();
    return method;
}

} // namespace capi::detail::transport
