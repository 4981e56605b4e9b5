// webhook_server: receives checkout webhooks and reports each purchase to Meta.
//
// A Boost.Beast HTTP/1.1 server written with C++20 coroutines. Every
// `POST /webhooks/checkout` carries one order as JSON; the server turns it into a
// Purchase event and `co_await`s capi::Client::async_send, so it answers the
// webhook only once the event has its outcome:
//   200 {"status":"delivered","event_id":..,"fbtrace_id":..}   Meta acknowledged it
//   422 {"status":"rejected","errors":[{"field":..,"reason":..}]}  capi refused it (invalid)
//   502 {"status":"failed","error":..,"graph":{"code":..,...}}   Meta refused it, or the
//        network failed after retries: the shop platform redelivers the webhook later,
//        and the event_id makes the second delivery harmless (Meta deduplicates)
//   400 when the body is not the JSON below.
//
// The order JSON (the fields a shop platform's checkout webhook typically has):
//   {"order_id":"1001", "email":"Ana@Example.com", "phone":"+1 650 555 1212",
//    "amount":49.90, "currency":"USD", "items":[{"sku":"tee-blue","quantity":2,"price":24.95}],
//    "client_ip":"203.0.113.7", "user_agent":"Mozilla/5.0 ...",
//    "page_url":"https://shop.example.com/thanks", "created_at":1790000000}
// Required: order_id, amount, currency, page_url, user_agent; the rest is optional.
//
// Usage (the token comes from the environment: command lines show in `ps`):
//   CAPI_ACCESS_TOKEN=... webhook_server --pixel ID [--port 8080]
//       [--test-event-code CODE] [--endpoint https://127.0.0.1:8443 --ca ca.pem]
//   curl -d @order.json http://127.0.0.1:8080/webhooks/checkout
// It listens on 127.0.0.1 only: put it behind your TLS-terminating proxy. SIGINT or
// SIGTERM stops it after the events in flight have their outcome.
#include <capi/client.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <simdjson.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using net::ip::tcp;
using namespace std::chrono_literals;

namespace {

// ---------------------------------------------------------------- JSON in and out

/// A bad webhook body; what() names the field.
struct BadRequest : std::runtime_error {
    using std::runtime_error::runtime_error;
};

std::string_view required_string(simdjson::dom::object order, std::string_view key) {
    std::string_view v;
    if (order[key].get(v) != simdjson::SUCCESS)
        throw BadRequest(std::string(key) + ": missing or not a string");
    return v;
}

std::optional<std::string> optional_string(simdjson::dom::object order, std::string_view key) {
    std::string_view v;
    if (order[key].get(v) != simdjson::SUCCESS) return std::nullopt;
    return std::string(v);
}

double required_number(simdjson::dom::object o, std::string_view key) {
    double v = 0;
    if (o[key].get(v) != simdjson::SUCCESS) throw BadRequest(std::string(key) + ": missing or not a number");
    return v;
}

/// `s` as a JSON string literal.
std::string json_string(std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
            char esc[8];
            std::snprintf(esc, sizeof esc, "\\u%04x", c);
            out += esc;
        } else {
            out += c;
        }
    }
    return out + "\"";
}

// ---------------------------------------------------------------- order -> event

