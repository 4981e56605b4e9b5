#include "kafka_support.hpp"

#include <stdexcept>
#include <thread>

namespace kafka_test {

namespace {

void quiet_log(const rd_kafka_t*, int, const char*, const char*) {}

rd_kafka_conf_t* conf_for(const std::string& bootstraps) {
    rd_kafka_conf_t* c = rd_kafka_conf_new();
    char err[256];
    rd_kafka_conf_set(c, "bootstrap.servers", bootstraps.c_str(), err, sizeof err);
    rd_kafka_conf_set_log_cb(c, quiet_log);
    return c;
}

void dr(rd_kafka_t*, const rd_kafka_message_t* m, void*) {
    auto* out = static_cast<std::pair<bool, std::int64_t>*>(m->_private);
    out->first = true;
    out->second = m->err ? -1 : m->offset;
}

}  // namespace

std::string Message::header(std::string_view name) const {
    std::string v;
    for (const auto& [n, val] : headers)
        if (n == name) v = val;
    return v;
}

Cluster::Cluster(int brokers) {
    rd_kafka_conf_t* c = rd_kafka_conf_new();
    char err[256];
    rd_kafka_conf_set(c, "test.mock.num.brokers", std::to_string(brokers).c_str(), err, sizeof err);
    rd_kafka_conf_set(c, "linger.ms", "0", err, sizeof err);
    rd_kafka_conf_set_log_cb(c, quiet_log);
    rd_kafka_conf_set_dr_msg_cb(c, dr);
    rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
    if (!rk_) throw std::runtime_error(std::string("mock cluster: ") + err);
    mock_ = rd_kafka_handle_mock_cluster(rk_);
    if (!mock_) throw std::runtime_error("mock cluster: none on the handle");
}

Cluster::~Cluster() {
    rd_kafka_flush(rk_, 2000);
    rd_kafka_destroy(rk_);
}

std::string Cluster::bootstraps() const { return rd_kafka_mock_cluster_bootstraps(mock_); }

void Cluster::create_topic(const std::string& topic, int partitions) {
    const auto err = rd_kafka_mock_topic_create(mock_, topic.c_str(), partitions, 3);
    if (err) throw std::runtime_error("create topic " + topic + ": " + rd_kafka_err2str(err));
}

std::int64_t Cluster::produce(const std::string& topic, std::int32_t partition, const std::string& value,
                              const Headers& headers, std::optional<std::string> key) {
    std::lock_guard lk(mu_);
    rd_kafka_headers_t* h = rd_kafka_headers_new(headers.size());
    for (const auto& [n, v] : headers) rd_kafka_header_add(h, n.c_str(), -1, v.data(), static_cast<ssize_t>(v.size()));
    std::pair<bool, std::int64_t> done{false, -1};
    const auto err = rd_kafka_producev(
        rk_, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(partition), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_KEY((key ? key->data() : nullptr), (key ? key->size() : 0)),
        RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()), RD_KAFKA_V_HEADERS(h),
        RD_KAFKA_V_OPAQUE(&done), RD_KAFKA_V_END);
    if (err) {
        rd_kafka_headers_destroy(h);
        throw std::runtime_error(std::string("produce: ") + rd_kafka_err2str(err));
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!done.first && std::chrono::steady_clock::now() < deadline) rd_kafka_poll(rk_, 10);
    if (!done.first || done.second < 0) throw std::runtime_error("produce: not acknowledged");
    return done.second;
}

std::map<std::int32_t, std::int64_t> Cluster::committed(const std::string& group, const std::string& topic,
                                                        int partitions) {
    rd_kafka_conf_t* c = conf_for(bootstraps());
    char err[256];
    rd_kafka_conf_set(c, "group.id", group.c_str(), err, sizeof err);
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof err);
    if (!rk) throw std::runtime_error(std::string("committed: ") + err);
    rd_kafka_topic_partition_list_t* l = rd_kafka_topic_partition_list_new(partitions);
    for (int p = 0; p < partitions; ++p) rd_kafka_topic_partition_list_add(l, topic.c_str(), p);
    const auto e = rd_kafka_committed(rk, l, 5000);
    std::map<std::int32_t, std::int64_t> out;
    for (int i = 0; i < l->cnt; ++i) out[l->elems[i].partition] = (e || l->elems[i].err) ? -2 : l->elems[i].offset;
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(rk);
    return out;
}

std::vector<Message> Cluster::read(const std::string& topic, int partitions, std::size_t count,
                                   std::chrono::milliseconds timeout) {
    rd_kafka_conf_t* c = conf_for(bootstraps());
    char err[256];
    rd_kafka_conf_set(c, "group.id", "capi-test-reader", err, sizeof err);
    rd_kafka_conf_set(c, "enable.auto.commit", "false", err, sizeof err);
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof err);
    if (!rk) throw std::runtime_error(std::string("read: ") + err);
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t* l = rd_kafka_topic_partition_list_new(partitions);
    for (int p = 0; p < partitions; ++p)
        rd_kafka_topic_partition_list_add(l, topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    std::vector<Message> out;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (out.size() < count && std::chrono::steady_clock::now() < deadline) {
        rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 50);
        if (!m) continue;
        if (!m->err) {
            Message msg;
            msg.topic = rd_kafka_topic_name(m->rkt);
            msg.partition = m->partition;
            msg.offset = m->offset;
            if (m->key) msg.key.emplace(static_cast<const char*>(m->key), m->key_len);
            if (m->payload) msg.value.emplace(static_cast<const char*>(m->payload), m->len);
            rd_kafka_headers_t* h = nullptr;
            if (!rd_kafka_message_headers(m, &h) && h) {
                const char* n;
                const void* v;
                size_t s;
                for (size_t i = 0; !rd_kafka_header_get_all(h, i, &n, &v, &s); ++i)
                    msg.headers.emplace_back(n, v ? std::string(static_cast<const char*>(v), s) : std::string());
            }
            out.push_back(std::move(msg));
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return out;
}

bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
}

std::string event_id_of(std::string_view json) {
    constexpr std::string_view key = "\"event_id\":\"";
    const auto at = json.find(key);
    if (at == std::string_view::npos) return {};
    const auto start = at + key.size();
    const auto end = json.find('"', start);
    return std::string(json.substr(start, end - start));
}

}  // namespace kafka_test
