// An outside program using capi only as a user would: the installed headers
// and libraries (through pkg-config, or capi as a meson subproject). It starts
// capi::testing::MockGraphServer over TLS on 127.0.0.1, sends one Purchase
// with capi::Client and exits 0 only when the mock acknowledged exactly it.
#include <capi/client.hpp>
#include <capi/testing/mock_graph.hpp>
#include <capi/version.hpp>

#include <chrono>
#include <cstdio>
#include <future>
#include <string>
#include <system_error>
#include <utility>

static_assert(CAPI_VERSION_NUMBER ==
              CAPI_VERSION_MAJOR * 10000 + CAPI_VERSION_MINOR * 100 + CAPI_VERSION_PATCH);

namespace {

int fail(const std::string& why) {
    std::fprintf(stderr, "consumer: %s\n", why.c_str());
    return 1;
}

} // namespace

int main() {
    using namespace std::chrono_literals;
    // Headers and library from the same release: the macros (compiled in here)
    // and capi::version() (compiled into the library) agree.
    if (capi::version() != CAPI_VERSION_STRING)
        return fail("library " + std::string(capi::version()) + " but headers " + CAPI_VERSION_STRING);

    capi::testing::MockGraphServer mock;

    capi::Options opt;
    opt.destination.pixel_id = "1234567890";
    opt.destination.access_token = "mock-token";
    opt.transport.endpoint = mock.url();
    opt.transport.ca_pem = mock.ca_pem();  // TLS verification stays on: trust the mock's CA
    opt.linger = 5ms;
    capi::Client client(opt);

    capi::Event ev;
    ev.event_name = "Purchase";
    ev.event_time = std::chrono::duration_cast<std::chrono::seconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
    ev.event_id = "consumer-1";
    ev.action_source = capi::ActionSource::website;
    ev.event_source_url = "https://shop.example.com/thanks";
    ev.user_data.em = {"Joe@Example.com"};
    ev.user_data.client_user_agent = "Mozilla/5.0";
    ev.custom_data.emplace();
    ev.custom_data->currency = "USD";
    ev.custom_data->value = 19.99;

    std::promise<std::pair<std::error_code, capi::SendResult>> done;
    client.async_send(std::move(ev), [&done](std::error_code ec, capi::SendResult r) {
        done.set_value({ec, std::move(r)});
    });
    auto f = done.get_future();
    if (f.wait_for(20s) != std::future_status::ready) return fail("no completion within 20 s");
    auto [ec, r] = f.get();
    if (ec) return fail("send failed: " + ec.message());
    if (r.outcome != capi::Outcome::delivered)
        return fail("outcome " + std::string(capi::to_string(r.outcome)));
    if (r.event_id != "consumer-1") return fail("completion for event_id '" + r.event_id + "'");

    // The mock's side: one authenticated request carrying exactly this event.
    const auto log = mock.requests();
    if (log.size() != 1) return fail(std::to_string(log.size()) + " requests reached the mock");
    if (!log[0].access_token_ok) return fail("the mock did not accept the access token");
    if (log[0].status != 200) return fail("the mock answered " + std::to_string(log[0].status));
    if (log[0].event_ids.size() != 1 || log[0].event_ids[0] != "consumer-1")
        return fail("the mock did not receive event consumer-1");
    if (mock.events_accepted() != 1) return fail("the mock accepted " + std::to_string(mock.events_accepted()));

    if (!client.shutdown(5s)) return fail("shutdown did not finish within 5 s");
    std::printf("consumer: capi %s, event consumer-1 acknowledged by the mock at %s\n",
                std::string(capi::version()).c_str(), mock.url().c_str());
    return 0;
}