/// Builds the Purchase event of one order. capi normalizes and hashes the
/// customer's email and phone itself: pass them as the customer typed them.
capi::Event purchase_event(simdjson::dom::object order) {
    capi::Event ev;
    ev.event_name = std::string(capi::event_names::purchase);
    const std::string order_id(required_string(order, "order_id"));
    // The same event_id as the browser pixel's Purchase (fbq('track', 'Purchase',
    // {...}, {eventID: 'order-1001'})): Meta keeps one of the two.
    ev.event_id = "order-" + order_id;
    std::int64_t created_at = 0;
    ev.event_time = order["created_at"].get(created_at) == simdjson::SUCCESS
                        ? created_at
                        : std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::system_clock::now().time_since_epoch()).count();
    ev.action_source = capi::ActionSource::website;
    ev.event_source_url = std::string(required_string(order, "page_url"));

    // Customer information: the more keys, the better Meta matches the customer.
    if (auto email = optional_string(order, "email")) ev.user_data.em = {*email};
    if (auto phone = optional_string(order, "phone")) ev.user_data.ph = {*phone};
    ev.user_data.client_ip_address = optional_string(order, "client_ip");
    ev.user_data.client_user_agent = std::string(required_string(order, "user_agent"));
    ev.user_data.fbp = optional_string(order, "fbp");  // the _fbp cookie, when the shop has it
    ev.user_data.fbc = optional_string(order, "fbc");  // the _fbc cookie (ad click id)

    auto& custom = ev.custom_data.emplace();
    custom.value = required_number(order, "amount");
    custom.currency = std::string(required_string(order, "currency"));
    custom.order_id = order_id;
    custom.content_type = "product";
    simdjson::dom::array items;
    if (order["items"].get(items) == simdjson::SUCCESS) {
        std::int64_t units = 0;
        for (simdjson::dom::element item : items) {
            capi::Content c;
            std::string_view sku;
            if (item["sku"].get(sku) != simdjson::SUCCESS) throw BadRequest("items[].sku: missing or not a string");
            c.id = std::string(sku);
            std::int64_t quantity = 0;
            if (item["quantity"].get(quantity) != simdjson::SUCCESS) quantity = 1;
            c.quantity = quantity;
            double price = 0;
            if (item["price"].get(price) == simdjson::SUCCESS) c.item_price = price;
            units += quantity;
            custom.content_ids.push_back(*c.id);
            custom.contents.push_back(std::move(c));
        }
        custom.num_items = units;
    }
    return ev;
}

// ---------------------------------------------------------------- HTTP

http::response<http::string_body> reply(http::status status, std::string body) {
    http::response<http::string_body> res{status, 11};
    res.set(http::field::content_type, "application/json");
    res.body() = std::move(body);
    return res;
}

/// One webhook: parse, send, and answer with the event's outcome.
net::awaitable<http::response<http::string_body>> handle(const http::request<http::string_body>& req,
                                                           capi::Client& client) {
    if (req.target() != "/webhooks/checkout") co_return reply(http::status::not_found, R"({"error":"not found"})");
    if (req.method() != http::verb::post)
        co_return reply(http::status::method_not_allowed, R"({"error":"POST only"})");
    // A real server checks the platform's signature header (an HMAC of the body) here.

    capi::Event ev;
    try {
        simdjson::dom::parser parser;
        simdjson::dom::object order;
        if (parser.parse(req.body()).get(order) != simdjson::SUCCESS) throw BadRequest("body: not a JSON object");
        ev = purchase_event(order);
    } catch (const BadRequest& e) {
        co_return reply(http::status::bad_request, R"({"error":)" + json_string(e.what()) + "}");
    }

    // Suspends this coroutine (not the thread) until Meta acknowledged the event or
    // its outcome is final; the other webhooks are served meanwhile. The completion
    // is (std::error_code, capi::SendResult): errors are values, nothing throws.
    const std::string event_id = *ev.event_id;
    auto [ec, r] = co_await client.async_send(std::move(ev), net::use_awaitable);

    if (r.outcome == capi::Outcome::delivered)
        co_return reply(http::status::ok, R"({"status":"delivered","event_id":)" + json_string(event_id) +
                                              R"(,"fbtrace_id":)" + json_string(r.fbtrace_id) + "}");
    if (r.outcome == capi::Outcome::rejected && ec == capi::errc::invalid_event) {
        std::string errors;
        for (const auto& e : r.invalid)
            errors += (errors.empty() ? "" : ",") + std::string(R"({"field":)") + json_string(e.path) +
                      R"(,"reason":)" + json_string(e.reason) + "}";
        co_return reply(http::status::unprocessable_entity,
                        R"({"status":"rejected","errors":[)" + errors + "]}");
    }
    std::string body = R"({"status":"failed","error":)" + json_string(ec.message());
    if (r.graph) {
        body += R"(,"graph":{"code":)" + std::to_string(r.graph->code) + R"(,"error_subcode":)" +
                std::to_string(r.graph->error_subcode) + R"(,"fbtrace_id":)" + json_string(r.graph->fbtrace_id) +
                R"(,"message":)" + json_string(r.graph->message) + "}";
    }
    co_return reply(http::status::bad_gateway, body + "}");
}

