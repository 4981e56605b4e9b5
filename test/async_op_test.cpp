// The one async adapter (include/capi/detail/async_op.hpp) as every initiating
// function uses it: Client::async_send (both overloads and the vector one),
// Client::async_flush and Sender::async_post, over real TLS to MockGraphServer on
// 127.0.0.1. For each: handlers bound to strand<any_io_executor> and
// strand<io_context::executor_type> run on their strand exactly once; use_awaitable,
// deferred and use_future complete; a terminal cancellation through the slot
// completes at once with errc::cancelled, once.
#include "replace_new.hpp"
#include "support/fixtures.hpp"

#include <capi/client.hpp>
#include <capi/detail/async_op.hpp>
#include <capi/retry.hpp>
#include <capi/sender.hpp>
#include <capi/testing/mock_graph.hpp>
#include <capi/transport.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

namespace {
// Allocations made by the thread that sets `counting`.
thread_local bool counting = false;
std::atomic<long> counted{0};
} // namespace

void* test_malloc(std::size_t n) noexcept {
    if (counting) counted.fetch_add(1, std::memory_order_relaxed);
    return std::malloc(n == 0 ? 1 : n);
}

namespace asio = boost::asio;
using namespace std::chrono_literals;
using capi::errc;
using capi::testing::Fault;
using capi::testing::MockGraphServer;

namespace {

capi::Event make_event(const std::string& id) { return capi_test::purchase_event(id); }

/// The shared options, with the tighter deadlines and linger this suite waits on.
capi::Options options_for(const MockGraphServer& mock) {
    auto o = capi_test::tight_client_options(mock);
    o.linger = 5ms;
    return o;
}

/// The user's io_context, run by two threads so that a strand is a real constraint.
struct Io {
    asio::io_context io{2};
    asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
    std::thread a{[this] { io.run(); }}, b{[this] { io.run(); }};
    ~Io() {
        work.reset();
        io.stop();
        a.join();
        b.join();
    }
};

/// The mock, a client and a Sender over the https transport, all on the user's io_context.
struct Fixture {
    MockGraphServer mock;
    Io io;
    capi::Client client{io.io.get_executor(), options_for(mock)};
    std::unique_ptr<capi::Transport> transport;
    std::unique_ptr<capi::Sender> sender;
    int n = 0;

    Fixture() {
        transport = capi::make_https_transport(io.io.get_executor(), capi_test::transport_options(mock));
        capi::RetryPolicy p;
        p.initial_backoff = 5ms;
        p.max_backoff = 20ms;
        sender = std::make_unique<capi::Sender>(io.io.get_executor(), *transport, p);
    }
    ~Fixture() {
        sender->close();
        transport->close();
        client.shutdown(5s);
    }

    std::string id() { return "op-" + std::to_string(++n); }

    capi::PostRequest request() {
        capi::BatchEncoder enc;
        REQUIRE(enc.add(make_event(id()), std::chrono::system_clock::now()).status == capi::EncodeStatus::added);
        capi::PostRequest r;
        r.pixel_id = "1234567890";
        r.body = std::string(enc.json_body({}, "mock-token"));
        return r;
    }
};

/// The error of a completion as use_awaitable and use_future give it: capi's
/// errors are std::error_code, which Asio hands back as a value (never throws).
std::error_code error_of(const std::error_code& ec) { return ec; }
template <class T>
std::error_code error_of(const std::tuple<std::error_code, T>& t) {
    return std::get<0>(t);
}

constexpr auto no_window = std::chrono::system_clock::time_point::max();

/// Calls f(name, start) for each initiating function; start(fixture, token) starts it.
template <class F>
void for_each_initiation(F&& f) {
    f("async_send(ev)", [](Fixture& fx, auto token) { return fx.client.async_send(make_event(fx.id()), std::move(token)); });
    f("async_send(ev, dest)", [](Fixture& fx, auto token) {
        capi::Destination d;
        d.pixel_id = "1234567890";
        d.access_token = "mock-token";
        return fx.client.async_send(make_event(fx.id()), std::move(d), std::move(token));
    });
    f("async_send(vector)", [](Fixture& fx, auto token) {
        std::vector<capi::Event> evs{make_event(fx.id()), make_event(fx.id())};
        return fx.client.async_send(std::move(evs), std::move(token));
    });
    f("async_flush", [](Fixture& fx, auto token) {
        fx.client.enqueue(make_event(fx.id()));
        return fx.client.async_flush(std::move(token));
    });
    f("Sender::async_post", [](Fixture& fx, auto token) {
        return fx.sender->async_post(fx.request(), no_window, std::move(token));
    });
}

/// Binds a handler to `strand`; checks it runs there, once, with success.
template <class Strand, class Start>
void on_strand(Fixture& fx, Strand strand, Start start, bool cancel) {
    std::atomic<int> calls{0};
    std::atomic<bool> ran_on_strand{false};
    std::atomic<int> error{-1};
    std::atomic<bool> cancelled{false};
    std::promise<void> first;
    asio::cancellation_signal sig;
    // Records only: Catch's assertions are for the test's own thread.
    auto handler = asio::bind_executor(strand, [&, strand](std::error_code ec, auto&&...) {
        ran_on_strand = strand.running_in_this_thread();
        error = ec.value();
        cancelled = ec == errc::cancelled;
        if (calls.fetch_add(1) == 0) first.set_value();
    });
    if (cancel) {
        Fault slow;
        slow.delay = 500ms;
        fx.mock.push_fault(slow);
        start(fx, asio::bind_cancellation_slot(sig.slot(), std::move(handler)));
        std::this_thread::sleep_for(50ms);
        sig.emit(asio::cancellation_type::terminal);
    } else {
        start(fx, std::move(handler));
    }
    REQUIRE(first.get_future().wait_for(10s) == std::future_status::ready);
    // The operation's own outcome arrives later when cancelled: it must not
    // complete the handler a second time.
    std::this_thread::sleep_for(cancel ? 700ms : 20ms);
    CHECK(calls.load() == 1);
    CHECK(ran_on_strand.load());
    if (cancel) CHECK(cancelled.load());
    if (!cancel) CHECK(error.load() == 0);
}

} // namespace

