// pixel_server: a shop's thank-you page and its first-party pixel endpoint in one
// coroutine server, with capi::pixel inside its own Boost.Beast handler.
//
//   GET /thanks?order=1001&value=49.90&currency=USD
//       renders the order's thank-you page: Meta's pixel with
//       fbq('track', 'Purchase', {...}, {eventID: 'order-1001'}) and its noscript
//       image, and enqueues the same Purchase as a server event (same event_name,
//       same event_id: Meta keeps one of the two), with the request's IP address,
//       user agent and _fbp / _fbc cookies added by capi::pixel::apply_context.
//       (A real shop looks the order up in its database; here the query carries it.)
//   GET /tr, POST /tr, POST /events
//       the pixel routes, handled by capi::pixel::Endpoint: hits from the shop's
//       other pages become server events, enqueued on the same capi::Client.
//
// Usage (the token comes from the environment: command lines show in `ps`):
//   CAPI_ACCESS_TOKEN=... pixel_server --pixel ID [--port 8080] [--trust-proxy CIDR]
//       [--endpoint https://127.0.0.1:8443 --ca ca.pem]
// It listens on 127.0.0.1 only, behind the site's TLS-terminating proxy
// (docs/pixel.md has the nginx configuration; give --trust-proxy 127.0.0.1/32
// there). SIGINT or SIGTERM stops it once the enqueued events have their outcome.
#include <capi/client.hpp>
#include <capi/pixel.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using net::ip::tcp;
using namespace std::chrono_literals;

