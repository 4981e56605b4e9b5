// The fixtures every suite shares, so a change to what a valid Purchase or a
// client of the mock looks like is made once: the Purchase event, Client and
// transport options pointing at a MockGraphServer (its URL and its CA), and
// numbered ids. Suites adjust a copy where their case needs other values.
#pragma once

#include <capi/client.hpp>
#include <capi/event.hpp>
#include <capi/testing/mock_graph.hpp>
#include <capi/transport.hpp>

#include <chrono>
#include <map>
#include <string>

namespace capi_test {

/// A valid website Purchase with PII to hash, its event_time `age` before `now`:
/// event_id `id`, event_source_url https://shop.example.com/checkout, user agent
/// "Mozilla/5.0", em "User<id>@Example.com", value 12.5 USD.
capi::Event purchase_event(const std::string& id,
                           std::chrono::system_clock::time_point now = std::chrono::system_clock::now(),
                           std::chrono::seconds age = std::chrono::seconds(60));

/// Client options for `mock`: real TLS to its URL trusting its CA, pixel
/// "1234567890" with token "mock-token", linger 10 ms, one batcher, backoff
/// 5-20 ms, request_timeout 10 s, retry.max_total 20 s (bounded deadlines that
/// leave room for the reliability matrix's faults).
capi::Options client_options(const capi::testing::MockGraphServer& mock);

/// client_options with the client suites' tighter deadlines: a hung request
/// fails within 5 s, a retried one within 10 s.
capi::Options tight_client_options(const capi::testing::MockGraphServer& mock);

/// A fault that never answers: the mock holds the request open.
capi::testing::Fault hang_fault();

/// event_id -> how many times the mock received it in a request it answered 200.
std::map<std::string, int> ids_accepted(const capi::testing::MockGraphServer& mock);

/// Transport options for `mock`: its URL and CA, connect and handshake timeouts
/// 2 s, request_timeout 5 s.
capi::TransportOptions transport_options(const capi::testing::MockGraphServer& mock);

/// "prefix" followed by n (g++ 12 warns falsely about `"x" + std::to_string(n)`).
std::string numbered(const char* prefix, long n);

} // namespace capi_test
