// Prints the default of every option field, one `Struct.field<TAB>value` per line,
// in the notation of docs/options.md; scripts/check_docs.py compares the two, so
// the reference table cannot drift from the headers.
#include <capi/client.hpp>
#include <capi/testing/mock_graph.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace {

void row(std::string_view key, const std::string& value) { std::cout << key << '\t' << value << '\n'; }

std::string code(std::string_view s) { return "`" + std::string(s) + "`"; }

std::string text(const std::string& s) { return s.empty() ? "(empty)" : code(s); }
std::string text(const std::optional<std::string>& s) { return s ? code(*s) : "(unset)"; }
std::string text(bool b) { return b ? "`true`" : "`false`"; }

std::string count(std::uint64_t n) { return std::to_string(n); }

std::string bytes(std::uint64_t n) {
    if (n % (1024 * 1024) == 0) return std::to_string(n / (1024 * 1024)) + " MiB";
    if (n % 1024 == 0) return std::to_string(n / 1024) + " KiB";
    return std::to_string(n) + " bytes";
}

template <class Rep, class Period>
std::string duration(std::chrono::duration<Rep, Period> d) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
    if (ms != 0 && ms % 86'400'000 == 0) return std::to_string(ms / 86'400'000) + " days";
    if (ms != 0 && ms % 60'000 == 0) return std::to_string(ms / 60'000) + " min";
    if (ms != 0 && ms % 1000 == 0) return std::to_string(ms / 1000) + " s";
    return std::to_string(ms) + " ms";
}

template <class F>
std::string callable(const F& f) { return f ? "(set)" : "(none)"; }

std::string see(std::string_view type) { return "see " + code(type); }

std::string name(capi::Overflow o) {
    switch (o) {
    case capi::Overflow::reject: return code("reject");
    case capi::Overflow::drop_oldest: return code("drop_oldest");
    case capi::Overflow::block: return code("block");
    }
    return "?";
}
std::string name(capi::EventIdMode m) {
    switch (m) {
    case capi::EventIdMode::deterministic: return code("deterministic");
    case capi::EventIdMode::random: return code("random");
    case capi::EventIdMode::none: return code("none");
    }
    return "?";
}
std::string name(capi::DateOrder o) {
    switch (o) {
    case capi::DateOrder::unspecified: return code("unspecified");
    case capi::DateOrder::dmy: return code("dmy");
    case capi::DateOrder::mdy: return code("mdy");
    case capi::DateOrder::ymd: return code("ymd");
    }
    return "?";
}
std::string name(capi::InvalidPiiPolicy p) {
    return code(p == capi::InvalidPiiPolicy::drop_value ? "drop_value" : "reject_event");
}
std::string name(capi::testing::CertKind k) {
    switch (k) {
    case capi::testing::CertKind::valid: return code("valid");
    case capi::testing::CertKind::expired: return code("expired");
    case capi::testing::CertKind::wrong_host: return code("wrong_host");
    case capi::testing::CertKind::untrusted: return code("untrusted");
    }
    return "?";
}

} // namespace

