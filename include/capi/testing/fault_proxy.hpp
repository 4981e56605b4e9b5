// capi::testing::FaultProxy: a TCP pass-through on 127.0.0.1 that injects
// network faults between a client and a server (toxiproxy's vocabulary, in
// process, because toxiproxy is not a Debian package). It forwards bytes, not
// TLS records, so TLS runs end to end through it: point the client at url(),
// trust the server's CA, and the proxy sees only ciphertext.
//
// Faults (all off by default, changeable at any time):
//   latency + jitter   every forwarded chunk waits latency + uniform[0, jitter]
//   bandwidth          at most N bytes/s per direction and connection
//   slicer             chunks forwarded in pieces of at most N bytes, a delay apart
//   reset after N      a connection is reset (RST both ways) once N bytes went in
//                      the chosen direction (limit_data / reset_peer)
//   hang               new connections are accepted and never forwarded (toxiproxy
//                      `timeout 0`): the client's deadlines must fire
//   slow close         when one side closes, the other is closed this much later
//   down / up          down closes the listening socket (connections are refused)
//                      and drops the open connections; up listens on the same port
//
// Thread safety: every member function is safe from any thread. The proxy runs
// on one thread it owns; the destructor stops it. Setters affect chunks read
// after the call; reset-after and hang are sampled when a connection is accepted.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#pragma GCC visibility push(default)  // exported: docs/install.md#symbol-visibility
namespace capi::testing {

struct ProxyCounters {
    std::uint64_t connections = 0;     ///< accepted from clients
    std::uint64_t active = 0;          ///< open now
    std::uint64_t max_active = 0;      ///< most open at once
    std::uint64_t refused = 0;         ///< upstream connects that failed
    std::uint64_t bytes_up = 0;        ///< client -> server, forwarded
    std::uint64_t bytes_down = 0;      ///< server -> client, forwarded
    std::uint64_t resets = 0;          ///< connections reset by reset-after
    std::uint64_t hung = 0;            ///< connections held by hang
};

class FaultProxy {
public:
    enum class Direction : std::uint8_t { up, down, both };

    /// Listens on 127.0.0.1 (ephemeral port) and forwards to upstream_host:upstream_port.
    /// Throws std::system_error when it cannot listen.
    explicit FaultProxy(std::uint16_t upstream_port, std::string upstream_host = "127.0.0.1");
    ~FaultProxy();
    FaultProxy(const FaultProxy&) = delete;
    FaultProxy& operator=(const FaultProxy&) = delete;

    std::uint16_t port() const noexcept;
    /// "https://127.0.0.1:<port>"
    std::string url() const;

    void set_latency(std::chrono::milliseconds latency, std::chrono::milliseconds jitter = {});
    /// 0: unlimited.
    void set_bandwidth(std::size_t bytes_per_second);
    /// 0: off.
    void set_slicer(std::size_t max_piece, std::chrono::milliseconds delay = {});
    /// 0: off. Counted per connection from its first byte in `direction` (both:
    /// the two directions together). `connections`: how many of the connections
    /// accepted from now on get it (0: every one), so a retry can get through.
    void set_reset_after(std::size_t bytes, Direction direction = Direction::up, std::size_t connections = 0);
    void set_hang(bool hang);
    void set_slow_close(std::chrono::milliseconds delay);
    /// Every fault above off (down/up unchanged).
    void clear();

    /// Down: stop listening (connects are refused) and, when `drop_open`, reset the
    /// open connections. Returns once done.
    void set_down(bool drop_open = true);
    /// Up: listen again on the same port. Returns once listening.
    void set_up();
    bool is_down() const;

    /// Resets every open connection now; keeps listening. Returns once done.
    void drop_connections();

    ProxyCounters counters() const;

private:
    struct [[gnu::visibility("hidden")]] impl;  // lib/ only: not exported
    std::unique_ptr<impl> impl_;
};

} // namespace capi::testing
#pragma GCC visibility pop
