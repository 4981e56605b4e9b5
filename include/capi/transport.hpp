// capi: one attempt at sending a request body to the Graph API.
//
// `Transport` makes ONE attempt (pluggable: route through your own HTTP stack by
// implementing post()); the default one is a pool of keep-alive TLS connections on
// an asio io_context (make_https_transport). The retry policy is in
// <capi/retry.hpp>, the retry loop over a Transport (capi::Sender) in
// <capi/sender.hpp>.
#pragma once

#include <capi/errors.hpp>
#include <capi/detail/shared_body.hpp>

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#pragma GCC visibility push(default)  // exported: docs/install.md#symbol-visibility
namespace capi {

enum class BodyFormat : std::uint8_t {
    json,  ///< application/json: {"data":[...], ...}
    form,  ///< application/x-www-form-urlencoded: data=[...]&...
};

/// Compatibility: the shared request body moved to capi::detail (plumbing between
/// the client, the Sender and the transports); transports that override
/// post_shared() keep compiling through this name.
using SharedBody = detail::SharedBody;

/// One POST to /{api_version}/{pixel_id}/events.
struct PostRequest {
    std::string pixel_id;
    /// The complete body, access_token included (BatchEncoder::json_body / form_body).
    std::string body;
    /// Internal (capi::Client sets it; leave it empty): used instead of `body` when
    /// its owner is set, bytes held elsewhere sent without a copy.
    detail::SharedBody shared_body;
    BodyFormat format = BodyFormat::json;
    /// Lowercase hex HMAC-SHA256(app_secret, access_token); sent in the query string
    /// when non-empty (see appsecret_proof()).
    std::string appsecret_proof;
};

/// What one exchange (or, from Sender, the last of its attempts) produced.
struct PostResult {
    int http_status = 0;                   ///< 0 when no reply arrived
    std::int64_t events_received = 0;      ///< from a success body
    std::vector<std::string> messages;     ///< from a success body
    std::string fbtrace_id;                ///< success or error body
    std::optional<GraphError> error;       ///< the Graph error object, when the reply had one
    /// Retry-After header: delta-seconds, or an HTTP-date turned into a delay.
    std::optional<std::chrono::seconds> retry_after;
    /// Raw usage headers (JSON text) for throttling decisions and monitoring.
    std::string app_usage, business_use_case_usage, ad_account_usage;
    unsigned attempts = 0;                 ///< set by Sender: attempts made
    /// Attempts that may have reached Meta without a readable answer: the request
    /// was written whole, then the reply timed out, the connection was lost, or a
    /// 2xx body was cut short or not Meta's JSON. A retry after one of them can make
    /// Meta see the events twice (same event_ids: Meta deduplicates). Set by the
    /// Transport for its one attempt, summed over the attempts by Sender.
    unsigned possibly_delivered = 0;
    /// Set by Sender: attempts answered with throttling (HTTP 429, or Graph codes
    /// 4, 17, 32, 613, 80000-80014).
    unsigned throttled = 0;
    /// Set by Sender: the last attempt's own error (a transport error such as
    /// connect_failed or request_timeout, http_error or graph_error), when an
    /// attempt failed. When the Sender gives up (retries_exhausted, expired,
    /// shutdown, cancelled) it says why the attempts did not succeed.
    std::error_code last_error;
};

/// Lowercase hex HMAC-SHA256 of `access_token` keyed by `app_secret`.
std::string appsecret_proof(std::string_view access_token, std::string_view app_secret);

/// One attempt at a POST. Implementations must call `done` exactly once, on any
/// thread, and never throw from post() or from the call of `done`.
class Transport {
public:
    using handler = std::function<void(std::error_code, PostResult)>;
    virtual ~Transport() = default;
    virtual void post(PostRequest request, handler done) = 0;
    /// Internal, optional to override: one attempt whose body is `body.bytes`
    /// (`request.body` and `request.shared_body` are ignored), shared with the
    /// caller so that resending a batch does not copy it; Sender calls this for
    /// every attempt. Same contract as post(); the bytes stay valid while the
    /// implementation holds `body.owner`. The default copies the bytes into a
    /// PostRequest and calls post(); make_https_transport's transport writes them
    /// as they are.
    virtual void post_shared(const PostRequest& request, detail::SharedBody body, handler done);
    /// Closes idle connections and fails queued requests with errc::shutdown;
    /// requests on the wire complete (or time out) normally. Idempotent.
    virtual void close() = 0;
};

struct TransportOptions {
    /// https://host[:port]; plaintext http is refused (no fallback, ever).
    std::string endpoint = "https://graph.facebook.com";
    std::string api_version = "v24.0";
    /// PEM file of trusted CAs for private endpoints; empty: the system store.
    std::string ca_file;
    /// PEM text of extra trusted CAs (e.g. testing::MockGraphServer::ca_pem()).
    std::string ca_pem;
    /// Keep-alive connections per endpoint, opened as requests need them (an idle
    /// one is reused first). 128: room for what adaptive concurrency reaches when
    /// Meta is far away (at 200 ms, plus the server's own time, a client sending
    /// 250-300 k events/s in 1000-event batches keeps 70-100 batches in flight);
    /// the client's bound on batches in flight defaults to twice this, at most
    /// max_in_flight.
    std::size_t max_connections = 128;
    /// Reuse connections. Off sends `Connection: close` and opens a connection (and
    /// TLS handshake) per request: for comparison and for proxies that need it.
    bool keep_alive = true;
    /// Requests accepted at once (on the wire or waiting for a connection); past it
    /// post() completes at once with errc::queue_full.
    std::size_t max_in_flight = 256;
    /// TCP connect deadline.
    std::chrono::milliseconds connect_timeout{3000};
    /// TLS handshake deadline.
    std::chrono::milliseconds handshake_timeout{3000};
    /// From writing the request to the complete reply. Meta recommends 1.5 s for
    /// single events; 1000-event batches take longer, hence 10 s.
    std::chrono::milliseconds request_timeout{10'000};
    /// An idle pooled connection is closed after this long.
    std::chrono::milliseconds idle_timeout{30'000};
    /// User-Agent; empty: "capi-cpp/<version>".
    std::string user_agent;
};

/// The default Transport: Boost.Beast HTTP/1.1 over OpenSSL TLS 1.2+, SNI,
/// certificate and host name verification, a keep-alive pool, gzip replies
/// inflated. Runs on `executor` (its io_context must be run by the caller).
/// Throws std::system_error (errc::invalid_option) for a bad option.
std::unique_ptr<Transport> make_https_transport(boost::asio::any_io_executor executor,
                                                TransportOptions options);

} // namespace capi
#pragma GCC visibility pop

