// capi: the default Transport. A pool of keep-alive HTTP/1.1 connections over
// TLS 1.2+ to one endpoint: OpenSSL driven directly over Asio sockets (one
// connection: https_connection.hpp), replies read with Beast's parser. This is the one
// Beast-heavy translation unit of the client side; nothing of it leaks into
// public headers. What needs no Asio is in endpoint.cpp, gzip.cpp and tls_bio.cpp.
//
// Shape: every piece of pool state lives on one strand. A request is accepted
// there (or refused: shutdown, queue_full), then handed to a "worker", a
// coroutine that owns one connection slot: it runs the request on an idle
// connection or a new one, completes it, and keeps serving the FIFO of waiting
// requests with the same connection before parking it idle. Completions are
// posted to the executor the transport was made with, never run on the strand
// or on the caller's stack.

#include <capi/transport.hpp>

#include "errors/invalid_option.hpp"
#include "transport/body.hpp"
#include "transport/endpoint.hpp"
#include "transport/graph_reply.hpp"
#include "transport/https_connection.hpp"
#include "transport/gzip.hpp"
#include "transport/tls_bio.hpp"
#include "util/ascii.hpp"

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

#include <openssl/bio.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <sys/socket.h>

#include <algorithm>
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

// The plain parts: endpoint.hpp, gzip.hpp, tls_bio.hpp; the connection:
// https_connection.hpp.
using namespace detail::transport;
using detail::invalid_option;

//------------------------------------------------------------------------------
// Options

/// Asio's reading of an address literal, for parse_endpoint.
address_kind address_kind_of(const std::string& host) noexcept {
    boost::system::error_code ec;
    auto addr = net::ip::make_address(host, ec);
    if (ec) return address_kind::none;
    return addr.is_v6() ? address_kind::v6 : address_kind::v4;
}

void configure_tls(ssl::context& ctx, const TransportOptions& o) {
    ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                    ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::no_compression);
    // The option bits above only exclude versions; the floor is what guarantees
    // that no future default re-enables an older protocol.
    if (SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION) != 1)
        invalid_option("endpoint: this OpenSSL cannot enforce TLS 1.2+");
    ctx.set_verify_mode(ssl::verify_peer);

    boost::system::error_code ec;
    if (o.ca_file.empty()) {
        ctx.set_default_verify_paths(ec);
        if (ec) invalid_option("ca_file: empty and the system CA store could not be loaded");
    } else {
        ctx.load_verify_file(o.ca_file, ec);
        if (ec) invalid_option("ca_file: cannot load PEM certificates from " + o.ca_file);
    }
    if (!o.ca_pem.empty()) {
        ctx.add_certificate_authority(net::buffer(o.ca_pem), ec);
        if (ec) invalid_option("ca_pem: not PEM certificates");
    }
}

//------------------------------------------------------------------------------
// Replies

