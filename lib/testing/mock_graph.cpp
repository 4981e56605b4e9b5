// capi::testing::MockGraphServer: Boost.Beast HTTP/1.1 over asio::ssl on
// 127.0.0.1, one coroutine per connection on its own strand, an io_context run
// by the threads the server owns. The only Beast translation unit of
// capi-testing: the rules (graph_rules.cpp) and certificates (certs.cpp) are
// plain C++ and OpenSSL.
//
// Answers: a request is read whole (into a body string the connection reuses),
// evaluated by rules::evaluate (for the log and the normal answer), then the next
// scripted Fault, if any, else a throttling burst's Fault::throttling, decides what
// happens:
//   respond   status + body + headers; status 200 with an empty body means the
//             normal answer for the request (the rules' verdict)
//   close     TCP FIN without an answer
//   reset     SO_LINGER 0 then close: the peer sees a TCP RST
//   hang      no answer; the connection is read (and discarded) until the peer
//             closes it or stop() closes it
//   truncate  the chosen answer's status line and headers (Content-Length of the
//             whole body), then half of the body, then close without TLS close_notify
// each no earlier than MockOptions::delay after the request was read (a timer: the
// thread serves other connections meanwhile), plus the Fault's own delay. Wrong
// paths get 404 with a Graph error body (code 2500, "Unknown path components"),
// so a misconfigured endpoint is obvious in a test; other methods than POST get
// Graph's 400 code 100 "Unsupported get request".
#include <capi/testing/mock_graph.hpp>

#include "testing/certs.hpp"
#include "transport/crc32.hpp"
#include "testing/graph_rules.hpp"
#include "testing/tls_layer.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/zlib/deflate_stream.hpp>

#include <openssl/ssl.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <set>
#include <system_error>
#include <thread>

