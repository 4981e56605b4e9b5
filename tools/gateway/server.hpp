// capi_gateway::Gateway: the `capi gateway` server, usable in-process (tests,
// benchmarks) as well as from the command line (gateway_cmd.cpp).
//
// A Boost.Beast HTTP/1.1 server on C++20 coroutines, plain TCP or TLS. Each
// request becomes a capi::pixel::Request; /healthz and /metrics are answered
// here, every other path by capi::pixel::Endpoint (its 404 included). The events
// of an answer go to one capi::Client with enqueue(): the browser gets its answer
// without waiting for Meta. server.cpp is the only Beast translation unit.
//
// Thread safety: every member function may be called from any thread; stop()
// from one at a time.
#pragma once

#include "metrics.hpp"

#include <capi/client.hpp>
#include <capi/pixel.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace capi_gateway {

/// What one client may cost the server. Requests over a bound are answered
/// with its status and the connection closed; connections over the bound are
/// closed at once. The body bound is pixel::Options::max_body_bytes (413).
struct Limits {
    /// Request target (path and query) longer than this: 414.
    std::size_t max_target_bytes = 8 * 1024;
    /// Header fields (names and values, the request line apart) larger than this: 431.
    std::size_t max_header_bytes = 16 * 1024;
    /// Open connections; one more is closed as soon as it is accepted (and counted).
    std::size_t max_connections = 1024;
    /// A request must arrive whole (header and body) this long after its first
    /// byte: a client trickling bytes (slowloris) is cut off. Also bounds the TLS
    /// handshake and writing an answer.
    std::chrono::milliseconds read_timeout{10'000};
    /// A keep-alive connection waiting for its next request is closed after this.
    std::chrono::milliseconds idle_timeout{60'000};
};

struct GatewayOptions {
    /// A numeric IPv4 or IPv6 address ("127.0.0.1", "::1", "0.0.0.0", "::"), or "localhost".
    std::string listen_host = "127.0.0.1";
    /// 0: an ephemeral port (see Gateway::port()).
    std::uint16_t port = 0;
    /// Pixels served, trusted proxies, CORS origins, cookies, body bound.
    capi::pixel::Options pixel;
    /// The client every event goes through: transport (endpoint, CA), linger,
    /// queue, encode (encode.enhanced: the opt-in normalization, which
    /// capi_gateway_pii_values_total shows at work; the pixel endpoint passes
    /// customer information on as the page gave it, only the encoder normalizes
    /// it). destination.access_token (and app_secret, test_event_code) apply
    /// to every pixel; destination.pixel_id is ignored (each event goes to the
    /// pixel its hit named). on_delivery, when set, is called after the gateway's own.
    capi::Options client;
    Limits limits;
    /// PEM certificate chain and private key: TLS when both are set.
    std::string tls_cert_pem;
    std::string tls_key_pem;
    /// Threads serving HTTP (the client's batchers and I/O threads are its own).
    unsigned threads = 1;
};

/// The counts of the summary printed at exit.
struct Summary {
    Metrics::Totals totals;
    capi::Stats client;
    bool drained = false;  ///< every accepted event had its outcome before the bound
};

class Gateway {
public:
    /// Listens and serves before returning. Throws std::invalid_argument naming
    /// a bad option (pixel options, the TLS certificate or key), or
    /// std::system_error when it cannot listen.
    explicit Gateway(GatewayOptions options);
    /// stop(5 s) when not stopped yet.
    ~Gateway();
    Gateway(const Gateway&) = delete;
    Gateway& operator=(const Gateway&) = delete;

    std::uint16_t port() const noexcept;
    /// "http://127.0.0.1:PORT", "https://[::1]:PORT".
    std::string url() const;
    bool tls() const noexcept;

    /// What GET /metrics answers.
    std::string metrics_text() const;
    const Metrics& metrics() const noexcept;
    capi::Stats client_stats() const;
    /// Blocks until everything accepted so far has an outcome; false on timeout.
    bool flush(std::chrono::milliseconds timeout);

    /// Stops accepting; answers the requests being read or handled (with
    /// Connection: close) and closes idle connections; waits up to `drain` for
    /// them; then shuts the client down within `drain` (events still queued then
    /// fail with errc::shutdown). Idempotent: later calls return the first summary.
    Summary stop(std::chrono::milliseconds drain);

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

} // namespace capi_gateway
