// See tls_floor.hpp.
#include "tls_floor.hpp"

#include "caller_path.hpp"  // thread_cpu_seconds
#include "purchase_events.hpp"

#include <capi/encode.hpp>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <cstdlib>
#include <memory>
#include <string_view>

namespace capi_bench {
namespace {

struct ctx_free {
    void operator()(SSL_CTX* c) const noexcept { SSL_CTX_free(c); }
};
struct ssl_free {
    void operator()(SSL* s) const noexcept { SSL_free(s); }
};

class Fd {
public:
    explicit Fd(int fd) : fd_(fd) {}
    ~Fd() {
        if (fd_ >= 0) ::close(fd_);
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int get() const noexcept { return fd_; }

private:
    int fd_;
};

std::string ssl_error(const char* what) {
    std::string s(what);
    if (const auto e = ERR_get_error(); e != 0) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        s += ": ";
        s += buf;
    }
    ERR_clear_error();
    return s;
}

bool trust_pem(SSL_CTX* ctx, const std::string& pem) {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())),
                                                  &BIO_free);
    if (!bio) return false;
    X509_STORE* store = SSL_CTX_get_cert_store(ctx);
    int added = 0;
    while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
        if (X509_STORE_add_cert(store, cert) == 1) ++added;
        X509_free(cert);
    }
    ERR_clear_error();  // the end of the PEM text reads as an error
    return added > 0;
}

bool write_all(SSL* ssl, std::string_view data) {
    while (!data.empty()) {
        std::size_t n = 0;
        if (SSL_write_ex(ssl, data.data(), data.size(), &n) != 1) return false;
        data.remove_prefix(n);
    }
    return true;
}

// Reads one HTTP/1.1 reply whole (Content-Length framing, as the mock answers);
// returns its status, 0 on a read or framing error.
int read_reply(SSL* ssl, std::string& buf) {
    buf.clear();
    char chunk[16 * 1024];
    std::size_t head_end = std::string::npos;
    std::size_t need = 0;
    for (;;) {
        if (head_end == std::string::npos) {
            head_end = buf.find("\r\n\r\n");
            if (head_end != std::string::npos) {
                // Lowercase copy of the head only, to find Content-Length.
                std::string head = buf.substr(0, head_end);
                for (auto& c : head) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
                const auto at = head.find("\r\ncontent-length:");
                if (at == std::string::npos) return 0;
                std::size_t len = 0;
                auto p = head.data() + at + 17;
                while (p < head.data() + head.size() && *p == ' ') ++p;
                if (std::from_chars(p, head.data() + head.size(), len).ec != std::errc{}) return 0;
                need = head_end + 4 + len;
            }
        }
        if (head_end != std::string::npos && buf.size() >= need) break;
        std::size_t n = 0;
        if (SSL_read_ex(ssl, chunk, sizeof chunk, &n) != 1) return 0;
        buf.append(chunk, n);
    }
    int status = 0;
    if (buf.size() < 12 || buf.compare(0, 9, "HTTP/1.1 ") != 0) return 0;
    std::from_chars(buf.data() + 9, buf.data() + 12, status);
    return status;
}

} // namespace

TlsFloor measure_tls_floor(unsigned port, const std::string& ca_pem, const std::string& version,
                           const std::string& pixel, const std::vector<std::string>& bodies, int passes) {
    TlsFloor r;
    std::unique_ptr<SSL_CTX, ctx_free> ctx(SSL_CTX_new(TLS_client_method()));
    if (!ctx) return r.error = ssl_error("SSL_CTX_new"), r;
    SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
    if (!trust_pem(ctx.get(), ca_pem)) return r.error = "the mock's CA does not parse", r;

    Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (fd.get() < 0) return r.error = std::string("socket: ") + std::strerror(errno), r;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
        return r.error = std::string("connect: ") + std::strerror(errno), r;
    const int one = 1;
    ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // as the client sets it

    std::unique_ptr<SSL, ssl_free> ssl(SSL_new(ctx.get()));
    if (!ssl || SSL_set_fd(ssl.get(), fd.get()) != 1 || SSL_set1_host(ssl.get(), "localhost") != 1 ||
        SSL_set_tlsext_host_name(ssl.get(), "localhost") != 1)
        return r.error = ssl_error("SSL setup"), r;
    if (SSL_connect(ssl.get()) != 1) return r.error = ssl_error("TLS handshake"), r;

    const std::string target = "/" + version + "/" + pixel + "/events";
    std::string reply;
    double best = 1e300;
    for (int pass = 0; pass < passes; ++pass) {
        const double cpu0 = thread_cpu_seconds();
        for (const auto& body : bodies) {
            std::string head = "POST ";
            head += target;
            head += " HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ";
            head += std::to_string(body.size());
            head += "\r\n\r\n";
            if (!write_all(ssl.get(), head) || !write_all(ssl.get(), body))
                return r.error = ssl_error("TLS write"), r;
            const int status = read_reply(ssl.get(), reply);
            if (status != 200) {
                r.error = status == 0 ? ssl_error("reading the reply") : "the mock answered HTTP " + std::to_string(status);
                return r;
            }
        }
        best = std::min(best, thread_cpu_seconds() - cpu0);
    }
    SSL_shutdown(ssl.get());
    r.cpu_seconds = best;
    r.requests = bodies.size();
    return r;
}

double compute_floor_ns(std::size_t n) {
    capi::BatchEncoder encoder;
    const auto now = std::chrono::system_clock::now();
    double best = 1e300;
    std::size_t bytes = 0;
    for (int pass = 0; pass < 3; ++pass) {
        double cpu = 0;
        for (std::size_t i = 0; i < n; i += 64) {
            const auto events =
                make_purchase_events(1'000'000'000 + i, std::min<std::size_t>(64, n - i), unix_now());
            const double cpu0 = thread_cpu_seconds();
            bytes += add_all(encoder, events, now);
            cpu += thread_cpu_seconds() - cpu0;
        }
        bytes += encoder.json_body().size();
        encoder.clear();
        best = std::min(best, cpu / static_cast<double>(n) * 1e9);
    }
    if (bytes == 0) std::abort();  // keeps the work observable
    return best;
}

} // namespace capi_bench
