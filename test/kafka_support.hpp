// The kafka suite's rig: librdkafka's in-process mock cluster (a real Kafka
// protocol endpoint on 127.0.0.1), a producer for test records, a reader of
// topics and of a group's committed offsets; the Graph side's received events.
#pragma once

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kafka_test {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Message {
    std::string topic;
    std::int32_t partition = 0;
    std::int64_t offset = 0;
    std::optional<std::string> key, value;
    Headers headers;
    /// The last value of header `name`, "" when absent.
    std::string header(std::string_view name) const;
};

/// A mock cluster of `brokers` brokers, owned by a producer handle.
class Cluster {
public:
    explicit Cluster(int brokers = 3);
    ~Cluster();
    Cluster(const Cluster&) = delete;
    Cluster& operator=(const Cluster&) = delete;

    std::string bootstraps() const;
    rd_kafka_mock_cluster_t* mock() const { return mock_; }
    void create_topic(const std::string& topic, int partitions);
    /// Produces and waits (bounded) for the brokers' acknowledgement; returns the offset.
    std::int64_t produce(const std::string& topic, std::int32_t partition, const std::string& value,
                         const Headers& headers = {}, std::optional<std::string> key = std::nullopt);
    /// The committed offset of each partition (-1: none), read by a separate
    /// handle of `group`.
    std::map<std::int32_t, std::int64_t> committed(const std::string& group, const std::string& topic, int partitions);
    /// Reads `topic` from the start (no group) until `count` messages or `timeout`.
    std::vector<Message> read(const std::string& topic, int partitions, std::size_t count,
                              std::chrono::milliseconds timeout);

private:
    rd_kafka_t* rk_ = nullptr;
    rd_kafka_mock_cluster_t* mock_ = nullptr;
    std::mutex mu_;
};

/// Polls `done` every 10 ms until it is true or `timeout` passes.
bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds timeout);

/// The event_id member of one event's JSON text, "" when absent.
std::string event_id_of(std::string_view json);

}  // namespace kafka_test
