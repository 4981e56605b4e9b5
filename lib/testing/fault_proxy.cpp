// capi::testing::FaultProxy: plain Asio TCP, one io_context run by one thread,
// so every piece of connection state lives on that thread and needs no lock;
// only the fault settings (written by the test's thread) and the counters are
// shared. Each connection is two coroutines, one per direction, that read a
// chunk, apply the faults in force at that moment and write it on.
#include <capi/testing/fault_proxy.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <future>
#include <mutex>
#include <random>
#include <set>
#include <system_error>
#include <thread>

namespace capi::testing {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

namespace {

struct Settings {
    std::chrono::milliseconds latency{0}, jitter{0};
    std::size_t bandwidth = 0;
    std::size_t slice = 0;
    std::chrono::milliseconds slice_delay{0};
    std::size_t reset_after = 0;
    FaultProxy::Direction reset_direction = FaultProxy::Direction::up;
    std::size_t reset_connections = 0;  // 0: every connection; else how many more
    bool hang = false;
    std::chrono::milliseconds slow_close{0};
};

struct Link {
    Link(net::io_context& io) : client(io), server(io), up_timer(io), down_timer(io) {}
    tcp::socket client, server;
    net::steady_timer up_timer, down_timer;
    bool closed = false;
    std::size_t reset_after = 0;
    FaultProxy::Direction reset_direction = FaultProxy::Direction::up;
    std::size_t sent_up = 0, sent_down = 0;

    /// @locality the proxy thread
    void close(bool reset) noexcept {
        if (closed) return;
        closed = true;
        up_timer.cancel();
        down_timer.cancel();
        boost::system::error_code ec;
        for (tcp::socket* s : {&client, &server}) {
            if (!s->is_open()) continue;
            if (reset) s->set_option(net::socket_base::linger(true, 0), ec);
            else s->shutdown(tcp::socket::shutdown_both, ec);
            s->close(ec);
        }
    }
};

} // namespace

struct FaultProxy::impl {
    const std::string upstream_host;
    const std::uint16_t upstream_port;
    std::uint16_t port = 0;

    mutable std::mutex mu;
    Settings settings;  // guarded by mu

    std::atomic<std::uint64_t> connections{0}, active{0}, max_active{0}, refused{0}, bytes_up{0},
        bytes_down{0}, resets{0}, hung{0};
    std::atomic<bool> down{false};

    // @locality the proxy thread
    std::set<std::shared_ptr<Link>> links;
    std::uint64_t generation = 0;
    std::minstd_rand rng{12345};

    // Destroying the io_context destroys the coroutine frames still pending
    // (they hold the links, and a plain pointer to this object: no cycle), so it
    // goes after the state above and before the acceptor.
    net::io_context io{1};
    tcp::acceptor acceptor{io};
    net::executor_work_guard<net::io_context::executor_type> work{io.get_executor()};
    std::thread thread;

    impl(std::uint16_t up_port, std::string up_host) : upstream_host(std::move(up_host)), upstream_port(up_port) {
        boost::system::error_code ec;
        listen(ec);
        if (ec) throw std::system_error(std::error_code(ec), "capi fault proxy: listen on 127.0.0.1");
    }

    void start() {
        net::co_spawn(io, accept_loop(this, generation), net::detached);
        thread = std::thread([this] {
            for (;;) {
                try {
                    io.run();
                    return;
                } catch (...) {
                    // Nothing escapes the thread; keep serving.
                }
            }
        });
    }

    void listen(boost::system::error_code& ec) {
        const tcp::endpoint ep(net::ip::make_address_v4("127.0.0.1"), port);
        acceptor.open(ep.protocol(), ec);
        if (ec) return;
        acceptor.set_option(net::socket_base::reuse_address(true), ec);
        if (!ec) acceptor.bind(ep, ec);
        if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
        if (!ec) port = acceptor.local_endpoint(ec).port();
        if (ec) {
            boost::system::error_code ignored;
            acceptor.close(ignored);
        }
    }

    Settings snapshot() const {
        std::lock_guard lock(mu);
        return settings;
    }

    /// Runs `f` on the proxy thread and waits for it.
    template <class F>
    void run_sync(F f) {
        if (std::this_thread::get_id() == thread.get_id()) return f();
        // Shared: after a timed-out wait the task may still run.
        auto done = std::make_shared<std::promise<void>>();
        auto fut = done->get_future();
        net::post(io, [f = std::move(f), done] {
            f();
            done->set_value();
        });
        fut.wait_for(5s);
    }