namespace capi::testing {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

Fault Fault::graph_error(int status, int code, int subcode, bool transient, std::string message) {
    rules::ErrorFields f;
    f.message = std::move(message);
    f.code = code;
    f.subcode = subcode;
    f.is_transient = transient;
    Fault fault;
    fault.action = Action::respond;
    fault.status = status;
    fault.body = rules::error_body(f);
    return fault;
}

Fault Fault::throttling(int code) {
    // The messages and subcodes Graph sends (reference/graph-api.md); clients
    // branch on the code, so that is what must be right.
    switch (code) {
    case 429: {
        Fault fault;
        fault.status = 429;
        fault.body = "Too Many Requests";
        return fault;
    }
    case 4: return graph_error(403, 4, 0, true, "(#4) Application request limit reached");
    case 17: return graph_error(400, 17, 2446079, true, "(#17) User request limit reached");
    case 32: return graph_error(400, 32, 0, true, "(#32) Page request limit reached");
    case 613: return graph_error(400, 613, 1487742, true, "Calls to this api have exceeded the rate limit.");
    default:
        if (code >= 80000 && code <= 80014)
            return graph_error(400, code, 2446079, true,
                               "(#" + std::to_string(code) + ") There have been too many calls from this "
                               "ad-account. Please wait a bit and try again.");
        return graph_error(400, code, 0, false, "mock error");
    }
}

namespace {

constexpr std::size_t header_limit = 64 * 1024;
constexpr std::size_t body_limit = 64 * 1024 * 1024;
// Bytes kept readable past a body, so the rules parse it in place (rules::Request).
constexpr std::size_t body_padding = 64;
// The read buffer's size (headers, chunked bodies): Beast reads at most its free
// capacity at a time, and a flat_buffer left to grow by itself stays at 512
// bytes, one TLS read and one pass through Beast's parser per 512 bytes.
constexpr std::size_t read_buffer_bytes = 64 * 1024;
// What one read of the socket may take under TLS (ReadAhead).
constexpr std::size_t read_ahead_bytes = 256 * 1024;
// Bounds on a peer that stalls mid-message; an idle keep-alive connection waits
// without limit (until the client closes it or stop()).
constexpr auto handshake_timeout = 10s;
constexpr auto io_timeout = 60s;
constexpr auto shutdown_timeout = 2s;
// stop() waits this long for sessions to wind down before stopping the io_context.
constexpr auto stop_grace = 5s;

// RFC 1952 gzip member around Beast's raw deflate.
std::string gzip(std::string_view in) {
    std::string out = {'\x1f', '\x8b', '\x08', '\0', '\0', '\0', '\0', '\0', '\0', '\xff'};
    beast::zlib::deflate_stream ds;
    ds.reset(6, 15, 8, beast::zlib::Strategy::normal);
    const std::size_t header = out.size();
    out.resize(header + ds.upper_bound(in.size()) + 16);
    beast::zlib::z_params zs;
    zs.next_in = in.data();
    zs.avail_in = in.size();
    zs.next_out = out.data() + header;
    zs.avail_out = out.size() - header;
    beast::error_code ec;
    for (;;) {
        ds.write(zs, beast::zlib::Flush::finish, ec);
        if (ec == beast::zlib::error::end_of_stream) break;
        if (ec && ec != beast::zlib::error::need_buffers) return {};
        if (zs.avail_out == 0) {  // upper_bound should prevent this; grow anyway
            const std::size_t used = out.size();
            out.resize(used * 2);
            zs.next_out = out.data() + used;
            zs.avail_out = out.size() - used;
        } else if (ec) {
            return {};
        }
    }
    out.resize(out.size() - zs.avail_out);
    const std::uint32_t crc = capi::detail::crc32(in);
    const auto size = static_cast<std::uint32_t>(in.size());
    for (int i = 0; i < 4; ++i) out += static_cast<char>((crc >> (8 * i)) & 0xFF);
    for (int i = 0; i < 4; ++i) out += static_cast<char>((size >> (8 * i)) & 0xFF);
    return out;
}

// One request as read: its header and a view of its body (in the connection's
// body store, or in `chunked_body` for a chunked request).
struct Request {
    http::request_header<> header;
    std::string_view body;
    std::size_t body_padding = 0;  // readable bytes past `body` (rules::Request)
    bool keep_alive = true;
    std::chrono::steady_clock::time_point received;
    std::string chunked_body;
};

// What TLS reads from: the TCP stream behind a read-ahead buffer. Asio's TLS
// stream asks its next layer for at most one record (17 KB) at a time; read
// straight from the socket, a 1000-event body (1.3 MB) took about 120 reads,
// each a recvmsg and a re-armed timeout. Through this layer one read takes
// what the socket holds, up to read_ahead_bytes, and TLS takes its records
// from memory. Writes go straight through.
class ReadAhead {
public:
    using next_layer_type = beast::tcp_stream;
    using lowest_layer_type = tcp::socket;
    using executor_type = beast::tcp_stream::executor_type;

    explicit ReadAhead(beast::tcp_stream s) : next_(std::move(s)) { buf_.reserve(read_ahead_bytes); }

    executor_type get_executor() noexcept { return next_.get_executor(); }
    next_layer_type& next_layer() noexcept { return next_; }
    lowest_layer_type& lowest_layer() noexcept { return next_.socket(); }
    const lowest_layer_type& lowest_layer() const noexcept { return next_.socket(); }

    template <class ConstBuffers, class Token>
    auto async_write_some(const ConstBuffers& buffers, Token&& token) {
        return next_.async_write_some(buffers, std::forward<Token>(token));
    }

