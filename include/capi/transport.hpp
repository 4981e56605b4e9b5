// capi: sending request bodies to the Graph API.
//
// Two layers, like the official SDKs' HttpServiceInterface but with what they
// lack: `Transport` makes ONE attempt (pluggable: route through your own HTTP
// stack by implementing it); `Sender` owns the retry policy (classification by
// HTTP status and Graph error code, exponential backoff with full jitter, a slower
// lane for throttling, Retry-After, caps on attempts and total time, never past the
// events' 7/62-day window). The default Transport is a pool of keep-alive TLS
// connections on an asio io_context (make_https_transport).
#pragma once

#include <capi/clock.hpp>
#include <capi/errors.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>

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

/// A request body that the attempts of one request share without copying it:
/// `bytes` stays valid for as long as `owner` (or a copy of it) is held.
struct SharedBody {
    std::string_view bytes;
    std::shared_ptr<const void> owner;
    /// A body that owns `s` (moved in, not copied).
    static SharedBody take(std::string s);
};

/// One POST to /{api_version}/{pixel_id}/events.
struct PostRequest {
    std::string pixel_id;
    /// The complete body, access_token included (BatchEncoder::json_body / form_body).
    std::string body;
    /// Used instead of `body` when its owner is set: bytes held elsewhere, sent
    /// without a copy (capi::Client sends a batch straight from its encoder).
    SharedBody shared_body;
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
    /// connection_refused or request_timeout, http_error or graph_error), when an
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
    /// One attempt whose body is `body.bytes` (`request.body` and
    /// `request.shared_body` are ignored), shared with the caller so that resending
    /// a batch does not copy it: Sender calls this for every attempt. Same contract
    /// as post(); the bytes stay valid while the implementation holds `body.owner`.
    /// The default copies the bytes into a PostRequest and calls post();
    /// make_https_transport's transport writes them as they are.
    virtual void post_shared(const PostRequest& request, SharedBody body, handler done);
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
    /// Keep-alive connections per endpoint.
    std::size_t max_connections = 8;
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

struct RetryPolicy {
    /// Attempts in all, the first included.
    unsigned max_attempts = 6;
    /// No new attempt starts later than this after the first.
    std::chrono::milliseconds max_total{120'000};
    /// Backoff for transient errors: full jitter in [0, min(max, initial * 2^n)].
    std::chrono::milliseconds initial_backoff{200};
    std::chrono::milliseconds max_backoff{10'000};
    /// The slower lane for throttling (codes 4, 17, 32, 613, 80000-80014).
    std::chrono::milliseconds throttle_initial_backoff{60'000};
    std::chrono::milliseconds throttle_max_backoff{15 * 60'000};
};

/// What to do with the outcome of one attempt.
enum class Disposition : std::uint8_t {
    success,
    retry,     ///< transient: network, timeout, 5xx, 429, non-JSON, is_transient, codes 1 2 341 368
    throttle,  ///< codes 4 17 32 613 80000-80014: the slower lane
    fail,      ///< final: 100 (split the batch), 190, 10, 200-299, 3, 2635, TLS verification, ...
};

/// Classifies by the Graph error code first, then the HTTP status, then the error.
Disposition classify(std::error_code ec, const PostResult& result) noexcept;

/// Delay before attempt `attempt + 1` (attempt counts from 1) under `policy`;
/// `random` is a uniform 64-bit value (full jitter). Retry-After, when given, is
/// a lower bound.
std::chrono::milliseconds backoff_delay(const RetryPolicy& policy, Disposition d, unsigned attempt,
                                        std::optional<std::chrono::seconds> retry_after,
                                        std::uint64_t random) noexcept;

/// Sends through a Transport with the retry policy. Thread safety: async_post and
/// close may be called from any thread; each completion runs on its handler's
/// associated executor (default: `executor`), never inside async_post. `transport`
/// must outlive the Sender; a Sender destroyed with operations pending completes
/// them as close() does.
class Sender {
public:
    Sender(boost::asio::any_io_executor executor, Transport& transport, RetryPolicy policy = {},
           Clock clock = {});
    ~Sender();
    Sender(const Sender&) = delete;
    Sender& operator=(const Sender&) = delete;

    /// Posts `request`, retrying per the policy. `not_after` is the time past which
    /// the request must not be (re)sent: the earliest 7/62-day expiry of its events;
    /// reaching it completes with errc::expired.
    ///
    /// Completion signature: void(std::error_code, capi::PostResult). The error is
    /// empty on success (2xx with a Graph success body), errc::graph_error when Meta
    /// answered with an error object (in result.error), another capi::errc otherwise.
    /// Cancellation: a terminal or partial cancellation through the token's slot
    /// stops further retries and completes at once with errc::cancelled (an attempt
    /// already on the wire is not recalled: Meta may still receive it, event_ids
    /// make that harmless; its late result is dropped).
    template <class CompletionToken>
    auto async_post(PostRequest request, std::chrono::system_clock::time_point not_after,
                    CompletionToken&& token) {
        return boost::asio::async_initiate<CompletionToken, void(std::error_code, PostResult)>(
            [this](auto handler, PostRequest req, std::chrono::system_clock::time_point na) {
                start_(std::move(req), na, std::move(handler));
            },
            token, std::move(request), not_after);
    }

    /// Stops retrying: pending backoffs complete with errc::shutdown at once; an
    /// attempt on the wire completes with its own outcome when that is final
    /// (success or a non-retryable error) and with errc::shutdown otherwise; later
    /// async_post calls complete with errc::shutdown. Once it returns, the Transport
    /// is not called again. Idempotent; any thread. The destructor calls it.
    void close();

    using executor_type = boost::asio::any_io_executor;
    /// The executor given at construction: backoff timers run on it, and it is
    /// the completion executor of handlers that have no associated executor.
    executor_type get_executor() const noexcept;

private:
    struct [[gnu::visibility("hidden")]] impl;  // lib/ only: not exported
    template <class Handler>
    void start_(PostRequest req, std::chrono::system_clock::time_point not_after, Handler handler);
    /// Runs one async_post; `done` is called exactly once, on any thread, and must
    /// not run the user's handler inline. Returns the operation's cancel trigger
    /// (thread-safe, idempotent, harmless after completion).
    std::function<void()> post_(PostRequest req, std::chrono::system_clock::time_point not_after,
                                std::function<bool()> cancelled,
                                std::function<void(std::error_code, PostResult)> done);
    std::shared_ptr<impl> impl_;
};

} // namespace capi
#pragma GCC visibility pop

#include <capi/detail/sender_impl.hpp>