    /// @locality the proxy thread
    static net::awaitable<void> accept_loop(impl* self, std::uint64_t gen) {
        for (;;) {
            boost::system::error_code ec;
            auto link = std::make_shared<Link>(self->io);
            co_await self->acceptor.async_accept(link->client, net::redirect_error(net::use_awaitable, ec));
            if (gen != self->generation || !self->acceptor.is_open()) co_return;
            if (ec) {
                net::steady_timer pause(self->io, 10ms);
                co_await pause.async_wait(net::redirect_error(net::use_awaitable, ec));
                continue;
            }
            self->connections.fetch_add(1);
            const auto now_active = self->active.fetch_add(1) + 1;
            auto seen = self->max_active.load();
            while (now_active > seen && !self->max_active.compare_exchange_weak(seen, now_active)) {
            }
            Settings s;
            {
                std::lock_guard lock(self->mu);
                s = self->settings;
                if (s.reset_after != 0 && s.reset_connections != 0 && --self->settings.reset_connections == 0)
                    self->settings.reset_after = 0;  // the last one that gets it
            }
            link->reset_after = s.reset_after;
            link->reset_direction = s.reset_direction;
            self->links.insert(link);
            net::co_spawn(self->io, s.hang ? hold(self, link) : serve(self, link), net::detached);
        }
    }

    /// @locality the proxy thread
    void forget(const std::shared_ptr<Link>& link) {
        if (links.erase(link) != 0) active.fetch_sub(1);
    }

    /// Hang: read and discard what the client sends, never forward, until the
    /// client or drop_connections/down/stop closes it.
    static net::awaitable<void> hold(impl* self, std::shared_ptr<Link> link) {
        self->hung.fetch_add(1);
        std::array<char, 4096> sink;
        boost::system::error_code ec;
        while (!link->closed) {
            co_await link->client.async_read_some(net::buffer(sink), net::redirect_error(net::use_awaitable, ec));
            if (ec) break;
        }
        link->close(false);
        self->forget(link);
    }

    static net::awaitable<void> serve(impl* self, std::shared_ptr<Link> link) {
        boost::system::error_code ec;
        const tcp::endpoint ep(net::ip::make_address(self->upstream_host, ec), self->upstream_port);
        if (!ec) co_await link->server.async_connect(ep, net::redirect_error(net::use_awaitable, ec));
        if (ec || link->closed) {
            if (ec) self->refused.fetch_add(1);
            link->close(true);
            self->forget(link);
            co_return;
        }
        link->server.set_option(tcp::no_delay(true), ec);
        link->client.set_option(tcp::no_delay(true), ec);
        net::co_spawn(self->io, pipe(self, link, true), net::detached);
        co_await pipe(self, link, false);
    }

    /// Waits `d` on `timer`; false when the link closed meanwhile.
    static net::awaitable<bool> pause(Link& link, net::steady_timer& timer, std::chrono::microseconds d) {
        if (link.closed) co_return false;
        if (d.count() <= 0) co_return true;
        boost::system::error_code ec;
        timer.expires_after(d);
        co_await timer.async_wait(net::redirect_error(net::use_awaitable, ec));
        co_return !link.closed;
    }

    /// One direction of a link: up (client -> server) or down.
    static net::awaitable<void> pipe(impl* self, std::shared_ptr<Link> link, bool up) {
        tcp::socket& from = up ? link->client : link->server;
        tcp::socket& to = up ? link->server : link->client;
        net::steady_timer& timer = up ? link->up_timer : link->down_timer;
        std::array<char, 16 * 1024> buf;
        boost::system::error_code ec;
        auto tok = net::redirect_error(net::use_awaitable, ec);
        for (;;) {
            const std::size_t n = co_await from.async_read_some(net::buffer(buf), tok);
            if (ec || link->closed) break;

            std::size_t allowed = n;
            bool reset = false;
            const bool counted = link->reset_after != 0 && (link->reset_direction == Direction::both ||
                                                           (link->reset_direction == Direction::up) == up);
            if (counted) {
                const std::size_t sent =
                    link->reset_direction == Direction::both ? link->sent_up + link->sent_down
                                                             : (up ? link->sent_up : link->sent_down);
                const std::size_t left = link->reset_after > sent ? link->reset_after - sent : 0;
                if (n >= left) {
                    allowed = left;
                    reset = true;
                }
            }

            const Settings s = self->snapshot();
            auto wait = std::chrono::microseconds(s.latency);
            if (s.jitter.count() > 0)
                wait += std::chrono::microseconds(self->rng() % (std::chrono::microseconds(s.jitter).count() + 1));
            if (!co_await pause(*link, timer, wait)) break;

            std::size_t off = 0;
            bool failed = false;
            while (off < allowed) {
                // Under a bandwidth cap, pieces of 50 ms worth, each followed by its pause.
                std::size_t piece = allowed - off;
                if (s.slice != 0) piece = std::min(piece, s.slice);
                if (s.bandwidth != 0) piece = std::min(piece, std::max<std::size_t>(1, s.bandwidth / 20));
                co_await net::async_write(to, net::buffer(buf.data() + off, piece), tok);
                if (ec) {
                    failed = true;
                    break;
                }
                // Counted even when the link closed meanwhile: the bytes went out.
                off += piece;
                (up ? link->sent_up : link->sent_down) += piece;
                (up ? self->bytes_up : self->bytes_down).fetch_add(piece);
                if (link->closed) {
                    failed = true;
                    break;
                }
                auto gap = std::chrono::microseconds(0);
                if (s.bandwidth != 0)
                    gap += std::chrono::microseconds(static_cast<std::int64_t>(piece * 1'000'000 / s.bandwidth));
                if (s.slice != 0 && off < allowed) gap += std::chrono::duration_cast<std::chrono::microseconds>(s.slice_delay);
                if (!co_await pause(*link, timer, gap)) {
                    failed = true;
                    break;
                }
            }
            if (failed) break;
            if (reset) {
                self->resets.fetch_add(1);
                link->close(true);
                self->forget(link);
                co_return;
            }
        }
        if (!link->closed) {
            // One side closed (or failed): the other is closed too, after slow_close.
            const auto slow = self->snapshot().slow_close;
            // The peer sees the close that late (toxiproxy's slow_close).
            if (slow.count() > 0) co_await pause(*link, timer, slow);
            link->close(false);
        }
        self->forget(link);
    }