    template <class MutableBuffers, class Token>
    auto async_read_some(const MutableBuffers& buffers, Token&& token) {
        enum { start, filled, buffered };
        return net::async_compose<Token, void(beast::error_code, std::size_t)>(
            [this, buffers, step = int{start}](auto& self, beast::error_code ec = {}, std::size_t n = 0) mutable {
                if (step == start) {
                    if (buf_.size() != 0 || net::buffer_size(buffers) == 0) {
                        // Completes through the next layer's empty read, which
                        // posts: never inside this call.
                        step = buffered;
                        next_.async_read_some(net::mutable_buffer(), std::move(self));
                    } else {
                        step = filled;
                        // Filled only when empty: nothing is ever moved.
                        next_.async_read_some(buf_.prepare(read_ahead_bytes), std::move(self));
                    }
                    return;
                }
                if (step == filled) {
                    // Bytes read come first; an error with none ends the read
                    // (and one with bytes comes again on the next fill).
                    if (n == 0) {
                        if (!ec) ec = net::error::eof;
                        return self.complete(ec, 0);
                    }
                    buf_.commit(n);
                } else if (buf_.size() == 0) {
                    return self.complete(ec, 0);  // an empty read asked for
                }
                const std::size_t k = net::buffer_copy(buffers, buf_.data());
                buf_.consume(k);
                self.complete({}, k);
            },
            token, next_);
    }

private:
    beast::tcp_stream next_;
    beast::flat_buffer buf_;  // bytes read from the socket that TLS has not taken
};

struct Connection {
    Connection(tcp::socket socket, net::ssl::context& ctx, std::uint64_t serial_)
        : stream(ReadAhead(beast::tcp_stream(std::move(socket))), ctx),
          timer(stream.get_executor()),
          serial(serial_) {}

    // TLS over the read-ahead layer; one copy of Asio's TLS operations (tls_layer.hpp).
    detail::TlsLayer<ReadAhead> stream;
    net::steady_timer timer;  // delays and hangs
    std::uint64_t serial;
    // Bodies with a Content-Length are read straight into this store, which only
    // grows: no allocation, zero-filling or copy through the read buffer per
    // request (a 1000-event batch is a megabyte), and padding to parse it in place.
    std::string body_store;
    bool stopped = false;     // set on the strand by stop()

    /// @locality the connection's strand
    void close() noexcept {
        stopped = true;
        timer.cancel();
        beast::error_code ec;
        beast::get_lowest_layer(stream).socket().close(ec);
    }
    /// @locality the connection's strand
    void reset() noexcept {
        beast::error_code ec;
        auto& s = beast::get_lowest_layer(stream).socket();
        s.set_option(net::socket_base::linger(true, 0), ec);
        s.close(ec);
    }
};

} // namespace

struct MockGraphServer::impl {
    MockOptions options;
    detail::ServerIdentity identity;

    mutable std::mutex mu;
    std::condition_variable cv;  // live emptied or the accept loop ended
    std::deque<Fault> faults;
    ThrottleBurst burst;             // after_requests / requests count down
    std::size_t throttled_total = 0;
    std::vector<LoggedRequest> log;
    std::size_t accepted_events = 0;
    std::set<std::shared_ptr<Connection>> live;
    bool accepting = false;
    bool stopping = false;
    std::atomic<std::uint64_t> connections{0};
    std::uint16_t port = 0;

    net::ssl::context ssl{net::ssl::context::tls_server};
    // Declared after the state above: destroying the io_context destroys any
    // coroutine frame still pending, and those frames touch that state.
    net::io_context ioc;
    tcp::acceptor acceptor{net::make_strand(ioc)};
    net::executor_work_guard<net::io_context::executor_type> work{ioc.get_executor()};
    std::vector<std::thread> threads;

