// What test/https_transport_test.cpp and test/https_transport_write_test.cpp
// share: requests made to measure, bounded io_context loops, and recording a
// post()'s completion. One test program; these are its helpers.
#pragma once

#include <capi/testing/fault_proxy.hpp>
#include <capi/testing/mock_graph.hpp>
#include <capi/transport.hpp>

#include "support/fixtures.hpp"

#include <boost/asio/io_context.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <functional>
#include <string>
#include <system_error>

namespace capi_https_test {

// The vocabulary of both files.
namespace net = boost::asio;
using namespace std::chrono_literals;
using capi::errc;
using capi::testing::CertKind;
using capi::testing::Fault;
using capi::testing::MockGraphServer;
using capi::testing::MockOptions;
using capi_test::numbered;  // "prefix" followed by n (an event_id)

/// What one post() completed with.
struct outcome {
    int calls = 0;
    std::error_code ec;
    capi::PostResult result;
    std::chrono::steady_clock::time_point at;
};

inline std::string event_json(const std::string& event_id) {
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    return R"({"event_name":"Purchase","event_time":)" + std::to_string(now) +
           R"(,"action_source":"website","event_id":")" + event_id + R"(","user_data":{"em":[")" +
           std::string(64, 'a') + R"("]}})";
}

inline capi::PostRequest json_request(const std::string& event_id = "e1") {
    capi::PostRequest r;
    r.pixel_id = "1234567890";
    r.body = R"({"data":[)" + event_json(event_id) + R"(],"access_token":"mock-token"})";
    return r;
}

/// A batch of `events` events of ~2.7 KB each (40 hashed emails apiece): a body
/// many times the transport's write slice and OpenSSL's 16 KB records.
inline capi::PostRequest large_request(std::size_t events, const char* id_prefix = "big") {
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    std::string ems;
    for (int i = 0; i < 40; ++i) {
        if (i != 0) ems += ',';
        ems += '"';
        ems += std::string(63, 'a');
        ems += static_cast<char>('0' + i % 10);
        ems += '"';
    }
    capi::PostRequest r;
    r.pixel_id = "1234567890";
    r.body = R"({"data":[)";
    for (std::size_t i = 0; i < events; ++i) {
        if (i != 0) r.body += ',';
        r.body += R"({"event_name":"Purchase","event_time":)";
        r.body += std::to_string(now);
        r.body += R"(,"action_source":"website","event_id":")";
        r.body += numbered(id_prefix, i);
        r.body += R"(","user_data":{"em":[)";
        r.body += ems;
        r.body += "]}}";
    }
    r.body += R"(],"access_token":"mock-token"})";
    return r;
}

/// The fixtures' options for `server`, sent through `proxy` instead (which
/// forwards to the server), each request allowed `request_timeout`.
inline capi::TransportOptions through_proxy(const MockGraphServer& server, const capi::testing::FaultProxy& proxy,
                                            std::chrono::milliseconds request_timeout) {
    auto o = capi_test::transport_options(server);
    o.endpoint = proxy.url();
    o.request_timeout = request_timeout;
    return o;
}

inline std::string url_encode(const std::string& s) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s) {
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
            c == '_' || c == '.' || c == '~') {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

/// Runs `ioc` until `done()` or `limit`; true when done.
inline bool run_until(net::io_context& ioc, const std::function<bool()>& done,
               std::chrono::milliseconds limit = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
        if (std::chrono::steady_clock::now() >= deadline) return false;
        ioc.run_for(5ms);
        if (ioc.stopped()) ioc.restart();
    }
    return true;
}

/// Runs `ioc` for `d` (timers, idle expiry).
inline void run_for(net::io_context& ioc, std::chrono::milliseconds d) {
    const auto deadline = std::chrono::steady_clock::now() + d;
    while (std::chrono::steady_clock::now() < deadline) {
        ioc.run_for(5ms);
        if (ioc.stopped()) ioc.restart();
    }
}

inline capi::Transport::handler record(outcome& out) {
    return [&out](std::error_code ec, capi::PostResult r) {
        ++out.calls;
        out.ec = ec;
        out.result = std::move(r);
        out.at = std::chrono::steady_clock::now();
    };
}

/// Posts one request and waits for its completion.
inline outcome post_one(net::io_context& ioc, capi::Transport& t, capi::PostRequest r = json_request(),
                 std::chrono::milliseconds limit = 10s) {
    outcome out;
    t.post(std::move(r), record(out));
    REQUIRE(run_until(ioc, [&] { return out.calls > 0; }, limit));
    return out;
}

inline std::error_code option_error(const capi::TransportOptions& o, std::string& what) {
    net::io_context ioc;
    try {
        (void)capi::make_https_transport(ioc.get_executor(), o);
    } catch (const std::system_error& e) {
        what = e.what();
        return e.code();
    }
    return {};
}

} // namespace capi_https_test
