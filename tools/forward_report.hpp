// capi forward's output: the summary, the progress line, the periodic counters
// and the problem lines (forward_cmd.cpp decides when; this file, what).
#pragma once

#include <capi/kafka.hpp>

#include <string>
#include <string_view>

/// "TOPIC[P]@OFFSET: KIND: FIELD: REASON (event_id ID)", like capi send's rejected lines.
std::string problem_line(const capi::kafka::Problem& p);

/// The forwarder's and the client's counters, key=value, one line.
std::string counters(const capi::kafka::ForwarderStats& s);

/// The client's match-quality report (capi_cli::print_match_quality), without
/// the last newline; empty while no customer-information value was seen.
std::string match_quality_report(const capi::kafka::ForwarderStats& s);

/// One line out of librdkafka's statistics document (its STATISTICS.md): the
/// handle's totals and, for a consumer, its lag summed over its partitions.
std::string kafka_counters(std::string_view json);

/// The progress line for a terminal (starts with "\r\033[K", no newline).
std::string progress_line(const capi::kafka::ForwarderStats& s, double secs);

/// "group G, topics a,b to URL": the summary's title, taken before the options move.
std::string summary_title(const capi::kafka::ForwarderOptions& o);

/// The summary table on stdout, like capi send's.
void print_summary(const std::string& title, const capi::kafka::ForwarderStats& s, double secs, bool settled);