    explicit impl(MockOptions o) : options(std::move(o)), identity(detail::mint_identity(options.cert)) {
        setup_tls();
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
        const unsigned n = options.threads == 0 ? 1 : options.threads;
        threads.reserve(n);
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

    ~impl() { stop(); }

    // The message names the step and its address, not the program: the caller
    // (a test, `capi mock-server`) adds its own prefix.
    [[noreturn]] static void fail(beast::error_code ec, const std::string& what) {
        throw std::system_error(std::error_code(ec), what);
    }

    void setup_tls() {
        beast::error_code ec;
        ssl.set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                            net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 |
                            net::ssl::context::no_tlsv1_1 | net::ssl::context::single_dh_use,
                        ec);
        if (ec) fail(ec, "TLS options");
        if (options.legacy_tls_only) {
            SSL_CTX_clear_options(ssl.native_handle(), SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1);
            SSL_CTX_set_security_level(ssl.native_handle(), 0);
            if (SSL_CTX_set_min_proto_version(ssl.native_handle(), TLS1_VERSION) != 1 ||
                SSL_CTX_set_max_proto_version(ssl.native_handle(), TLS1_1_VERSION) != 1 ||
                SSL_CTX_set_cipher_list(ssl.native_handle(), "DEFAULT:@SECLEVEL=0") != 1)
                fail(net::error::invalid_argument, "TLS 1.0/1.1 only");
        } else if (SSL_CTX_set_min_proto_version(ssl.native_handle(), TLS1_2_VERSION) != 1) {
            fail(net::error::invalid_argument, "TLS 1.2 minimum");
        }
        ssl.use_certificate_chain(net::buffer(identity.cert_pem), ec);
        if (ec) fail(ec, "server certificate");
        ssl.use_private_key(net::buffer(identity.key_pem), net::ssl::context::pem, ec);
        if (ec) fail(ec, "server key");
    }

    void listen() {
        beast::error_code ec;
        const tcp::endpoint ep(net::ip::make_address_v4("127.0.0.1"), options.port);
        acceptor.open(ep.protocol(), ec);
        if (ec) fail(ec, "socket");
        acceptor.set_option(net::socket_base::reuse_address(true), ec);
        if (ec) fail(ec, "SO_REUSEADDR");
        acceptor.bind(ep, ec);
        if (ec) fail(ec, "bind 127.0.0.1:" + std::to_string(options.port));
        acceptor.listen(net::socket_base::max_listen_connections, ec);
        if (ec) fail(ec, "listen");
        port = acceptor.local_endpoint(ec).port();
        if (ec) fail(ec, "local endpoint");
    }

    /// @locality the acceptor's strand
    net::awaitable<void> accept_loop() {
        for (;;) {
            beast::error_code ec;
            tcp::socket socket = co_await acceptor.async_accept(
                net::make_strand(ioc), net::redirect_error(net::use_awaitable, ec));
            if (ec) {
                if (!acceptor.is_open()) co_return;
                // EMFILE and friends: keep accepting after a short pause.
                net::steady_timer pause(acceptor.get_executor(), 10ms);
                co_await pause.async_wait(net::redirect_error(net::use_awaitable, ec));
                continue;
            }
            socket.set_option(tcp::no_delay(true), ec);
            const std::uint64_t serial = connections.fetch_add(1) + 1;
            auto conn = std::make_shared<Connection>(std::move(socket), ssl, serial);
            {
                std::lock_guard lock(mu);
                if (stopping) co_return;  // conn's destructor closes the socket
                live.insert(conn);
            }
            net::co_spawn(conn->stream.get_executor(), session(conn), [this, conn](std::exception_ptr) {
                beast::error_code ignored;
                beast::get_lowest_layer(conn->stream).socket().close(ignored);
                std::lock_guard lock(mu);
                live.erase(conn);
                cv.notify_all();
            });
        }
    }

    /// Logs the request and picks its answer: the next scripted Fault, else a
    /// throttling burst's, else none (the rules' verdict). Returns the log index.
    std::size_t log_and_pick(LoggedRequest entry, std::optional<Fault>& fault) {
        std::lock_guard lock(mu);
        if (!faults.empty()) {
            fault = std::move(faults.front());
            faults.pop_front();
            entry.fault = true;
        } else if (burst.requests > 0) {
            if (burst.after_requests > 0) {
                --burst.after_requests;
            } else {
                --burst.requests;
                ++throttled_total;
                entry.throttled = true;
                fault = Fault::throttling(burst.code);
            }
        }
        log.push_back(std::move(entry));
        return log.size() - 1;
    }

