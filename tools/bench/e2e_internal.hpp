// What the end-to-end benchmark's phases share (tools/bench/e2e.cpp and its
// phase 2 in e2e_send.cpp): the configuration and the target, the client's
// options, the mock's counts, the null transport, and phase 2 itself.
#pragma once

#include "e2e_phase.hpp"
#include "mock_process.hpp"

#include <capi/client.hpp>
#include <capi/transport.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>

namespace capi_bench::e2e {

struct Config {
    std::size_t events = 200'000;
    std::size_t warmup = 0;  // events through the same client and threads before the timed ones
    unsigned producers = 2;
    unsigned coroutines = 1000;  // per send thread
    unsigned send_threads = 1;   // phases 2 and 4: io_context threads, each with its coroutines
    unsigned mock_threads = 1;
    // The target phases (1, 2, 2b) this many times, each round with its own
    // events, warm-up and floors; the closing lines give each one's median.
    unsigned rounds = 1;
    bool run_enqueue = true, run_send = true, run_pipeline = true;
    std::optional<unsigned> batchers;
    std::optional<long> linger_ms;
    std::optional<std::size_t> connections, queue_capacity;
    bool caller_batches = true;
    bool own_io = false;  // phase 2: the client on its own io thread, not the coroutines'
    // Phase 2's completion tokens, each timed apart: as_tuple(use_awaitable), deferred.
    bool send_awaitable = true, send_deferred = true;
    // Phases 3 and 4: the null transport answers each body after this long
    // (0: at once), as a server does after its answering time.
    unsigned null_delay_ms = 0;
    // The mock on the first half of this process's CPUs, the client on the rest.
    bool pin = false;
    std::string endpoint, ca_file, pixel, test_event_code;
};

struct Target {
    std::string url, ca_pem, ca_file, pixel, token, test_event_code;
    MockProcess* mock = nullptr;  // null for an external endpoint
};

// Phase 2's completion token.
enum class Token { awaitable, deferred };

/// The client's options for `t`, with the --batchers, --linger-ms, --connections,
/// --queue-capacity and --caller-batches of `cfg`.
capi::Options client_options(const Config& cfg, const Target& t);

/// What the embedded mock counted so far; none for an external endpoint.
std::optional<MockCounts> mock_counts(const Target& t);

/// r.mock less `before`: what the mock counted during the phase.
void subtract_mock(PhaseResult& r, const std::optional<MockCounts>& before);

/// A SendResult's outcome, error and Graph code, for a phase's first error.
std::string describe(const capi::SendResult& r);

// The pipeline alone: a Transport that answers every batch at once, as Meta
// would, on the client's io thread; no TLS, no socket, no mock process. Counting
// the events of each body is the fake server's work: timed and subtracted.
class NullTransport final : public capi::Transport {
public:
    /// Answers on `ex`, `delay` after each body (zero: posted at once).
    explicit NullTransport(boost::asio::any_io_executor ex, std::chrono::milliseconds delay = {})
        : ex_(std::move(ex)), delay_(delay) {}
    void post(capi::PostRequest request, handler done) override {
        post_shared(request, capi::SharedBody::take(std::move(request.body)), std::move(done));
    }
    // What the client calls (through its Sender): the body as the client holds it.
    void post_shared(const capi::PostRequest&, capi::SharedBody shared, handler done) override;  // e2e.cpp
    void close() override {}
    std::uint64_t events() const noexcept { return events_.load(); }
    double counting_seconds() const noexcept { return static_cast<double>(counting_ns_.load()) * 1e-9; }

private:
    boost::asio::any_io_executor ex_;
    std::chrono::milliseconds delay_;
    std::atomic<std::uint64_t> events_{0}, counting_ns_{0};
};

/// Phase 2 (e2e_send.cpp): cfg.coroutines coroutines on each of cfg.send_threads
/// io_context threads (the first also runs the client's I/O) co_await
/// async_send() with `token`, cfg.warmup events from `warm_first` first, then
/// cfg.events from `first`, timed; `before_timing` runs between the two.
/// With `null_transport` the client sends through a NullTransport (phase 4).
PhaseResult run_send_phase(const Config& cfg, const Target& real_target, std::size_t first, std::size_t warm_first,
                           const std::function<void(PhaseResult&)>& before_timing, Token token,
                           bool null_transport = false);

} // namespace capi_bench::e2e
