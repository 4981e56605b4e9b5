// capi::kafka::Forwarder: its options, librdkafka's configuration and
// callbacks, and the public face (docs/kafka.md). The records are in
// records.cpp, the loop in loop.cpp, the group in rebalance.cpp.
#include "kafka/forwarder.hpp"

#include "errors/invalid_option.hpp"

#include <capi/errors.hpp>
#include <capi/sha256.hpp>
#include <capi/validate.hpp>

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>

namespace capi::kafka {

std::string_view to_string(Problem::Kind k) noexcept {
    switch (k) {
    case Problem::Kind::invalid: return "invalid";
    case Problem::Kind::failed: return "failed";
    case Problem::Kind::expired: return "expired";
    case Problem::Kind::no_pixel: return "no_pixel";
    }
    return "unknown";
}

std::string_view librdkafka_version() noexcept { return rd_kafka_version_str(); }

namespace {

using capi::detail::invalid_option;

void validate_options(const ForwarderOptions& o) {
    if (o.brokers.empty()) invalid_option("ForwarderOptions::brokers: required (host:port[,host:port...])");
    if (o.topics.empty()) invalid_option("ForwarderOptions::topics: at least one topic is required");
    for (const auto& t : o.topics) {
        if (t.empty()) invalid_option("ForwarderOptions::topics: a topic name is empty");
        if (t == o.dead_letter_topic)
            invalid_option("ForwarderOptions::dead_letter_topic: '" + t + "' is also a topic to consume");
    }
    if (o.client.destination.access_token.empty())
        invalid_option("ForwarderOptions::client.destination.access_token: required (every record's pixel uses it)");
    if (o.group.empty()) invalid_option("ForwarderOptions::group: required (the consumer group id)");
    if (o.max_pending == 0) invalid_option("ForwarderOptions::max_pending: must be at least 1");
    if (o.commit_interval.count() <= 0) invalid_option("ForwarderOptions::commit_interval: must be positive");
    if (o.revoke_timeout.count() < 0) invalid_option("ForwarderOptions::revoke_timeout: must not be negative");
    if (o.drain_timeout.count() < 0) invalid_option("ForwarderOptions::drain_timeout: must not be negative");
}

}  // namespace

void Forwarder::impl::log_cb(const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
    auto* self = static_cast<impl*>(rd_kafka_opaque(rk));
    if (!self) return;
    std::string line = "librdkafka ";
    line += rd_kafka_name(rk);
    line += " [" + std::to_string(level) + "] ";
    line += fac ? fac : "";
    line += ": ";
    line += buf ? buf : "";
    self->log(line);
}

void Forwarder::impl::error_cb(rd_kafka_t* rk, int err, const char* reason, void*) {
    try {
        std::string line = "kafka error (";
        line += rd_kafka_name(rk);
        line += "): ";
        line += rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err));
        line += ": ";
        line += reason ? reason : "";
        static_cast<impl*>(rd_kafka_opaque(rk))->log(line);
    } catch (...) {
    }
}

void Forwarder::impl::rebalance_cb(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts,
                                   void*) {
    static_cast<impl*>(rd_kafka_opaque(rk))->on_rebalance(err, parts);
}

int Forwarder::impl::stats_cb(rd_kafka_t* rk, char* json, size_t len, void*) {
    auto* self = static_cast<impl*>(rd_kafka_opaque(rk));
    try {
        if (self->opts.on_kafka_stats) self->opts.on_kafka_stats(std::string_view(json, len));
    } catch (...) {
    }
    return 0;  // librdkafka frees the document
}

void Forwarder::impl::dr_msg_cb(rd_kafka_t* rk, const rd_kafka_message_t* m, void*) {
    static_cast<impl*>(rd_kafka_opaque(rk))->on_dead_letter_report(m);
}

void Forwarder::impl::commit_cb(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* offsets,
                                void* opaque) {
    static_cast<impl*>(rd_kafka_opaque(rk))
        ->on_commit(err, offsets, static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(opaque)));
}

namespace {

void set(rd_kafka_conf_t* conf, const std::string& key, const std::string& value, bool user) {
    char errstr[512];
    if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        // The value is left out: a property may be a password.
        invalid_option(std::string(user ? "ForwarderOptions::kafka_properties: " : "ForwarderOptions: ") + key +
                       ": " + errstr);
    }
}

}  // namespace

