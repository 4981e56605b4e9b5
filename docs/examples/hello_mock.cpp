// hello_mock: the whole round trip in one process, the way your own tests can do
// it: capi::testing::MockGraphServer (library capi-testing) serves Meta's /events
// edge over TLS on 127.0.0.1, and a capi::Client sends it one event.
#include <capi/client.hpp>
#include <capi/testing/mock_graph.hpp>

#include <boost/asio/use_future.hpp>

#include <chrono>
#include <iostream>

int main() {
    capi::testing::MockGraphServer mock;  // an ephemeral port, a CA minted at start-up

    capi::Options opt;
    opt.destination.pixel_id = "1234567890";
    opt.destination.access_token = "mock-token";  // the token the mock accepts by default
    opt.transport.endpoint = mock.url();          // https://127.0.0.1:<port>
    opt.transport.ca_pem = mock.ca_pem();         // trust the mock's CA (verification stays on)
    capi::Client client(opt);

    capi::Event ev;
    ev.event_name = "Lead";
    ev.event_time = std::chrono::duration_cast<std::chrono::seconds>(
                        std::chrono::system_clock::now().time_since_epoch()).count();
    ev.event_id = "lead-1";
    ev.action_source = capi::ActionSource::system_generated;
    ev.user_data.ph = {"+1 (650) 555-1212"};

    auto [ec, result] = client.async_send(std::move(ev), boost::asio::use_future).get();
    std::cout << capi::to_string(result.outcome) << ", fbtrace_id " << result.fbtrace_id << "\n";
    std::cout << "the mock received " << mock.events_accepted() << " event(s) in "
              << mock.requests().size() << " request(s)\n";
    return ec ? 1 : 0;
}
