// capi::kafka::Forwarder's run() loop: one pipe to wait on, the consumer's
// records, problems and reports served, commits, and the stop sequence.
#include "kafka/forwarder.hpp"

#include <poll.h>

#include <algorithm>
#include <cstdint>
#include <string>

namespace capi::kafka {

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
        const std::uint64_t seq = ++commit_seq;
        if (!sync) {
            commit_in_flight = true;
            commit_async_seq = seq;
            commit_sent = std::chrono::steady_clock::now();
        }
        const auto err = rd_kafka_commit_queue(consumer, list, commit_queue, commit_cb,
                                               reinterpret_cast<void*>(static_cast<std::uintptr_t>(seq)));
        if (err) {
            if (!sync) commit_in_flight = false;
            log(std::string("offset commit not sent: ") + rd_kafka_err2str(err));
        } else if (sync) {
            // Its report, at most 10 s (and the reports of earlier commits meanwhile).
            const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
            while (commit_reported < seq && std::chrono::steady_clock::now() < deadline)
                rd_kafka_queue_poll_callback(commit_queue, 20);
            if (commit_reported < seq) log("offset commit: no answer within 10 s");
        }
    }
    rd_kafka_topic_partition_list_destroy(list);
}

void Forwarder::impl::on_commit(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* offsets,
                                std::uint64_t seq) noexcept {
    try {
        commit_reported = std::max(commit_reported, seq);
        if (seq == commit_async_seq) commit_in_flight = false;
        if (err == RD_KAFKA_RESP_ERR__NO_OFFSET) return;  // nothing to commit
        bool ok = !err;
        std::string why = err ? rd_kafka_err2str(err) : "";
        bool rebalancing = err == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS || err == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION;
        for (int i = 0; offsets && i < offsets->cnt; ++i)
            rebalancing = rebalancing || offsets->elems[i].err == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS ||
                          offsets->elems[i].err == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION;
        // Held until the rebalance callback (or a bound, should none come).
        if (rebalancing) commits_held_until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
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
        if (!ok) log("offset commit failed: " + why + (rebalancing ? " (retried once the group has rebalanced)" : " (retried at the next commit)"));
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
    if (commit_in_flight && now - commit_sent > std::max<std::chrono::steady_clock::duration>(
                                                     std::chrono::seconds(5), 2 * opts.commit_interval))
        commit_in_flight = false;
    if (now >= next_commit && !commit_in_flight && now >= commits_held_until) {
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
    // Closed on a queue this thread serves (the revocation callback runs here),
    // within a bound: a coordinator that never answers cannot hold run().
    bool closed = false;
    if (rd_kafka_queue_t* close_queue = rd_kafka_queue_new(consumer)) {
        if (rd_kafka_error_t* e = rd_kafka_consumer_close_queue(consumer, close_queue)) {
            log(std::string("leaving the group: ") + rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
        } else {
            const auto deadline =
                std::chrono::steady_clock::now() + opts.revoke_timeout + std::chrono::seconds(15);
            // Served with the event API, not rd_kafka_queue_poll_callback: the
            // group's queue forwarded here also carries fetched messages and
            // errors, which callback serving cannot hand on (librdkafka asserts
            // on them). A rebalance goes to the same handler as the callback.
            while (!rd_kafka_consumer_closed(consumer) && std::chrono::steady_clock::now() < deadline) {
                if (rd_kafka_event_t* ev = rd_kafka_queue_poll(close_queue, 50)) {
                    if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_REBALANCE)
                        on_rebalance(rd_kafka_event_error(ev), rd_kafka_event_topic_partition_list(ev));
                    rd_kafka_event_destroy(ev);  // messages after stop: read again by the next owner
                }
                if (producer) rd_kafka_poll(producer, 0);
            }
            closed = rd_kafka_consumer_closed(consumer);
            if (!closed) log("leaving the group: not done within revoke_timeout + 15 s; the session timeout ends it");
        }
        rd_kafka_queue_destroy(close_queue);
    }
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
    rd_kafka_destroy_flags(consumer, closed ? 0 : RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    consumer = nullptr;
    if (producer) {
        rd_kafka_destroy(producer);
        producer = nullptr;
    }
    std::lock_guard lk(mu);
    return ok && pending_total == 0 && abandoned == 0 && commit_failures_at_release == 0 &&
           st.dead_letter_errors == 0;
}

}  // namespace capi::kafka
