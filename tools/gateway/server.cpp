// capi_gateway::Gateway: Boost.Beast HTTP/1.1 on C++20 coroutines, one
// coroutine per connection (on a strand of its own when several threads serve),
// an io_context run by the threads the gateway owns. Plain TCP and TLS share one session template, so this is the
// only Beast translation unit of `capi gateway`. Requests are parsed by Beast's
// basic_parser into a head the connection reuses, answers written by hand into
// one reused buffer (http_message.hpp says why).
//
// A connection's life: (TLS handshake) -> wait for a first byte (idle_timeout) ->
// read the header, then the body (read_timeout from that first byte) -> answer ->
// again while keep-alive. Bounds are checked as early as they can be: a declared
// Content-Length over the body bound is refused before any of the body is read.
//
// Timeouts: a connection stores its deadline (one atomic store per phase) and one
// sweeper coroutine closes the connections past theirs a few times per timeout.
// Arming a timer per read and write instead (beast::tcp_stream) costs timer-queue
// work and a timerfd system call per operation: a measurable part of a hit.
//
// Locking: `mu` guards `live` and `stopped_`; it is taken per connection (open,
// close) and by stop(), never per request. Each connection's `busy` flag lives on
// its strand.
#include "server.hpp"

#include "http_message.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <openssl/ssl.h>

#include <algorithm>
#include <condition_variable>
#include <limits>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <type_traits>
#include <unordered_map>

namespace capi_gateway {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using steady = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

// A connection's executor, named by its concrete type rather than as
// any_io_executor: type erasure costs a call through a table (and, for an
// awaitable, a heap-held executor copy) on every completion of the hot loop.
using io_executor = net::io_context::executor_type;
using strand_executor = net::strand<io_executor>;
template <class Executor>
using plain_stream = net::basic_stream_socket<tcp, Executor>;
template <class Executor>
using tls_stream = net::ssl::stream<plain_stream<Executor>>;
template <class Stream>
struct is_tls_stream : std::false_type {};
template <class Next>
struct is_tls_stream<net::ssl::stream<Next>> : std::true_type {};
constexpr std::int64_t no_deadline = std::numeric_limits<std::int64_t>::max();

// What stop() needs of a connection, whatever its stream.
struct ConnBase {
    virtual ~ConnBase() = default;
    virtual net::any_io_executor executor() = 0;
    /// @locality the connection's strand
    virtual void close() noexcept = 0;
    bool busy = false;  ///< a request is being read or answered; on the strand

    /// @locality the connection's strand (the sweeper only reads)
    void expires_after(std::chrono::milliseconds d) noexcept {
        deadline_ns.store((steady::now() + d).time_since_epoch().count(), std::memory_order_relaxed);
    }
    std::atomic<std::int64_t> deadline_ns{no_deadline};  ///< steady clock
    std::atomic<bool> timed_out{false};  ///< set by the sweeper before it closes the connection
};

template <class Stream>
struct Conn final : ConnBase {
    template <class... Args>
    explicit Conn(std::string peer_, Args&&... args) : stream(std::forward<Args>(args)...), peer(std::move(peer_)) {}
    net::any_io_executor executor() override { return stream.get_executor(); }
    void close() noexcept override {
        beast::error_code ec;
        beast::get_lowest_layer(stream).close(ec);
    }
    Stream stream;
    std::string peer;  ///< textual, without the port (IPv4-mapped IPv6 as IPv4)
};

template <class Socket>
std::string peer_of(const Socket& s) {
    beast::error_code ec;
    const auto ep = s.remote_endpoint(ec);
    if (ec) return {};
    auto a = ep.address();
    if (a.is_v6() && a.to_v6().is_v4_mapped()) a = net::ip::make_address_v4(net::ip::v4_mapped, a.to_v6());
    return a.to_string();
}

std::string_view path_of(std::string_view target) { return target.substr(0, target.find_first_of("?#")); }

} // namespace