    void set_status(std::size_t index, int status, std::size_t events_accepted) {
        std::lock_guard lock(mu);
        if (index < log.size()) log[index].status = status;
        accepted_events += events_accepted;
    }

    /// Waits until `t` on the connection's timer (a coroutine suspended, no thread
    /// held); false when the server stopped meanwhile.
    /// @locality the connection's strand
    static net::awaitable<bool> wait_until(Connection& c, std::chrono::steady_clock::time_point t) {
        if (c.stopped) co_return false;
        if (t <= std::chrono::steady_clock::now()) co_return true;
        beast::error_code ec;
        c.timer.expires_at(t);
        co_await c.timer.async_wait(net::redirect_error(net::use_awaitable, ec));
        co_return !c.stopped;
    }
    static net::awaitable<bool> wait(Connection& c, std::chrono::milliseconds d) {
        if (c.stopped) co_return false;
        if (d.count() <= 0) co_return true;
        co_return co_await wait_until(c, std::chrono::steady_clock::now() + d);
    }

    /// @locality the connection's strand
    net::awaitable<void> session(std::shared_ptr<Connection> c) {
        beast::error_code ec;
        auto tok = net::redirect_error(net::use_awaitable, ec);
        auto& tcp_layer = beast::get_lowest_layer(c->stream);

        tcp_layer.expires_after(handshake_timeout);
        co_await c->stream.next_layer().async_handshake(net::ssl::stream_base::server, tok);
        if (ec || c->stopped) co_return;  // e.g. the client rejected our certificate

        beast::flat_buffer buffer;
        buffer.reserve(read_buffer_bytes);
        for (;;) {
            http::request_parser<http::empty_body> head;
            head.header_limit(header_limit);
            head.body_limit(body_limit);
            tcp_layer.expires_never();
            co_await http::async_read_header(c->stream, buffer, head, tok);
            if (ec || c->stopped) co_return;  // the client closed, or a bad request
            tcp_layer.expires_after(io_timeout);
            if (beast::iequals(head.get()[http::field::expect], "100-continue")) {
                http::response<http::empty_body> go_on{http::status::continue_, 11};
                co_await http::async_write(c->stream, go_on, tok);
                if (ec) co_return;
            }
            Request req;
            req.keep_alive = head.keep_alive();
            if (head.chunked()) {  // rare (curl -T -, some SDKs): Beast reads it
                http::request_parser<http::string_body> full(std::move(head));
                co_await http::async_read(c->stream, buffer, full, tok);
                if (ec || c->stopped) co_return;
                auto message = full.release();
                req.chunked_body = std::move(message.body());
                req.header = std::move(message.base());
                req.body = req.chunked_body;
                req.body_padding = req.chunked_body.capacity() - req.chunked_body.size();
            } else {
                // No Content-Length and not chunked: no body (RFC 9112 6.3).
                const std::uint64_t length = head.content_length().value_or(0);
                if (length > body_limit) co_return;  // as Beast's body_limit would
                const auto len = static_cast<std::size_t>(length);
                if (c->body_store.size() < len + body_padding) c->body_store.resize(len + body_padding);
                const std::size_t buffered = std::min(buffer.size(), len);
                net::buffer_copy(net::buffer(c->body_store.data(), buffered), buffer.data());
                buffer.consume(buffered);
                if (len > buffered) {
                    co_await net::async_read(c->stream, net::buffer(c->body_store.data() + buffered, len - buffered),
                                             tok);
                    if (ec || c->stopped) co_return;
                }
                req.header = std::move(head.get().base());
                req.body = std::string_view(c->body_store.data(), len);
                req.body_padding = c->body_store.size() - len;
            }
            req.received = std::chrono::steady_clock::now();
            const bool keep = co_await answer(*c, req);
            if (!keep || c->stopped) co_return;
        }
    }

