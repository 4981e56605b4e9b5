// capi::kafka::Forwarder: the run() loop, records into events, outcomes into
// the partitions' trackers, back pressure and commits (docs/kafka.md).
#include "kafka/forwarder.hpp"

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

[[noreturn]] void invalid_option(const std::string& what) {
    throw std::system_error(make_error_code(errc::invalid_option), what);
}

void validate_options(const ForwarderOptions& o) {
    if (o.brokers.empty()) invalid_option("ForwarderOptions::brokers: required (host:port[,host:port...])");
    if (o.topics.empty()) invalid_option("ForwarderOptions::topics: at least one topic is required");
    for (const auto& t : o.topics) {
        if (t.empty()) invalid_option("ForwarderOptions::topics: a topic name is empty");
        if (t == o.dead_letter_topic)
            invalid_option("ForwarderOptions::dead_letter_topic: '" + t + "' is also a topic to consume");
    }
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

void Forwarder::impl::dr_msg_cb(rd_kafka_t* rk, const rd_kafka_message_t* m, void*) {
    static_cast<impl*>(rd_kafka_opaque(rk))->on_dead_letter_report(m);
}

void Forwarder::impl::commit_cb(rd_kafka_t*, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* offsets,
                                void* opaque) {
    static_cast<impl*>(opaque)->on_commit(err, offsets);
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

std::string hex_id(std::string_view topic, std::int32_t partition, std::int64_t offset) {
    std::string pos(topic);
    pos += '/';
    pos += std::to_string(partition);
    pos += '/';
    pos += std::to_string(offset);
    char hex[64];
    sha256::to_hex(sha256::hash(pos), hex);
    return std::string(hex, 32);
}

Problem problem_for(const detail::Part& p, std::int64_t offset, Problem::Kind kind) {
    Problem pr;
    pr.kind = kind;
    pr.topic = p.topic;
    pr.partition = p.partition;
    pr.offset = offset;
    return pr;
}

std::string describe(const SendResult& r) {
    std::string s = r.error ? r.error.message() : std::string("failed");
    if (r.graph) {
        s += " (Graph code " + std::to_string(r.graph->code);
        if (r.graph->error_subcode) s += ", subcode " + std::to_string(r.graph->error_subcode);
        if (!r.graph->message.empty()) s += ": " + r.graph->message;
        s += ")";
    }
    if (r.cause && r.cause != r.error) s += "; last attempt: " + r.cause.message();
    return s;
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
    if (producer)
        rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
    else
        rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    return conf;
}

Forwarder::impl::impl(ForwarderOptions o) : opts(std::move(o)), reader(opts.reader) {
    validate_options(opts);
    opts.client.overflow = Overflow::reject;  // full queue: pause partitions instead
    if (opts.event_ids == EventIds::random) opts.client.assign_event_id = true;
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
        client.emplace(opts.client);
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

// --- records ---------------------------------------------------------------------

void Forwarder::impl::on_message(const rd_kafka_message_t* m) {
    if (m->err) {
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) return;
        std::string line = "consume error: ";
        line += rd_kafka_err2name(m->err);
        line += ": ";
        line += rd_kafka_message_errstr(m);
        log(line);
        return;
    }
    const char* topic = rd_kafka_topic_name(m->rkt);
    detail::PartPtr p;
    bool queue_behind = false;
    {
        std::lock_guard lk(mu);
        auto it = parts.find({topic, m->partition});
        if (it == parts.end()) return;  // not ours (any more): the owner reads it
        p = it->second;
        if (!p->tracker.add(m->offset)) return;  // read twice across a reset: tracked once
        detail::Record rec;
        if (m->key) rec.key.emplace(static_cast<const char*>(m->key), m->key_len);
        if (m->payload) rec.value.emplace(static_cast<const char*>(m->payload), m->len);
        rd_kafka_headers_t* hdrs = nullptr;
        if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR && hdrs) {
            const char* name;
            const void* val;
            size_t size;
            for (size_t i = 0; rd_kafka_header_get_all(hdrs, i, &name, &val, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i) {
                std::optional<std::string> v;
                if (val) v.emplace(static_cast<const char*>(val), size);
                rec.headers.emplace_back(name, std::move(v));
            }
        }
        p->records.emplace(m->offset, std::move(rec));
        ++st.records;
        ++pending_total;
        // Behind a record the full queue refused: wait in order.
        if (!p->waiting.empty()) {
            p->waiting.insert(m->offset);
            ++st.waiting;
            queue_behind = true;
        } else {
            ++st.waiting;  // hand() moves it to accepted (or a problem)
            p->waiting.insert(m->offset);
        }
    }
    if (!queue_behind) hand(p, m->offset);
}

// Takes the record at `offset` out of the partition's waiting set and into the
// client, or into a problem. Run() thread; the record stays in p->records
// (nobody else erases an unsettled record that was never handed).
void Forwarder::impl::hand(const detail::PartPtr& p, std::int64_t offset) {
    const detail::Record* rec;
    {
        std::lock_guard lk(mu);
        auto it = p->records.find(offset);
        if (it == p->records.end() || p->revoked || !p->waiting.erase(offset)) return;
        --st.waiting;
        rec = &it->second;
    }
    // The destination pixel: the header's, else the client's default.
    std::string pixel;
    for (auto it = rec->headers.rbegin(); it != rec->headers.rend(); ++it)
        if (it->first == opts.pixel_header) {
            if (it->second) pixel = *it->second;
            break;
        }
    const bool own_pixel = !pixel.empty() && pixel != opts.client.destination.pixel_id;
    if (pixel.empty()) pixel = opts.client.destination.pixel_id;

    auto to_problem = [&](Problem pr, std::uint64_t ForwarderStats::*counter) {
        std::lock_guard lk(mu);
        ++(st.*counter);
        problems.push_back({p, std::move(pr)});
    };
    if (pixel.empty()) {
        Problem pr = problem_for(*p, offset, Problem::Kind::no_pixel);
        pr.reason = "no pixel: the record has no '" + opts.pixel_header + "' header and no default pixel is set";
        to_problem(std::move(pr), &ForwarderStats::no_pixel);
        return;
    }
    FieldError fe;
    const std::string_view text = rec->value ? std::string_view(*rec->value) : std::string_view();
    if (!reader.parse(text, event, fe)) {
        Problem pr = problem_for(*p, offset, Problem::Kind::invalid);
        pr.field = fe.path;
        pr.reason = fe.reason;
        to_problem(std::move(pr), &ForwarderStats::invalid);
        return;
    }
    if (!event.event_id && opts.event_ids == EventIds::from_position)
        event.event_id = hex_id(p->topic, p->partition, offset);
    // Validated here, on the run() thread, so a bad record is a problem at once
    // and never counted as accepted; the client checks again (normalization).
    auto errors = validate(event, capi::now(opts.client.clock), opts.client.encode.validation);
    if (!errors.empty()) {
        const bool expired = std::any_of(errors.begin(), errors.end(),
                                         [](const FieldError& e) { return e.kind == FieldErrorKind::expired; });
        Problem pr = problem_for(*p, offset, expired ? Problem::Kind::expired : Problem::Kind::invalid);
        pr.field = errors.front().path;
        pr.reason = errors.front().reason;
        if (event.event_id) pr.event_id = *event.event_id;
        to_problem(std::move(pr), &ForwarderStats::invalid);
        return;
    }
    {
        std::lock_guard lk(mu);
        ++st.accepted;
    }
    auto done = [this, p, offset](std::error_code, SendResult r) { on_outcome(p, offset, std::move(r)); };
    if (own_pixel) {
        Destination d = opts.client.destination;
        d.pixel_id = std::move(pixel);
        client->async_send(event, std::move(d), std::move(done));
    } else {
        client->async_send(event, std::move(done));
    }
}

// The client's io threads (or shutdown()'s caller). Delivered records settle
// here; problems go to run(), which owns the dead-letter producer.
void Forwarder::impl::on_outcome(const detail::PartPtr& p, std::int64_t offset, SendResult&& r) noexcept {
    try {
        std::unique_lock lk(mu);
        if (r.outcome == Outcome::rejected && r.error == errc::queue_full) {
            // Back to the partition's waiting set, in offset order; run() pauses
            // the partition and hands it again when the client drained.
            --st.accepted;
            if (p->revoked) {
                --st.records;  // the next owner reads it
            } else {
                ++st.waiting;
                p->waiting.insert(offset);
            }
            lk.unlock();
            wake();
            return;
        }
        if (r.outcome == Outcome::rejected && r.error == errc::invalid_event) {
            --st.accepted;
            ++st.invalid;
            if (p->revoked) return;
            Problem pr = problem_for(*p, offset, Problem::Kind::invalid);
            if (!r.invalid.empty()) {
                pr.field = r.invalid.front().path;
                pr.reason = r.invalid.front().reason;
            } else {
                pr.reason = r.error.message();
            }
            pr.event_id = r.event_id;
            problems.push_back({p, std::move(pr)});
            lk.unlock();
            wake();
            return;
        }
        if (r.outcome == Outcome::delivered) {
            ++st.delivered;
            if (p->revoked)
                ++st.settled_after_revoke;
            else
                settle_locked(*p, offset);
            return;
        }
        if (r.outcome == Outcome::expired) ++st.expired;
        else ++st.failed;
        // The client shutting down is not Meta's answer: the record stays
        // unsettled and uncommitted, for the next owner.
        if (r.error == errc::shutdown || r.error == errc::cancelled || r.outcome == Outcome::rejected) return;
        if (p->revoked) {
            ++st.settled_after_revoke;
            return;
        }
        Problem pr = problem_for(*p, offset, r.outcome == Outcome::expired ? Problem::Kind::expired
                                                                           : Problem::Kind::failed);
        pr.reason = describe(r);
        pr.event_id = r.event_id;
        problems.push_back({p, std::move(pr)});
        lk.unlock();
        wake();
    } catch (...) {
        // Out of memory: the record stays unsettled, read again by the next owner.
    }
}

void Forwarder::impl::settle_locked(detail::Part& p, std::int64_t offset) {
    if (!p.tracker.settle(offset)) return;
    p.records.erase(offset);
    --pending_total;
    settled_cv.notify_all();
    if (backpressure && pending_total < std::max<std::uint64_t>(opts.max_pending / 2, 1)) wake();
}

// Hands the records the full queue refused, in offset order, once the client's
// queue has room again.
void Forwarder::impl::retry_waiting() {
    const auto now = std::chrono::steady_clock::now();
    if (now < next_retry) return;
    next_retry = now + std::chrono::milliseconds(2);
    std::vector<std::pair<detail::PartPtr, std::int64_t>> todo;
    {
        std::lock_guard lk(mu);
        if (st.waiting == 0) return;
    }
    const auto cs = client->stats();
    const std::size_t room_target = std::max<std::size_t>(opts.client.queue_capacity / 2, 1);
    if (cs.queued >= room_target) return;
    std::size_t budget = room_target - cs.queued;
    {
        std::lock_guard lk(mu);
        for (auto& [key, p] : parts)
            for (auto off : p->waiting) {
                if (budget == 0) break;
                todo.emplace_back(p, off);
                --budget;
            }
    }
    for (auto& [p, off] : todo) hand(p, off);
}

// A partition fetches unless the forwarder stops, has max_pending records
// unsettled (until half of them settle), or holds records the client's full
// queue refused.
void Forwarder::impl::apply_pauses() {
    rd_kafka_topic_partition_list_t* to_pause = rd_kafka_topic_partition_list_new(4);
    rd_kafka_topic_partition_list_t* to_resume = rd_kafka_topic_partition_list_new(4);
    {
        std::lock_guard lk(mu);
        if (pending_total >= opts.max_pending) backpressure = true;
        else if (pending_total < std::max<std::uint64_t>(opts.max_pending / 2, 1)) backpressure = false;
        for (auto& [key, p] : parts) {
            const bool want = stopping || backpressure || !p->waiting.empty();
            if (want == p->paused) continue;
            rd_kafka_topic_partition_list_add(want ? to_pause : to_resume, p->topic.c_str(), p->partition);
            p->paused = want;
        }
        if (to_pause->cnt) ++st.pauses;
        if (to_resume->cnt) ++st.resumes;
    }
    if (to_pause->cnt) rd_kafka_pause_partitions(consumer, to_pause);
    if (to_resume->cnt) rd_kafka_resume_partitions(consumer, to_resume);
    rd_kafka_topic_partition_list_destroy(to_pause);
    rd_kafka_topic_partition_list_destroy(to_resume);
}

// Problems found on read or reported by the client, the dead-letter producer's
// reports and the asynchronous commits' results: all on the run() thread.
void Forwarder::impl::service() {
    for (;;) {
        detail::PendingProblem pp;
        {
            std::lock_guard lk(mu);
            if (problems.empty()) break;
            pp = std::move(problems.front());
            problems.pop_front();
        }
        handle_problem(std::move(pp));
    }
    if (producer) rd_kafka_poll(producer, 0);
    if (commit_queue) rd_kafka_queue_poll_callback(commit_queue, 0);
}

// --- commits ---------------------------------------------------------------------

void Forwarder::impl::commit(const std::vector<detail::PartPtr>& which, bool sync) {
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(static_cast<int>(which.size()) + 1);
    {
        std::lock_guard lk(mu);
        for (const auto& p : which) {
            if (p->revoked) continue;
            const std::int64_t c = p->tracker.committable();
            if (c < 0 || c <= p->committed) continue;
            rd_kafka_topic_partition_list_add(list, p->topic.c_str(), p->partition)->offset = c;
        }
    }
    if (list->cnt > 0) {
        // Asynchronous commits report on commit_queue (served by service());
        // a synchronous one serves its callback before returning.
        rd_kafka_commit_queue(consumer, list, sync ? nullptr : commit_queue, commit_cb, this);
    }
    rd_kafka_topic_partition_list_destroy(list);
}

void Forwarder::impl::on_commit(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* offsets) noexcept {
    try {
        if (err == RD_KAFKA_RESP_ERR__NO_OFFSET) return;  // nothing to commit
        bool ok = !err;
        std::string why = err ? rd_kafka_err2str(err) : "";
        {
            std::lock_guard lk(mu);
            for (int i = 0; offsets && i < offsets->cnt; ++i) {
                const auto& tp = offsets->elems[i];
                if (tp.err) {
                    ok = false;
                    if (why.empty()) why = rd_kafka_err2str(tp.err);
                    continue;
                }
                if (err) continue;
                auto it = parts.find({tp.topic, tp.partition});
                if (it != parts.end() && tp.offset > it->second->committed) it->second->committed = tp.offset;
            }
            ++(ok ? st.commits : st.commit_errors);
        }
        if (!ok) log("offset commit failed: " + why + " (retried at the next commit)");
    } catch (...) {
    }
}

// --- the loop --------------------------------------------------------------------

// One turn: wait for the pipe (librdkafka's queues and the outcomes write to
// it), read what arrived, serve problems and reports, commit when due.
// Returns false when the consumer's queue was left non-empty.
bool Forwarder::impl::iterate(int max_wait_ms) {
    pollfd pfd{wake_read, POLLIN, 0};
    ::poll(&pfd, 1, max_wait_ms);
    drain_wake_pipe();
    bool drained = true;
    for (int n = 0;; ++n) {
        if (n == 1000) {
            drained = false;  // keep serving the rest: come back without waiting
            break;
        }
        rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer, 0);
        if (!m) break;
        try {
            on_message(m);
        } catch (...) {
            log("a record could not be read (out of memory?): it stays uncommitted");
        }
        rd_kafka_message_destroy(m);
    }
    service();
    retry_waiting();
    apply_pauses();
    const auto now = std::chrono::steady_clock::now();
    if (now >= next_commit) {
        next_commit = now + opts.commit_interval;
        std::vector<detail::PartPtr> all;
        {
            std::lock_guard lk(mu);
            for (auto& [k, p] : parts) all.push_back(p);
        }
        commit(all, false);
    }
    return drained;
}

bool Forwarder::impl::run() {
    {
        std::lock_guard lk(run_mu);
        if (running) return false;  // once
        running = true;
        run_active = true;
    }
    struct done_guard {
        impl* s;
        ~done_guard() {
            std::lock_guard lk(s->run_mu);
            s->run_active = false;
            s->run_cv.notify_all();
        }
    } guard{this};

    char errstr[512];
    rd_kafka_conf_set_opaque(consumer_conf, this);
    consumer = rd_kafka_new(RD_KAFKA_CONSUMER, consumer_conf, errstr, sizeof errstr);
    if (!consumer) {
        log(std::string("cannot create the consumer: ") + errstr);
        return false;
    }
    consumer_conf = nullptr;  // owned by the handle
    rd_kafka_set_log_queue(consumer, nullptr);
    rd_kafka_poll_set_consumer(consumer);
    consumer_queue = rd_kafka_queue_get_consumer(consumer);
    rd_kafka_queue_io_event_enable(consumer_queue, wake_write, "c", 1);
    commit_queue = rd_kafka_queue_new(consumer);
    rd_kafka_queue_io_event_enable(commit_queue, wake_write, "m", 1);
    if (producer_conf) {
        rd_kafka_conf_set_opaque(producer_conf, this);
        producer = rd_kafka_new(RD_KAFKA_PRODUCER, producer_conf, errstr, sizeof errstr);
        if (!producer) {
            log(std::string("cannot create the dead-letter producer: ") + errstr);
        } else {
            producer_conf = nullptr;
            rd_kafka_set_log_queue(producer, nullptr);
            producer_queue = rd_kafka_queue_get_main(producer);
            rd_kafka_queue_io_event_enable(producer_queue, wake_write, "p", 1);
        }
    }
    bool ok = producer || opts.dead_letter_topic.empty();

    rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(static_cast<int>(opts.topics.size()));
    for (const auto& t : opts.topics) rd_kafka_topic_partition_list_add(topics, t.c_str(), RD_KAFKA_PARTITION_UA);
    const rd_kafka_resp_err_t serr = ok ? rd_kafka_subscribe(consumer, topics) : RD_KAFKA_RESP_ERR_NO_ERROR;
    rd_kafka_topic_partition_list_destroy(topics);
    if (serr) {
        log(std::string("subscribe failed: ") + rd_kafka_err2str(serr));
        ok = false;
    }

    next_commit = std::chrono::steady_clock::now() + opts.commit_interval;
    bool drained = true;
    while (ok && !stop_requested.load(std::memory_order_acquire)) drained = iterate(drained ? 100 : 0);

    // Stop: no more fetching; what was read gets its outcome within drain_timeout.
    if (ok) {
        {
            std::lock_guard lk(mu);
            stopping = true;
        }
        apply_pauses();
        const auto deadline = std::chrono::steady_clock::now() + opts.drain_timeout;
        for (;;) {
            {
                std::lock_guard lk(mu);
                if (pending_total == 0 && problems.empty()) break;
            }
            if (std::chrono::steady_clock::now() >= deadline) {
                log("stop: drain_timeout passed with records unsettled; they stay uncommitted");
                break;
            }
            iterate(10);
        }
        std::vector<detail::PartPtr> all;
        {
            std::lock_guard lk(mu);
            for (auto& [k, p] : parts) all.push_back(p);
        }
        commit(all, true);
    }
    // Leaves the group: the rebalance callback revokes (and commits) what is left.
    rd_kafka_queue_io_event_enable(consumer_queue, -1, nullptr, 0);
    rd_kafka_queue_io_event_enable(commit_queue, -1, nullptr, 0);
    rd_kafka_queue_destroy(consumer_queue);
    consumer_queue = nullptr;
    const rd_kafka_resp_err_t cerr = rd_kafka_consumer_close(consumer);
    if (cerr) log(std::string("leaving the group: ") + rd_kafka_err2str(cerr));
    rd_kafka_queue_poll_callback(commit_queue, 0);
    rd_kafka_queue_destroy(commit_queue);
    commit_queue = nullptr;
    if (producer) {
        rd_kafka_queue_io_event_enable(producer_queue, -1, nullptr, 0);
        rd_kafka_queue_destroy(producer_queue);
        producer_queue = nullptr;
        if (rd_kafka_flush(producer, 5000)) log("stop: dead-letter records still unacknowledged after 5 s");
        rd_kafka_poll(producer, 0);
    }
    client->shutdown(std::chrono::seconds(5));
    rd_kafka_destroy(consumer);
    consumer = nullptr;
    if (producer) {
        rd_kafka_destroy(producer);
        producer = nullptr;
    }
    std::lock_guard lk(mu);
    return ok && pending_total == 0 && abandoned == 0 && commit_failures_at_release == 0 &&
           st.dead_letter_errors == 0;
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
