// capi::testing::MockGraphServer: Meta's Graph API /events edge on 127.0.0.1,
// over real TLS, for tests, benchmarks and examples (like librdkafka's mock
// cluster). It mints its own CA and server certificate in memory at start-up,
// accepts what Meta accepts (JSON, form-encoded and multipart `data=` bodies;
// access_token in the body or the query; appsecret_proof when configured), applies
// Meta's rules with Meta's error bodies, logs every request, and plays scripted
// faults in order.
//
// Thread safety: every member function is safe from any thread. The server runs
// on threads it owns; the destructor stops them.
#pragma once

#include <capi/clock.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#pragma GCC visibility push(default)  // exported: docs/install.md#symbol-visibility
namespace capi::testing {

/// Which certificate the server presents.
enum class CertKind : std::uint8_t {
    valid,      ///< signed by ca_pem(), for 127.0.0.1 and localhost, valid now
    expired,    ///< signed by ca_pem(), for the right host, expired yesterday
    wrong_host, ///< signed by ca_pem(), valid now, for "wrong.example.com" only
    untrusted,  ///< valid now, right host, signed by a CA that ca_pem() is not
};

/// One scripted answer; faults are consumed in order, one per request, before the
/// normal rules apply. An empty queue means normal service.
struct Fault {
    enum class Action : std::uint8_t {
        respond,   ///< send `status` with `body` (and `headers`)
        close,     ///< close the connection without answering
        reset,     ///< TCP reset (SO_LINGER 0) without answering
        hang,      ///< read the request, never answer (until the server stops)
        truncate,  ///< send the status line, headers and half the body, then close
    };
    Action action = Action::respond;
    int status = 200;
    /// Reply body; empty with status 200 means the normal answer for the request
    /// (Meta's success body for a valid one). `truncate` sends half of it.
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
    /// Wait this long before acting.
    std::chrono::milliseconds delay{0};

    /// A Graph error reply: {"error":{"message":..,"type":..,"code":..,
    /// "error_subcode":..,"is_transient":..,"fbtrace_id":..}}.
    static Fault graph_error(int status, int code, int subcode = 0, bool transient = false,
                             std::string message = "mock error");
    /// Meta's throttling reply for `code`: Graph codes 4 (application request
    /// limit, HTTP 403), 17 (user request limit), 32 (page request limit), 613
    /// (rate limit, subcode 1487742), 80000-80014 (Marketing API business use case
    /// limits, subcode 2446079), each with is_transient; or 429: HTTP 429 with a
    /// plain-text body, as a proxy in front of Graph answers. Any other code is a
    /// Graph error with that code and HTTP 400.
    static Fault throttling(int code);
};

/// A scripted throttling burst (MockGraphServer::throttle_burst): after
/// `after_requests` more requests answered as usual, the next `requests` get
/// Fault::throttling(code) instead of the normal answer (their events are not
/// accepted), then service is normal again. Requests answered by a scripted
/// Fault do not count.
struct ThrottleBurst {
    std::size_t after_requests = 0;
    std::size_t requests = 0;
    int code = 4;
};

/// One request as the server saw it.
struct LoggedRequest {
    std::chrono::steady_clock::time_point received;
    std::string method;
    std::string target;         ///< path and query, access_token in it redacted as "REDACTED"
    std::string content_type;
    std::string user_agent;
    bool access_token_ok = false;
    bool appsecret_proof_ok = false;  ///< true when not required
    std::size_t body_bytes = 0;
    std::vector<std::string> event_ids;  ///< event_id of each event, "" where absent
    std::string test_event_code;         ///< the request's test_event_code, "" where absent
    std::size_t events = 0;              ///< events in data
    int status = 0;                      ///< status answered (0: no answer, a fault)
    bool fault = false;                  ///< answered by a scripted fault
    bool throttled = false;              ///< answered by a throttling burst
    std::uint64_t connection = 0;        ///< serial number of the TCP connection
};

struct MockOptions {
    /// 0: an ephemeral port.
    std::uint16_t port = 0;
    /// The token requests must carry (body field or query parameter).
    std::string access_token = "mock-token";
    /// When non-empty, appsecret_proof (query or body) must be HMAC-SHA256 of the token.
    std::string app_secret;
    CertKind cert = CertKind::valid;
    /// For the 7/62-day window; empty: the system clock.
    Clock clock;
    /// Answer with Content-Encoding: gzip bodies.
    bool gzip = false;
    /// Server threads (`capi mock-server --threads`): connections are spread over
    /// them; one thread serves any number of connections.
    unsigned threads = 1;
    /// Offer only TLS 1.0 and 1.1 (at OpenSSL security level 0), as an outdated
    /// server would: a client that insists on TLS 1.2+ must refuse it.
    bool legacy_tls_only = false;
    /// Server latency: every answer (normal or scripted) goes out no earlier than
    /// this long after its request was read, on a timer (no server thread waits),
    /// so any number of connections wait at once: a far or slow Graph
    /// (`capi mock-server --latency-ms`). A Fault's own delay comes on top.
    std::chrono::milliseconds delay{0};
    /// Called for every request answered with success, before the answer is
    /// written, with the pixel id of its path and each event of its `data`
    /// exactly as received (the event's JSON text, byte for byte; for a form or
    /// multipart body, the text after decoding): what Meta would have received.
    /// Runs on a server thread (several at once when threads > 1); must not block
    /// for long; an exception it throws ends that connection.
    /// `capi mock-server --events-out FILE` writes these as JSON lines.
    std::function<void(std::string_view pixel_id, const std::vector<std::string>& events)> on_accepted;
};

class MockGraphServer {
public:
    /// Starts listening before returning. Throws std::system_error when it cannot.
    explicit MockGraphServer(MockOptions options = {});
    ~MockGraphServer();
    MockGraphServer(const MockGraphServer&) = delete;
    MockGraphServer& operator=(const MockGraphServer&) = delete;

    std::uint16_t port() const noexcept;
    /// "https://127.0.0.1:<port>"
    std::string url() const;
    /// PEM of the CA that signed the valid, expired and wrong_host certificates.
    std::string ca_pem() const;

    void push_fault(Fault fault);
    void clear_faults();
    std::size_t pending_faults() const;

    /// Arms a throttling burst, replacing one still pending (requests 0: none).
    void throttle_burst(ThrottleBurst burst);
    /// Requests answered by throttling bursts so far.
    std::size_t requests_throttled() const;

    /// Every request so far, in arrival order.
    std::vector<LoggedRequest> requests() const;
    /// requests().size(), without copying the log.
    std::size_t request_count() const;
    /// Events in requests answered with success.
    std::size_t events_accepted() const;
    /// TCP connections accepted so far.
    std::size_t connections() const;

    /// Closes every open connection now, idle keep-alive ones included (as a
    /// server restart or its idle timeout would), and keeps listening. Returns once
    /// they are closed (at most a few seconds). For tests of stale pooled connections.
    void drop_connections();

    /// Stops accepting and closes every connection (hanging ones included).
    void stop();

private:
    struct [[gnu::visibility("hidden")]] impl;  // lib/ only: not exported
    std::unique_ptr<impl> impl_;
};

} // namespace capi::testing
#pragma GCC visibility pop