namespace {

struct Server {
    capi::Client& client;
    const capi::pixel::Endpoint& pixel;
};

using Response = http::response<http::string_body>;

Response text(http::status status, std::string content_type, std::string body) {
    Response res{status, 11};
    res.set(http::field::content_type, content_type);
    res.body() = std::move(body);
    return res;
}

/// The value of `key` in a query string, when it is made of `allowed` characters
/// only (so it needs no decoding and no escaping anywhere it is used).
std::optional<std::string_view> query_param(std::string_view query, std::string_view key, std::string_view allowed) {
    while (!query.empty()) {
        const auto amp = query.find('&');
        const std::string_view pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        if (pair.size() > key.size() && pair.substr(0, key.size()) == key && pair[key.size()] == '=') {
            const std::string_view value = pair.substr(key.size() + 1);
            if (value.empty() || value.size() > 64 || value.find_first_not_of(allowed) != std::string_view::npos)
                return std::nullopt;
            return value;
        }
    }
    return std::nullopt;
}

/// The request as capi::pixel sees it: views into the Beast request.
capi::pixel::Request pixel_request(const http::request<http::string_body>& req, std::string_view peer) {
    capi::pixel::Request r;
    r.method = req.method_string();
    r.target = req.target();
    r.body = req.body();
    r.content_type = req[http::field::content_type];
    r.peer_address = peer;
    r.user_agent = req[http::field::user_agent];
    r.referer = req[http::field::referer];
    r.cookie = req[http::field::cookie];
    r.origin = req[http::field::origin];
    r.x_forwarded_for = req["X-Forwarded-For"];
    r.x_forwarded_proto = req["X-Forwarded-Proto"];
    r.forwarded = req[http::field::forwarded];
    return r;
}

/// GET /thanks: the page and the server event of one order, with one event_id.
Response thanks_page(const capi::pixel::Request& request, std::string_view query, const Server& server) {
    const auto order = query_param(query, "order", "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_");
    const auto value = query_param(query, "value", "0123456789.");
    const auto currency = query_param(query, "currency", "ABCDEFGHIJKLMNOPQRSTUVWXYZ");
    double amount = 0;
    if (!order || !value || !currency ||
        std::from_chars(value->data(), value->data() + value->size(), amount).ec != std::errc())
        return text(http::status::bad_request, "text/plain", "order, value and currency are required\n");

    capi::Event ev;
    ev.event_name = std::string(capi::event_names::purchase);
    ev.event_id = "order-" + std::string(*order);  // the page's eventID and the server's event_id
    ev.event_time = std::chrono::duration_cast<std::chrono::seconds>(
                        capi::now(server.pixel.options().clock).time_since_epoch()).count();
    ev.action_source = capi::ActionSource::website;
    auto& custom = ev.custom_data.emplace();
    custom.value = amount;
    custom.currency = std::string(*currency);
    custom.order_id = std::string(*order);

    // IP address, user agent, _fbp / _fbc and the page URL from this request, by the
    // same rules as the pixel routes; a visitor without _fbp gets one.
    std::vector<std::string> set_cookies;
    capi::pixel::apply_context(request, server.pixel.options(), ev, set_cookies);
    if (!ev.event_source_url) ev.event_source_url = "https://shop.example.com" + std::string(request.target);

    const auto pixel_id = server.pixel.options().pixels.front();
    Response res = text(http::status::ok, "text/html; charset=utf-8",
                        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>Thank you</title>\n"
                        "<script>\n"
                        "!function(f,b,e,v,n,t,s){if(f.fbq)return;n=f.fbq=function(){n.callMethod?\n"
                        "n.callMethod.apply(n,arguments):n.queue.push(arguments)};if(!f._fbq)f._fbq=n;\n"
                        "n.push=n;n.loaded=!0;n.version='2.0';n.queue=[];t=b.createElement(e);t.async=!0;\n"
                        "t.src=v;s=b.getElementsByTagName(e)[0];s.parentNode.insertBefore(t,s)}(window,\n"
                        "document,'script','https://connect.facebook.net/en_US/fbevents.js');\n"
                        "fbq('init', '" + pixel_id + "');\n"
                        "fbq('track', 'PageView');\n" +
                        capi::pixel::render_fbq(ev) +  // escaped: no value can leave its string
                        "\n</script>\n<noscript>" + capi::pixel::render_noscript_img(ev, pixel_id) +
                        "</noscript>\n</head><body><h1>Thank you for your order</h1></body></html>\n");
    for (const auto& c : set_cookies) res.insert(http::field::set_cookie, c);
    res.set(http::field::cache_control, "no-store");

    // The server event: enqueue() never blocks this coroutine; the outcome is counted
    // by the client (printed at exit). A refused event is the shop's bug: log it.
    if (auto r = server.client.enqueue(ev); !r)
        for (const auto& e : r.errors) std::cerr << "pixel_server: " << *ev.event_id << ": " << e.path << ": " << e.reason << "\n";
    return res;
}

Response handle(const http::request<http::string_body>& req, std::string_view peer, const Server& server) {
    const capi::pixel::Request request = pixel_request(req, peer);
    const std::string_view target = req.target();
    const std::string_view path = target.substr(0, target.find('?'));
    if (path == "/thanks" && req.method() == http::verb::get)
        return thanks_page(request, target.size() > path.size() ? target.substr(path.size() + 1) : "", server);

    // Everything else is the pixel's: /tr, /events, or a 404 it answers itself.
    capi::pixel::Response answer = server.pixel.handle(request);
    for (const auto& routed : answer.events) {
        // One pixel served: the client's destination. A full queue (Meta slow or
        // unreachable for long) is the browser's to retry, not a silent loss.
        if (!server.client.enqueue(routed.event)) {
            Response busy = text(http::status::service_unavailable, "text/plain", "busy, retry later\n");
            busy.set(http::field::retry_after, "1");
            return busy;
        }
    }
    Response res = text(static_cast<http::status>(answer.status), answer.content_type, std::move(answer.body));
    for (const auto& [name, value] : answer.headers) res.insert(name, value);
    return res;
}

net::awaitable<void> session(tcp::socket socket, const Server& server) {
    beast::error_code ec;
    const std::string peer = socket.remote_endpoint(ec).address().to_string();
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    for (;;) {
        http::request_parser<http::string_body> parser;
        parser.body_limit(1024 * 1024);
        stream.expires_after(30s);  // an idle or slow client does not hold the connection forever
        auto [rec, n] = co_await http::async_read(stream, buffer, parser, net::as_tuple(net::use_awaitable));
        if (rec) break;  // closed by the peer, timed out, too large, or not HTTP
        const auto& req = parser.get();
        Response res = handle(req, peer, server);
        res.keep_alive(req.keep_alive());
        res.prepare_payload();
        auto [wec, m] = co_await http::async_write(stream, res, net::as_tuple(net::use_awaitable));
        if (wec || !res.keep_alive()) break;
    }
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
}

net::awaitable<void> accept_loop(tcp::acceptor& acceptor, const Server& server) {
    for (;;) {
        auto [ec, socket] = co_await acceptor.async_accept(net::as_tuple(net::use_awaitable));
        if (ec == net::error::operation_aborted) co_return;  // closed by the signal handler
        if (ec) continue;                                    // e.g. out of file descriptors: keep serving
        net::co_spawn(acceptor.get_executor(), session(std::move(socket), server), [](std::exception_ptr e) {
            try {
                if (e) std::rethrow_exception(e);
            } catch (const std::exception& x) {
                std::cerr << "pixel_server: session: " << x.what() << "\n";
            }
        });
    }
}

int usage(const char* why) {
    std::cerr << "pixel_server: " << why << "\n"
              << "usage: CAPI_ACCESS_TOKEN=... pixel_server --pixel ID [--port P] [--trust-proxy CIDR]\n"
                 "           [--endpoint https://host:port] [--ca FILE]\n";
    return 2;
}

} // namespace

