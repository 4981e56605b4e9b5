// The claims of docs/async.md that no other test makes, checked at run time
// against MockGraphServer over TLS on 127.0.0.1: a callback bound to a strand of
// any_io_executor runs on that strand; a completion is never run inside the
// async_send call; a timeout through awaitable operators completes the wait with
// errc::cancelled while the event itself is still delivered.
#include <capi/client.hpp>
#include <capi/testing/mock_graph.hpp>

#include "support/fixtures.hpp"

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

namespace net = boost::asio;
using namespace std::chrono_literals;
using capi::testing::Fault;
using capi::testing::MockGraphServer;
using capi_test::purchase_event;

TEST_CASE("async.md: a callback bound to a strand of any_io_executor runs on the strand", "[docs][net]") {
    MockGraphServer mock;
    net::io_context io;
    auto work = net::make_work_guard(io);
    std::thread runner([&] { io.run(); });
    {
        capi::Client client(net::any_io_executor(io.get_executor()), capi_test::client_options(mock));
        auto strand = net::make_strand(net::any_io_executor(io.get_executor()));
        std::promise<bool> on_strand;
        std::atomic<bool> returned{false};
        client.async_send(purchase_event("strand-1"),
                          net::bind_executor(strand, [&](std::error_code ec, capi::SendResult r) {
                              CHECK(!ec);
                              CHECK(r.outcome == capi::Outcome::delivered);
                              CHECK(returned.load());  // never inside the call
                              on_strand.set_value(strand.running_in_this_thread());
                          }));
        returned = true;
        auto f = on_strand.get_future();
        REQUIRE(f.wait_for(10s) == std::future_status::ready);
        CHECK(f.get());

        // Even an event refused at once (invalid) is completed through a post to
        // the handler's executor, never inside the call: bound to an io_context
        // nobody runs yet, it cannot have run when the call returns.
        net::io_context later;
        bool ran = false;
        capi::Event bad = purchase_event("bad");
        bad.event_name.clear();
        client.async_send(std::move(bad), net::bind_executor(later, [&](std::error_code ec, capi::SendResult r) {
                              CHECK(ec == capi::errc::invalid_event);
                              CHECK(r.outcome == capi::Outcome::rejected);
                              ran = true;
                          }));
        CHECK(!ran);
        later.run_for(10s);  // returns once the handler ran (its work guard is released)
        CHECK(ran);
        client.shutdown(5s);
    }
    work.reset();
    runner.join();
}

TEST_CASE("async.md: a timeout with awaitable operators ends the wait, not the event", "[docs][net]") {
    MockGraphServer mock;
    Fault slow;  // Meta answers after 500 ms; the caller waits 100 ms
    slow.delay = 500ms;
    mock.push_fault(slow);
    capi::Client client(capi_test::client_options(mock));
    using namespace boost::asio::experimental::awaitable_operators;
    auto f = net::co_spawn(
        client.get_executor(),
        [&]() -> net::awaitable<std::size_t> {
            net::steady_timer timer(co_await net::this_coro::executor, 100ms);
            auto first = co_await (client.async_send(purchase_event("slow-1"), net::use_awaitable) ||
                                   timer.async_wait(net::use_awaitable));
            co_return first.index();
        },
        net::use_future);
    REQUIRE(f.wait_for(10s) == std::future_status::ready);
    CHECK(f.get() == 1);  // the timer won
    CHECK(client.flush(10s));
    const auto s = client.stats();
    CHECK(s.delivered == 1);  // the event went on and was delivered
    CHECK(mock.events_accepted() == 1);
}
