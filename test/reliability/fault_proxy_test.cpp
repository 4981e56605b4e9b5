// capi::testing::FaultProxy on its own, in front of a plain TCP echo server, so
// each fault is seen doing what it says before the fault suite relies on it.
// Blocking sockets with receive timeouts: every wait is bounded.
#include <capi/testing/fault_proxy.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <sys/time.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace net = boost::asio;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;
using capi::testing::FaultProxy;
using steady = std::chrono::steady_clock;

namespace {

/// Echoes every byte back, one thread per connection, until stopped.
class EchoServer {
public:
    EchoServer() : acceptor_(io_, tcp::endpoint(net::ip::make_address_v4("127.0.0.1"), 0)) {
        thread_ = std::thread([this] {
            for (;;) {
                boost::system::error_code ec;
                tcp::socket s(io_);
                acceptor_.accept(s, ec);
                if (ec || stop_) return;
                conns_.emplace_back([s = std::move(s)]() mutable {
                    char buf[4096];
                    for (;;) {
                        boost::system::error_code e;
                        const auto n = s.read_some(net::buffer(buf), e);
                        if (e) return;
                        net::write(s, net::buffer(buf, n), e);
                        if (e) return;
                    }
                });
            }
        });
    }
    ~EchoServer() {
        stop_ = true;
        boost::system::error_code ec;
        // Wake the blocking accept with a connection of our own.
        tcp::socket poke(io_);
        poke.connect(acceptor_.local_endpoint(), ec);
        thread_.join();
        poke.close(ec);
        acceptor_.close(ec);
        for (auto& t : conns_) t.join();
    }
    std::uint16_t port() const { return acceptor_.local_endpoint().port(); }

private:
    net::io_context io_;
    tcp::acceptor acceptor_;
    std::atomic<bool> stop_{false};
    std::thread thread_;
    std::vector<std::thread> conns_;  // joined after the proxy (and clients) closed them
};

/// A blocking client socket to the proxy with a 10 s receive timeout.
tcp::socket connect_to(net::io_context& io, std::uint16_t port, boost::system::error_code& ec) {
    tcp::socket s(io);
    s.connect(tcp::endpoint(net::ip::make_address_v4("127.0.0.1"), port), ec);
    if (!ec) {
        timeval tv{10, 0};
        ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }
    return s;
}

/// Reads up to n bytes with the socket's receive timeout (plain recv: Asio's
/// blocking reads would poll past SO_RCVTIMEO). Sets ec on EOF, reset or timeout.
std::size_t read_bounded(tcp::socket& s, char* out, std::size_t n, boost::system::error_code& ec) {
    std::size_t got = 0;
    while (got < n) {
        const auto r = ::recv(s.native_handle(), out + got, n - got, 0);
        if (r == 0) {
            ec = net::error::eof;
            return got;
        }
        if (r < 0) {
            ec = boost::system::error_code(errno, boost::system::system_category());
            return got;
        }
        got += static_cast<std::size_t>(r);
    }
    return got;
}

/// Sends `data`, reads as many bytes back; returns the bytes read.
std::size_t round_trip(tcp::socket& s, const std::string& data, boost::system::error_code& ec) {
    net::write(s, net::buffer(data), ec);
    if (ec) return 0;
    std::string back(data.size(), '\0');
    return read_bounded(s, back.data(), back.size(), ec);
}

double seconds_since(steady::time_point t0) {
    return std::chrono::duration<double>(steady::now() - t0).count();
}

} // namespace