int main(int argc, char** argv) {
    capi::Options opt;
    capi::pixel::Options pixel_opt;
    unsigned short port = 8080;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string_view arg = argv[i];
        const char* value = argv[i + 1];
        if (arg == "--pixel") {
            opt.destination.pixel_id = value;
            pixel_opt.pixels = {value};
        } else if (arg == "--port") {
            port = static_cast<unsigned short>(std::atoi(value));
        } else if (arg == "--trust-proxy") {
            auto cidr = capi::pixel::Cidr::parse(value);
            if (!cidr) return usage("--trust-proxy takes a network such as 127.0.0.1/32");
            pixel_opt.trusted_proxies.push_back(*cidr);
        } else if (arg == "--endpoint") {
            opt.transport.endpoint = value;  // default: Meta
        } else if (arg == "--ca") {
            opt.transport.ca_file = value;  // default: the system's CAs
        } else {
            return usage("unknown option");
        }
    }
    if (argc % 2 == 0) return usage("every option takes a value");
    if (pixel_opt.pixels.empty()) return usage("--pixel is required");
    const char* token = std::getenv("CAPI_ACCESS_TOKEN");
    if (token == nullptr || *token == '\0') return usage("set CAPI_ACCESS_TOKEN");
    opt.destination.access_token = token;

    try {
        // One thread runs the HTTP sessions and the client's TLS connections to Meta.
        net::io_context io;
        capi::Client client(io.get_executor(), std::move(opt));      // a bad option throws, naming it
        const capi::pixel::Endpoint endpoint(std::move(pixel_opt));  // likewise
        const Server server{client, endpoint};

        tcp::acceptor acceptor(io, {net::ip::make_address("127.0.0.1"), port});
        std::cout << "listening on http://127.0.0.1:" << acceptor.local_endpoint().port() << std::endl;
        net::co_spawn(io, accept_loop(acceptor, server), net::detached);

        net::signal_set signals(io, SIGINT, SIGTERM);
        signals.async_wait([&](beast::error_code, int) {
            acceptor.close();
            client.async_flush([&io](std::error_code) { io.stop(); });
        });
        io.run();

        client.shutdown(5s);  // after io.run(): never from the client's own io thread
        const capi::Stats s = client.stats();
        std::cout << "delivered " << s.delivered << ", failed " << s.failed << ", rejected " << s.rejected
                  << std::endl;
    } catch (const std::exception& e) {
        std::cerr << "pixel_server: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
