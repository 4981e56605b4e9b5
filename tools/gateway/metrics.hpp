// capi gateway's counters and their Prometheus text exposition (format 0.0.4).
//
// Every counter is a relaxed atomic bumped on the request path: no lock, no
// allocation. render() reads them all (not as one snapshot: a scrape racing a
// request may see its count before its latency, as with any Prometheus client).
#pragma once

#include <capi/client.hpp>
#include <capi/pixel.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace capi_gateway {

/// The `route` label: a bounded set, whatever paths clients ask for.
enum class Route : std::uint8_t { tr, events, healthz, metrics, other, count_ };
std::string_view to_string(Route) noexcept;
Route route_of(std::string_view path) noexcept;

/// The `outcome` label: pixel::Outcome's values, then the server's own.
enum class Outcome : std::uint8_t {
    accepted, partial, rejected, foreign_pixel, too_large, not_found, method_not_allowed, preflight,
    forbidden_origin, unsupported_media_type,  ///< the pixel endpoint's, as pixel::Outcome names them
    ok,                ///< /healthz, /metrics answered
    header_too_large,  ///< 431
    uri_too_long,      ///< 414
    bad_request,       ///< not HTTP/1.1 Beast could parse (400)
    queue_full,        ///< the client's queue refused an event (503)
    shutting_down,     ///< the client no longer takes events (503)
    invalid,           ///< the client refused an event the endpoint passed (400)
    count_
};
std::string_view to_string(Outcome) noexcept;
Outcome from_pixel(capi::pixel::Outcome) noexcept;

/// Why an event was not accepted: the `reason` label of events_rejected.
enum class Rejection : std::uint8_t { invalid, foreign_pixel, queue_full, shutting_down, count_ };
std::string_view to_string(Rejection) noexcept;

/// A Prometheus histogram with fixed upper bounds, in seconds.
template <std::size_t N>
class LatencyHistogram {
public:
    explicit constexpr LatencyHistogram(const std::array<double, N>& bounds) : bounds_(bounds) {}
    void observe(std::chrono::nanoseconds d) noexcept;
    /// `name`_bucket{le=..}, _sum and _count lines.
    void render(std::string& out, std::string_view name) const;

private:
    std::array<double, N> bounds_;
    std::array<std::atomic<std::uint64_t>, N + 1> buckets_{};  // the last one: +Inf only
    std::atomic<std::uint64_t> sum_ns_{0};
    std::atomic<std::uint64_t> count_{0};
};

class Metrics {
public:
    Metrics();

    void request(Route r, Outcome o) noexcept;
    void request_took(std::chrono::nanoseconds took) noexcept { request_latency_.observe(took); }
    void events_accepted(std::uint64_t n) noexcept { add(accepted_, n); }
    void event_rejected(Rejection why, std::uint64_t n = 1) noexcept;
    /// From the client's on_delivery: delivered, or failed (failed, expired, dropped).
    void delivery(const capi::SendResult& r) noexcept;
    void connection_opened() noexcept;
    void connection_closed() noexcept;
    void connection_refused() noexcept { add(conns_refused_, 1); }
    void read_timeout() noexcept { add(timeouts_, 1); }
    void tls_handshake_failed() noexcept { add(handshake_failures_, 1); }

    std::uint64_t open_connections() const noexcept { return conns_open_.load(std::memory_order_relaxed); }

    struct Totals {
        std::uint64_t requests = 0, accepted = 0, delivered = 0, failed = 0, rejected = 0;
        std::uint64_t queue_depth() const noexcept { return accepted - delivered - failed; }
    };
    Totals totals() const noexcept;

    /// The whole exposition; `client` adds the client's own counters (batches,
    /// retries) and its match-quality report (capi_gateway_pii_values_total).
    std::string render(const capi::Stats& client) const;

private:
    static void add(std::atomic<std::uint64_t>& c, std::uint64_t n) noexcept {
        c.fetch_add(n, std::memory_order_relaxed);
    }
    static constexpr std::size_t routes = static_cast<std::size_t>(Route::count_);
    static constexpr std::size_t outcomes = static_cast<std::size_t>(Outcome::count_);
    static constexpr std::size_t rejections = static_cast<std::size_t>(Rejection::count_);

    std::array<std::array<std::atomic<std::uint64_t>, outcomes>, routes> requests_{};
    std::atomic<std::uint64_t> accepted_{0}, delivered_{0}, failed_{0};
    std::array<std::atomic<std::uint64_t>, rejections> rejected_{};
    std::atomic<std::uint64_t> conns_open_{0}, conns_total_{0}, conns_refused_{0};
    std::atomic<std::uint64_t> timeouts_{0}, handshake_failures_{0};
    LatencyHistogram<14> request_latency_;
    LatencyHistogram<14> delivery_latency_;
};

} // namespace capi_gateway
