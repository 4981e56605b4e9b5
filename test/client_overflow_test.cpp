// capi::Client under back pressure and outages: the three overflow policies with
// a stalled mock, and flush/shutdown while the mock hangs or answers 503. Real TLS
// to MockGraphServer on 127.0.0.1; every test is bounded in time.
#include <capi/client.hpp>
#include <capi/testing/mock_graph.hpp>

#include "support/client_checks.hpp"
#include "support/fixtures.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <future>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace asio = boost::asio;
using namespace std::chrono_literals;
using capi::errc;
using capi::Outcome;
using capi::testing::Fault;
using capi::testing::MockGraphServer;
using capi_test::check_balanced;
using capi_test::hang_fault;
using capi_test::ids_accepted;
using capi_test::numbered;
using capi_test::purchase_event;
using capi_test::tight_client_options;
using capi_test::wait_for;
using steady = std::chrono::steady_clock;

namespace {
/// A client whose single in-flight slot hangs on the mock, so the queue fills.
/// One event per batch, one batch on the wire, a queue of `capacity`: the queue
/// fills as soon as the mock is slow.
capi::Options one_at_a_time(const MockGraphServer& mock, std::size_t capacity, capi::Overflow policy) {
    auto opts = tight_client_options(mock);
    opts.queue_capacity = capacity;
    opts.overflow = policy;
    opts.encode.max_batch_events = 1;
    opts.transport.max_in_flight = 1;
    opts.transport.max_connections = 1;
    return opts;
}

capi::Options stalled_options(MockGraphServer& mock, capi::Overflow policy) {
    for (int i = 0; i < 64; ++i) mock.push_fault(hang_fault());
    auto opts = one_at_a_time(mock, 4, policy);
    opts.transport.request_timeout = 10s;
    opts.retry.max_attempts = 1;
    return opts;
}
} // namespace

TEST_CASE("overflow: reject counts queue_full", "[client][overflow]") {
    MockGraphServer mock;
    capi::Client client(stalled_options(mock, capi::Overflow::reject));
    int full = 0, ok = 0;
    for (int i = 0; i < 100; ++i) {
        auto r = client.enqueue(purchase_event(numbered("r", i)));
        (r ? ok : full) += 1;
        if (!r) CHECK(r.status == capi::EnqueueResult::Status::queue_full);
        std::this_thread::sleep_for(100us);
    }
    CHECK(full > 0);
    // Bounded with caller batches too: past the back pressure a caller seals at
    // most queue_capacity events' worth of batches, then its events take the
    // queue and the policy (here: a handful of events in all, not 100).
    CHECK(ok < 32);
    auto s = client.stats();
    CHECK(s.rejected_full == static_cast<std::uint64_t>(full));
    CHECK(s.accepted == static_cast<std::uint64_t>(ok));
    check_balanced(s);
    const auto t0 = steady::now();
    CHECK_FALSE(client.shutdown(100ms));
    CHECK(steady::now() - t0 < 3s);
    s = client.stats();
    CHECK(s.failed == static_cast<std::uint64_t>(ok));
    CHECK(s.queued + s.in_flight == 0);
    check_balanced(s);
}

TEST_CASE("overflow: drop_oldest reports and counts the dropped", "[client][overflow]") {
    MockGraphServer mock;
    auto opts = stalled_options(mock, capi::Overflow::drop_oldest);
    std::mutex m;
    std::map<Outcome, int> outcomes;
    std::map<std::string, int> per_id;
    int dropped_wrong_error = 0;
    opts.on_delivery = [&](const capi::SendResult& r) {
        std::lock_guard lock(m);
        ++outcomes[r.outcome];
        ++per_id[r.event_id];
        if (r.outcome == Outcome::dropped && r.error != errc::queue_full) ++dropped_wrong_error;
    };
    capi::Client client(opts);
    for (int i = 0; i < 100; ++i) {
        CHECK(client.enqueue(purchase_event(numbered("d", i))));
        std::this_thread::sleep_for(100us);
    }
    auto s = client.stats();
    CHECK(s.accepted == 100);
    CHECK(s.dropped > 0);
    CHECK(s.rejected_full == 0);
    check_balanced(s);
    CHECK_FALSE(client.shutdown(100ms));
    s = client.stats();
    check_balanced(s);
    CHECK(s.queued + s.in_flight == 0);
    std::lock_guard lock(m);
    CHECK(static_cast<std::uint64_t>(outcomes[Outcome::dropped]) == s.dropped);
    CHECK(dropped_wrong_error == 0);
    CHECK(per_id.size() == 100);
    for (const auto& [id, c] : per_id) CHECK(c == 1);
}