struct Gateway::impl {
    GatewayOptions opts;
    Metrics metrics;
    capi::pixel::Endpoint endpoint;
    std::unordered_map<std::string, capi::Destination> destinations;
    std::unique_ptr<capi::Client> client;
    std::optional<net::ssl::context> tls;
    std::string url;
    std::uint16_t port = 0;

    std::mutex mu;
    std::condition_variable cv;  // `live` shrank or the accept loop ended
    std::set<std::shared_ptr<ConnBase>> live;
    bool accepting = false;
    std::optional<Summary> stopped_;
    std::atomic<bool> stopping{false};

    // Declared after the state above: destroying the io_context destroys any
    // coroutine frame still pending, and those frames touch that state.
    net::io_context ioc;
    tcp::acceptor acceptor{net::make_strand(ioc)};
    net::executor_work_guard<net::io_context::executor_type> work{ioc.get_executor()};
    std::vector<std::thread> threads;

    explicit impl(GatewayOptions o) : opts(std::move(o)), endpoint(opts.pixel) {
        for (const auto& p : opts.pixel.pixels) {
            capi::Destination d = opts.client.destination;
            d.pixel_id = p;
            destinations.emplace(p, std::move(d));
        }
        if (!opts.tls_cert_pem.empty() || !opts.tls_key_pem.empty()) setup_tls();
        if (opts.limits.max_connections == 0) throw std::invalid_argument("limits.max_connections: must be at least 1");
        // Every outcome is counted here before the user's callback sees it.
        opts.client.on_delivery = [this, user = std::move(opts.client.on_delivery)](const capi::SendResult& r) {
            metrics.delivery(r);
            if (user) user(r);
        };
        // The client checks its default destination; every event names its own.
        if (opts.client.destination.pixel_id.empty() && !opts.pixel.pixels.empty())
            opts.client.destination.pixel_id = opts.pixel.pixels.front();
        client = std::make_unique<capi::Client>(opts.client);
        listen();
        {
            std::lock_guard lock(mu);
            accepting = true;
        }
        net::co_spawn(acceptor.get_executor(), accept_loop(), [this](std::exception_ptr) {
            std::lock_guard lock(mu);
            accepting = false;
            cv.notify_all();
        });
        net::co_spawn(net::make_strand(ioc), sweep(), net::detached);
        const unsigned n = opts.threads == 0 ? 1 : opts.threads;
        for (unsigned i = 0; i < n; ++i) {
            threads.emplace_back([this] {
                for (;;) {
                    try {
                        ioc.run();
                        return;
                    } catch (...) {
                        // A handler threw: keep serving (nothing may escape a thread).
                    }
                }
            });
        }
    }

    ~impl() {
        if (!stopped_) stop(5s);
    }

