// capi: the retry loop over a Transport.
//
// `Sender` sends a request through a Transport with the retry policy of
// <capi/retry.hpp>: classification by HTTP status and Graph error code,
// exponential backoff with full jitter, a slower lane for throttling,
// Retry-After, caps on attempts and total time, never past the events' 7/62-day
// window. capi::Client uses one; use it directly to send bodies you encoded.
#pragma once

#include <capi/clock.hpp>
#include <capi/errors.hpp>
#include <capi/retry.hpp>
#include <capi/transport.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <system_error>

#pragma GCC visibility push(default)  // exported: docs/install.md#symbol-visibility
namespace capi {

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
