// capi: the default Transport. A pool of keep-alive HTTP/1.1 connections over
// TLS 1.2+ (Boost.Beast on OpenSSL) to one endpoint. This is the one Beast-heavy
// translation unit of the client side; nothing of it leaks into public headers.
//
// Shape: every piece of pool state lives on one strand. A request is accepted
// there (or refused: shutdown, queue_full), then handed to a "worker", a
// coroutine that owns one connection slot: it runs the request on an idle
// connection or a new one, completes it, and keeps serving the FIFO of waiting
// requests with the same connection before parking it idle. Completions are
// posted to the executor the transport was made with, never run on the strand
// or on the caller's stack.

#include <capi/transport.hpp>

#include "transport/crc32.hpp"
#include "transport/graph_reply.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/zlib/inflate_stream.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace capi {
namespace {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;

constexpr std::string_view default_user_agent = "capi-cpp/0.1.0";

// Graph replies are a few hundred bytes; these only stop a broken or hostile
// peer from making the client buffer without bound.
constexpr std::size_t max_reply_body = 8 * 1024 * 1024;
constexpr std::size_t max_inflated_body = 32 * 1024 * 1024;

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

[[noreturn]] void bad_option(const std::string& what) {
    throw std::system_error(make_error_code(errc::invalid_option), what);
}

bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; };
        if (lower(a[i]) != lower(b[i])) return false;
    }
    return true;
}

std::string_view trim(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

bool is_digits(std::string_view s) noexcept {
    if (s.empty()) return false;
    for (char c : s)
        if (c < '0' || c > '9') return false;
    return true;
}

//------------------------------------------------------------------------------
// Options

struct endpoint_parts {
    std::string host;         ///< name or address, without brackets
    std::string port = "443";
    std::string host_header;  ///< Host: value
    bool is_ip = false;
};

endpoint_parts parse_endpoint(std::string_view s) {
    constexpr std::string_view scheme = "https://";
    if (s.size() < scheme.size() || !iequals(s.substr(0, scheme.size()), scheme))
        bad_option("endpoint: must be https://host[:port]; plaintext http and other schemes are "
                   "refused");
    s.remove_prefix(scheme.size());
    if (!s.empty() && s.back() == '/') s.remove_suffix(1);

    endpoint_parts ep;
    std::string_view host, rest;
    if (!s.empty() && s.front() == '[') {
        auto close = s.find(']');
        if (close == std::string_view::npos) bad_option("endpoint: unterminated [IPv6 address]");
        host = s.substr(1, close - 1);
        rest = s.substr(close + 1);
        boost::system::error_code ec;
        auto addr = net::ip::make_address(std::string(host), ec);
        if (ec || !addr.is_v6()) bad_option("endpoint: bad IPv6 address in brackets");
        ep.is_ip = true;
    } else {
        auto colon = s.find(':');
        host = s.substr(0, colon);
        rest = colon == std::string_view::npos ? std::string_view{} : s.substr(colon);
        for (char c : host) {
            bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '.';
            if (!ok) bad_option("endpoint: the host may not have a path, query or user info");
        }
        boost::system::error_code ec;
        auto addr = net::ip::make_address(std::string(host), ec);
        ep.is_ip = !ec && addr.is_v4();
    }
    if (host.empty()) bad_option("endpoint: no host");
    if (!rest.empty()) {
        if (rest.front() != ':') bad_option("endpoint: the host may not have a path, query or user info");
        auto port = rest.substr(1);
        unsigned value = 0;
        auto [p, e] = std::from_chars(port.data(), port.data() + port.size(), value);
        if (!is_digits(port) || e != std::errc{} || p != port.data() + port.size() || value == 0 ||
            value > 65535)
            bad_option("endpoint: port must be 1-65535");
        ep.port = std::to_string(value);
    }
    ep.host = std::string(host);
    ep.host_header = s.front() == '[' ? "[" + ep.host + "]" : ep.host;
    if (ep.port != "443") ep.host_header += ":" + ep.port;
    return ep;
}

bool valid_api_version(std::string_view v) noexcept {
    // vNN.N, as Graph names its versions.
    if (v.size() < 4 || v.front() != 'v') return false;
    auto dot = v.find('.');
    return dot != std::string_view::npos && is_digits(v.substr(1, dot - 1)) && is_digits(v.substr(dot + 1));
}

void validate(const TransportOptions& o) {
    if (!valid_api_version(o.api_version)) bad_option("api_version: must look like v24.0");
    if (o.max_connections < 1) bad_option("max_connections: must be at least 1");
    if (o.max_in_flight < 1) bad_option("max_in_flight: must be at least 1");
    if (o.connect_timeout.count() <= 0) bad_option("connect_timeout: must be positive");
    if (o.handshake_timeout.count() <= 0) bad_option("handshake_timeout: must be positive");
    if (o.request_timeout.count() <= 0) bad_option("request_timeout: must be positive");
    if (o.idle_timeout.count() <= 0) bad_option("idle_timeout: must be positive");
    for (char c : o.user_agent)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
            bad_option("user_agent: control characters are not allowed");
}

void configure_tls(ssl::context& ctx, const TransportOptions& o) {
    ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                    ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::no_compression);
    // The option bits above only exclude versions; the floor is what guarantees
    // that no future default re-enables an older protocol.
    if (SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION) != 1)
        bad_option("endpoint: this OpenSSL cannot enforce TLS 1.2+");
    ctx.set_verify_mode(ssl::verify_peer);

    boost::system::error_code ec;
    if (o.ca_file.empty()) {
        ctx.set_default_verify_paths(ec);
        if (ec) bad_option("ca_file: empty and the system CA store could not be loaded");
    } else {
        ctx.load_verify_file(o.ca_file, ec);
        if (ec) bad_option("ca_file: cannot load PEM certificates from " + o.ca_file);
    }
    if (!o.ca_pem.empty()) {
        ctx.add_certificate_authority(net::buffer(o.ca_pem), ec);
        if (ec) bad_option("ca_pem: not PEM certificates");
    }
}

