// capi::Client: the pipeline of the design document, joining the core data path
// (validation, normalization, SHA-256, serialization) and the transport.
//
//   producers: enqueue(ev)          fire-and-forget, never blocks
//              co_await async_send  completes when Meta acknowledged (or the outcome is final)
//        -> bounded lock-free MPMC queue of envelopes
//        -> batcher threads: validate, normalize, hash_many across the batch, serialize;
//           seal at max_batch_events, max_batch_bytes or linger; never mix destinations
//        -> dispatcher on an io_context: Sender (retries) over the Transport (TLS pool);
//           code 100 on a multi-event batch splits it to isolate the bad event(s)
//
// Every accepted event ends in exactly one outcome: delivered, failed (Graph code,
// subcode, fbtrace_id), expired, or dropped (overflow policy); invalid events are
// rejected before they are accepted. Stats always add up:
// accepted = delivered + failed + expired + dropped + queued + in_flight.
//
// Thread safety: every member function may be called from any thread.
#pragma once

#include <capi/clock.hpp>
#include <capi/encode.hpp>
#include <capi/errors.hpp>
#include <capi/event.hpp>
#include <capi/retry.hpp>
#include <capi/small_string.hpp>
#include <capi/transport.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

// Declared before the export region: the library's own copy of its typeinfo
// stays internal (docs/install.md#symbol-visibility).
namespace capi::detail {
struct send_op;  // include/capi/detail/client_impl.hpp
}

#pragma GCC visibility push(default)  // exported: docs/install.md#symbol-visibility
namespace capi {

/// Where an event goes. Batches never mix destinations.
struct Destination {
    std::string pixel_id;
    std::string access_token;     ///< never logged
    std::string app_secret;       ///< appsecret_proof when non-empty; never logged
    std::string test_event_code;  ///< Events Manager's Test Events, when non-empty

    friend bool operator==(const Destination&, const Destination&) = default;
};

/// What enqueue() does when the queue is full.
enum class Overflow : std::uint8_t {
    reject,       ///< enqueue returns queue_full (counted as rejected_full); default
    drop_oldest,  ///< the oldest queued event is dropped (counted, its completion told
                  ///< errc::queue_full) to make room
    block,        ///< async_send suspends until there is room (never blocks a thread);
                  ///< enqueue behaves as reject
};

/// Options::event_ids: the id an event accepted without an event_id gets.
/// docs/client.md ("Event ids") has the trade-off and what is hashed.
enum class EventIdMode : std::uint8_t {
    /// 32 lowercase hex digits of SHA-256 over the destination's pixel id and the
    /// event as capi encodes it (before its digests and its id): a re-send of the
    /// same event, from any run or process, carries the same id. Two byte-identical
    /// events to one pixel are one event at Meta.
    deterministic,
    /// A random 128-bit id (32 lowercase hex digits), new at every enqueue.
    random,
    /// Sent without one.
    none,
};
std::string_view to_string(EventIdMode) noexcept;

enum class Outcome : std::uint8_t {
    delivered,  ///< Meta acknowledged the batch that carried the event
    rejected,   ///< invalid; never accepted, never sent
    failed,     ///< final error: Graph error, retries exhausted, shutdown, ...
    expired,    ///< left its 7/62-day window before it could be delivered
    dropped,    ///< dropped by the overflow policy
};
std::string_view to_string(Outcome) noexcept;

/// The outcome of one event.
struct SendResult {
    Outcome outcome = Outcome::failed;
    std::error_code error;               ///< empty when delivered
    /// Meta's error object, when there was one; shared by the events of the
    /// reply that carried it (a batch's results point at one copy).
    std::shared_ptr<const GraphError> graph;
    std::vector<FieldError> invalid;     ///< why, when rejected
    SmallString event_id;                ///< held in place up to 43 bytes (no allocation)
    SmallString fbtrace_id;              ///< of the reply that settled the event
    /// The last HTTP attempt's own error when `error` is the retry policy giving
    /// up (retries_exhausted, expired, shutdown): e.g. connect_failed,
    /// request_timeout, http_error (see http_status) or graph_error (see graph).
    std::error_code cause;
    int http_status = 0;                 ///< of the last reply; 0 when none arrived
    unsigned attempts = 0;               ///< HTTP attempts of its last batch
    std::chrono::nanoseconds latency{};  ///< accepted -> outcome
};

/// A delivery report, called for every accepted event off the hot path (on the
/// client's io_context), like librdkafka's dr_msg_cb. Must not block. It may run
/// on several io threads at once; exceptions it throws are swallowed. Events that
/// shutdown() fails are reported on the thread calling shutdown(), before it returns.
using DeliveryCallback = std::function<void(const SendResult&)>;

/// One valid event's PII values that do not go to Meta as given, each with its
/// path (`user_data.em[1]`) and reason: those the encoder left out
/// (EncodeOptions::invalid_pii == drop_value) and those sent hashed as given
/// though Meta will not match them (a `db` not in YYYYMMDD, a phone without its
/// country code: match_warning()). The same lists as BatchEncoder::add()'s
/// EncodeResult::dropped and ::unmatchable. Valid only during the call.
struct ValueReport {
    const std::vector<FieldError>& dropped;
    const std::vector<FieldError>& unmatchable;
};

/// Called by enqueue() and async_send(), on the calling thread and before they
/// return, for a valid event with values in a ValueReport (before the queue or
/// the caller's batch takes it, which may still refuse it); never for an event
/// without any, which costs nothing. Per value rather than the per-field counts
/// of Stats::match_quality: e.g. a command line tool's "line 12: user_data.ph[0]:
/// ..." warning. It runs on every thread that calls them, so on several at once
/// when several threads send. Must not block or call into the client;
/// exceptions it throws are swallowed.
using ValueCallback = std::function<void(const ValueReport&)>;

struct Options {
    /// The default destination; an event may carry its own (enqueue/async_send overloads).
    Destination destination;
    /// Transport: endpoint, api_version, CAs, pool size, deadlines.
    TransportOptions transport;
    /// A custom Transport (e.g. your own HTTP stack); default: make_https_transport.
    std::shared_ptr<Transport> custom_transport;
    RetryPolicy retry;
    /// Validation windows, PII policy, hash_external_id, max_batch_events (<= 1000).
    EncodeOptions encode;
    /// partner_agent, namespace_id, upload_* sent with every batch.
    RequestFields request;