int main() {
    const capi::Options o;
    row("Options.destination", see("capi::Destination"));
    row("Options.transport", see("capi::TransportOptions"));
    row("Options.custom_transport", o.custom_transport ? "(set)" : "(none)");
    row("Options.retry", see("capi::RetryPolicy"));
    row("Options.encode", see("capi::EncodeOptions"));
    row("Options.request", see("capi::RequestFields"));
    row("Options.queue_capacity", count(o.queue_capacity));
    row("Options.overflow", name(o.overflow));
    row("Options.batchers", count(o.batchers));
    row("Options.caller_batches", text(o.caller_batches));
    row("Options.linger", duration(o.linger));
    row("Options.max_batch_bytes", bytes(o.max_batch_bytes));
    row("Options.max_batches_in_flight", count(o.max_batches_in_flight));
    row("Options.concurrency", see("capi::Options::Concurrency"));
    row("Options.io_threads", count(o.io_threads));
    row("Options.event_ids", name(o.event_ids));
    row("Options.assign_event_id", text(o.assign_event_id));
    row("Options.clock", callable(o.clock));
    row("Options.on_delivery", callable(o.on_delivery));
    row("Options.on_values", callable(o.on_values));

    const capi::Destination d;
    row("Destination.pixel_id", text(d.pixel_id));
    row("Destination.access_token", text(d.access_token));
    row("Destination.app_secret", text(d.app_secret));
    row("Destination.test_event_code", text(d.test_event_code));

    const capi::TransportOptions t;
    row("TransportOptions.endpoint", text(t.endpoint));
    row("TransportOptions.api_version", text(t.api_version));
    row("TransportOptions.ca_file", text(t.ca_file));
    row("TransportOptions.ca_pem", text(t.ca_pem));
    row("TransportOptions.max_connections", count(t.max_connections));
    row("TransportOptions.keep_alive", text(t.keep_alive));
    row("TransportOptions.max_in_flight", count(t.max_in_flight));
    row("TransportOptions.connect_timeout", duration(t.connect_timeout));
    row("TransportOptions.handshake_timeout", duration(t.handshake_timeout));
    row("TransportOptions.request_timeout", duration(t.request_timeout));
    row("TransportOptions.idle_timeout", duration(t.idle_timeout));
    row("TransportOptions.user_agent", text(t.user_agent));

    const capi::RetryPolicy r;
    row("RetryPolicy.max_attempts", count(r.max_attempts));
    row("RetryPolicy.max_total", duration(r.max_total));
    row("RetryPolicy.initial_backoff", duration(r.initial_backoff));
    row("RetryPolicy.max_backoff", duration(r.max_backoff));
    row("RetryPolicy.throttle_initial_backoff", duration(r.throttle_initial_backoff));
    row("RetryPolicy.throttle_max_backoff", duration(r.throttle_max_backoff));

    const capi::EncodeOptions e;
    row("EncodeOptions.validation", see("capi::ValidationOptions"));
    row("EncodeOptions.invalid_pii", name(e.invalid_pii));
    row("EncodeOptions.hash_external_id", text(e.hash_external_id));
    row("EncodeOptions.max_batch_events", count(e.max_batch_events));
    row("EncodeOptions.enhanced", see("capi::EnhancedNormalization"));
    row("EnhancedNormalization.enabled", text(e.enhanced.enabled));
    row("EnhancedNormalization.default_phone_country", text(e.enhanced.default_phone_country));
    row("EnhancedNormalization.date_order", name(e.enhanced.date_order));

    const capi::ValidationOptions v;
    row("ValidationOptions.max_age", duration(v.max_age));
    row("ValidationOptions.physical_store_max_age", duration(v.physical_store_max_age));
    row("ValidationOptions.max_future_skew", duration(v.max_future_skew));
    row("ValidationOptions.max_event_bytes", bytes(v.max_event_bytes));
    row("ValidationOptions.require_website_fields", text(v.require_website_fields));

    const capi::RequestFields q;
    row("RequestFields.test_event_code", text(q.test_event_code));
    row("RequestFields.partner_agent", text(q.partner_agent));
    row("RequestFields.namespace_id", text(q.namespace_id));
    row("RequestFields.upload_id", text(q.upload_id));
    row("RequestFields.upload_tag", text(q.upload_tag));
    row("RequestFields.upload_source", text(q.upload_source));

    const capi::testing::MockOptions m;
    row("MockOptions.port", count(m.port));
    row("MockOptions.access_token", text(m.access_token));
    row("MockOptions.app_secret", text(m.app_secret));
    row("MockOptions.cert", name(m.cert));
    row("MockOptions.clock", callable(m.clock));
    row("MockOptions.gzip", text(m.gzip));
    row("MockOptions.threads", count(m.threads));
    row("MockOptions.legacy_tls_only", text(m.legacy_tls_only));
    row("MockOptions.delay", duration(m.delay));
    row("MockOptions.on_accepted", callable(m.on_accepted));
    return 0;
}