//------------------------------------------------------------------------------
// Replies

std::string percent_encode(std::string_view s) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(s.size());
    for (char ch : s) {
        auto c = static_cast<unsigned char>(ch);
        bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                          c == '-' || c == '.' || c == '_' || c == '~';
        if (unreserved) {
            out += ch;
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

/// Inflates a gzip body (RFC 1952, concatenated members allowed). Beast's zlib
/// port inflates raw deflate only, so the gzip framing (header, CRC-32 and
/// ISIZE trailer) is handled here. Returns false for anything malformed or
/// truncated, or past `limit` bytes inflated.
bool gunzip(std::string_view in, std::string& out, std::size_t limit) {
    out.clear();
    auto byte = [&](std::size_t i) { return static_cast<std::uint32_t>(static_cast<unsigned char>(in[i])); };
    std::size_t pos = 0;
    do {
        if (in.size() - pos < 18) return false;  // header + empty deflate + trailer
        if (byte(pos) != 0x1f || byte(pos + 1) != 0x8b || byte(pos + 2) != 8) return false;
        auto flags = byte(pos + 3);
        if (flags & 0xe0) return false;
        pos += 10;
        if (flags & 4) {  // FEXTRA
            if (in.size() - pos < 2) return false;
            std::size_t xlen = byte(pos) | (byte(pos + 1) << 8);
            pos += 2;
            if (in.size() - pos < xlen) return false;
            pos += xlen;
        }
        for (std::uint32_t f : {8u, 16u}) {  // FNAME, FCOMMENT: zero-terminated
            if (!(flags & f)) continue;
            auto z = in.find('\0', pos);
            if (z == std::string_view::npos) return false;
            pos = z + 1;
        }
        if (flags & 2) pos += 2;  // FHCRC
        if (pos > in.size()) return false;

        beast::zlib::inflate_stream inflater;
        beast::zlib::z_params zs{};
        zs.next_in = in.data() + pos;
        zs.avail_in = in.size() - pos;
        std::size_t start = out.size();
        for (;;) {
            std::size_t chunk = std::max<std::size_t>(4096, zs.avail_in * 4);
            if (out.size() + chunk > limit + 1) chunk = limit + 1 - out.size();
            std::size_t old = out.size();
            out.resize(old + chunk);
            zs.next_out = out.data() + old;
            zs.avail_out = chunk;
            beast::error_code ec;
            inflater.write(zs, beast::zlib::Flush::none, ec);
            out.resize(old + chunk - zs.avail_out);
            if (out.size() > limit) return false;
            if (ec == beast::zlib::error::end_of_stream) break;
            if (ec && ec != beast::zlib::error::need_buffers) return false;
            // Output space left over means the input ran out before the end.
            if (zs.avail_out != 0) return false;
        }
        pos = in.size() - zs.avail_in;
        if (in.size() - pos < 8) return false;
        std::uint32_t crc = byte(pos) | (byte(pos + 1) << 8) | (byte(pos + 2) << 16) | (byte(pos + 3) << 24);
        std::uint32_t isize =
            byte(pos + 4) | (byte(pos + 5) << 8) | (byte(pos + 6) << 16) | (byte(pos + 7) << 24);
        std::string_view member(out.data() + start, out.size() - start);
        if (crc != detail::crc32(member) || isize != static_cast<std::uint32_t>(member.size())) return false;
        pos += 8;
    } while (pos < in.size());
    return true;
}

/// Fills `result` from a complete reply; returns the completion error.
std::error_code interpret(http::response<http::string_body>& msg, PostResult& result) {
    result.http_status = static_cast<int>(msg.result_int());

    if (auto it = msg.find(http::field::retry_after); it != msg.end()) {
        // Delta-seconds (what Graph sends) or an HTTP-date (RFC 9110 §10.2.3,
        // what proxies and load balancers in front of it may send).
        auto v = trim(it->value());
        std::int64_t seconds = 0;
        auto [p, e] = std::from_chars(v.data(), v.data() + v.size(), seconds);
        if (e == std::errc{} && p == v.data() + v.size() && seconds >= 0)
            result.retry_after = std::chrono::seconds(seconds);
        else
            result.retry_after = detail::retry_after_date(v, std::chrono::system_clock::now());
    }
    if (auto it = msg.find("X-App-Usage"); it != msg.end()) result.app_usage = std::string(it->value());
    if (auto it = msg.find("X-Business-Use-Case-Usage"); it != msg.end())
        result.business_use_case_usage = std::string(it->value());
    if (auto it = msg.find("X-Ad-Account-Usage"); it != msg.end())
        result.ad_account_usage = std::string(it->value());

    std::string inflated;
    std::string_view body = msg.body();
    if (auto it = msg.find(http::field::content_encoding); it != msg.end()) {
        auto enc = trim(it->value());
        if (iequals(enc, "gzip") || iequals(enc, "x-gzip")) {
            if (!gunzip(body, inflated, max_inflated_body)) return make_error_code(errc::bad_response);
            body = inflated;
        } else if (!enc.empty() && !iequals(enc, "identity")) {
            return make_error_code(errc::bad_response);
        }
    }

    bool parsed = false;
    try {
        parsed = detail::parse_graph_reply(body, result);
    } catch (...) {
        parsed = false;
    }
    if (result.error) return make_error_code(errc::graph_error);
    if (result.http_status >= 200 && result.http_status < 300)
        return parsed ? std::error_code{} : make_error_code(errc::bad_response);
    return make_error_code(errc::http_error);
}

/// A failure while writing the request or reading the reply.
errc exchange_error(const beast::error_code& ec) noexcept {
    if (ec == beast::error::timeout) return errc::request_timeout;
    if (ec == http::error::end_of_stream || ec == http::error::partial_message) return errc::connection_lost;
    // Any other parser error: the peer sent something that is not HTTP/1.1 as
    // Beast reads it (or a header or body past the limits).
    if (ec.category() == http::make_error_code(http::error::end_of_stream).category())
        return errc::bad_response;
    // EOF, resets, broken pipes, ssl::error::stream_truncated (a close without
    // close_notify): the connection went away under the request.
    return errc::connection_lost;
}

//------------------------------------------------------------------------------
// The pool

struct job {
    http::request<http::string_body> request;
    Transport::handler done;
};

struct connection {
    connection(const net::any_io_executor& ex, ssl::context& ctx) : stream(ex, ctx), idle_timer(ex) {}

    void close() noexcept {
        idle_timer.cancel();
        beast::get_lowest_layer(stream).close();
    }

    /// True when the server has visibly closed this idle connection (FIN or RST
    /// already received). A cheap, non-blocking check before reuse; a close that
    /// races the request is caught by the stale-connection resend instead.
    bool peer_closed() noexcept {
        auto& socket = beast::get_lowest_layer(stream).socket();
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

    ssl::stream<beast::tcp_stream> stream;
    beast::flat_buffer buffer;
    net::steady_timer idle_timer;
    std::uint64_t idle_generation = 0;
    bool idle = false;
};

using connection_ptr = std::shared_ptr<connection>;

struct outcome {
    std::error_code ec;
    PostResult result;
    bool keep_alive = false;
    /// Failed before any byte of the reply on a connection that may have been
    /// closed by the server while idle: safe to resend once on a new one.
    bool stale = false;
};

class https_pool : public std::enable_shared_from_this<https_pool> {
public:
    https_pool(net::any_io_executor executor, TransportOptions options, endpoint_parts ep)
        : executor_(executor),
          strand_(net::make_strand(executor)),
          options_(std::move(options)),
          endpoint_(std::move(ep)),
          tls_(ssl::context::tls_client) {
        configure_tls(tls_, options_);
        target_prefix_ = "/" + options_.api_version + "/";
        user_agent_ = options_.user_agent.empty() ? std::string(default_user_agent) : options_.user_agent;
    }

    /// Any thread.
    void post(PostRequest request, Transport::handler done) {
        try {
            job j;
            std::string target = target_prefix_ + percent_encode(request.pixel_id) + "/events";
            if (!request.appsecret_proof.empty())
                target += "?appsecret_proof=" + percent_encode(request.appsecret_proof);
            j.request = http::request<http::string_body>(http::verb::post, target, 11);
            j.request.set(http::field::host, endpoint_.host_header);
            j.request.set(http::field::user_agent, user_agent_);
            j.request.set(http::field::content_type, request.format == BodyFormat::form
                                                         ? "application/x-www-form-urlencoded"
                                                         : "application/json");
            j.request.set(http::field::accept_encoding, "gzip");
            // keep_alive off: Connection: close, one request per connection.
            j.request.keep_alive(options_.keep_alive);
            j.request.body() = std::move(request.body);
            j.request.prepare_payload();
            j.done = std::move(done);
            net::post(strand_, [self = shared_from_this(), j = std::move(j)]() mutable {
                self->accept(std::move(j));
            });
        } catch (...) {
            // Out of memory building the request: refuse it like an overflow.
            if (done) deliver(std::move(done), make_error_code(errc::queue_full), {});
        }
    }

    /// Any thread.
    void close() {
        try {
            net::post(strand_, [self = shared_from_this()] { self->shutdown(); });
        } catch (...) {
        }
    }

private:
    /// Posts the completion to the user's executor: never on the strand, never on
    /// the stack of post(), and an exception from the handler stops there.
    void deliver(Transport::handler done, std::error_code ec, PostResult result) noexcept {
        try {
            net::post(executor_, [done = std::move(done), ec, result = std::move(result)]() mutable {
                try {
                    done(ec, std::move(result));
                } catch (...) {
                }
            });
        } catch (...) {
        }
    }

    /// @locality strand_. Completes an accepted request.
    void finish(job&& j, std::error_code ec, PostResult result) noexcept {
        --accepted_;
        deliver(std::move(j.done), ec, std::move(result));
    }

    /// @locality strand_.
    void accept(job&& j) {
        if (closed_) return deliver(std::move(j.done), make_error_code(errc::shutdown), {});
        if (accepted_ >= options_.max_in_flight)
            return deliver(std::move(j.done), make_error_code(errc::queue_full), {});
        ++accepted_;
        if (auto c = take_idle()) return spawn(std::move(j), std::move(c));
        if (open_ < options_.max_connections) {
            ++open_;
            return spawn(std::move(j), nullptr);
        }
        waiting_.push_back(std::move(j));
    }

    /// @locality strand_.
    void shutdown() {
        if (closed_) return;
        closed_ = true;
        auto waiting = std::move(waiting_);
        waiting_.clear();
        for (auto& j : waiting) finish(std::move(j), make_error_code(errc::shutdown), {});
        for (auto& c : idle_) {
            c->idle = false;
            c->close();
            --open_;
        }
        idle_.clear();
    }

    /// @locality strand_. The most recently used live idle connection, or null.
    connection_ptr take_idle() {
        while (!idle_.empty()) {
            auto c = std::move(idle_.back());
            idle_.pop_back();
            c->idle = false;
            ++c->idle_generation;
            c->idle_timer.cancel();
            if (!c->peer_closed()) return c;
            c->close();
            --open_;
        }
        return nullptr;
    }

    /// @locality strand_. Keeps `c` for reuse until idle_timeout.
    void park(connection_ptr c) {
        c->idle = true;
        auto generation = ++c->idle_generation;
        c->idle_timer.expires_after(options_.idle_timeout);
        c->idle_timer.async_wait([weak_pool = weak_from_this(), weak_c = std::weak_ptr<connection>(c),
                                  generation](const boost::system::error_code& ec) {
            auto self = weak_pool.lock();
            auto conn = weak_c.lock();
            if (ec || !self || !conn || !conn->idle || conn->idle_generation != generation) return;
            self->expire(conn);
        });
        idle_.push_back(std::move(c));
    }

    /// @locality strand_.
    void expire(const connection_ptr& c) {
        for (auto it = idle_.begin(); it != idle_.end(); ++it) {
            if (*it != c) continue;
            idle_.erase(it);
            c->idle = false;
            c->close();
            --open_;
            return;
        }
    }

    /// @locality strand_.
    void spawn(job&& j, connection_ptr c) {
        net::co_spawn(strand_, worker(shared_from_this(), std::move(j), std::move(c)),
                      [](std::exception_ptr) {});
    }

    /// @locality strand_. Owns one connection slot (counted in open_) while it
    /// runs: serves `j` on `c` (or a new connection when null), then the waiting
    /// requests in order, then parks the connection or gives the slot back.
    static net::awaitable<void> worker(std::shared_ptr<https_pool> self, job j, connection_ptr c) {
        for (;;) {
            outcome o;
            try {
                o = co_await self->serve(j, c);
            } catch (...) {
                o = outcome{};
                o.ec = make_error_code(errc::connection_lost);
            }
            if (!o.keep_alive && c) {
                c->close();
                c.reset();
            }
            self->finish(std::move(j), o.ec, std::move(o.result));
            if (self->closed_ || self->waiting_.empty()) {
                if (c && !self->closed_) {
                    self->park(std::move(c));
                } else {
                    if (c) c->close();
                    --self->open_;
                }
                co_return;
            }
            j = std::move(self->waiting_.front());
            self->waiting_.pop_front();
        }
    }

    /// @locality strand_. One request, resent once on a fresh connection when a
    /// reused one turns out to have been closed by the server (the request never
    /// reached the application, so this is not a retry).
    net::awaitable<outcome> serve(job& j, connection_ptr& c) {
        bool reused = c != nullptr;
        if (!c) {
            outcome o;
            o.ec = co_await open(c);
            if (o.ec) co_return o;
        }
        outcome o = co_await exchange(*c, j.request);
        if (o.stale && reused) {
            c->close();
            c.reset();
            outcome again;
            again.ec = co_await open(c);
            if (again.ec) co_return again;
            o = co_await exchange(*c, j.request);
        }
        co_return o;
    }

    /// @locality strand_. Resolve, connect and handshake; sets `out` on success.
    net::awaitable<std::error_code> open(connection_ptr& out) {
        // connect_timeout covers resolving and connecting together.
        auto deadline = std::chrono::steady_clock::now() + options_.connect_timeout;

        std::vector<tcp::endpoint> endpoints;
        std::uint16_t port = static_cast<std::uint16_t>(std::stoul(endpoint_.port));
        if (endpoint_.is_ip) {
            endpoints.emplace_back(net::ip::make_address(endpoint_.host), port);
        } else {
            auto resolver = std::make_shared<tcp::resolver>(strand_);
            net::steady_timer timer(strand_);
            timer.expires_at(deadline);
            // getaddrinfo cannot be interrupted: the cancel completes the wait
            // only once it returns.
            timer.async_wait([resolver](const boost::system::error_code& ec) {
                if (!ec) resolver->cancel();
            });
            auto [ec, results] = co_await resolver->async_resolve(endpoint_.host, endpoint_.port, use_tuple);
            timer.cancel();
            if (ec == net::error::operation_aborted && std::chrono::steady_clock::now() >= deadline)
                co_return make_error_code(errc::connect_timeout);
            if (ec || results.empty()) co_return make_error_code(errc::resolve_failed);
            for (const auto& r : results) endpoints.push_back(r.endpoint());
        }

        auto c = std::make_shared<connection>(strand_, tls_);
        auto& lowest = beast::get_lowest_layer(c->stream);
        lowest.expires_at(deadline);
        {
            auto [ec, ep] = co_await lowest.async_connect(endpoints, use_tuple);
            if (ec == beast::error::timeout) co_return make_error_code(errc::connect_timeout);
            if (ec) co_return make_error_code(errc::connect_failed);
        }
        boost::system::error_code ignored;
        lowest.socket().set_option(tcp::no_delay(true), ignored);

        SSL* ssl_handle = c->stream.native_handle();
        X509_VERIFY_PARAM* param = SSL_get0_param(ssl_handle);
        if (endpoint_.is_ip) {
            // No SNI for address literals (RFC 6066 §3); the certificate must name
            // the address in an IP SAN.
            if (X509_VERIFY_PARAM_set1_ip_asc(param, endpoint_.host.c_str()) != 1)
                co_return make_error_code(errc::tls_handshake_failed);
        } else {
            if (SSL_set_tlsext_host_name(ssl_handle, endpoint_.host.c_str()) != 1)
                co_return make_error_code(errc::tls_handshake_failed);
            // OpenSSL checks the name while verifying the chain, so a mismatch
            // fails the handshake as a verification failure like any other.
            X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
            if (SSL_set1_host(ssl_handle, endpoint_.host.c_str()) != 1)
                co_return make_error_code(errc::tls_handshake_failed);
        }

        lowest.expires_after(options_.handshake_timeout);
        {
            auto [ec] = co_await c->stream.async_handshake(ssl::stream_base::client, use_tuple);
            if (ec) {
                if (ec == beast::error::timeout) co_return make_error_code(errc::handshake_timeout);
                // The peer went away mid-handshake (EOF, RST, a close without
                // close_notify): a network failure like a refused connect, so it
                // is retried; only a TLS-level refusal below is final.
                if (ec.category() != net::error::get_ssl_category() &&
                    SSL_get_verify_result(ssl_handle) == X509_V_OK)
                    co_return make_error_code(errc::connection_lost);
                if (SSL_get_verify_result(ssl_handle) != X509_V_OK)
                    co_return make_error_code(errc::certificate_verify_failed);
                if (ec.category() == net::error::get_ssl_category() &&
                    ERR_GET_REASON(static_cast<unsigned long>(static_cast<unsigned int>(ec.value()))) ==
                        SSL_R_CERTIFICATE_VERIFY_FAILED)
                    co_return make_error_code(errc::certificate_verify_failed);
                co_return make_error_code(errc::tls_handshake_failed);
            }
        }
        lowest.expires_never();
        out = std::move(c);
        co_return std::error_code{};
    }

    /// @locality strand_. Writes the request and reads the whole reply under
    /// request_timeout.
    net::awaitable<outcome> exchange(connection& c, const http::request<http::string_body>& request) {
        outcome o;
        auto& lowest = beast::get_lowest_layer(c.stream);
        lowest.expires_after(options_.request_timeout);
        {
            auto [ec, n] = co_await http::async_write(c.stream, request, use_tuple);
            if (ec) {
                o.ec = make_error_code(exchange_error(ec));
                // A write that fails on a dead keep-alive connection never reached
                // the server's application.
                o.stale = ec != beast::error::timeout;
                co_return o;
            }
        }
        http::response_parser<http::string_body> parser;
        parser.body_limit(max_reply_body);
        {
            auto [ec, n] = co_await http::async_read_header(c.stream, c.buffer, parser, use_tuple);
            if (ec) {
                o.ec = make_error_code(exchange_error(ec));
                o.stale = o.ec == errc::connection_lost && !parser.got_some() && c.buffer.size() == 0;
                // The whole request went out and no answer came back: Meta may
                // have processed it (a stale resend overwrites this outcome).
                o.result.possibly_delivered = 1;
                co_return o;
            }
        }
        {
            auto [ec, n] = co_await http::async_read(c.stream, c.buffer, parser, use_tuple);
            if (ec) {
                o.ec = make_error_code(exchange_error(ec));
                // A 2xx cut short may well be Meta's success; an error status is not.
                const auto status = parser.get().result_int();
                o.result.possibly_delivered = status >= 200 && status < 300;
                co_return o;
            }
        }
        lowest.expires_never();
        auto message = parser.release();
        // Bytes past the reply mean the peer is not speaking request/response
        // HTTP/1.1 with us; don't reuse the connection.
        o.keep_alive = message.keep_alive() && c.buffer.size() == 0;
        o.ec = interpret(message, o.result);
        // A 2xx whose body is not Meta's JSON: Meta may have taken the events.
        if (o.ec == errc::bad_response && o.result.http_status >= 200 && o.result.http_status < 300)
            o.result.possibly_delivered = 1;
        co_return o;
    }

    net::any_io_executor executor_;
    net::strand<net::any_io_executor> strand_;
    TransportOptions options_;
    endpoint_parts endpoint_;
    ssl::context tls_;
    std::string target_prefix_;
    std::string user_agent_;

    // Pool state: @locality strand_.
    std::deque<job> waiting_;           ///< accepted, waiting for a connection, FIFO
    std::vector<connection_ptr> idle_;  ///< parked, most recently used last
    std::size_t open_ = 0;              ///< connection slots: idle, busy or opening
    std::size_t accepted_ = 0;          ///< requests on the wire or waiting
    bool closed_ = false;
};

class https_transport final : public Transport {
public:
    explicit https_transport(std::shared_ptr<https_pool> pool) : pool_(std::move(pool)) {}
    ~https_transport() override { pool_->close(); }
    https_transport(const https_transport&) = delete;
    https_transport& operator=(const https_transport&) = delete;

    void post(PostRequest request, handler done) override { pool_->post(std::move(request), std::move(done)); }
    void close() override { pool_->close(); }

private:
    std::shared_ptr<https_pool> pool_;
};

} // namespace

std::unique_ptr<Transport> make_https_transport(boost::asio::any_io_executor executor,
                                                TransportOptions options) {
    auto ep = parse_endpoint(options.endpoint);
    validate(options);
    auto pool = std::make_shared<https_pool>(std::move(executor), std::move(options), std::move(ep));
    return std::make_unique<https_transport>(std::move(pool));
}

} // namespace capi
