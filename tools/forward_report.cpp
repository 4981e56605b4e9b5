// capi forward's output (forward_report.hpp).
#include "forward_report.hpp"

#include "cli/cli.hpp"

#include <simdjson.h>

#include <cstdint>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <string>

std::string problem_line(const capi::kafka::Problem& p) {
    std::string s = p.topic + "[" + std::to_string(p.partition) + "]@" + std::to_string(p.offset) + ": " +
                    std::string(capi::kafka::to_string(p.kind)) + ": ";
    if (!p.field.empty()) s += p.field + ": ";
    s += p.reason;
    if (!p.event_id.empty()) s += " (event_id " + p.event_id + ")";
    return s;
}

std::string counters(const capi::kafka::ForwarderStats& s) {
    std::ostringstream o;
    o << "records=" << s.records << " accepted=" << s.accepted << " invalid=" << s.invalid
      << " no_pixel=" << s.no_pixel << " waiting=" << s.waiting << " delivered=" << s.delivered
      << " failed=" << s.failed << " expired=" << s.expired << " pending=" << s.pending
      << " dead_lettered=" << s.dead_lettered << " dead_letter_errors=" << s.dead_letter_errors
      << " commits=" << s.commits << " commit_errors=" << s.commit_errors << " assigned=" << s.assigned
      << " revoked=" << s.revoked << " pauses=" << s.pauses << " resumes=" << s.resumes
      << " settled_after_revoke=" << s.settled_after_revoke << " | client accepted=" << s.client.accepted
      << " delivered=" << s.client.delivered << " failed=" << s.client.failed << " expired=" << s.client.expired
      << " queued=" << s.client.queued << " in_flight=" << s.client.in_flight << " batches=" << s.client.batches
      << " retries=" << s.client.retries << " throttled=" << s.client.throttled
      << " latency_p50_us=" << s.client.latency_us.percentile(0.5)
      << " latency_p99_us=" << s.client.latency_us.percentile(0.99);
    return o.str();
}

std::string match_quality_report(const capi::kafka::ForwarderStats& s) {
    std::ostringstream o;
    capi_cli::print_match_quality(o, s.client.match_quality);
    std::string text = o.str();
    if (!text.empty() && text.back() == '\n') text.pop_back();
    return text;
}

std::string summary_title(const capi::kafka::ForwarderOptions& o) {
    std::string s = "group " + o.group + ", topics ";
    for (std::size_t i = 0; i < o.topics.size(); ++i) s += (i ? "," : "") + o.topics[i];
    return s + " to " + o.client.transport.endpoint;
}

std::string kafka_counters(std::string_view json) {
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (parser.parse(json.data(), json.size()).get(doc)) return "librdkafka statistics: unreadable JSON";
    std::ostringstream o;
    std::string_view name = "?", type = "?";
    if (doc["name"].get(name)) name = "?";
    if (doc["type"].get(type)) type = "?";
    o << "librdkafka " << name << " (" << type << ")";
    for (const char* key : {"replyq", "msg_cnt", "tx", "rx", "txmsgs", "rxmsgs", "txerrs", "rxerrs"}) {
        std::int64_t v = 0;
        if (!doc[key].get(v)) o << ' ' << key << '=' << v;
    }
    std::int64_t lag = 0, owned = 0;
    simdjson::dom::object topics;
    if (type == "consumer" && !doc["topics"].get(topics)) {
        for (auto [topic_name, topic] : topics) {
            simdjson::dom::object partitions;
            if (topic["partitions"].get(partitions)) continue;
            for (auto [id, part] : partitions) {
                std::int64_t l = -1;
                // Partition "-1" is librdkafka's unassigned bucket; -1 lag: unknown yet.
                if (id == "-1" || part["consumer_lag"].get(l) || l < 0) continue;
                lag += l;
                ++owned;
            }
        }
        o << " consumer_lag=" << lag << " (" << owned << " partitions)";
    }
    return o.str();
}

void print_summary(const std::string& title, const capi::kafka::ForwarderStats& s, double secs, bool settled) {
    auto& out = std::cout;
    auto row = [&](std::string_view name, std::uint64_t n, std::string_view note = {}) {
        out << "  " << std::left << std::setw(14) << name << std::right << std::setw(12) << n;
        if (!note.empty()) out << "  " << note;
        out << "\n";
    };
    out << "capi forward: " << title << "\n";
    row("records", s.records);
    row("delivered", s.delivered);
    row("invalid", s.invalid + s.no_pixel, s.no_pixel ? std::to_string(s.no_pixel) + " without a pixel" : "");
    row("failed", s.failed);
    row("expired", s.expired);
    row("dead-lettered", s.dead_lettered,
        s.dead_letter_errors ? std::to_string(s.dead_letter_errors) + " could not be written (read again)" : "");
    row("uncommitted", s.pending, s.pending ? "no outcome at the drain bound: the next owner reads them again" : "");
    row("commits", s.commits, s.commit_errors ? std::to_string(s.commit_errors) + " failed" : "");
    row("rebalances", s.assigned + s.revoked,
        std::to_string(s.assigned) + " partitions assigned, " + std::to_string(s.revoked) + " revoked");
    row("pauses", s.pauses, "back pressure");
    out << "  " << std::left << std::setw(14) << "throughput" << std::right << std::setw(12)
        << static_cast<std::uint64_t>(secs > 0 ? static_cast<double>(s.delivered) / secs : 0.0)
        << "  events/s delivered\n";
    out << "  " << std::left << std::setw(14) << "elapsed" << std::right << std::setw(12) << std::fixed
        << std::setprecision(3) << secs << "  s\n";
    if (!settled) out << "  not every record read was committed: the group's next owner reads them again\n";
    capi_cli::print_match_quality(out, s.client.match_quality);
    out.flush();
}

std::string progress_line(const capi::kafka::ForwarderStats& s, double secs) {
    std::ostringstream bar;
    bar << "\r\033[Krecords " << s.records << "  delivered " << s.delivered << "  invalid " << s.invalid + s.no_pixel
        << "  failed " << s.failed + s.expired << "  pending " << s.pending << "  "
        << static_cast<std::uint64_t>(secs > 0 ? static_cast<double>(s.delivered) / secs : 0) << " ev/s  " << std::fixed
        << std::setprecision(1) << secs << " s";
    return bar.str();
}