TEST_CASE("async_op: handlers bound to strand<any_io_executor> run on it, once", "[async_op]") {
    for_each_initiation([](const char* name, auto start) {
        SECTION(name) {
            Fixture fx;
            on_strand(fx, asio::make_strand(asio::any_io_executor(fx.io.io.get_executor())), start, false);
        }
    });
}

TEST_CASE("async_op: handlers bound to strand<io_context::executor_type> run on it, once", "[async_op]") {
    for_each_initiation([](const char* name, auto start) {
        SECTION(name) {
            Fixture fx;
            on_strand(fx, asio::make_strand(fx.io.io), start, false);
        }
    });
}

TEST_CASE("async_op: a cancellation through the slot completes once with cancelled, on the strand",
          "[async_op]") {
    for_each_initiation([](const char* name, auto start) {
        SECTION(name) {
            Fixture fx;
            // Flush has no request of its own: a slow send ahead of it keeps it pending.
            on_strand(fx, asio::make_strand(asio::any_io_executor(fx.io.io.get_executor())), start, true);
        }
    });
}

TEST_CASE("async_op: strand<io_context::executor_type> with a cancellation slot", "[async_op]") {
    for_each_initiation([](const char* name, auto start) {
        SECTION(name) {
            Fixture fx;
            on_strand(fx, asio::make_strand(fx.io.io), start, true);
        }
    });
}

TEST_CASE("async_op: use_awaitable completes once", "[async_op]") {
    for_each_initiation([](const char* name, auto start) {
        SECTION(name) {
            Fixture fx;
            std::promise<std::error_code> done;
            asio::co_spawn(
                fx.io.io,
                [&]() -> asio::awaitable<void> {
                    done.set_value(error_of(co_await start(fx, asio::use_awaitable)));
                },
                asio::detached);
            auto f = done.get_future();
            REQUIRE(f.wait_for(10s) == std::future_status::ready);
            CHECK(f.get() == std::error_code{});
        }
    });
}

TEST_CASE("async_op: deferred completes once when launched", "[async_op]") {
    for_each_initiation([](const char* name, auto start) {
        SECTION(name) {
            Fixture fx;
            std::atomic<int> calls{0};
            std::promise<std::error_code> done;
            auto op = start(fx, asio::deferred);
            std::move(op)([&](std::error_code ec, auto&&...) {
                if (calls.fetch_add(1) == 0) done.set_value(ec);
            });
            auto f = done.get_future();
            REQUIRE(f.wait_for(10s) == std::future_status::ready);
            CHECK(f.get() == std::error_code{});
            std::this_thread::sleep_for(20ms);
            CHECK(calls.load() == 1);
        }
    });
}

TEST_CASE("async_op: use_future completes", "[async_op]") {
    for_each_initiation([](const char* name, auto start) {
        SECTION(name) {
            Fixture fx;
            auto f = start(fx, asio::use_future);
            REQUIRE(f.wait_for(10s) == std::future_status::ready);
            CHECK(error_of(f.get()) == std::error_code{});
        }
    });
}