    /// Envelopes the queue holds (rounded up to a power of two).
    std::size_t queue_capacity = 1 << 16;
    Overflow overflow = Overflow::reject;
    /// Batcher threads; 0: hardware threads - 1, at least 1.
    unsigned batchers = 0;
    /// The calling thread batches its own events: enqueue() and async_send()
    /// append the prepared event to a partial batch of the caller's thread (a
    /// "lane", one per thread, up to 32 threads per client) while its bytes are
    /// still in that core's cache, and the thread that fills a batch hashes and
    /// seals it; the batchers only seal lanes that linger or that a flush needs.
    /// Events take the queue instead (and `queue_capacity` and `overflow` apply)
    /// while the dispatcher holds too many batches, and from a thread that found
    /// all 32 lanes taken (until one is let go). False: every event goes through
    /// the queue to a batcher thread.
    bool caller_batches = true;
    /// A partial batch is sealed this long after its first event (measured on
    /// the steady clock, so an injected `clock` cannot stall it).
    std::chrono::milliseconds linger{50};
    /// A batch is sealed before its data would pass this many bytes with the next
    /// event (one event always fits: encode.validation.max_event_bytes must not
    /// exceed it). At least 64 KiB.
    std::size_t max_batch_bytes = 4 * 1024 * 1024;
    /// Threads running the client's own io_context (when no executor is given).
    unsigned io_threads = 1;
    /// Sealed batches handed to the transport at once (on the wire, waiting for a
    /// connection, or in retry backoff); past it sealed batches wait in the client
    /// and then the batchers stop taking events, so the queue applies `overflow`.
    /// 0: 2 x transport.max_connections, at most transport.max_in_flight.
    /// With adaptive concurrency on, this is the user's bound: the adaptive limit
    /// never exceeds it.
    std::size_t max_batches_in_flight = 0;
    /// Adaptive concurrency (docs/client.md#adaptive-concurrency): the batches in
    /// flight per destination adapt to the server, as TCP's congestion window does.
    /// The limit starts at `initial`, grows while batches wait for a slot, answers
    /// are healthy and the round trip stays within `rtt_tolerance` x the least one
    /// seen (doubling per round trip until the first cut, then one per round trip
    /// as long as the delivery rate follows it),
    /// and is cut to `backoff` x itself (never below `min`) on throttling (HTTP 429,
    /// Graph codes 4, 17, 32, 613, 80000-80014), timeouts and 5xx: every attempt
    /// counts, retried ones included, at most one cut per round trip. It never
    /// exceeds max_batches_in_flight (or its default), which also bounds all
    /// destinations together; a destination at its limit does not hold back
    /// another's batches. Stats::concurrency_limit shows it.
    struct Concurrency {
        /// Off: a fixed limit of max_batches_in_flight (or its default), as before.
        bool adaptive = true;
        /// A destination's limit before any answer; at least `min` (clamped to the bound).
        std::size_t initial = 4;
        /// At least 1.
        std::size_t min = 1;
        /// Multiplicative cut, 0 < backoff < 1.
        double backoff = 0.5;
        /// Growth stops while the smoothed round trip exceeds this multiple of the
        /// least round trip seen recently (30-60 s): the server is queueing, not far
        /// away. At least 1.
        double rtt_tolerance = 2.0;
    };
    Concurrency concurrency;
    /// How an event accepted without an event_id gets one (reported in its
    /// SendResult), so that a resend of an attempt that may have been delivered is
    /// deduplicated by Meta (event_name + event_id). Default deterministic: the
    /// same event to the same pixel gets the same id in every run and process.
    EventIdMode event_ids = EventIdMode::deterministic;
    /// False: no id at all, whatever event_ids says (EventIdMode::none; kept for
    /// code written before event_ids).
    bool assign_event_id = true;
    /// Wall clock for the 7/62-day windows (not linger); empty: the system clock,
    /// read coarsely (CLOCK_REALTIME_COARSE: behind by at most a few milliseconds).
    Clock clock;
    DeliveryCallback on_delivery;
    /// The values of each valid event that are dropped or will not match
    /// (ValueReport); empty: none are collected.
    ValueCallback on_values;
};

/// Log2-bucketed histogram (bucket i counts values in [2^i, 2^(i+1)) units).
struct Histogram {
    std::array<std::uint64_t, 64> buckets{};
    std::uint64_t count = 0;
    /// The upper bound of the bucket holding quantile q (0..1); 0 when empty.
    std::uint64_t percentile(double q) const noexcept;
};

struct Stats {
    std::uint64_t accepted = 0, delivered = 0, rejected = 0, rejected_full = 0, failed = 0,
                  expired = 0, dropped = 0, queued = 0, in_flight = 0;
    std::uint64_t retries = 0, batches = 0, bytes = 0, splits = 0;
    /// Events whose batch had an attempt that may have reached Meta without a
    /// readable answer before it was retried or failed (Meta may see them twice;
    /// same event_ids, so it deduplicates). docs/reliability.md, invariant I3.
    std::uint64_t possibly_delivered = 0;
    /// Attempts answered with throttling (HTTP 429, Graph 4/17/32/613/800xx).
    std::uint64_t throttled = 0;
    /// Batches answered 2xx whose events_received differed from the events sent:
    /// the events count as delivered (Meta took the request), the difference is
    /// surfaced here, never silently accepted.
    std::uint64_t receipt_mismatch = 0;
    /// Events whose caller-given event_id an earlier event of the same batch
    /// carried: both are sent (Meta deduplicates, keeping one) and counted here.
    std::uint64_t duplicate_ids = 0;
    /// Adaptive concurrency: the current in-flight limit of the default destination
    /// (Options::destination; without one, of the first destination events named),
    /// and the least it was cut to since the start (the initial limit until the
    /// first cut); the bound is concurrency_bound. With adaptive off all three are
    /// the fixed cap.
    std::uint64_t concurrency_limit = 0, concurrency_limit_min = 0, concurrency_bound = 0;
    /// Times a limit was cut (throttling, timeouts, 5xx), all destinations together.
    std::uint64_t concurrency_cuts = 0;
    /// Times a limit that had grown without raising the delivery rate went back
    /// to where growth last paid (docs/client.md#adaptive-concurrency), all
    /// destinations together.
    std::uint64_t concurrency_holds = 0;
    /// Per customer-information field, how many values of the accepted events
    /// were hashed as given, converted by enhanced normalization, sent although
    /// Meta will not match them, dropped as invalid, ... (MatchQuality).
    MatchQuality match_quality;
    Histogram latency_us;   ///< accepted -> outcome, microseconds
    Histogram batch_events; ///< events per sent batch
};

struct EnqueueResult {
    enum class Status : std::uint8_t { accepted, queue_full, invalid, shutdown };
    Status status = Status::accepted;
    std::vector<FieldError> errors;  ///< why, when invalid
    explicit operator bool() const noexcept { return status == Status::accepted; }
};

class Client {
public:
    /// Runs network I/O on threads the client owns (Options::io_threads).
    /// Throws std::system_error(errc::invalid_option) naming the bad field.
    explicit Client(Options options);
    /// Runs network I/O on `executor` (e.g. a coroutine server's io_context).
    Client(boost::asio::any_io_executor executor, Options options);
    /// shutdown(5 s); never hangs past that.
    ~Client();
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    /// Fire-and-forget: validates, normalizes and serializes `ev` on the calling
    /// thread and queues the result; never blocks. `ev` is not kept: the caller
    /// may reuse it at once (clearing and refilling an Event keeps its buffers).
    /// The outcome goes to Options::on_delivery.
    EnqueueResult enqueue(const Event& ev);
    EnqueueResult enqueue(const Event& ev, Destination destination);

