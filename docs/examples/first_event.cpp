// first_event: sends one Purchase event and prints what Meta answered.
//
//   CAPI_ACCESS_TOKEN=... first_event --pixel ID [--test-event-code CODE]
//       [--endpoint https://127.0.0.1:8443 --ca /tmp/capi-mock/ca.pem]
#include <capi/client.hpp>

#include <boost/asio/use_future.hpp>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>

int main(int argc, char** argv) {
    capi::Options opt;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string_view arg = argv[i];
        if (arg == "--pixel") opt.destination.pixel_id = argv[i + 1];
        else if (arg == "--test-event-code") opt.destination.test_event_code = argv[i + 1];
        else if (arg == "--endpoint") opt.transport.endpoint = argv[i + 1];  // default: Meta
        else if (arg == "--ca") opt.transport.ca_file = argv[i + 1];         // default: system CAs
    }
    // The token never goes on the command line, where `ps` shows it to everyone.
    const char* token = std::getenv("CAPI_ACCESS_TOKEN");
    if (token == nullptr || opt.destination.pixel_id.empty()) {
        std::cerr << "usage: CAPI_ACCESS_TOKEN=... first_event --pixel ID [--test-event-code CODE]"
                     " [--endpoint URL --ca FILE]\n";
        return 2;
    }
    opt.destination.access_token = token;

    // One event, in Meta's field names. Customer information goes in as the
    // customer typed it: capi normalizes and SHA-256-hashes it.
    const auto now = std::chrono::system_clock::now();
    capi::Event ev;
    ev.event_name = "Purchase";
    ev.event_time = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
    ev.event_id = "first-" + std::to_string(ev.event_time);  // Meta deduplicates on it
    ev.action_source = capi::ActionSource::website;
    ev.event_source_url = "https://shop.example.com/thanks";
    ev.user_data.em = {" Joe@Example.com "};
    ev.user_data.client_user_agent = "Mozilla/5.0 (first_event)";
    ev.custom_data.emplace();
    ev.custom_data->currency = "USD";
    ev.custom_data->value = 19.99;

    try {
        capi::Client client(opt);  // checks the options: a bad one throws, naming the field
        // async_send completes once Meta acknowledged the event (or definitively
        // refused it); use_future turns that into a std::future to wait on.
        auto [ec, result] = client.async_send(std::move(ev), boost::asio::use_future).get();
        std::cout << capi::to_string(result.outcome) << ": event_id " << result.event_id;
        if (!ec) std::cout << ", fbtrace_id " << result.fbtrace_id << "\n";
        else std::cout << ", error " << ec.message() << "\n";
        // Why the last attempt failed when capi gave up retrying: "connection
        // refused", "host name resolution failed", a proxy's "HTTP 407", ...
        if (result.cause) std::cout << "last attempt: " << result.cause.message() << "\n";
        if (result.graph)
            std::cout << "Graph error " << result.graph->code << "/" << result.graph->error_subcode << ": "
                      << result.graph->message << " (fbtrace_id " << result.graph->fbtrace_id << ")\n";
        for (const auto& e : result.invalid) std::cout << "invalid " << e.path << ": " << e.reason << "\n";
        return ec ? 1 : 0;
    } catch (const std::exception& e) {
        std::cerr << "first_event: " << e.what() << "\n";
        return 2;
    }
}