TEST_CASE("overflow: block makes async_send wait, then succeed", "[client][overflow]") {
    MockGraphServer mock;
    for (int i = 0; i < 6; ++i) {
        Fault f;
        f.delay = 100ms;  // slow, then normal service
        mock.push_fault(f);
    }
    capi::Client client(one_at_a_time(mock, 2, capi::Overflow::block));
    constexpr int n = 20;
    std::atomic<int> done{0}, delivered{0};
    for (int i = 0; i < n; ++i) {
        client.async_send(purchase_event(numbered("b", i)), [&](std::error_code ec, capi::SendResult r) {
            if (!ec && r.outcome == Outcome::delivered) ++delivered;
            ++done;
        });
    }
    CHECK(client.stats().accepted < static_cast<std::uint64_t>(n));  // some are waiting for room
    REQUIRE(wait_for([&] { return done.load() == n; }, 20s));
    CHECK(delivered.load() == n);
    auto s = client.stats();
    CHECK(s.rejected_full == 0);
    CHECK(s.delivered == static_cast<std::uint64_t>(n));
    check_balanced(s);
}

TEST_CASE("overflow: block, cancelling a waiting async_send withdraws its event", "[client][overflow]") {
    MockGraphServer mock;
    Fault slow;
    slow.delay = 800ms;  // the first batch holds the only slot: the queue fills
    mock.push_fault(slow);
    capi::Client client(one_at_a_time(mock, 2, capi::Overflow::block));
    constexpr int n = 12;
    std::vector<asio::cancellation_signal> signals(n);
    std::atomic<int> done{0}, cancelled{0};
    for (int i = 0; i < n; ++i) {
        client.async_send(purchase_event(numbered("w", i)),
                          asio::bind_cancellation_slot(signals[static_cast<std::size_t>(i)].slot(),
                                                       [&](std::error_code ec, capi::SendResult) {
                                                           if (ec == capi::errc::cancelled) ++cancelled;
                                                           ++done;
                                                       }));
    }
    // Let the pipeline fill: the first event in the Sender, a few held, the rest wait.
    std::this_thread::sleep_for(100ms);
    const auto before = client.stats().accepted;
    REQUIRE(before < static_cast<std::uint64_t>(n));
    // Cancel every operation; the emit runs where the slot's handler must run.
    for (auto& sig : signals) sig.emit(asio::cancellation_type::terminal);
    REQUIRE(wait_for([&] { return done.load() == n; }, 10s));
    CHECK(cancelled.load() == n);
    REQUIRE(client.flush(10s));
    std::this_thread::sleep_for(50ms);  // a withdrawn event would have been retried within 5 ms
    auto s = client.stats();
    CHECK(s.accepted <= before + 1);  // at most one slipped in between the sample and the cancel
    CHECK(s.accepted < static_cast<std::uint64_t>(n));
    // The mock got exactly the accepted events: the withdrawn ones never left.
    std::size_t received = 0;
    for (const auto& [id, k] : ids_accepted(mock)) received += static_cast<std::size_t>(k);
    CHECK(received == s.delivered);
    CHECK(s.delivered == s.accepted);
    check_balanced(s);
}

TEST_CASE("flush and shutdown during an outage", "[client][outage]") {
    SECTION("the mock hangs") {
        MockGraphServer mock;
        for (int i = 0; i < 64; ++i) mock.push_fault(hang_fault());
        auto opts = tight_client_options(mock);
        std::atomic<int> reports{0}, not_shutdown{0};
        opts.on_delivery = [&](const capi::SendResult& r) {
            ++reports;
            if (r.outcome != Outcome::failed || r.error != errc::shutdown) ++not_shutdown;
        };
        capi::Client client(opts);
        for (int i = 0; i < 50; ++i) REQUIRE(client.enqueue(purchase_event(numbered("h", i))));
        CHECK_FALSE(client.flush(150ms));
        const auto t0 = steady::now();
        CHECK_FALSE(client.shutdown(150ms));
        CHECK(steady::now() - t0 < 3s);
        auto s = client.stats();
        CHECK(s.failed == 50);
        CHECK(s.queued + s.in_flight == 0);
        check_balanced(s);
        CHECK(reports.load() == 50);
        CHECK(not_shutdown.load() == 0);
        CHECK(client.enqueue(purchase_event("late")).status == capi::EnqueueResult::Status::shutdown);
        CHECK(client.shutdown(1s) == false);  // idempotent
    }
    SECTION("the mock answers 503") {
        MockGraphServer mock;
        for (int i = 0; i < 1000; ++i) {
            Fault f;
            f.status = 503;
            f.body = "unavailable";
            mock.push_fault(f);
        }
        auto opts = tight_client_options(mock);
        opts.retry.initial_backoff = 50ms;
        opts.retry.max_backoff = 200ms;
        opts.retry.max_attempts = 1000;
        capi::Client client(opts);
        std::promise<std::error_code> p;
        client.async_send(purchase_event("u1"), [&](std::error_code ec, capi::SendResult) { p.set_value(ec); });
        for (int i = 0; i < 20; ++i) REQUIRE(client.enqueue(purchase_event(numbered("u", i + 2))));
        CHECK_FALSE(client.flush(200ms));
        const auto t0 = steady::now();
        CHECK_FALSE(client.shutdown(100ms));
        CHECK(steady::now() - t0 < 3s);
        auto f = p.get_future();
        REQUIRE(f.wait_for(5s) == std::future_status::ready);
        CHECK(f.get() == errc::shutdown);
        auto s = client.stats();
        CHECK(s.failed == 21);
        CHECK(s.queued + s.in_flight == 0);
        check_balanced(s);
    }
}