    /// Sends one event. `ev` is validated, normalized and serialized during the call,
    /// on the calling thread, and not kept: the caller may reuse it at once (with
    /// `deferred`, the prepared event waits in the operation until it is launched).
    /// Completion signature: void(std::error_code, SendResult); the
    /// error is empty when delivered and equals result.error otherwise. Completes on
    /// the handler's associated executor (default: the client's), never inside the
    /// call. Cancellation: a terminal (or partial) cancellation through the token's
    /// slot completes at once with errc::cancelled (outcome failed); the event itself
    /// continues and may still be delivered (event_id dedup covers it), its real
    /// outcome goes to Options::on_delivery and stats(). An event never accepted
    /// completes with Outcome::rejected: errc::invalid_event (result.invalid says
    /// why), errc::queue_full (Overflow::reject or drop_oldest could not make room)
    /// or errc::shutdown. Under Overflow::block a full queue is retried on a timer
    /// (100 us doubling to 5 ms) on the client's executor; no thread blocks.
    template <class CompletionToken>
    auto async_send(const Event& ev, CompletionToken&& token);
    template <class CompletionToken>
    auto async_send(const Event& ev, Destination destination, CompletionToken&& token);
    /// Sends many; completes once all have an outcome.
    /// Completion signature: void(std::error_code, std::vector<SendResult>) (error set
    /// when any failed: the first failure's code; results in the input order).
    /// Executor and cancellation as above (a cancelled call gets an empty vector).
    template <class CompletionToken>
    auto async_send(std::vector<Event> events, CompletionToken&& token);