TEST_CASE("async_op: completes once, never inline, and posts to an io_context without allocating",
          "[async_op]") {
    using signature = void(std::error_code, std::string);
    asio::io_context io;
    int calls = 0;
    std::string got;
    auto check = [&](auto op, const char* what) {
        using op_type = typename decltype(op)::element_type;
        INFO(what);
        std::string value(100, 'x');  // past the small-string buffer: moved, not copied
        counted = 0;
        counting = true;
        op_type::complete(op, std::error_code{}, std::move(value));
        op_type::complete(op, capi::make_error_code(errc::cancelled), std::string("late"));
        counting = false;
        CHECK(counted.load() == 0);
        CHECK(calls == 0);  // posted, not run inline
        op.reset();
        io.restart();
        io.run();
        CHECK(calls == 1);
        CHECK(got == std::string(100, 'x'));
        calls = 0;
    };
    auto handler = [&](std::error_code ec, std::string s) {
        CHECK(!ec);
        got = std::move(s);
        ++calls;
    };
    // No associated executor: the fallback, an io_context behind any_io_executor.
    check(capi::detail::make_async_op<signature>(handler, io.get_executor()), "any_io_executor");
    // Bound to the io_context's own executor type.
    check(capi::detail::make_async_op<signature>(asio::bind_executor(io.get_executor(), handler),
                                                 io.get_executor()),
          "io_context::executor_type");
}

TEST_CASE("async_op: a pending operation keeps its handler's io_context running until its handler ran, "
          "or until it is destroyed unrun", "[async_op]") {
    using signature = void(std::error_code);
    int calls = 0;
    auto handler = [&](std::error_code ec) {
        CHECK(!ec);
        ++calls;
    };
    // poll() stops an io_context that has no work left: stopped() tells
    // whether the operation counted as work.
    auto check = [&](asio::io_context& io, auto op, const char* what) {
        using op_type = typename decltype(op)::element_type;
        INFO(what);
        calls = 0;
        io.restart();
        io.poll();
        CHECK_FALSE(io.stopped());  // pending: counted
        op_type::complete(op, std::error_code{});
        op.reset();
        io.run();  // returns once the handler ran and its work is released
        CHECK(calls == 1);
        CHECK(io.stopped());
    };
    auto check_unrun = [&](asio::io_context& io, auto op, const char* what) {
        INFO(what);
        io.restart();
        io.poll();
        CHECK_FALSE(io.stopped());
        op.reset();  // destroyed without completing: its work goes with it
        io.poll();
        CHECK(io.stopped());
    };
    asio::io_context io;
    // An io_context behind any_io_executor (the fallback: no associated executor).
    check(io, capi::detail::make_async_op<signature>(handler, io.get_executor()), "any_io_executor(io_context)");
    check_unrun(io, capi::detail::make_async_op<signature>(handler, io.get_executor()),
                "any_io_executor(io_context), never completed");
    // Something else behind any_io_executor.
    const asio::any_io_executor strand = asio::make_strand(io.get_executor());
    check(io, capi::detail::make_async_op<signature>(asio::bind_executor(strand, handler), io.get_executor()),
          "any_io_executor(strand)");
    check_unrun(io, capi::detail::make_async_op<signature>(asio::bind_executor(strand, handler), io.get_executor()),
                "any_io_executor(strand), never completed");
    // The context's own executor type, bound.
    check(io,
          capi::detail::make_async_op<signature>(asio::bind_executor(io.get_executor(), handler), io.get_executor()),
          "io_context::executor_type");
}

namespace {

/// Operations as Client::async_send makes them, for `io`, each recording its
/// index in `order` when its handler runs.
struct ChainOps {
    std::vector<int> order, cancelled;
    std::shared_ptr<int> alive = std::make_shared<int>(0);  // one count per handler not yet destroyed
    int throw_at = -1;

    template <class Executor>
    std::shared_ptr<capi::detail::send_op> make(int i, const Executor& ex, asio::io_context& fallback) {
        auto handler = asio::bind_executor(ex, [this, i, keep = alive](std::error_code ec, capi::SendResult r) {
            if (ec == errc::cancelled) {
                cancelled.push_back(i);
                return;
            }
            CHECK_FALSE(ec);
            CHECK(r.event_id == "e" + std::to_string(i));
            order.push_back(i);
            if (i == throw_at) throw std::runtime_error("handler");
        });
        return capi::detail::make_send_op(std::move(handler), fallback.get_executor());
    }
    template <class Executor>
    std::vector<std::shared_ptr<capi::detail::send_op>> make_n(int n, const Executor& ex, asio::io_context& io) {
        std::vector<std::shared_ptr<capi::detail::send_op>> ops;
        for (int i = 0; i < n; ++i) ops.push_back(make(i, ex, io));
        return ops;
    }
};

capi::SendResult result_for(int i) {
    capi::SendResult r;
    r.outcome = capi::Outcome::delivered;
    r.event_id = "e" + std::to_string(i);  // within the small-string buffer
    return r;
}

} // namespace

