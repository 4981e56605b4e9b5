#include "fixtures.hpp"

namespace capi_test {

using namespace std::chrono_literals;

capi::Event purchase_event(const std::string& id, std::chrono::system_clock::time_point now,
                           std::chrono::seconds age) {
    capi::Event ev;
    ev.event_name = "Purchase";
    ev.event_time =
        std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch() - age).count();
    ev.event_id = id;
    ev.action_source = capi::ActionSource::website;
    ev.event_source_url = "https://shop.example.com/checkout";
    ev.user_data.client_user_agent = "Mozilla/5.0";
    std::string email("User");
    email += id;
    email += "@Example.com";
    ev.user_data.em = {email};
    ev.custom_data.emplace();
    ev.custom_data->value = 12.5;
    ev.custom_data->currency = "USD";
    return ev;
}

capi::Options client_options(const capi::testing::MockGraphServer& mock) {
    capi::Options o;
    o.destination.pixel_id = "1234567890";
    o.destination.access_token = "mock-token";
    o.transport.endpoint = mock.url();
    o.transport.ca_pem = mock.ca_pem();
    o.transport.request_timeout = 10s;
    o.retry.initial_backoff = 5ms;
    o.retry.max_backoff = 20ms;
    o.retry.max_total = 20s;
    o.linger = 10ms;
    o.batchers = 1;
    return o;
}

capi::Options tight_client_options(const capi::testing::MockGraphServer& mock) {
    auto o = client_options(mock);
    o.transport.request_timeout = 5s;
    o.retry.max_total = 10s;
    return o;
}

capi::testing::Fault hang_fault() {
    capi::testing::Fault f;
    f.action = capi::testing::Fault::Action::hang;
    return f;
}

std::map<std::string, int> ids_accepted(const capi::testing::MockGraphServer& mock) {
    std::map<std::string, int> m;
    for (const auto& r : mock.requests())
        if (r.status == 200)
            for (const auto& id : r.event_ids) ++m[id];
    return m;
}

capi::TransportOptions transport_options(const capi::testing::MockGraphServer& mock) {
    capi::TransportOptions o;
    o.endpoint = mock.url();
    o.ca_pem = mock.ca_pem();
    o.connect_timeout = 2s;
    o.handshake_timeout = 2s;
    o.request_timeout = 5s;
    return o;
}

std::string numbered(const char* prefix, long n) {
    std::string s(prefix);
    s += std::to_string(n);
    return s;
}

} // namespace capi_test