    /// Answers one request; false when the connection must end.
    /// @locality the connection's strand
    net::awaitable<bool> answer(Connection& c, const Request& in) {
        const http::request_header<>& req = in.header;
        const auto received = in.received;
        beast::error_code ec;
        auto tok = net::redirect_error(net::use_awaitable, ec);

        const std::string_view method = req.method_string();
        const std::string_view target = req.target();
        const std::string_view content_type = req[http::field::content_type];
        rules::Request rr{method, target, content_type, req[http::field::authorization], in.body, in.body_padding};
        rules::Config cfg{options.access_token, options.app_secret, capi::now(options.clock),
                          static_cast<bool>(options.on_accepted)};
        rules::Verdict verdict = rules::evaluate(rr, cfg);

        LoggedRequest entry;
        entry.received = received;
        entry.method = std::string(method);
        entry.target = rules::redact_target(target);
        entry.content_type = std::string(content_type);
        entry.user_agent = std::string(req[http::field::user_agent]);
        entry.access_token_ok = verdict.access_token_ok;
        entry.appsecret_proof_ok = verdict.appsecret_proof_ok;
        entry.body_bytes = in.body.size();
        entry.event_ids = std::move(verdict.event_ids);
        entry.test_event_code = verdict.test_event_code;
        entry.events = verdict.events;
        entry.connection = c.serial;

        std::optional<Fault> fault;
        const std::size_t index = log_and_pick(std::move(entry), fault);

        if (!co_await wait_until(c, received + options.delay)) co_return false;
        if (fault && !co_await wait(c, fault->delay)) co_return false;
        const auto action = fault ? fault->action : Fault::Action::respond;
        switch (action) {
        case Fault::Action::close: {
            beast::get_lowest_layer(c.stream).socket().shutdown(tcp::socket::shutdown_both, ec);
            c.close();
            co_return false;
        }
        case Fault::Action::reset:
            c.reset();
            co_return false;
        case Fault::Action::hang: {
            // Never answer; read and discard until the peer or stop() closes.
            std::array<char, 4096> sink;
            beast::get_lowest_layer(c.stream).expires_never();
            while (!c.stopped) {
                co_await c.stream.async_read_some(net::buffer(sink), tok);
                if (ec) break;
            }
            co_return false;
        }
        case Fault::Action::respond:
        case Fault::Action::truncate: break;
        }

        // The normal answer, unless the fault scripts another status or body.
        const bool normal = !fault || (fault->body.empty() && fault->status == 200);
        int status = normal ? verdict.status : fault->status;
        if (status < 100 || status > 999) status = 500;
        std::string body = normal ? verdict.body : fault->body;

        http::response<http::string_body> res;
        res.version(req.version());
        res.result(static_cast<unsigned>(status));
        if (!body.empty()) {
            const bool json = body.front() == '{' || body.front() == '[';
            res.set(http::field::content_type,
                    json ? "application/json; charset=UTF-8" : "text/html; charset=utf-8");
        }
        if (normal) {
            res.set("x-fb-trace-id", verdict.fbtrace_id);
            if (!verdict.api_version.empty()) res.set("facebook-api-version", verdict.api_version);
        }
        if (fault) {
            for (const auto& [name, value] : fault->headers) res.set(name, value);
        }
        if (options.gzip && !body.empty()) {
            body = gzip(body);
            res.set(http::field::content_encoding, "gzip");
        }
        res.keep_alive(in.keep_alive);
        const std::size_t full = body.size();
        res.body() = std::move(body);
        res.prepare_payload();

        const bool success = normal && verdict.success && action == Fault::Action::respond;
        set_status(index, status, success ? verdict.events : 0);
        // Before the answer: once a client sees its success, the hook has the events.
        if (success && options.on_accepted) options.on_accepted(verdict.pixel_id, verdict.event_json);

        if (action == Fault::Action::truncate) {
            http::response_serializer<http::string_body> sr{res};
            co_await http::async_write_header(c.stream, sr, tok);
            if (!ec && full / 2 > 0)
                co_await net::async_write(c.stream, net::buffer(res.body().data(), full / 2), tok);
            c.close();  // no close_notify: the peer must see a truncated stream
            co_return false;
        }

        co_await http::async_write(c.stream, res, tok);
        if (ec) co_return false;
        if (!res.keep_alive()) {
            beast::get_lowest_layer(c.stream).expires_after(shutdown_timeout);
            co_await c.stream.next_layer().async_shutdown(tok);
            co_return false;
        }
        co_return true;
    }