TEST_CASE("completion_chain: a batch's completions on one io_context run from one post, in order, once, "
          "never inline, without allocating",
          "[async_op][chain]") {
    asio::io_context io;
    ChainOps c;
    auto ops = c.make_n(6, io.get_executor(), io);
    // Operation 2 completed before (cancelled): the chain skips it.
    capi::detail::send_op::complete(ops[2], capi::detail::cancelled_result());
    std::vector<capi::SendResult> results;
    for (int i = 0; i < 6; ++i) results.push_back(result_for(i));
    {
        capi::detail::completion_chain chain;
        counted = 0;
        counting = true;
        for (int i = 0; i < 6; ++i) chain.complete(std::move(ops[static_cast<std::size_t>(i)]), std::move(results[static_cast<std::size_t>(i)]));
        chain.post();
        counting = false;
        CHECK(counted.load() == 0);
        CHECK(c.order.empty());  // posted, not run inline
    }
    // The cancelled one's own post, then the chain: two handlers in all.
    CHECK(io.run_one() == 1);
    CHECK(c.cancelled == std::vector<int>{2});
    CHECK(c.order.empty());
    CHECK(io.run_one() == 1);
    CHECK(c.order == std::vector<int>{0, 1, 3, 4, 5});
    CHECK(io.run() == 0);
    CHECK(c.alive.use_count() == 1);  // every operation and handler released
}

TEST_CASE("completion_chain: a handler that throws leaves the ones behind it posted on their own",
          "[async_op][chain]") {
    asio::io_context io;
    ChainOps c;
    c.throw_at = 1;
    auto ops = c.make_n(4, io.get_executor(), io);
    {
        capi::detail::completion_chain chain;
        for (int i = 0; i < 4; ++i) chain.complete(std::move(ops[static_cast<std::size_t>(i)]), result_for(i));
    }  // posted by the destructor
    CHECK_THROWS_AS(io.run(), std::runtime_error);  // as from any handler
    CHECK(c.order == std::vector<int>{0, 1});
    io.restart();
    CHECK(io.run() == 2);  // one post each
    CHECK(c.order == std::vector<int>{0, 1, 2, 3});
    CHECK(c.alive.use_count() == 1);
}

TEST_CASE("completion_chain: other executors are posted at once; a second io_context starts a second chain",
          "[async_op][chain]") {
    asio::io_context io, other;
    auto strand = asio::make_strand(io);
    ChainOps c;
    std::vector<std::shared_ptr<capi::detail::send_op>> ops;
    ops.push_back(c.make(0, io.get_executor(), io));
    ops.push_back(c.make(1, strand, io));               // a strand: posted on its own
    ops.push_back(c.make(2, io.get_executor(), io));
    ops.push_back(c.make(3, other.get_executor(), io));  // another context: the first chain goes
    ops.push_back(c.make(4, other.get_executor(), io));
    {
        capi::detail::completion_chain chain;
        for (int i = 0; i < 5; ++i) chain.complete(std::move(ops[static_cast<std::size_t>(i)]), result_for(i));
        CHECK(c.order.empty());
    }
    CHECK(other.run() == 1);  // 3 and 4 from one post
    CHECK(c.order == std::vector<int>{3, 4});
    io.run();
    std::sort(c.order.begin() + 2, c.order.end());
    CHECK(c.order == std::vector<int>{3, 4, 0, 1, 2});
    CHECK(c.alive.use_count() == 1);
}

TEST_CASE("completion_chain: a chain its io_context never ran is destroyed link by link", "[async_op][chain]") {
    ChainOps c;
    {
        asio::io_context io;
        // Deep enough that destroying the links recursively would exhaust the stack.
        auto ops = c.make_n(200000, io.get_executor(), io);
        capi::detail::completion_chain chain;
        for (std::size_t i = 0; i < ops.size(); ++i) chain.complete(std::move(ops[i]), capi::SendResult{});
        chain.post();
        CHECK(c.alive.use_count() == 200001);
    }  // destroyed with the chain queued
    CHECK(c.order.empty());
    CHECK(c.alive.use_count() == 1);
}