    void setup_tls() {
        if (opts.tls_cert_pem.empty()) throw std::invalid_argument("tls_cert_pem: a TLS key needs its certificate");
        if (opts.tls_key_pem.empty()) throw std::invalid_argument("tls_key_pem: a TLS certificate needs its key");
        tls.emplace(net::ssl::context::tls_server);
        beast::error_code ec;
        tls->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                             net::ssl::context::no_sslv3 | net::ssl::context::single_dh_use,
                         ec);
        SSL_CTX_set_min_proto_version(tls->native_handle(), TLS1_2_VERSION);
        tls->use_certificate_chain(net::buffer(opts.tls_cert_pem), ec);
        if (ec) throw std::invalid_argument("tls_cert_pem: not a PEM certificate chain (" + ec.message() + ")");
        tls->use_private_key(net::buffer(opts.tls_key_pem), net::ssl::context::pem, ec);
        if (ec) throw std::invalid_argument("tls_key_pem: not a PEM private key (" + ec.message() + ")");
        if (SSL_CTX_check_private_key(tls->native_handle()) != 1)
            throw std::invalid_argument("tls_key_pem: the key does not match the certificate");
    }

    void listen() {
        beast::error_code ec;
        const std::string host = opts.listen_host == "localhost" ? "127.0.0.1" : opts.listen_host;
        const auto addr = net::ip::make_address(host, ec);
        if (ec) throw std::invalid_argument("listen_host: '" + opts.listen_host + "' is not an IP address");
        const tcp::endpoint ep(addr, opts.port);
        auto fail = [&](const char* what) {
            throw std::system_error(std::error_code(ec), std::string(what) + " " + opts.listen_host + ":" +
                                                             std::to_string(opts.port));
        };
        acceptor.open(ep.protocol(), ec);
        if (ec) fail("socket for");
        acceptor.set_option(net::socket_base::reuse_address(true), ec);
        acceptor.bind(ep, ec);
        if (ec) fail("cannot listen on");
        acceptor.listen(net::socket_base::max_listen_connections, ec);
        if (ec) fail("cannot listen on");
        port = acceptor.local_endpoint(ec).port();
        const std::string shown = addr.is_v6() ? "[" + addr.to_string() + "]" : opts.listen_host;
        url = std::string(tls ? "https://" : "http://") + shown + ":" + std::to_string(port);
    }

    /// @locality the acceptor's strand
    net::awaitable<void> accept_loop() {
        for (;;) {
            // A strand per connection when several threads run the io_context;
            // with one (the default) the thread itself serializes, and a strand
            // would only add its dispatch to every completion.
            const bool open = opts.threads > 1 ? co_await accept_one(net::make_strand(ioc))
                                               : co_await accept_one(ioc.get_executor());
            if (!open) co_return;
        }
    }

    /// Accepts one connection on `ex` and starts serving it; false when the
    /// acceptor is closed.
    template <class Executor>
    net::awaitable<bool> accept_one(Executor ex) {
        beast::error_code ec;
        plain_stream<Executor> socket =
            co_await acceptor.async_accept(ex, net::redirect_error(net::use_awaitable, ec));
        if (ec) {
            if (!acceptor.is_open()) co_return false;
            // EMFILE and friends: keep accepting after a short pause.
            net::steady_timer pause(acceptor.get_executor(), 10ms);
            co_await pause.async_wait(net::redirect_error(net::use_awaitable, ec));
            co_return true;
        }
        if (metrics.open_connections() >= opts.limits.max_connections) {
            metrics.connection_refused();
            socket.close(ec);  // at once: answering would cost what the bound saves
            co_return true;
        }
        socket.set_option(tcp::no_delay(true), ec);
        std::string peer = peer_of(socket);
        if (tls) spawn(std::make_shared<Conn<tls_stream<Executor>>>(std::move(peer), std::move(socket), *tls));
        else spawn(std::make_shared<Conn<plain_stream<Executor>>>(std::move(peer), std::move(socket)));
        co_return true;
    }

    /// Closes the connections past their deadline, a few times per timeout (so
    /// a deadline is kept within a quarter of its length, at most 250 ms late).
    /// Ends with the io_context.
    net::awaitable<void> sweep() {
        const auto shortest = std::min(opts.limits.read_timeout, opts.limits.idle_timeout);
        const auto period = std::clamp<std::chrono::milliseconds>(shortest / 4, 5ms, 250ms);
        net::steady_timer timer(co_await net::this_coro::executor);
        std::vector<std::shared_ptr<ConnBase>> expired;
        for (;;) {
            timer.expires_after(period);
            beast::error_code ec;
            co_await timer.async_wait(net::redirect_error(net::use_awaitable, ec));
            const std::int64_t now = steady::now().time_since_epoch().count();
            {
                std::lock_guard lock(mu);
                for (const auto& c : live)
                    if (c->deadline_ns.load(std::memory_order_relaxed) <= now &&
                        !c->timed_out.exchange(true, std::memory_order_relaxed))
                        expired.push_back(c);
            }
            for (auto& c : expired) net::post(c->executor(), [c] { c->close(); });
            expired.clear();
        }
    }

    template <class Stream>
    void spawn(std::shared_ptr<Conn<Stream>> c) {
        {
            std::lock_guard lock(mu);
            if (stopping) return;  // c's destructor closes the socket
            live.insert(c);
        }
        metrics.connection_opened();
        net::co_spawn(c->stream.get_executor(), session(c), [this, c](std::exception_ptr) {
            c->close();
            metrics.connection_closed();
            std::lock_guard lock(mu);
            live.erase(c);
            cv.notify_all();
        });
    }

    template <class Stream>
    static constexpr bool is_tls = is_tls_stream<Stream>::value;

    /// @locality the connection's strand
    template <class Stream>
    net::awaitable<void, typename Stream::executor_type> session(std::shared_ptr<Conn<Stream>> c) {
        beast::error_code ec;
        auto tok = net::redirect_error(net::use_awaitable_t<typename Stream::executor_type>{}, ec);
        auto& lowest = beast::get_lowest_layer(c->stream);  // the tcp::socket
        const Limits& lim = opts.limits;

        if constexpr (is_tls<Stream>) {
            c->expires_after(lim.read_timeout);
            co_await c->stream.async_handshake(net::ssl::stream_base::server, tok);
            if (ec) {
                metrics.tls_handshake_failed();
                co_return;
            }
        }

        if constexpr (!is_tls<Stream>) lowest.non_blocking(true, ec);  // for write_now
        beast::flat_buffer buffer;
        // Kept across the connection's requests, so that their buffers are reused.
        RequestHead head;
        capi::pixel::Response res;
        std::string out;
        std::optional<RequestHeadParser> parser;
        for (;;) {
            if (buffer.size() == 0) {
                // Idle between requests: the only wait not bounded by read_timeout.
                c->busy = false;
                if (stopping) break;
                c->expires_after(lim.idle_timeout);
                const std::size_t n = co_await c->stream.async_read_some(buffer.prepare(4096), tok);
                if (ec) break;  // closed, idle too long, or stop()
                buffer.commit(n);
            }
            c->busy = true;
            c->expires_after(lim.read_timeout);
            parser.emplace(head);
            // The request line and the fields in one bound; which one was
            // exceeded is told apart below.
            parser->header_limit(static_cast<std::uint32_t>(lim.max_target_bytes + lim.max_header_bytes + 64));
            parser->body_limit(opts.pixel.max_body_bytes);
            // A header already whole in the buffer (one read brought the request,
            // or it was pipelined) is parsed here: Beast's read operation would
            // parse the same bytes, then post its completion through the executor.
            // Errors are the parser's, as Beast's read would report them.
            ec = {};
            if (buffer.size() != 0) {
                buffer.consume(parser->put(buffer.data(), ec));
                if (ec == http::error::need_more) ec = {};
            }
            if (!ec && !parser->is_header_done()) co_await http::async_read_header(c->stream, buffer, *parser, tok);
            auto start = steady::now();
            if (ec == http::error::header_limit) {
                // Beast consumes the request line once parsed: a target is known
                // only when the line was whole, and then it is the fields that
                // were too large unless the target itself is.
                const std::string_view target = head.target;
                const bool uri = target.empty() || target.size() > lim.max_target_bytes;
                co_await refuse(*c, out, uri ? http::status::uri_too_long : http::status::request_header_fields_too_large,
                                route_of(path_of(target)), uri ? Outcome::uri_too_long : Outcome::header_too_large,
                                start);
                break;
            }
            if (ec == http::error::body_limit) {  // a Content-Length over the bound
                co_await refuse(*c, out, http::status::payload_too_large, route_of(path_of(head.target)),
                                Outcome::too_large, start);
                break;
            }
            if (ec && c->timed_out.load(std::memory_order_relaxed)) {
                metrics.read_timeout();
                break;
            }
            if (ec) {
                // Not HTTP Beast can parse: say so. A peer that closed or reset: nothing to say.
                if (ec.category() == http::make_error_code(http::error::bad_method).category() &&
                    ec != http::error::end_of_stream && ec != http::error::partial_message)
                    co_await refuse(*c, out, http::status::bad_request, Route::other, Outcome::bad_request, start);
                break;
            }
            const Route route = route_of(path_of(head.target));
            if (head.target.size() > lim.max_target_bytes) {
                co_await refuse(*c, out, http::status::uri_too_long, route, Outcome::uri_too_long, start);
                break;
            }
            if (head.header_bytes > lim.max_header_bytes) {
                co_await refuse(*c, out, http::status::request_header_fields_too_large, route,
                                Outcome::header_too_large, start);
                break;
            }
            if (const auto length = parser->content_length(); length && *length > opts.pixel.max_body_bytes) {
                co_await refuse(*c, out, http::status::payload_too_large, route, Outcome::too_large, start);
                break;
            }
            if (beast::iequals(head.expect, "100-continue")) {
                static constexpr std::string_view go_on = "HTTP/1.1 100 Continue\r\n\r\n";
                co_await net::async_write(c->stream, net::buffer(go_on.data(), go_on.size()), tok);
                if (ec) break;
            }
            if (!parser->is_done()) co_await http::async_read(c->stream, buffer, *parser, tok);
            if (ec == http::error::body_limit) {
                co_await refuse(*c, out, http::status::payload_too_large, route, Outcome::too_large, start);
                break;
            }
            if (ec && c->timed_out.load(std::memory_order_relaxed)) metrics.read_timeout();
            if (ec) break;
            start = steady::now();

            Outcome outcome = Outcome::bad_request;
            answer(head, route, c->peer, is_tls<Stream>, outcome, res);
            const bool keep_alive = parser->keep_alive() && !stopping;
            serialize_answer(out, head.version, res.status, res.content_type, res.headers, res.body, keep_alive);
            // Counted before the answer leaves: a client that has it sees it counted.
            metrics.request(route, outcome);
            if (const std::size_t sent = write_now(*c, out); sent < out.size()) {
                c->expires_after(lim.read_timeout);
                co_await net::async_write(c->stream, net::buffer(out.data() + sent, out.size() - sent), tok);
            }
            metrics.request_took(steady::now() - start);
            if (ec || !keep_alive) break;
        }
        c->busy = false;
        if constexpr (is_tls<Stream>) {
            c->expires_after(1000ms);  // close_notify, briefly: the peer may be gone
            co_await c->stream.async_shutdown(tok);
        } else {
            lowest.shutdown(tcp::socket::shutdown_send, ec);
        }
    }

    /// Sends what the socket takes at once (a plain TCP socket in non-blocking
    /// mode: an answer usually fits its buffer), so that the coroutine goes on
    /// without an asynchronous write completing through the executor. Returns the
    /// bytes sent; an error sends none and is reported by the asynchronous write
    /// of the rest. TLS: none (the TLS stream writes records asynchronously).
    template <class Stream>
    static std::size_t write_now(Conn<Stream>& c, const std::string& out) noexcept {
        if constexpr (is_tls<Stream>) {
            return 0;
        } else {
            beast::error_code ec;
            const std::size_t n = c.stream.write_some(net::buffer(out), ec);
            return ec ? 0 : n;
        }
    }

    /// Answers a request refused before it was read whole, and ends the connection.
    /// @locality the connection's strand
    template <class Stream>
    net::awaitable<void, typename Stream::executor_type> refuse(Conn<Stream>& c, std::string& out, http::status status, Route route, Outcome outcome,
                                steady::time_point start) {
        const auto reason = http::obsolete_reason(status);
        std::string body(reason.data(), reason.size());
        body += '\n';
        serialize_answer(out, 11, static_cast<int>(status), "text/plain; charset=utf-8", {}, body, false);
        beast::error_code ec;
        c.expires_after(opts.limits.read_timeout);
        metrics.request(route, outcome);
        co_await net::async_write(c.stream, net::buffer(out),
                                  net::redirect_error(net::use_awaitable_t<typename Stream::executor_type>{}, ec));
        metrics.request_took(steady::now() - start);
    }

    static void text(capi::pixel::Response& r, int status, std::string_view body, std::string_view type) {
        r.status = status;
        r.content_type.assign(type);
        r.body.assign(body);
        r.headers.clear();
    }

    /// Fills `r` with the answer to `req` (r's buffers are reused).
    /// @locality any thread (Endpoint and Client are thread-safe)
    void answer(const RequestHead& req, Route route, std::string_view peer, bool over_tls, Outcome& outcome,
                capi::pixel::Response& r) {
        if (route == Route::healthz) {
            outcome = Outcome::ok;
            if (stopping) return text(r, 503, "stopping\n", "text/plain; charset=utf-8");
            return text(r, 200, "ok\n", "text/plain; charset=utf-8");
        }
        if (route == Route::metrics) {
            outcome = Outcome::ok;
            return text(r, 200, metrics.render(client->stats()), "text/plain; version=0.0.4; charset=utf-8");
        }
        capi::pixel::Request pr;
        pr.method = req.method;
        pr.target = req.target;
        pr.body = req.body;
        pr.content_type = req.content_type;
        pr.peer_address = peer;
        pr.user_agent = req.user_agent;
        pr.referer = req.referer;
        pr.cookie = req.cookie;
        pr.origin = req.origin;
        pr.x_forwarded_for = req.x_forwarded_for;
        pr.x_forwarded_proto = req.x_forwarded_proto;
        pr.forwarded = req.forwarded;
        pr.tls = over_tls;
        try {
            endpoint.handle(pr, r);
        } catch (const std::exception&) {
            outcome = Outcome::bad_request;
            return text(r, 500, "internal error\n", "text/plain; charset=utf-8");
        }
        outcome = from_pixel(r.outcome);
        count_rejections(r);

        std::uint64_t accepted = 0;
        for (const auto& routed : r.events) {
            const capi::EnqueueResult e = enqueue(routed);
            if (e) {
                ++accepted;
                continue;
            }
            // The first refusal answers for the request; events queued before it stay queued.
            using S = capi::EnqueueResult::Status;
            if (e.status == S::invalid) {
                metrics.event_rejected(Rejection::invalid);
                if (outcome == Outcome::accepted || outcome == Outcome::partial) {
                    outcome = Outcome::invalid;
                    r.status = 400;
                    r.content_type = "application/json";
                    r.body = invalid_body(e);
                }
                continue;
            }
            const bool full = e.status == S::queue_full;
            metrics.event_rejected(full ? Rejection::queue_full : Rejection::shutting_down);
            if (outcome != Outcome::queue_full && outcome != Outcome::shutting_down) {
                outcome = full ? Outcome::queue_full : Outcome::shutting_down;
                r.status = 503;
                r.content_type = "application/json";
                r.body = full ? R"({"error":"queue full: try again later"})" : R"({"error":"shutting down"})";
                r.headers.emplace_back("Retry-After", "1");
            }
        }
        metrics.events_accepted(accepted);
    }

    /// The default destination (the first pixel) needs no copy of the token per
    /// event; other pixels take their prepared Destination.
    capi::EnqueueResult enqueue(const capi::pixel::Routed& routed) {
        if (routed.pixel_id == opts.client.destination.pixel_id) return client->enqueue(routed.event);
        auto it = destinations.find(routed.pixel_id);
        if (it != destinations.end()) return client->enqueue(routed.event, it->second);
        capi::Destination dest = opts.client.destination;  // Endpoint serves only opts.pixel.pixels
        dest.pixel_id = routed.pixel_id;
        return client->enqueue(routed.event, std::move(dest));
    }

    void count_rejections(const capi::pixel::Response& r) noexcept {
        using P = capi::pixel::Outcome;
        if (r.outcome == P::foreign_pixel) metrics.event_rejected(Rejection::foreign_pixel);
        else if (!r.rejected.empty()) metrics.event_rejected(Rejection::invalid, r.rejected.size());
        else if (r.outcome == P::rejected) metrics.event_rejected(Rejection::invalid);  // a malformed hit
    }

    static std::string json_escape(std::string_view s) {
        std::string out;
        for (char ch : s) {
            const auto c = static_cast<unsigned char>(ch);
            if (c == '"' || c == '\\') {
                out += '\\';
                out += ch;
            } else if (c < 0x20) {
                char esc[8];
                std::snprintf(esc, sizeof esc, "\\u%04x", c);
                out += esc;
            } else {
                out += ch;
            }
        }
        return out;
    }

    static std::string invalid_body(const capi::EnqueueResult& e) {
        std::string b = R"({"error":"invalid event","errors":[)";
        for (std::size_t i = 0; i < e.errors.size(); ++i) {
            if (i) b += ',';
            b += R"({"field":")" + json_escape(e.errors[i].path) + R"(","reason":")" +
                 json_escape(e.errors[i].reason) + "\"}";
        }
        return b + "]}";
    }

    Summary stop(std::chrono::milliseconds drain) {
        std::vector<std::shared_ptr<ConnBase>> conns;
        {
            std::lock_guard lock(mu);
            if (stopped_) return *stopped_;
            stopping = true;
            conns.assign(live.begin(), live.end());
        }
        net::post(acceptor.get_executor(), [this] {
            beast::error_code ec;
            acceptor.close(ec);
        });
        // Idle connections close now; busy ones answer (Connection: close) first.
        for (auto& c : conns)
            net::post(c->executor(), [c] {
                if (!c->busy) c->close();
            });
        const auto until = steady::now() + drain;
        {
            std::unique_lock lock(mu);
            cv.wait_until(lock, until, [this] { return live.empty() && !accepting; });
            conns.assign(live.begin(), live.end());
        }
        for (auto& c : conns) net::post(c->executor(), [c] { c->close(); });
        {
            std::unique_lock lock(mu);
            cv.wait_for(lock, 2s, [this] { return live.empty() && !accepting; });
        }
        const auto left = std::max<std::chrono::milliseconds>(
            std::chrono::duration_cast<std::chrono::milliseconds>(until - steady::now()), 100ms);
        Summary s;
        s.drained = client->shutdown(left);
        work.reset();
        ioc.stop();
        for (auto& t : threads) {
            if (t.get_id() == std::this_thread::get_id()) t.detach();
            else if (t.joinable()) t.join();
        }
        s.totals = metrics.totals();
        s.client = client->stats();
        std::lock_guard lock(mu);
        stopped_ = s;
        return s;
    }
};

Gateway::Gateway(GatewayOptions options) : impl_(std::make_unique<impl>(std::move(options))) {}
Gateway::~Gateway() = default;
std::uint16_t Gateway::port() const noexcept { return impl_->port; }
std::string Gateway::url() const { return impl_->url; }
bool Gateway::tls() const noexcept { return impl_->tls.has_value(); }
std::string Gateway::metrics_text() const { return impl_->metrics.render(impl_->client->stats()); }
const Metrics& Gateway::metrics() const noexcept { return impl_->metrics; }
capi::Stats Gateway::client_stats() const { return impl_->client->stats(); }
bool Gateway::flush(std::chrono::milliseconds timeout) { return impl_->client->flush(timeout); }
Summary Gateway::stop(std::chrono::milliseconds drain) { return impl_->stop(drain); }

} // namespace capi_gateway