    /// @locality the proxy thread
    void close_links(bool reset) {
        auto all = links;
        for (auto& l : all) {
            l->close(reset);
            forget(l);
        }
    }

    void stop() {
        if (!thread.joinable()) return;
        run_sync([this] {
            ++generation;
            boost::system::error_code ec;
            acceptor.close(ec);
            close_links(true);
        });
        work.reset();
        io.stop();
        if (thread.get_id() == std::this_thread::get_id()) thread.detach();
        else thread.join();
        links.clear();
    }
};

FaultProxy::FaultProxy(std::uint16_t upstream_port, std::string upstream_host)
    : impl_(std::make_unique<impl>(upstream_port, std::move(upstream_host))) {
    impl_->start();
}

FaultProxy::~FaultProxy() { impl_->stop(); }

std::uint16_t FaultProxy::port() const noexcept { return impl_->port; }

std::string FaultProxy::url() const { return "https://127.0.0.1:" + std::to_string(impl_->port); }

void FaultProxy::set_latency(std::chrono::milliseconds latency, std::chrono::milliseconds jitter) {
    std::lock_guard lock(impl_->mu);
    impl_->settings.latency = latency;
    impl_->settings.jitter = jitter;
}

void FaultProxy::set_bandwidth(std::size_t bytes_per_second) {
    std::lock_guard lock(impl_->mu);
    impl_->settings.bandwidth = bytes_per_second;
}

void FaultProxy::set_slicer(std::size_t max_piece, std::chrono::milliseconds delay) {
    std::lock_guard lock(impl_->mu);
    impl_->settings.slice = max_piece;
    impl_->settings.slice_delay = delay;
}

void FaultProxy::set_reset_after(std::size_t bytes, Direction direction, std::size_t connections) {
    std::lock_guard lock(impl_->mu);
    impl_->settings.reset_after = bytes;
    impl_->settings.reset_direction = direction;
    impl_->settings.reset_connections = connections;
}

void FaultProxy::set_hang(bool hang) {
    std::lock_guard lock(impl_->mu);
    impl_->settings.hang = hang;
}

void FaultProxy::set_slow_close(std::chrono::milliseconds delay) {
    std::lock_guard lock(impl_->mu);
    impl_->settings.slow_close = delay;
}

void FaultProxy::clear() {
    std::lock_guard lock(impl_->mu);
    impl_->settings = Settings{};
}

void FaultProxy::set_down(bool drop_open) {
    auto* p = impl_.get();
    p->run_sync([p, drop_open] {
        ++p->generation;
        boost::system::error_code ec;
        p->acceptor.close(ec);
        p->down.store(true);
        if (drop_open) p->close_links(true);
    });
}

void FaultProxy::set_up() {
    auto* p = impl_.get();
    p->run_sync([p] {
        if (p->acceptor.is_open()) return;
        boost::system::error_code ec;
        p->listen(ec);
        if (ec) return;  // the port was taken meanwhile: stays down (is_down() tells)
        p->down.store(false);
        net::co_spawn(p->io, impl::accept_loop(p, p->generation), net::detached);
    });
}

bool FaultProxy::is_down() const { return impl_->down.load(); }

void FaultProxy::drop_connections() {
    auto* p = impl_.get();
    p->run_sync([p] { p->close_links(true); });
}

ProxyCounters FaultProxy::counters() const {
    ProxyCounters c;
    c.connections = impl_->connections.load();
    c.active = impl_->active.load();
    c.max_active = impl_->max_active.load();
    c.refused = impl_->refused.load();
    c.bytes_up = impl_->bytes_up.load();
    c.bytes_down = impl_->bytes_down.load();
    c.resets = impl_->resets.load();
    c.hung = impl_->hung.load();
    return c;
}

} // namespace capi::testing
