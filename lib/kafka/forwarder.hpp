// The forwarder's inner parts shared by its translation units: the state of one
// assigned partition and the forwarder's implementation (lib/kafka/forwarder.cpp
// configures librdkafka, records.cpp turns records into events and outcomes into
// settled offsets, loop.cpp runs the loop and commits, rebalance.cpp follows the
// group, dead_letter.cpp writes problems to the dead-letter topic).
//
// Threads: run() owns librdkafka (consumer, producer, callbacks); the client's io
// threads deliver outcomes. Everything both touch is under impl::mu.
#pragma once

#include <capi/kafka.hpp>

#include "kafka/tracker.hpp"

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace capi::kafka::detail {

/// A record read and not settled yet: kept whole, because a failed or expired
/// one is written to the dead-letter topic as it was read, and one the client's
/// full queue refused is parsed again later.
struct Record {
    std::optional<std::string> key;
    std::optional<std::string> value;
    std::vector<std::pair<std::string, std::optional<std::string>>> headers;
};

/// One assigned partition. Shared with the outcomes still in the client, which
/// find out through `revoked` that the partition moved on.
struct Part {
    std::string topic;
    std::int32_t partition = 0;
    OffsetTracker tracker;
    std::map<std::int64_t, Record> records;  // unsettled, by offset
    std::set<std::int64_t> waiting;          // read, not handed to the client
    std::int64_t committed = -1;             // last offset the brokers acknowledged
    bool paused = false;
    bool revoked = false;
};
using PartPtr = std::shared_ptr<Part>;

/// A problem to handle on the run() thread (dead letter or on_problem).
struct PendingProblem {
    PartPtr part;
    Problem problem;
};

struct DeadLetterContext {
    PartPtr part;
    Problem problem;
};

}  // namespace capi::kafka::detail

namespace capi::kafka {

struct [[gnu::visibility("hidden")]] Forwarder::impl {  // lib/ only: not exported
    explicit impl(ForwarderOptions o);
    ~impl();

    // --- configuration and handles (forwarder.cpp; handles created by run()) ---
    ForwarderOptions opts;
    rd_kafka_conf_t* consumer_conf = nullptr;  // owned until run() creates the handle
    rd_kafka_conf_t* producer_conf = nullptr;
    rd_kafka_t* consumer = nullptr;
    rd_kafka_t* producer = nullptr;
    rd_kafka_queue_t* consumer_queue = nullptr;
    rd_kafka_queue_t* producer_queue = nullptr;
    rd_kafka_queue_t* commit_queue = nullptr;
    int wake_read = -1, wake_write = -1;  // the self-pipe stop() and librdkafka write to
    std::atomic<bool> stop_requested{false};
    std::atomic<bool> wake_pending{false};

    // --- shared with the client's io threads ---
    mutable std::mutex mu;
    std::condition_variable settled_cv;
    std::map<std::pair<std::string, std::int32_t>, detail::PartPtr> parts;
    std::deque<detail::PendingProblem> problems;
    ForwarderStats st;          // client and pending filled in by stats()
    std::uint64_t pending_total = 0;
    std::uint64_t abandoned = 0;          // left unsettled at a revocation
    std::uint64_t commit_failures_at_release = 0;
    bool backpressure = false;  // pending_total reached max_pending
    bool stopping = false;

    // --- run() thread only ---
    EventReader reader;
    Event event;
    std::chrono::steady_clock::time_point next_commit;
    std::chrono::steady_clock::time_point next_retry;
    // One asynchronous commit at a time, and none while the group rebalances:
    // a commit queued behind a JoinGroup on the coordinator's connection comes
    // back with an old generation, which librdkafka takes as the assignment lost.
    bool commit_in_flight = false;  // run() thread (on_commit runs there too)
    // Every commit is asynchronous on commit_queue, numbered; a "synchronous" one
    // waits (bounded) for its own report, so a coordinator that never answers
    // cannot hang a revocation or stop.
    std::uint64_t commit_seq = 0, commit_async_seq = 0, commit_reported = 0;
    std::chrono::steady_clock::time_point commit_sent;  // a report librdkafka drops frees the slot later
    std::chrono::steady_clock::time_point commits_held_until;  // after "rebalance in progress"
    bool running = false;
    std::mutex run_mu;
    std::condition_variable run_cv;
    bool run_active = false;

    std::optional<Client> client;  // last: destroyed (shut down) first

    bool run();
    void wake() noexcept;
    void drain_wake_pipe() noexcept;
    void log(std::string_view line) noexcept;
    void report(const Problem& p) noexcept;

    // records.cpp
    void on_message(const rd_kafka_message_t* m);
    void hand(const detail::PartPtr& p, std::int64_t offset);
    void on_outcome(const detail::PartPtr& p, std::int64_t offset, SendResult&& r) noexcept;
    void settle_locked(detail::Part& p, std::int64_t offset);
    void retry_waiting();
    void apply_pauses();
    void service();  // problems, producer events, commit results
    // loop.cpp
    bool iterate(int max_wait_ms);
    void commit(const std::vector<detail::PartPtr>& which, bool sync);
    void on_commit(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* offsets, std::uint64_t seq) noexcept;

    // rebalance.cpp
    void on_rebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* partitions) noexcept;
    void assign(rd_kafka_topic_partition_list_t* partitions);
    void revoke(rd_kafka_topic_partition_list_t* partitions);
    void wait_settled(const std::vector<detail::PartPtr>& which, std::chrono::milliseconds bound);

    // librdkafka's callbacks (forwarder.cpp): they find the forwarder through the
    // handle's opaque (commit_cb's opaque is the commit's number).
    static rd_kafka_conf_t* make_conf(const ForwarderOptions& o, bool producer);
    static void log_cb(const rd_kafka_t* rk, int level, const char* fac, const char* buf);
    static void error_cb(rd_kafka_t* rk, int err, const char* reason, void*);
    static void rebalance_cb(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts, void*);
    static int stats_cb(rd_kafka_t* rk, char* json, size_t len, void*);
    static void dr_msg_cb(rd_kafka_t* rk, const rd_kafka_message_t* m, void*);
    static void commit_cb(rd_kafka_t*, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* offsets, void* opaque);

    // dead_letter.cpp
    void handle_problem(detail::PendingProblem&& pp);
    void on_dead_letter_report(const rd_kafka_message_t* m) noexcept;
};

namespace detail {
/// A problem's dead-letter record headers, after the record's own.
rd_kafka_headers_t* dead_letter_headers_for(const Record& r, const Problem& p);
}  // namespace detail

}  // namespace capi::kafka