TEST_CASE("FaultProxy: a clean pass-through, counted", "[fault][proxy]") {
    EchoServer echo;
    boost::system::error_code ec;
    net::io_context io;
    FaultProxy proxy(echo.port());
    auto s = connect_to(io, proxy.port(), ec);
    REQUIRE(!ec);
    const std::string data(10'000, 'x');
    CHECK(round_trip(s, data, ec) == data.size());
    CHECK(!ec);
    // Counted once each write completed, which may be just after the client read it.
    for (int i = 0; i < 2000 && proxy.counters().bytes_down < 10'000; ++i) std::this_thread::sleep_for(1ms);
    const auto c = proxy.counters();
    CHECK(c.connections == 1);
    CHECK(c.bytes_up == 10'000);
    CHECK(c.bytes_down == 10'000);
    CHECK(proxy.url() == "https://127.0.0.1:" + std::to_string(proxy.port()));
}

TEST_CASE("FaultProxy: latency, bandwidth and slicer slow the bytes down", "[fault][proxy]") {
    EchoServer echo;
    boost::system::error_code ec;
    net::io_context io;
    FaultProxy proxy(echo.port());

    proxy.set_latency(200ms);
    auto a = connect_to(io, proxy.port(), ec);
    REQUIRE(!ec);
    auto t0 = steady::now();
    CHECK(round_trip(a, "ping", ec) == 4);
    CHECK(seconds_since(t0) >= 0.39);  // 200 ms each way

    proxy.clear();
    proxy.set_bandwidth(20'000);
    t0 = steady::now();
    CHECK(round_trip(a, std::string(10'000, 'b'), ec) == 10'000);
    CHECK(seconds_since(t0) >= 0.4);  // 10 KB at 20 KB/s in 50 ms pieces (the two ways overlap)

    proxy.clear();
    proxy.set_slicer(100, 5ms);
    t0 = steady::now();
    CHECK(round_trip(a, std::string(2'000, 's'), ec) == 2'000);
    CHECK(seconds_since(t0) >= 0.09);  // 19 gaps of 5 ms, at least one way
    CHECK(!ec);
}

TEST_CASE("FaultProxy: reset after N bytes, for the next connection only", "[fault][proxy]") {
    EchoServer echo;
    boost::system::error_code ec;
    net::io_context io;
    FaultProxy proxy(echo.port());
    proxy.set_reset_after(100, FaultProxy::Direction::up, 1);

    auto a = connect_to(io, proxy.port(), ec);
    REQUIRE(!ec);
    const auto got = round_trip(a, std::string(1'000, 'r'), ec);
    CHECK(ec);  // reset (or EOF) before the 1000 bytes came back
    CHECK(got <= 100);
    CHECK(proxy.counters().resets == 1);
    CHECK(proxy.counters().bytes_up == 100);

    auto b = connect_to(io, proxy.port(), ec);
    REQUIRE(!ec);
    CHECK(round_trip(b, std::string(1'000, 'r'), ec) == 1'000);  // the next one is clean
    CHECK(!ec);
}

TEST_CASE("FaultProxy: hang holds the connection; down refuses; up serves again", "[fault][proxy]") {
    EchoServer echo;
    boost::system::error_code ec;
    net::io_context io;
    FaultProxy proxy(echo.port());

    proxy.set_hang(true);
    auto h = connect_to(io, proxy.port(), ec);
    REQUIRE(!ec);
    timeval tv{0, 300'000};
    ::setsockopt(h.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    const auto t0 = steady::now();
    round_trip(h, "anyone?", ec);
    CHECK(ec);  // the receive timeout, not an answer
    CHECK(seconds_since(t0) >= 0.25);
    CHECK(proxy.counters().hung == 1);
    proxy.set_hang(false);

    proxy.set_down();
    CHECK(proxy.is_down());
    auto d = connect_to(io, proxy.port(), ec);
    CHECK(ec == net::error::connection_refused);
    // The held connection was reset by down.
    char c;
    read_bounded(h, &c, 1, ec);
    CHECK(ec);

    proxy.set_up();
    CHECK_FALSE(proxy.is_down());
    auto u = connect_to(io, proxy.port(), ec);
    REQUIRE(!ec);
    CHECK(round_trip(u, "back", ec) == 4);
    CHECK(!ec);
}

TEST_CASE("FaultProxy: slow close delays the close the client sees", "[fault][proxy]") {
    EchoServer echo;
    boost::system::error_code ec;
    net::io_context io;
    FaultProxy proxy(echo.port());
    proxy.set_slow_close(500ms);
    auto a = connect_to(io, proxy.port(), ec);
    REQUIRE(!ec);
    CHECK(round_trip(a, "x", ec) == 1);
    // The client half-closes; the proxy waits 500 ms before closing the rest.
    a.shutdown(tcp::socket::shutdown_send, ec);
    const auto t0 = steady::now();
    char c;
    read_bounded(a, &c, 1, ec);
    CHECK(ec == net::error::eof);
    CHECK(seconds_since(t0) >= 0.45);
}
