// capi::kafka::Forwarder's records: read into events and handed to the client,
// outcomes into the partitions' trackers, and back pressure (docs/kafka.md).
#include "kafka/forwarder.hpp"

#include <capi/errors.hpp>
#include <capi/sha256.hpp>
#include <capi/validate.hpp>

#include <algorithm>

namespace capi::kafka {

namespace {

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

}  // namespace capi::kafka
