// capi::kafka::Forwarder and the consumer group: partitions assigned (resume at
// the committed offset) and revoked (stop fetching, wait for outcomes, commit,
// release), cooperative or eager (docs/kafka.md#rebalances).
#include "kafka/forwarder.hpp"

#include <cstring>

namespace capi::kafka {

void Forwarder::impl::on_rebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* partitions) noexcept {
    const bool cooperative = std::strcmp(rd_kafka_rebalance_protocol(consumer), "COOPERATIVE") == 0;
    const bool assigning = err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS;
    // The group settled (for this member): commit again. An asynchronous commit's
    // report may have been dropped with the old assignment.
    commits_held_until = {};
    commit_in_flight = false;
    try {
        if (assigning)
            assign(partitions);
        else
            revoke(partitions);  // revoked, or an error: release what we hold
        if (err != RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS && err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS)
            log(std::string("rebalance error: ") + rd_kafka_err2str(err));
    } catch (...) {
        log("rebalance: out of memory while following the group; the assignment is still applied");
    }
    // Always applied, whatever happened above: a consumer that does not answer a
    // rebalance stalls the whole group.
    rd_kafka_error_t* e = nullptr;
    rd_kafka_resp_err_t aerr = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (cooperative)
        e = assigning ? rd_kafka_incremental_assign(consumer, partitions)
                      : rd_kafka_incremental_unassign(consumer, partitions);
    else
        aerr = rd_kafka_assign(consumer, assigning ? partitions : nullptr);
    // A partition this member paused when it was revoked stays paused in
    // librdkafka when it comes back: a new assignment starts fetching.
    if (assigning && partitions->cnt > 0) rd_kafka_resume_partitions(consumer, partitions);
    if (e) {
        try {
            log(std::string(assigning ? "assign" : "unassign") + " failed: " + rd_kafka_error_string(e));
        } catch (...) {
        }
        rd_kafka_error_destroy(e);
    } else if (aerr) {
        try {
            log(std::string(assigning ? "assign" : "unassign") + " failed: " + rd_kafka_err2str(aerr));
        } catch (...) {
        }
    }
}

void Forwarder::impl::assign(rd_kafka_topic_partition_list_t* partitions) {
    // Where each partition resumes: its committed offset (the next to read), or
    // auto.offset.reset when the group never committed there.
    rd_kafka_topic_partition_list_t* committed = rd_kafka_topic_partition_list_copy(partitions);
    const rd_kafka_resp_err_t cerr = rd_kafka_committed(consumer, committed, 5000);
    for (int i = 0; i < committed->cnt; ++i) {
        const auto& tp = committed->elems[i];
        std::string line = std::string(tp.topic) + "[" + std::to_string(tp.partition) + "] ";
        if (cerr || tp.err)
            line += std::string("assigned; its committed offset is unknown (") +
                    rd_kafka_err2str(cerr ? cerr : tp.err) + "): librdkafka resumes as it finds";
        else if (tp.offset >= 0)
            line += "resumes at offset " + std::to_string(tp.offset);
        else
            line += "has no committed offset: starts per auto.offset.reset";
        log(line);
    }
    std::lock_guard lk(mu);
    for (int i = 0; i < partitions->cnt; ++i) {
        const auto& tp = partitions->elems[i];
        auto p = std::make_shared<detail::Part>();
        p->topic = tp.topic;
        p->partition = tp.partition;
        const auto& c = committed->elems[i];
        if (!cerr && !c.err && c.offset >= 0) p->committed = c.offset;
        auto& slot = parts[{p->topic, p->partition}];
        if (slot) slot->revoked = true;  // assigned twice: the old state's outcomes are late
        slot = std::move(p);
    }
    st.assigned += static_cast<std::uint64_t>(partitions->cnt);
    rd_kafka_topic_partition_list_destroy(committed);
}

void Forwarder::impl::revoke(rd_kafka_topic_partition_list_t* partitions) {
    const bool lost = rd_kafka_assignment_lost(consumer);
    std::vector<detail::PartPtr> ps;
    std::uint64_t dropped = 0;
    {
        std::lock_guard lk(mu);
        for (int i = 0; i < partitions->cnt; ++i) {
            auto it = parts.find({partitions->elems[i].topic, partitions->elems[i].partition});
            if (it == parts.end()) continue;
            auto& p = it->second;
            // Records never handed to the client are dropped, unread: the next
            // owner reads them (the tracker keeps them pending, so no commit passes them).
            for (auto off : p->waiting) p->records.erase(off);
            const auto n = p->waiting.size();
            st.waiting -= n;
            st.records -= n;
            pending_total -= n;
            dropped += n;
            p->waiting.clear();
            ps.push_back(p);
        }
    }
    if (!lost) {
        rd_kafka_pause_partitions(consumer, partitions);
        wait_settled(ps, opts.revoke_timeout);
        commit(ps, true);
    } else {
        log("partitions lost (session timed out?): their outcomes arrive too late to commit");
    }
    std::lock_guard lk(mu);
    for (auto& p : ps) {
        const auto left = p->records.size();
        pending_total -= left;
        abandoned += left;
        if (!lost && p->tracker.committable() > p->committed && p->tracker.committable() >= 0)
            ++commit_failures_at_release;
        p->revoked = true;
        parts.erase({p->topic, p->partition});
    }
    abandoned += dropped;
    st.revoked += static_cast<std::uint64_t>(partitions->cnt);
    settled_cv.notify_all();
}

// Waits until the records handed out of `which` settle, at most `bound`, while
// still writing and acknowledging their dead letters.
void Forwarder::impl::wait_settled(const std::vector<detail::PartPtr>& which, std::chrono::milliseconds bound) {
    const auto deadline = std::chrono::steady_clock::now() + bound;
    for (;;) {
        {
            std::lock_guard lk(mu);
            bool all = true;
            for (const auto& p : which) all = all && p->records.empty();
            if (all) return;
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            log("revocation: revoke_timeout passed with records unsettled; the next owner reads them again");
            return;
        }
        service();
        std::unique_lock lk(mu);
        settled_cv.wait_for(lk, std::chrono::milliseconds(10));
    }
}

}  // namespace capi::kafka