/// One connection: requests in order, keep-alive as the client asks.
net::awaitable<void> session(tcp::socket socket, capi::Client& client) {
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    for (;;) {
        http::request<http::string_body> req;
        stream.expires_after(30s);  // an idle or slow client does not hold the connection forever
        auto [rec, n] = co_await http::async_read(stream, buffer, req, net::as_tuple(net::use_awaitable));
        if (rec) break;  // closed by the peer, timed out, or not HTTP
        stream.expires_never();  // waiting for Meta is bounded by the client's own deadlines
        auto res = co_await handle(req, client);
        res.keep_alive(req.keep_alive());
        res.prepare_payload();
        stream.expires_after(30s);
        auto [wec, m] = co_await http::async_write(stream, res, net::as_tuple(net::use_awaitable));
        if (wec || !res.keep_alive()) break;
    }
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

net::awaitable<void> accept_loop(tcp::acceptor& acceptor, capi::Client& client) {
    for (;;) {
        auto [ec, socket] = co_await acceptor.async_accept(net::as_tuple(net::use_awaitable));
        if (ec == net::error::operation_aborted) co_return;  // closed by the signal handler
        if (ec) continue;                                    // e.g. out of file descriptors: keep serving
        net::co_spawn(acceptor.get_executor(), session(std::move(socket), client), [](std::exception_ptr e) {
            try {
                if (e) std::rethrow_exception(e);
            } catch (const std::exception& x) {
                std::cerr << "webhook_server: session: " << x.what() << "\n";
            }
        });
    }
}

int usage(const char* why) {
    std::cerr << "webhook_server: " << why << "\n"
              << "usage: CAPI_ACCESS_TOKEN=... webhook_server --pixel ID [--port P] [--test-event-code CODE]\n"
                 "           [--endpoint https://host:port] [--ca FILE]\n";
    return 2;
}

} // namespace

int main(int argc, char** argv) {
    capi::Options opt;
    unsigned short port = 8080;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string_view arg = argv[i];
        const char* value = argv[i + 1];
        if (arg == "--pixel") opt.destination.pixel_id = value;
        else if (arg == "--port") port = static_cast<unsigned short>(std::atoi(value));
        else if (arg == "--test-event-code") opt.destination.test_event_code = value;
        else if (arg == "--endpoint") opt.transport.endpoint = value;  // default: Meta
        else if (arg == "--ca") opt.transport.ca_file = value;         // default: the system's CAs
        else return usage("unknown option");
    }
    if (argc % 2 == 0) return usage("every option takes a value");
    const char* token = std::getenv("CAPI_ACCESS_TOKEN");
    if (token == nullptr || *token == '\0') return usage("set CAPI_ACCESS_TOKEN");
    opt.destination.access_token = token;
    // A webhook sender gives up after some seconds: settle every event well before.
    opt.retry.max_total = 20s;
    opt.linger = 5ms;  // each webhook waits for its event: do not hold batches long

    try {
        // One thread runs everything network: the HTTP sessions and the client's
        // TLS connections to Meta. The client's batchers run on their own threads.
        net::io_context io;
        capi::Client client(io.get_executor(), std::move(opt));  // a bad option throws, naming it

        tcp::acceptor acceptor(io, {net::ip::make_address("127.0.0.1"), port});
        std::cout << "listening on http://127.0.0.1:" << acceptor.local_endpoint().port() << std::endl;
        net::co_spawn(io, accept_loop(acceptor, client), net::detached);

        // SIGINT/SIGTERM: stop accepting, let every accepted event reach its outcome,
        // then stop (webhooks still waiting get no answer and are redelivered).
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
        std::cerr << "webhook_server: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