    void drop_connections() {
        std::vector<std::shared_ptr<Connection>> conns;
        {
            std::lock_guard lock(mu);
            conns.assign(live.begin(), live.end());
        }
        for (auto& c : conns) net::post(c->stream.get_executor(), [c] { c->close(); });
        std::unique_lock lock(mu);
        cv.wait_for(lock, stop_grace, [&] {
            return std::none_of(conns.begin(), conns.end(), [&](const auto& c) { return live.count(c) != 0; });
        });
    }

    void stop() {
        std::vector<std::shared_ptr<Connection>> conns;
        {
            std::lock_guard lock(mu);
            if (stopping) return;
            stopping = true;
            conns.assign(live.begin(), live.end());
        }
        net::post(acceptor.get_executor(), [this] {
            beast::error_code ec;
            acceptor.close(ec);
        });
        for (auto& c : conns) net::post(c->stream.get_executor(), [c] { c->close(); });
        {
            std::unique_lock lock(mu);
            cv.wait_for(lock, stop_grace, [this] { return live.empty() && !accepting; });
        }
        work.reset();
        ioc.stop();
        for (auto& t : threads) {
            // A call from a server thread itself cannot join it; it ends on its own
            // once run() returns.
            if (t.get_id() == std::this_thread::get_id()) t.detach();
            else if (t.joinable()) t.join();
        }
    }
};

MockGraphServer::MockGraphServer(MockOptions options) : impl_(std::make_unique<impl>(std::move(options))) {}

MockGraphServer::~MockGraphServer() = default;

std::uint16_t MockGraphServer::port() const noexcept { return impl_->port; }

std::string MockGraphServer::url() const { return "https://127.0.0.1:" + std::to_string(impl_->port); }

std::string MockGraphServer::ca_pem() const { return impl_->identity.ca_pem; }

void MockGraphServer::push_fault(Fault fault) {
    std::lock_guard lock(impl_->mu);
    impl_->faults.push_back(std::move(fault));
}

void MockGraphServer::clear_faults() {
    std::lock_guard lock(impl_->mu);
    impl_->faults.clear();
}

std::size_t MockGraphServer::pending_faults() const {
    std::lock_guard lock(impl_->mu);
    return impl_->faults.size();
}

void MockGraphServer::throttle_burst(ThrottleBurst burst) {
    std::lock_guard lock(impl_->mu);
    impl_->burst = burst;
}

std::size_t MockGraphServer::requests_throttled() const {
    std::lock_guard lock(impl_->mu);
    return impl_->throttled_total;
}

std::size_t MockGraphServer::request_count() const {
    std::lock_guard lock(impl_->mu);
    return impl_->log.size();
}

std::vector<LoggedRequest> MockGraphServer::requests() const {
    std::lock_guard lock(impl_->mu);
    return impl_->log;
}

std::size_t MockGraphServer::events_accepted() const {
    std::lock_guard lock(impl_->mu);
    return impl_->accepted_events;
}

std::size_t MockGraphServer::connections() const {
    return static_cast<std::size_t>(impl_->connections.load());
}

void MockGraphServer::drop_connections() { impl_->drop_connections(); }

void MockGraphServer::stop() { impl_->stop(); }

} // namespace capi::testing
