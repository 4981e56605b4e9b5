#include "metrics.hpp"

#include <capi/normalize.hpp>

#include <cstdio>

namespace capi_gateway {

namespace {

// Request handling is microseconds; a slow one is a stalled client write.
constexpr std::array<double, 14> request_bounds{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                0.01,    0.025,  0.05,    0.1,    0.25,  1.0,   5.0};
// Accepted -> Meta's acknowledgement: a batch's linger plus a round trip, or retries.
constexpr std::array<double, 14> delivery_bounds{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                 0.25,  0.5,    1.0,   2.5,  5.0,   10.0, 60.0};

void append_double(std::string& out, double v) {
    char buf[32];
    const int n = std::snprintf(buf, sizeof buf, "%.9g", v);
    out.append(buf, static_cast<std::size_t>(n));
}

void header(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
    out.append("# HELP ").append(name).append(" ").append(help).append("\n");
    out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

void sample(std::string& out, std::string_view name, std::string_view labels, std::uint64_t v) {
    out.append(name);
    if (!labels.empty()) out.append("{").append(labels).append("}");
    out.append(" ").append(std::to_string(v)).append("\n");
}

} // namespace

std::string_view to_string(Route r) noexcept {
    switch (r) {
    case Route::tr: return "/tr";
    case Route::events: return "/events";
    case Route::healthz: return "/healthz";
    case Route::metrics: return "/metrics";
    case Route::other:
    case Route::count_: break;
    }
    return "other";
}

Route route_of(std::string_view path) noexcept {
    if (path == "/tr") return Route::tr;
    if (path == "/events") return Route::events;
    if (path == "/healthz") return Route::healthz;
    if (path == "/metrics") return Route::metrics;
    return Route::other;
}

// The pixel endpoint's outcomes keep pixel::Outcome's values and names; only
// the server's own are named here.
template <capi::pixel::Outcome P, Outcome G>
constexpr bool same_value = static_cast<unsigned>(P) == static_cast<unsigned>(G);
static_assert(same_value<capi::pixel::Outcome::accepted, Outcome::accepted> &&
              same_value<capi::pixel::Outcome::partial, Outcome::partial> &&
              same_value<capi::pixel::Outcome::rejected, Outcome::rejected> &&
              same_value<capi::pixel::Outcome::foreign_pixel, Outcome::foreign_pixel> &&
              same_value<capi::pixel::Outcome::too_large, Outcome::too_large> &&
              same_value<capi::pixel::Outcome::not_found, Outcome::not_found> &&
              same_value<capi::pixel::Outcome::method_not_allowed, Outcome::method_not_allowed> &&
              same_value<capi::pixel::Outcome::preflight, Outcome::preflight> &&
              same_value<capi::pixel::Outcome::forbidden_origin, Outcome::forbidden_origin> &&
              same_value<capi::pixel::Outcome::unsupported_media_type, Outcome::unsupported_media_type>,
              "the gateway's outcome label starts with pixel::Outcome's values, in its order");

std::string_view to_string(Outcome o) noexcept {
    if (o < Outcome::ok) return capi::pixel::to_string(static_cast<capi::pixel::Outcome>(o));
    switch (o) {
    case Outcome::ok: return "ok";
    case Outcome::header_too_large: return "header_too_large";
    case Outcome::uri_too_long: return "uri_too_long";
    case Outcome::bad_request: return "bad_request";
    case Outcome::queue_full: return "queue_full";
    case Outcome::shutting_down: return "shutting_down";
    case Outcome::invalid: return "invalid";
    default: break;
    }
    return "unknown";
}

Outcome from_pixel(capi::pixel::Outcome o) noexcept {
    using P = capi::pixel::Outcome;
    switch (o) {
    case P::accepted: return Outcome::accepted;
    case P::partial: return Outcome::partial;
    case P::rejected: return Outcome::rejected;
    case P::foreign_pixel: return Outcome::foreign_pixel;
    case P::too_large: return Outcome::too_large;
    case P::not_found: return Outcome::not_found;
    case P::method_not_allowed: return Outcome::method_not_allowed;
    case P::preflight: return Outcome::preflight;
    case P::forbidden_origin: return Outcome::forbidden_origin;
    case P::unsupported_media_type: return Outcome::unsupported_media_type;
    }
    return Outcome::bad_request;
}

std::string_view to_string(Rejection r) noexcept {
    switch (r) {
    case Rejection::invalid: return "invalid";
    case Rejection::foreign_pixel: return "foreign_pixel";
    case Rejection::queue_full: return "queue_full";
    case Rejection::shutting_down: return "shutting_down";
    case Rejection::count_: break;
    }
    return "unknown";
}

template <std::size_t N>
void LatencyHistogram<N>::observe(std::chrono::nanoseconds d) noexcept {
    const double s = std::chrono::duration<double>(d).count();
    std::size_t i = 0;
    while (i < N && s > bounds_[i]) ++i;
    buckets_[i].fetch_add(1, std::memory_order_relaxed);
    sum_ns_.fetch_add(static_cast<std::uint64_t>(d.count() > 0 ? d.count() : 0), std::memory_order_relaxed);
    count_.fetch_add(1, std::memory_order_relaxed);
}

template <std::size_t N>
void LatencyHistogram<N>::render(std::string& out, std::string_view name) const {
    // Buckets are kept per interval and made cumulative here, as Prometheus wants.
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i <= N; ++i) {
        cumulative += buckets_[i].load(std::memory_order_relaxed);
        out.append(name).append("_bucket{le=\"");
        if (i < N) append_double(out, bounds_[i]);
        else out.append("+Inf");
        out.append("\"} ").append(std::to_string(cumulative)).append("\n");
    }
    out.append(name).append("_sum ");
    append_double(out, static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9);
    out.append("\n");
    // _count equals the +Inf bucket, as the format requires, even mid-update.
    out.append(name).append("_count ").append(std::to_string(cumulative)).append("\n");
}

Metrics::Metrics() : request_latency_(request_bounds), delivery_latency_(delivery_bounds) {}

void Metrics::request(Route r, Outcome o) noexcept {
    add(requests_[static_cast<std::size_t>(r)][static_cast<std::size_t>(o)], 1);
}

void Metrics::event_rejected(Rejection why, std::uint64_t n) noexcept {
    add(rejected_[static_cast<std::size_t>(why)], n);
}

void Metrics::delivery(const capi::SendResult& r) noexcept {
    if (r.outcome == capi::Outcome::rejected) return;  // never accepted: counted at enqueue
    add(r.outcome == capi::Outcome::delivered ? delivered_ : failed_, 1);
    delivery_latency_.observe(r.latency);
}

void Metrics::connection_opened() noexcept {
    add(conns_open_, 1);
    add(conns_total_, 1);
}

void Metrics::connection_closed() noexcept { conns_open_.fetch_sub(1, std::memory_order_relaxed); }

Metrics::Totals Metrics::totals() const noexcept {
    Totals t;
    for (const auto& row : requests_)
        for (const auto& c : row) t.requests += c.load(std::memory_order_relaxed);
    t.accepted = accepted_.load(std::memory_order_relaxed);
    t.delivered = delivered_.load(std::memory_order_relaxed);
    t.failed = failed_.load(std::memory_order_relaxed);
    for (const auto& c : rejected_) t.rejected += c.load(std::memory_order_relaxed);
    return t;
}

std::string Metrics::render(const capi::Stats& client) const {
    std::string out;
    out.reserve(8192);
    header(out, "capi_gateway_requests_total", "counter", "HTTP requests answered, by route and outcome.");
    for (std::size_t r = 0; r < routes; ++r)
        for (std::size_t o = 0; o < outcomes; ++o) {
            const auto n = requests_[r][o].load(std::memory_order_relaxed);
            if (n == 0) continue;  // 80 combinations, most impossible: only those seen
            std::string labels = "route=\"";
            labels.append(to_string(static_cast<Route>(r))).append("\",outcome=\"");
            labels.append(to_string(static_cast<Outcome>(o))).append("\"");
            sample(out, "capi_gateway_requests_total", labels, n);
        }

    // Read delivered/failed before accepted: an event is accepted before its
    // outcome, so the depth computed below is never negative.
    const auto delivered = delivered_.load(std::memory_order_relaxed);
    const auto failed = failed_.load(std::memory_order_relaxed);
    const auto accepted = accepted_.load(std::memory_order_relaxed);
    std::uint64_t rejected = 0;
    for (const auto& c : rejected_) rejected += c.load(std::memory_order_relaxed);
    header(out, "capi_gateway_events_total", "counter",
           "Events by state: accepted by the client, then delivered to Meta or failed; rejected never accepted.");
    sample(out, "capi_gateway_events_total", "state=\"accepted\"", accepted);
    sample(out, "capi_gateway_events_total", "state=\"delivered\"", delivered);
    sample(out, "capi_gateway_events_total", "state=\"failed\"", failed);
    sample(out, "capi_gateway_events_total", "state=\"rejected\"", rejected);
    header(out, "capi_gateway_events_rejected_total", "counter", "Events not accepted, by reason.");
    for (std::size_t i = 0; i < rejections; ++i)
        sample(out, "capi_gateway_events_rejected_total",
               "reason=\"" + std::string(to_string(static_cast<Rejection>(i))) + "\"",
               rejected_[i].load(std::memory_order_relaxed));
    header(out, "capi_gateway_queue_depth", "gauge", "Events accepted and not yet delivered or failed.");
    sample(out, "capi_gateway_queue_depth", {}, accepted - delivered - failed);

    header(out, "capi_gateway_connections", "gauge", "Open client connections.");
    sample(out, "capi_gateway_connections", {}, conns_open_.load(std::memory_order_relaxed));
    header(out, "capi_gateway_connections_total", "counter", "Client connections accepted.");
    sample(out, "capi_gateway_connections_total", {}, conns_total_.load(std::memory_order_relaxed));
    header(out, "capi_gateway_connections_refused_total", "counter",
           "Connections closed at once: --max-connections were open.");
    sample(out, "capi_gateway_connections_refused_total", {}, conns_refused_.load(std::memory_order_relaxed));
    header(out, "capi_gateway_read_timeouts_total", "counter",
           "Connections closed because a request did not arrive in time (slow or idle clients).");
    sample(out, "capi_gateway_read_timeouts_total", {}, timeouts_.load(std::memory_order_relaxed));
    header(out, "capi_gateway_tls_handshake_failures_total", "counter", "TLS handshakes that failed.");
    sample(out, "capi_gateway_tls_handshake_failures_total", {}, handshake_failures_.load(std::memory_order_relaxed));

    header(out, "capi_gateway_request_duration_seconds", "histogram",
           "From a request read whole to its answer written.");
    request_latency_.render(out, "capi_gateway_request_duration_seconds");
    header(out, "capi_gateway_delivery_duration_seconds", "histogram",
           "From an event accepted to its outcome (delivered or failed).");
    delivery_latency_.render(out, "capi_gateway_delivery_duration_seconds");

    header(out, "capi_gateway_client_batches_total", "counter", "Batches the client sent to Meta.");
    sample(out, "capi_gateway_client_batches_total", {}, client.batches);
    header(out, "capi_gateway_client_retries_total", "counter", "HTTP attempts the client retried.");
    sample(out, "capi_gateway_client_retries_total", {}, client.retries);
    header(out, "capi_gateway_client_throttled_total", "counter", "Attempts Meta answered with throttling.");
    sample(out, "capi_gateway_client_throttled_total", {}, client.throttled);

    // Every field that had a value, with all six outcomes, zeros included: a
    // rate of `converted` or `unmatchable` exists from the field's first value
    // on. Fields without any value stay out (18 x 6 series, most never used).
    header(out, "capi_gateway_pii_values_total", "counter",
           "Customer-information values of accepted events, by field (wire key) and what normalization made "
           "of them: as_given, converted (enhanced), already_hashed, unmatchable, dropped, omitted.");
    const capi::MatchQuality& q = client.match_quality;
    for (std::size_t f = 0; f < capi::field_count; ++f) {
        const auto field = static_cast<capi::Field>(f);
        if (q.values(field) == 0) continue;
        for (std::size_t o = 0; o < capi::match_outcome_count; ++o) {
            const auto outcome = static_cast<capi::MatchOutcome>(o);
            std::string labels = "field=\"";
            labels.append(capi::to_string(field)).append("\",outcome=\"");
            labels.append(capi::to_string(outcome)).append("\"");
            sample(out, "capi_gateway_pii_values_total", labels, q.count(field, outcome));
        }
    }
    return out;
}

template class LatencyHistogram<14>;

} // namespace capi_gateway
