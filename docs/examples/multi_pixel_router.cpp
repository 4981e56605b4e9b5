// multi_pixel_router: one client sending for many shops, each with its own pixel
// and access token (an agency, a marketplace or a CDP).
//
// Every event carries its capi::Destination (pixel, token, test_event_code); the
// client batches per destination, so a batch never mixes two shops and one shop's
// bad token fails only that shop's events. With --test-event-code every event goes
// to Events Manager's "Test events" tab instead of the shops' statistics: a dry run
// against the real pixels.
//
// Input: a routes file, one shop per line:
//     <shop> <pixel_id> [<ENV_VAR holding that pixel's token>]   (default CAPI_ACCESS_TOKEN)
// and orders on stdin, one per line:
//     <shop> <order_id> <email> <value> <currency>
// Lines starting with # are comments. An order line that is malformed or names a
// shop without a route is reported and skipped; the others are still sent. Prints
// one line per shop; exit status 0 when every event was delivered, 1 when some
// failed, 2 for bad input (a bad option or routes file, or skipped order lines:
// the shops' lines still report what was sent).
//
// Usage (tokens come from the environment: command lines show in `ps`):
//   CAPI_ACCESS_TOKEN=... multi_pixel_router --routes routes.txt [--test-event-code TEST123]
//       [--endpoint https://127.0.0.1:8443 --ca ca.pem] < orders.txt
#include <capi/client.hpp>

#include <boost/asio/use_future.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <future>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

namespace net = boost::asio;
using namespace std::chrono_literals;

namespace {

struct Shop {
    capi::Destination destination;
    unsigned sent = 0, delivered = 0, failed = 0;
    std::string first_error;
};

/// Reads the routes file; the tokens come from the environment variables it names.
bool read_routes(const std::string& path, const std::string& test_event_code, std::map<std::string, Shop>& shops) {
    std::ifstream in(path);
    if (!in) {
        std::cerr << "multi_pixel_router: cannot read " << path << "\n";
        return false;
    }
    std::string line;
    for (int n = 1; std::getline(in, line); ++n) {
        std::istringstream fields(line);
        std::string shop, pixel, token_var = "CAPI_ACCESS_TOKEN";
        if (!(fields >> shop) || shop.front() == '#') continue;
        fields >> pixel >> token_var;
        const char* token = std::getenv(token_var.c_str());
        if (pixel.empty() || token == nullptr || *token == '\0') {
            std::cerr << path << ":" << n << ": need `shop pixel_id [TOKEN_VAR]` with " << token_var << " set\n";
            return false;
        }
        Shop& s = shops[shop];
        s.destination.pixel_id = pixel;
        s.destination.access_token = token;
        s.destination.test_event_code = test_event_code;  // empty: a real send
    }
    return true;
}

capi::Event order_event(const std::string& order_id, const std::string& email, double value,
                        const std::string& currency) {
    capi::Event ev;
    ev.event_name = std::string(capi::event_names::purchase);
    ev.event_time = std::chrono::duration_cast<std::chrono::seconds>(
                        std::chrono::system_clock::now().time_since_epoch()).count();
    ev.event_id = "order-" + order_id;
    ev.action_source = capi::ActionSource::system_generated;
    ev.user_data.em = {email};
    auto& custom = ev.custom_data.emplace();
    custom.value = value;
    custom.currency = currency;
    custom.order_id = order_id;
    return ev;
}

int usage(const char* why) {
    std::cerr << "multi_pixel_router: " << why << "\n"
              << "usage: CAPI_ACCESS_TOKEN=... multi_pixel_router --routes FILE [--test-event-code CODE]\n"
                 "           [--endpoint https://host:port] [--ca FILE] < orders\n";
    return 2;
}

} // namespace

int main(int argc, char** argv) {
    capi::Options opt;
    std::string routes, test_event_code;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string_view arg = argv[i];
        const char* value = argv[i + 1];
        if (arg == "--routes") routes = value;
        else if (arg == "--test-event-code") test_event_code = value;
        else if (arg == "--endpoint") opt.transport.endpoint = value;
        else if (arg == "--ca") opt.transport.ca_file = value;
        else return usage("unknown option");
    }
    if (argc % 2 == 0 || routes.empty()) return usage("--routes is required, every option takes a value");

    std::map<std::string, Shop> shops;
    unsigned skipped = 0;  // order lines not sent
    if (!read_routes(routes, test_event_code, shops)) return 2;
    if (shops.empty()) return usage("the routes file names no shop");
    // No default destination (opt.destination stays empty): every event names its
    // shop's, and an event sent without one would be refused as invalid.

    try {
        capi::Client client(std::move(opt));

        // Send every order; use_future turns each completion into a std::future of
        // (std::error_code, capi::SendResult). The sends run concurrently.
        using Reply = std::tuple<std::error_code, capi::SendResult>;
        std::vector<std::pair<Shop*, std::future<Reply>>> replies;
        std::string line;
        for (int n = 1; std::getline(std::cin, line); ++n) {
            std::istringstream fields(line);
            std::string shop, order_id, email, currency;
            double value = 0;
            if (!(fields >> shop) || shop.front() == '#') continue;
            // A bad line is skipped, not a reason to abandon the orders already
            // passed to async_send: their outcomes are still waited for and reported.
            if (!(fields >> order_id >> email >> value >> currency)) {
                std::cerr << "stdin:" << n << ": skipped: need `shop order_id email value currency`\n";
                ++skipped;
                continue;
            }
            auto it = shops.find(shop);
            if (it == shops.end()) {
                std::cerr << "stdin:" << n << ": skipped: no route for shop " << shop << "\n";
                ++skipped;
                continue;
            }
            Shop& s = it->second;
            ++s.sent;
            replies.emplace_back(&s, client.async_send(order_event(order_id, email, value, currency),
                                                       s.destination, net::use_future));
        }

        for (auto& [shop, reply] : replies) {
            auto [ec, r] = reply.get();
            if (r.outcome == capi::Outcome::delivered) {
                ++shop->delivered;
                continue;
            }
            ++shop->failed;
            if (!shop->first_error.empty()) continue;
            shop->first_error = std::string(capi::to_string(r.outcome)) + ": " + ec.message();
            if (r.graph)
                shop->first_error += " (Graph code " + std::to_string(r.graph->code) + ", subcode " +
                                     std::to_string(r.graph->error_subcode) + ", fbtrace_id " +
                                     r.graph->fbtrace_id + ")";
            if (r.cause) shop->first_error += " (last attempt: " + r.cause.message() + ")";
            for (const auto& e : r.invalid) shop->first_error += " " + e.path + ": " + e.reason + ";";
        }
    } catch (const std::exception& e) {
        std::cerr << "multi_pixel_router: " << e.what() << "\n";
        return 1;
    }

    bool all_delivered = true;
    for (const auto& [name, s] : shops) {
        std::cout << name << " pixel " << s.destination.pixel_id << ": sent " << s.sent << ", delivered "
                  << s.delivered << ", failed " << s.failed;
        if (!s.first_error.empty()) std::cout << "; first error: " << s.first_error;
        std::cout << "\n";
        all_delivered = all_delivered && s.failed == 0;
    }
    if (skipped != 0) std::cout << "skipped " << skipped << " order line(s): see stderr\n";
    if (!test_event_code.empty())
        std::cout << "test_event_code " << test_event_code << ": see Events Manager > Test events\n";
    if (skipped != 0) return 2;
    return all_delivered ? 0 : 1;
}