// Sets capi's properties, then the user's, on a new configuration; throws
// std::system_error(errc::invalid_option) naming the property.
rd_kafka_conf_t* Forwarder::impl::make_conf(const ForwarderOptions& o, bool producer) {
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    set(conf, "bootstrap.servers", o.brokers, false);
    // Log lines and errors go to a queue that run() serves: on_log, never stderr.
    set(conf, "log.queue", "true", false);
    if (producer) {
        set(conf, "enable.idempotence", "true", false);
        set(conf, "acks", "all", false);
    } else {
        set(conf, "group.id", o.group, false);
        set(conf, "enable.auto.commit", "false", false);
        set(conf, "enable.auto.offset.store", "false", false);
        set(conf, "auto.offset.reset", "earliest", false);
        set(conf, "partition.assignment.strategy", "cooperative-sticky", false);
    }
    for (const auto& [k, v] : o.kafka_properties) {
        // Consumer-only properties on the producer (and the reverse) are accepted by
        // librdkafka with a warning; group.id makes no sense on the producer.
        if (producer && k == "group.id") continue;
        set(conf, k, v, true);
    }
    rd_kafka_conf_set_log_cb(conf, log_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    if (o.on_kafka_stats) rd_kafka_conf_set_stats_cb(conf, stats_cb);
    if (producer)
        rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
    else
        rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    return conf;
}

Forwarder::impl::impl(ForwarderOptions o) : opts(std::move(o)), reader(opts.reader) {
    validate_options(opts);
    opts.client.overflow = Overflow::reject;  // full queue: pause partitions instead
    // A record without an id: its position's (records.cpp), or the client's own.
    if (opts.event_ids == EventIds::random) {
        opts.client.assign_event_id = true;
        opts.client.event_ids = EventIdMode::random;
    } else if (opts.event_ids == EventIds::from_content) {
        opts.client.assign_event_id = true;
        opts.client.event_ids = EventIdMode::deterministic;
    }
    consumer_conf = make_conf(opts, false);
    if (!opts.dead_letter_topic.empty()) {
        try {
            producer_conf = make_conf(opts, true);
        } catch (...) {
            rd_kafka_conf_destroy(consumer_conf);
            throw;
        }
    }
    int fds[2];
    if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) {
        const int e = errno;
        rd_kafka_conf_destroy(consumer_conf);
        if (producer_conf) rd_kafka_conf_destroy(producer_conf);
        throw std::system_error(e, std::generic_category(), "capi::kafka::Forwarder: pipe");
    }
    wake_read = fds[0];
    wake_write = fds[1];
    try {
        // Without a default pixel every record names its own (the header): the
        // client then has no default destination and each event carries one.
        Options co = opts.client;
        if (co.destination.pixel_id.empty()) co.destination = Destination{};
        client.emplace(std::move(co));
    } catch (...) {
        rd_kafka_conf_destroy(consumer_conf);
        if (producer_conf) rd_kafka_conf_destroy(producer_conf);
        ::close(wake_read);
        ::close(wake_write);
        throw;
    }
}

Forwarder::impl::~impl() {
    if (client) client->shutdown(std::chrono::seconds(5));
    client.reset();
    if (consumer_conf) rd_kafka_conf_destroy(consumer_conf);
    if (producer_conf) rd_kafka_conf_destroy(producer_conf);
    ::close(wake_read);
    ::close(wake_write);
}

void Forwarder::impl::wake() noexcept {
    if (wake_pending.exchange(true, std::memory_order_acq_rel)) return;
    const char c = 'w';
    [[maybe_unused]] auto n = ::write(wake_write, &c, 1);
}

void Forwarder::impl::drain_wake_pipe() noexcept {
    wake_pending.store(false, std::memory_order_release);
    char buf[256];
    while (::read(wake_read, buf, sizeof buf) > 0) {
    }
}

void Forwarder::impl::log(std::string_view line) noexcept {
    if (!opts.on_log) return;
    try {
        opts.on_log(line);
    } catch (...) {
    }
}

void Forwarder::impl::report(const Problem& p) noexcept {
    if (!opts.on_problem) return;
    try {
        opts.on_problem(p);
    } catch (...) {
    }
}

// --- the public face -------------------------------------------------------------

Forwarder::Forwarder(ForwarderOptions options) : impl_(std::make_unique<impl>(std::move(options))) {}

Forwarder::~Forwarder() {
    stop();
    std::unique_lock lk(impl_->run_mu);
    impl_->run_cv.wait(lk, [&] { return !impl_->run_active; });
}

bool Forwarder::run() {
    try {
        return impl_->run();
    } catch (const std::exception& e) {
        impl_->log(std::string("forwarder stopped on an error: ") + e.what());
        return false;
    }
}

void Forwarder::stop() noexcept {
    impl_->stop_requested.store(true, std::memory_order_release);
    const char c = 's';
    [[maybe_unused]] auto n = ::write(impl_->wake_write, &c, 1);
}

ForwarderStats Forwarder::stats() const {
    ForwarderStats s;
    {
        std::lock_guard lk(impl_->mu);
        s = impl_->st;
        s.pending = impl_->pending_total;
    }
    s.client = impl_->client->stats();
    return s;
}

}  // namespace capi::kafka