    /// Everything accepted before the call has an outcome. Signature: void(std::error_code),
    /// empty on success. Completes on the handler's associated executor (default:
    /// the client's). Cancellation (terminal or partial) completes at once with
    /// errc::cancelled and stops nothing. After shutdown() it completes at once.
    /// A flush marker travels through the queue (lib/client/client.cpp describes how).
    template <class CompletionToken>
    auto async_flush(CompletionToken&& token);
    /// Blocking flush; false on timeout. Do not call from the client's io_context.
    bool flush(std::chrono::milliseconds timeout);
    /// Stops intake, drains within `timeout`, fails what is left with errc::shutdown
    /// (queued envelopes, partial batches, batches waiting, in backoff or on the
    /// wire), stops the batchers and the owned io threads. Returns true when
    /// everything drained. Idempotent (later calls return the first result). Do
    /// not call from the client's io_context with a user executor: its drain
    /// would wait on the thread it blocks (it then only times out).
    bool shutdown(std::chrono::milliseconds timeout);

    Stats stats() const;
    boost::asio::any_io_executor get_executor() const noexcept;

private:
    struct [[gnu::visibility("hidden")]] impl;  // lib/ only: not exported
    /// An event async_send prepared at its call, not queued yet: a move-only
    /// handle the operation carries to its initiation (a few bytes, where the
    /// Event would be kilobytes moved through every layer of the completion token).
    struct discard {
        void operator()(void* env) const noexcept { discard_(env); }
    };
    using prepared = std::unique_ptr<void, discard>;  // lib/client's envelope
    prepared prepare_(const Event& ev, std::optional<Destination> dest);
    static void discard_(void* env) noexcept;
    template <class CompletionToken>
    auto async_send_prepared_(prepared p, CompletionToken&& token);
    /// Queues the prepared event; `op` gets its outcome. An operation that
    /// completed otherwise (cancelled) while its event waits for room under
    /// Overflow::block is never queued.
    void send_(prepared p, std::shared_ptr<detail::send_op> op);
    void send_many_(std::vector<Event> events, std::function<void(std::vector<SendResult>)> done);
    void flush_(std::function<void()> done);
    std::shared_ptr<impl> impl_;
};

} // namespace capi
#pragma GCC visibility pop

#include <capi/detail/client_impl.hpp>
