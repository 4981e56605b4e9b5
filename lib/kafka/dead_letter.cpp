// capi::kafka::Forwarder's problems: to the dead-letter topic (the record as it
// was read, the problem in headers) and on_problem; a record settles only once
// its dead-letter record is acknowledged by the brokers (docs/kafka.md#dead-letters).
#include "kafka/forwarder.hpp"

#include <memory>

namespace capi::kafka {

namespace detail {

rd_kafka_headers_t* dead_letter_headers_for(const Record& r, const Problem& p) {
    rd_kafka_headers_t* h = rd_kafka_headers_new(r.headers.size() + 7);
    auto add = [h](std::string_view name, std::string_view value) {
        rd_kafka_header_add(h, name.data(), static_cast<ssize_t>(name.size()), value.data(),
                            static_cast<ssize_t>(value.size()));
    };
    for (const auto& [name, value] : r.headers) {
        if (value)
            add(name, *value);
        else
            rd_kafka_header_add(h, name.data(), static_cast<ssize_t>(name.size()), nullptr, 0);
    }
    namespace dl = dead_letter_headers;
    add(dl::kind, to_string(p.kind));
    if (!p.field.empty()) add(dl::field, p.field);
    add(dl::reason, p.reason);
    add(dl::topic, p.topic);
    add(dl::partition, std::to_string(p.partition));
    add(dl::offset, std::to_string(p.offset));
    if (!p.event_id.empty()) add(dl::event_id, p.event_id);
    return h;
}

}  // namespace detail

void Forwarder::impl::handle_problem(detail::PendingProblem&& pp) {
    const auto off = pp.problem.offset;
    detail::Record rec;
    {
        std::lock_guard lk(mu);
        if (pp.part->revoked) {
            ++st.settled_after_revoke;
            return;
        }
        auto it = pp.part->records.find(off);
        if (it == pp.part->records.end()) return;
        if (producer) rec = it->second;
    }
    if (!producer) {
        // No dead-letter topic: reported, then committed.
        report(pp.problem);
        std::lock_guard lk(mu);
        settle_locked(*pp.part, off);
        return;
    }
    rd_kafka_headers_t* headers = detail::dead_letter_headers_for(rec, pp.problem);
    auto ctx = std::make_unique<detail::DeadLetterContext>(detail::DeadLetterContext{pp.part, pp.problem});
    const std::string& key = rec.key ? *rec.key : std::string();
    const std::string& value = rec.value ? *rec.value : std::string();
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    for (int attempt = 0; attempt < 100; ++attempt) {
        err = rd_kafka_producev(producer, RD_KAFKA_V_TOPIC(opts.dead_letter_topic.c_str()),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                RD_KAFKA_V_KEY((rec.key ? key.data() : nullptr), key.size()),
                                RD_KAFKA_V_VALUE((rec.value ? const_cast<char*>(value.data()) : nullptr), value.size()),
                                RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_OPAQUE(ctx.get()), RD_KAFKA_V_END);
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) break;
        rd_kafka_poll(producer, 50);  // the producer's own queue is full: let reports drain it
    }
    if (err) {
        rd_kafka_headers_destroy(headers);
        {
            std::lock_guard lk(mu);
            ++st.dead_letter_errors;
        }
        log("dead letter for " + pp.problem.topic + "[" + std::to_string(pp.problem.partition) + "]@" +
            std::to_string(off) + " not written: " + rd_kafka_err2str(err) +
            "; the record stays uncommitted");
        return;
    }
    ctx.release();  // owned by the message until its delivery report
}

void Forwarder::impl::on_dead_letter_report(const rd_kafka_message_t* m) noexcept {
    std::unique_ptr<detail::DeadLetterContext> ctx(static_cast<detail::DeadLetterContext*>(m->_private));
    if (!ctx) return;
    try {
        const auto& pr = ctx->problem;
        if (m->err) {
            {
                std::lock_guard lk(mu);
                ++st.dead_letter_errors;
            }
            log("dead letter for " + pr.topic + "[" + std::to_string(pr.partition) + "]@" + std::to_string(pr.offset) +
                " failed: " + rd_kafka_err2str(m->err) + "; the record stays uncommitted");
            return;
        }
        {
            std::lock_guard lk(mu);
            ++st.dead_lettered;
            if (ctx->part->revoked)
                ++st.settled_after_revoke;
            else
                settle_locked(*ctx->part, pr.offset);
        }
        report(pr);
    } catch (...) {
    }
}

}  // namespace capi::kafka