/// Fills `result` from a complete reply; returns the completion error.
std::error_code interpret(http::response<http::string_body>& msg, PostResult& result) {
    result.http_status = static_cast<int>(msg.result_int());

    if (auto it = msg.find(http::field::retry_after); it != msg.end()) {
        // Delta-seconds (what Graph sends) or an HTTP-date (RFC 9110 §10.2.3,
        // what proxies and load balancers in front of it may send).
        auto v = detail::ascii::trim(it->value());
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
        auto enc = detail::ascii::trim(it->value());
        if (detail::ascii::iequals(enc, "gzip") || detail::ascii::iequals(enc, "x-gzip")) {
            if (!gunzip(body, inflated, max_inflated_body)) return make_error_code(errc::bad_response);
            body = inflated;
        } else if (!enc.empty() && !detail::ascii::iequals(enc, "identity")) {
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

//------------------------------------------------------------------------------
// Requests

struct job {
    std::string head;  ///< request line and header fields, Content-Length included
    SharedBody body;
    Transport::handler done;
};

struct outcome {
    std::error_code ec;
    PostResult result;
    bool keep_alive = false;
    /// Failed before any byte of the reply on a connection that may have been
    /// closed by the server while idle: safe to resend once on a new one.
    bool stale = false;
};

//------------------------------------------------------------------------------
// The pool

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
        SharedBody body;
        try {
            body = detail::take_body(request);
        } catch (...) {
            if (done) deliver(std::move(done), make_error_code(errc::queue_full), {});
            return;
        }
        post_shared(request, std::move(body), std::move(done));
    }

    /// Any thread.
    void post_shared(const PostRequest& request, SharedBody body, Transport::handler done) {
        try {
            job j;
            // What Beast's serializer wrote for the same request; the values are
            // checked (host, user_agent) or percent-encoded (target) already.
            std::string& h = j.head;
            h.reserve(256 + request.pixel_id.size() * 3 + request.appsecret_proof.size() * 3);
            h += "POST ";
            h += target_prefix_;
            detail::ascii::append_percent_encoded(h, request.pixel_id);
            h += "/events";
            if (!request.appsecret_proof.empty()) {
                h += "?appsecret_proof=";
                detail::ascii::append_percent_encoded(h, request.appsecret_proof);
            }
            h += " HTTP/1.1\r\nHost: ";
            h += endpoint_.host_header;
            h += "\r\nUser-Agent: ";
            h += user_agent_;
            h += "\r\nContent-Type: ";
            h += request.format == BodyFormat::form ? "application/x-www-form-urlencoded" : "application/json";
            h += "\r\nAccept-Encoding: gzip\r\n";
            // keep_alive off: Connection: close, one request per connection
            // (HTTP/1.1 keeps the connection open by default).
            if (!options_.keep_alive) h += "Connection: close\r\n";
            h += "Content-Length: ";
            h += std::to_string(body.bytes.size());
            h += "\r\n\r\n";
            j.body = std::move(body);
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
        outcome o = co_await exchange(c, j);
        if (o.stale && reused) {
            c->close();
            c.reset();
            outcome again;
            again.ec = co_await open(c);
            if (again.ec) co_return again;
            o = co_await exchange(c, j);
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

        auto c = std::make_shared<connection>(strand_);
        {
            arm(c, deadline);
            deadline_guard guard{c};
            auto [ec, ep] = co_await net::async_connect(c->socket, endpoints, use_tuple);
            if (ec) co_return make_error_code(c->timed_out ? errc::connect_timeout : errc::connect_failed);
        }
        boost::system::error_code ignored;
        c->socket.set_option(tcp::no_delay(true), ignored);

        BIO_METHOD* method = buffers_method();
        if (method == nullptr) co_return make_error_code(errc::tls_handshake_failed);
        c->ssl.reset(SSL_new(tls_.native_handle()));
        SSL* ssl_handle = c->ssl.get();
        if (ssl_handle == nullptr) co_return make_error_code(errc::tls_handshake_failed);
        BIO* bio = BIO_new(method);
        if (bio == nullptr) co_return make_error_code(errc::tls_handshake_failed);
        BIO_set_data(bio, &c->io);
        SSL_set_bio(ssl_handle, bio, bio);  // one reference, owned by the SSL from here
        SSL_set_connect_state(ssl_handle);

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

        {
            arm(c, std::chrono::steady_clock::now() + options_.handshake_timeout);
            deadline_guard guard{c};
            if (auto ec = co_await handshake(*c)) co_return ec;
        }
        out = std::move(c);
        co_return std::error_code{};
    }

    /// @locality strand_. The TLS handshake under the deadline armed by open().
    static net::awaitable<std::error_code> handshake(connection& c) {
        SSL* ssl = c.ssl.get();
        // The peer went away mid-handshake (EOF, RST): a network failure like a
        // refused connect, so it is retried; only a TLS-level refusal is final.
        auto network_failure = [&] {
            if (c.timed_out) return make_error_code(errc::handshake_timeout);
            if (SSL_get_verify_result(ssl) != X509_V_OK) return make_error_code(errc::certificate_verify_failed);
            return make_error_code(errc::connection_lost);
        };
        for (;;) {
            auto st = ssl_call(ssl, [&] { return SSL_do_handshake(ssl); });
            // Our next flight, or the alert that explains a refusal, goes out first.
            auto wec = co_await flush(c);
            if (st.error == SSL_ERROR_NONE) {
                if (wec) co_return network_failure();
                co_return std::error_code{};
            }
            if (st.error == SSL_ERROR_WANT_READ) {
                if (wec) co_return network_failure();
                if (auto rec = co_await fill(c)) co_return network_failure();
                continue;
            }
            if (c.timed_out) co_return make_error_code(errc::handshake_timeout);
            if (SSL_get_verify_result(ssl) != X509_V_OK || st.reason == SSL_R_CERTIFICATE_VERIFY_FAILED)
                co_return make_error_code(errc::certificate_verify_failed);
            if (st.error == SSL_ERROR_SSL) co_return make_error_code(errc::tls_handshake_failed);
            co_return make_error_code(errc::connection_lost);
        }
    }

    /// @locality strand_. Writes the request and reads the whole reply under
    /// request_timeout.
    net::awaitable<outcome> exchange(connection_ptr cp, const job& j) {
        connection& c = *cp;
        SSL* ssl = c.ssl.get();
        outcome o;
        arm(cp, std::chrono::steady_clock::now() + options_.request_timeout);
        deadline_guard guard{cp};

        if (!co_await write_request(c, j.head, j.body.bytes)) {
            o.ec = make_error_code(c.timed_out ? errc::request_timeout : errc::connection_lost);
            // A write that fails on a dead keep-alive connection never reached
            // the server's application.
            o.stale = !c.timed_out;
            co_return o;
        }

        http::response_parser<http::string_body> parser;
        parser.body_limit(max_reply_body);
        c.plain.clear();
        // How the read ends: `failure` set, or the parser done.
        errc failure{};
        beast::error_code parse_ec;
        bool peer_closed = false;
        for (;;) {
            if (c.plain.size() != 0) {
                const std::size_t used = parser.put(c.plain.data(), parse_ec);
                c.plain.consume(used);
                if (parse_ec == http::error::need_more) parse_ec = {};
                if (parse_ec) {
                    // The peer sent something that is not HTTP/1.1 as Beast reads
                    // it, or a header or body past the limits.
                    failure = errc::bad_response;
                    break;
                }
                if (parser.is_done()) break;
                if (used != 0 && c.plain.size() != 0) continue;
            }
            auto space = c.plain.prepare(read_chunk);
            std::size_t n = 0;
            auto st = ssl_call(ssl, [&] { return SSL_read_ex(ssl, space.data(), space.size(), &n); });
            if (st.error == SSL_ERROR_NONE) {
                c.plain.commit(n);
                continue;
            }
            if (st.error == SSL_ERROR_WANT_READ) {
                if (auto ec = co_await fill(c)) {
                    // EOF without close_notify, a reset, or the deadline: a reply
                    // delimited by Content-Length or chunking was done before this.
                    failure = c.timed_out ? errc::request_timeout : errc::connection_lost;
                    break;
                }
                continue;
            }
            if (st.error == SSL_ERROR_ZERO_RETURN && parser.got_some()) {
                // close_notify: the end of a reply delimited by the close, or a cut.
                peer_closed = true;
                parser.put_eof(parse_ec);
                if (!parse_ec && parser.is_done()) break;
            }
            // close_notify before any reply, a TLS failure, an alert.
            failure = errc::connection_lost;
            break;
        }
        if (failure != errc{}) {
            o.ec = make_error_code(failure);
            if (!parser.is_header_done()) {
                o.stale = failure == errc::connection_lost && !parser.got_some() && c.plain.size() == 0;
                // The whole request went out and no answer came back: Meta may
                // have processed it (a stale resend overwrites this outcome).
                o.result.possibly_delivered = 1;
            } else {
                // A 2xx cut short may well be Meta's success; an error status is not.
                const auto status = parser.get().result_int();
                o.result.possibly_delivered = status >= 200 && status < 300;
            }
            co_return o;
        }
        auto message = parser.release();
        // Bytes past the reply mean the peer is not speaking request/response
        // HTTP/1.1 with us; don't reuse the connection.
        o.keep_alive = message.keep_alive() && !peer_closed && c.plain.size() == 0 && SSL_pending(ssl) == 0;
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
    void post_shared(const PostRequest& request, SharedBody body, handler done) override {
        pool_->post_shared(request, std::move(body), std::move(done));
    }
    void close() override { pool_->close(); }

private:
    std::shared_ptr<https_pool> pool_;
};

} // namespace

std::unique_ptr<Transport> make_https_transport(boost::asio::any_io_executor executor,
                                                TransportOptions options) {
    auto ep = parse_endpoint(options.endpoint, address_kind_of);
    validate(options);
    auto pool = std::make_shared<https_pool>(std::move(executor), std::move(options), std::move(ep));
    return std::make_unique<https_transport>(std::move(pool));
}

} // namespace capi
