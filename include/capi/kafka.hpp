// capi::kafka: Conversions API events from Kafka topics, as a consumer group
// that commits only what has an outcome (docs/kafka.md, docs/scale-out.md).
//
//   topics --(librdkafka consumer, group G, cooperative-sticky)--> Forwarder
//     record  -> EventReader (the NDJSON line format of `capi send`) -> Client
//     invalid -> dead-letter topic (reason in headers) or on_problem
//     outcome -> the record's partition tracker -> commit of the highest offset
//                below which every record has a final outcome
//
// At-least-once: a record is committed only once it was delivered, or failed /
// expired / invalid with its dead-letter record acknowledged by the brokers (or
// reported through on_problem when there is no dead-letter topic). A record read
// again after a crash or a rebalance carries the same event_id (its own, or one
// derived from topic, partition and offset), so Meta keeps one.
//
// Built when librdkafka is found (meson feature `kafka`); this header does not
// include librdkafka's.
#pragma once

#include <capi/client.hpp>
#include <capi/ndjson.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#pragma GCC visibility push(default)  // exported: docs/install.md#symbol-visibility
namespace capi::kafka {

/// A record that will not reach Meta, and why: reported to
/// ForwarderOptions::on_problem, and (with a dead-letter topic) in the headers of
/// its dead-letter record.
struct Problem {
    enum class Kind : std::uint8_t {
        invalid,   ///< the record is not a valid event (field and reason say why)
        failed,    ///< Meta refused it or retries ran out (SendResult::error, cause)
        expired,   ///< left its 7/62-day window before it could be delivered
        no_pixel,  ///< neither the pixel header nor ForwarderOptions::client.destination names a pixel
    };
    Kind kind = Kind::invalid;
    std::string topic;
    std::int32_t partition = 0;
    std::int64_t offset = 0;
    std::string field;   ///< the field path (invalid), empty otherwise or for a syntax error
    std::string reason;  ///< human-readable; never contains a token
    std::string event_id;  ///< when the event had one (failed, expired)
};
std::string_view to_string(Problem::Kind) noexcept;

/// How a record without an event_id gets one.
enum class EventIds : std::uint8_t {
    /// 32 lowercase hex digits of SHA-256 over "topic/partition/offset": a record
    /// read twice carries the same id. Default.
    from_position,
    /// The client's deterministic id (EventIdMode::deterministic: SHA-256 over the
    /// pixel and the event's content, docs/client.md "Event ids"): a record read
    /// again, and the same event sent again in another record or by `capi send`,
    /// carry the same id; two byte-identical events become one at Meta.
    from_content,
    /// The client's random id (EventIdMode::random): a redelivered record gets a
    /// new one, so Meta may count it twice.
    random,
};

/// Header names of the dead-letter records (the record's own key, value and
/// headers are kept; these are added).
namespace dead_letter_headers {
inline constexpr std::string_view kind = "capi-problem";             ///< to_string(Problem::Kind)
inline constexpr std::string_view field = "capi-problem-field";      ///< Problem::field (when non-empty)
inline constexpr std::string_view reason = "capi-problem-reason";    ///< Problem::reason
inline constexpr std::string_view topic = "capi-source-topic";
inline constexpr std::string_view partition = "capi-source-partition";  ///< decimal
inline constexpr std::string_view offset = "capi-source-offset";        ///< decimal
inline constexpr std::string_view event_id = "capi-event-id";           ///< when known
}  // namespace dead_letter_headers

struct ForwarderOptions {
    /// librdkafka's bootstrap.servers: "host:port[,host:port...]". Required.
    std::string brokers;
    /// Topics to consume. At least one.
    std::vector<std::string> topics;
    /// The consumer group (group.id). Required.
    std::string group;
    /// A record header naming the destination pixel. Without the header (or with an
    /// empty one) the record goes to client.destination.pixel_id; a record with neither
    /// is a Problem::Kind::no_pixel. The access token and app secret are always
    /// client.destination's.
    std::string pixel_header = "capi-pixel";
    /// Invalid, failed and expired records are produced here (key, value and headers
    /// kept, the Problem in dead_letter_headers). Empty: they are reported through
    /// on_problem only, and committed once reported.
    std::string dead_letter_topic;
    /// librdkafka configuration properties, applied after capi's own (so they win),
    /// to the consumer and to the dead-letter producer. capi sets:
    /// enable.auto.commit=false, enable.auto.offset.store=false,
    /// auto.offset.reset=earliest, partition.assignment.strategy=cooperative-sticky;
    /// the producer: enable.idempotence=true, acks=all.
    std::vector<std::pair<std::string, std::string>> kafka_properties;
    /// The client that sends: destination (token, default pixel), transport, retry,
    /// validation windows. Its on_delivery is called too. Its overflow is reject: the
    /// forwarder pauses partitions instead.
    Options client;
    ReaderOptions reader;
    EventIds event_ids = EventIds::from_position;
    /// Records read and not yet final, over all partitions: past it the forwarder
    /// pauses its partitions (rd_kafka_pause_partitions) until half of them settle.
    /// It also pauses while the client's queue is full.
    std::size_t max_pending = 50'000;
    /// Committable offsets are committed this often (asynchronously), and
    /// synchronously on revocation and stop.
    std::chrono::milliseconds commit_interval{1000};
    /// On revocation, how long to wait for the revoked partitions' records to settle
    /// before committing what settled and releasing them (the rest is read again by
    /// the next owner: same event_ids).
    std::chrono::milliseconds revoke_timeout{10'000};
    /// stop(): how long run() waits for outcomes before committing and leaving.
    std::chrono::milliseconds drain_timeout{30'000};
    /// A record that will not reach Meta (after its dead-letter record was
    /// acknowledged, when there is a dead-letter topic). Called on the run() thread.
    std::function<void(const Problem&)> on_problem;
    /// librdkafka's log lines and errors (e.g. "broker down"), and the forwarder's
    /// notes on assignment ("topic[3] resumes at offset 1200"). Called on the run()
    /// thread; never contains a token. Empty: discarded.
    std::function<void(std::string_view)> on_log;
    /// librdkafka's statistics (its JSON document, one per handle and
    /// statistics.interval.ms, which kafka_properties must set: librdkafka's
    /// default is 0, none). Called on the run() thread. Empty: not asked for.
    std::function<void(std::string_view json)> on_kafka_stats;
};

struct ForwarderStats {
    /// Records read. records == accepted + invalid + no_pixel + waiting.
    std::uint64_t records = 0;
    /// Handed to the client (then delivered, failed, expired, or still in the client).
    std::uint64_t accepted = 0;
    std::uint64_t invalid = 0, no_pixel = 0;
    /// Read and not yet handed to the client (paused behind a full queue).
    std::uint64_t waiting = 0;
    std::uint64_t delivered = 0, failed = 0, expired = 0;
    /// Records read and without a final outcome yet (in the client, waiting, or their
    /// dead-letter record not yet acknowledged).
    std::uint64_t pending = 0;
    /// Dead-letter records acknowledged by the brokers, and those the producer
    /// failed to write (their source records are then not committed: read again).
    std::uint64_t dead_lettered = 0, dead_letter_errors = 0;
    /// Offset commits that succeeded / failed (all partitions of one call count once).
    std::uint64_t commits = 0, commit_errors = 0;
    /// Partitions assigned and revoked (or lost) over the run.
    std::uint64_t assigned = 0, revoked = 0;
    /// Times the forwarder paused its partitions (back pressure) and resumed them.
    std::uint64_t pauses = 0, resumes = 0;
    /// Records settled after their partition was revoked: the next owner reads them
    /// again (Meta deduplicates them by event_id).
    std::uint64_t settled_after_revoke = 0;
    Stats client;
};

class Forwarder {
public:
    /// Validates the options (throws std::system_error(errc::invalid_option) naming
    /// the field) and creates the consumer, the dead-letter producer and the client.
    /// Connects nothing yet.
    explicit Forwarder(ForwarderOptions options);
    /// stop() and waits for run() to return.
    ~Forwarder();
    Forwarder(const Forwarder&) = delete;
    Forwarder& operator=(const Forwarder&) = delete;

    /// Subscribes and forwards until stop(): reads records, hands them to the client,
    /// commits what settled, follows rebalances. On stop: stops fetching, waits up to
    /// drain_timeout for outcomes, commits, leaves the group (consumer close), flushes
    /// the dead-letter producer. Returns true when every record read reached a final
    /// outcome and was committed, false when some were left for the next owner.
    /// Call it once, on one thread. Never throws on a broker or Graph failure.
    bool run();

    /// Asks run() to stop. Any thread; async-signal-safe (one atomic store and a
    /// write to a pipe).
    void stop() noexcept;

    /// A snapshot; any thread.
    ForwarderStats stats() const;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

/// librdkafka's version as a string ("2.0.2").
std::string_view librdkafka_version() noexcept;

}  // namespace capi::kafka
#pragma GCC visibility pop
