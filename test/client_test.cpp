// capi::Client end to end: real TLS to MockGraphServer on 127.0.0.1. Every test
// is bounded in time (small linger, short deadlines, bounded waits).
#include <capi/client.hpp>
#include <capi/testing/mock_graph.hpp>
#include <capi/sender.hpp>

#include "client/pipeline.hpp"
#include "json/prepared.hpp"
#include "support/client_checks.hpp"
#include "support/fixtures.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

using capi::detail::batch_access;

namespace asio = boost::asio;
using namespace std::chrono_literals;
using capi::errc;
using capi::Outcome;
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

/// A user io_context run by one thread, for tests on the user's executor.
struct IoThread {
    asio::io_context io{1};
    asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
    std::thread thread{[this] { io.run(); }};
    ~IoThread() { stop(); }
    void stop() {
        work.reset();
        io.stop();
        if (thread.joinable()) thread.join();
    }
};

} // namespace

TEST_CASE("one event through async_send with a callback is delivered", "[client]") {
    MockGraphServer mock;
    capi::Client client(tight_client_options(mock));
    std::promise<std::pair<std::error_code, capi::SendResult>> p;
    client.async_send(purchase_event("one-1"), [&](std::error_code ec, capi::SendResult r) {
        p.set_value({ec, std::move(r)});
    });
    auto f = p.get_future();
    REQUIRE(f.wait_for(10s) == std::future_status::ready);
    auto [ec, r] = f.get();
    CHECK(!ec);
    CHECK(r.outcome == Outcome::delivered);
    CHECK(r.event_id == "one-1");
    CHECK(r.attempts == 1);
    CHECK(!r.fbtrace_id.empty());
    auto ids = ids_accepted(mock);
    CHECK(ids["one-1"] == 1);
    auto s = client.stats();
    CHECK(s.accepted == 1);
    CHECK(s.delivered == 1);
    CHECK(s.batches == 1);
    CHECK(s.latency_us.count == 1);
    CHECK(s.latency_us.percentile(0.5) > 0);
    check_balanced(s);
    CHECK(capi::to_string(Outcome::delivered) == "delivered");
}

TEST_CASE("EventIdMode::random: events without an event_id get a random one, unless assign_event_id is off", "[client]") {
    MockGraphServer mock;
    auto is_hex32 = [](const std::string& id) {
        return id.size() == 32 &&
               std::all_of(id.begin(), id.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
    };
    std::set<std::string> reported;
    {
        auto o = tight_client_options(mock);
        o.event_ids = capi::EventIdMode::random;  // 50 identical events: 50 ids
        std::mutex m;
        o.on_delivery = [&](const capi::SendResult& r) {
            std::lock_guard lock(m);
            reported.insert(r.event_id);
        };
        capi::Client client(std::move(o));
        for (int i = 0; i < 50; ++i) {
            auto ev = purchase_event("x");
            ev.event_id.reset();
            REQUIRE(client.enqueue(std::move(ev)));
        }
        REQUIRE(client.flush(10s));
        REQUIRE(client.shutdown(5s));
    }
    CHECK(reported.size() == 50);  // distinct
    for (const auto& id : reported) CHECK(is_hex32(id));
    auto ids = ids_accepted(mock);
    CHECK(ids.size() == 50);
    for (const auto& [id, n] : ids) {
        CHECK(reported.count(id) == 1);  // what Meta got is what the report said
        CHECK(n == 1);
    }

    auto o = tight_client_options(mock);
    o.assign_event_id = false;
    capi::Client client(std::move(o));
    auto ev = purchase_event("y");
    ev.event_id.reset();
    auto fut = client.async_send(std::move(ev), asio::use_future);
    REQUIRE(fut.wait_for(10s) == std::future_status::ready);
    auto [ec, r] = fut.get();
    CHECK(!ec);
    CHECK(r.event_id.empty());
    CHECK(ids_accepted(mock).count("") == 1);  // sent without one
}

TEST_CASE("EventIdMode::none sends events without an id", "[client]") {
    MockGraphServer mock;
    auto o = tight_client_options(mock);
    o.event_ids = capi::EventIdMode::none;
    capi::Client client(std::move(o));
    auto ev = purchase_event("z");
    ev.event_id.reset();
    auto fut = client.async_send(std::move(ev), asio::use_future);
    REQUIRE(fut.wait_for(10s) == std::future_status::ready);
    auto [ec, r] = fut.get();
    CHECK(!ec);
    CHECK(r.outcome == Outcome::delivered);
    CHECK(r.event_id.empty());
    CHECK(ids_accepted(mock).count("") == 1);
}

TEST_CASE("EventIdMode::deterministic (the default): same event same id, in any client; different events different ids",
          "[client]") {
    MockGraphServer mock;
    CHECK(capi::Options{}.event_ids == capi::EventIdMode::deterministic);
    CHECK(capi::to_string(capi::EventIdMode::deterministic) == "deterministic");
    const auto now = std::chrono::system_clock::now();
    auto event = [&](int i) {
        auto ev = purchase_event(capi_test::numbered("user", i), now);
        ev.event_id.reset();
        return ev;
    };
    capi::Destination other;
    other.pixel_id = "555";
    other.access_token = "mock-token";
    // One client's ids of events 0..19, then event 0 again, then event 0 to another pixel.
    auto run = [&] {
        capi::Client client(tight_client_options(mock));
        std::vector<std::string> ids;
        auto send = [&](capi::Event ev, std::optional<capi::Destination> d) {
            auto fut = d ? client.async_send(std::move(ev), *d, asio::use_future)
                         : client.async_send(std::move(ev), asio::use_future);
            REQUIRE(fut.wait_for(10s) == std::future_status::ready);
            auto [ec, r] = fut.get();
            CHECK(!ec);
            CHECK(r.outcome == Outcome::delivered);
            ids.push_back(r.event_id);
        };
        for (int i = 0; i < 20; ++i) send(event(i), std::nullopt);
        send(event(0), std::nullopt);
        send(event(0), other);
        REQUIRE(client.shutdown(5s));
        return ids;
    };
    const auto first = run();
    const auto second = run();  // another client: nothing shared but the bytes
    REQUIRE(first.size() == 22);
    CHECK(first == second);
    const std::set<std::string> distinct(first.begin(), first.begin() + 20);
    CHECK(distinct.size() == 20);  // different PII, different ids
    CHECK(first[20] == first[0]);  // the same event again
    CHECK(first[21] != first[0]);  // the same event to another pixel
    for (const auto& id : first) {
        CHECK(id.size() == 32);
        CHECK(id.find_first_not_of("0123456789abcdef") == std::string::npos);
    }
    // What Meta got is what the results said: each id of events 1..19 twice
    // (two clients), event 0's four times, the other pixel's twice.
    auto got = ids_accepted(mock);
    CHECK(got.size() == 21);
    for (int i = 1; i < 20; ++i) CHECK(got[first[static_cast<std::size_t>(i)]] == 2);
    CHECK(got[first[0]] == 4);
    CHECK(got[first[21]] == 2);
    // An event with its own id keeps it.
    capi::Client client(tight_client_options(mock));
    auto own = event(0);
    own.event_id = "order-1";
    auto fut = client.async_send(std::move(own), asio::use_future);
    REQUIRE(fut.wait_for(10s) == std::future_status::ready);
    CHECK(std::get<1>(fut.get()).event_id == "order-1");
}

TEST_CASE("10,000 concurrent co_await async_send on one io_context thread", "[client]") {
    MockGraphServer mock;
    IoThread io;
    constexpr int n = 10'000;
    std::atomic<int> done{0}, delivered{0};
    {
        capi::Client client(io.io.get_executor(), tight_client_options(mock));
        for (int i = 0; i < n; ++i) {
            asio::co_spawn(
                io.io,
                [&client, &done, &delivered, i]() -> asio::awaitable<void> {
                    auto [ec, r] = co_await client.async_send(purchase_event(numbered("co-", i)),
                                                              asio::use_awaitable);
                    if (!ec && r.outcome == Outcome::delivered) ++delivered;
                    ++done;
                },
                asio::detached);
        }
        REQUIRE(wait_for([&] { return done.load() == n; }, 30s));
        CHECK(delivered.load() == n);
        auto s = client.stats();
        CHECK(s.delivered == n);
        CHECK(s.queued == 0);
        CHECK(s.in_flight == 0);
        check_balanced(s);
        CHECK(client.shutdown(2s));
    }
    auto ids = ids_accepted(mock);
    CHECK(ids.size() == static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) REQUIRE(ids[numbered("co-", i)] == 1);
}

TEST_CASE("co_await async_send(ev, deferred) in a coroutine: delivered, rejected, cancelled through the "
          "coroutine's own slot", "[client]") {
    MockGraphServer mock;
    IoThread io;
    capi::Client client(io.io.get_executor(), tight_client_options(mock));
    // Delivered and rejected: the outcome as a tuple, no exception, no coroutine
    // frame for the operation (Asio awaits a deferred operation directly).
    std::promise<std::pair<capi::SendResult, capi::SendResult>> both;
    asio::co_spawn(
        io.io,
        [&]() -> asio::awaitable<void> {
            auto [ec1, ok] = co_await client.async_send(purchase_event("deferred-co-1"), asio::deferred);
            auto bad = purchase_event("deferred-co-bad");
            bad.event_name.clear();
            auto [ec2, refused] = co_await client.async_send(bad, asio::deferred);
            CHECK_FALSE(ec1);
            CHECK(ec2 == errc::invalid_event);
            both.set_value({std::move(ok), std::move(refused)});
        },
        asio::detached);
    auto f = both.get_future();
    REQUIRE(f.wait_for(10s) == std::future_status::ready);
    auto [ok, refused] = f.get();
    CHECK(ok.outcome == Outcome::delivered);
    CHECK(ok.event_id == "deferred-co-1");
    CHECK(refused.outcome == Outcome::rejected);
    REQUIRE_FALSE(refused.invalid.empty());
    CHECK(refused.invalid.front().path == "event_name");
    CHECK(ids_accepted(mock).count("deferred-co-1") == 1);

    // Cancelled: a terminal cancellation of the coroutine reaches the operation
    // it awaits, which completes with errc::cancelled while its event goes on.
    mock.push_fault(hang_fault());
    asio::cancellation_signal signal;
    std::promise<std::error_code> cancelled;
    asio::co_spawn(
        io.io,
        [&]() -> asio::awaitable<void> {
            auto [ec, r] = co_await client.async_send(purchase_event("deferred-co-2"), asio::deferred);
            cancelled.set_value(ec);
        },
        asio::bind_cancellation_slot(signal.slot(), asio::detached));
    REQUIRE(wait_for([&] { return client.stats().in_flight == 1; }, 10s));
    asio::post(io.io, [&] { signal.emit(asio::cancellation_type::terminal); });
    auto c = cancelled.get_future();
    REQUIRE(c.wait_for(5s) == std::future_status::ready);
    CHECK(c.get() == errc::cancelled);
    auto s = client.stats();
    CHECK(s.accepted == 2);
    CHECK(s.delivered == 1);
    CHECK(s.rejected == 1);
    CHECK_FALSE(client.shutdown(100ms));  // the hung request's event fails
    check_balanced(client.stats());
}

TEST_CASE("8 producer threads enqueue, flush, counters balance", "[client]") {
    MockGraphServer mock;
    auto opts = tight_client_options(mock);
    opts.queue_capacity = 1 << 16;
    std::atomic<std::uint64_t> reports{0};
    opts.on_delivery = [&](const capi::SendResult&) { reports.fetch_add(1, std::memory_order_relaxed); };
    // 8 x 100,000 as the issue asks; CAPI_TEST_SCALE=4 divides it (TSan runs).
    int per = 100'000;
    if (const char* sc = std::getenv("CAPI_TEST_SCALE")) per /= std::max(1, std::atoi(sc));
    constexpr int producers = 8;
    const std::uint64_t total = static_cast<std::uint64_t>(per) * producers;
    capi::Client client(opts);

    // Events are built before the clock starts: the test measures the client.
    std::vector<std::vector<capi::Event>> events(producers);
    for (int t = 0; t < producers; ++t) {
        events[t].reserve(per);
        for (int i = 0; i < per; ++i) {
            std::string id = std::to_string(t);  // piecewise: GCC 12 -Wrestrict false positive on a + b
            id += numbered("-", i);
            events[t].push_back(purchase_event(id));
        }
    }
    std::atomic<std::uint64_t> full_retries{0}, other_status{0};  // Catch is not thread-safe: no REQUIRE in threads
    const auto t0 = steady::now();
    std::vector<std::thread> threads;
    for (int t = 0; t < producers; ++t) {
        threads.emplace_back([&, t] {
            for (auto& ev : events[t]) {
                for (;;) {
                    auto r = client.enqueue(ev);  // a copy: kept for a retry on queue_full
                    if (r) break;
                    if (r.status != capi::EnqueueResult::Status::queue_full) {
                        other_status.fetch_add(1);
                        break;
                    }
                    full_retries.fetch_add(1, std::memory_order_relaxed);
                    std::this_thread::sleep_for(100us);
                }
            }
        });
    }
    for (auto& th : threads) th.join();
    REQUIRE(other_status.load() == 0);
    REQUIRE(client.flush(60s));
    const auto secs = std::chrono::duration<double>(steady::now() - t0).count();
    WARN(total << " events in " << secs << " s: " << static_cast<double>(total) / secs << " events/s; "
               << full_retries.load() << " queue_full retries");
    auto s = client.stats();
    CHECK(s.accepted == total);
    CHECK(s.delivered == total);
    CHECK(s.queued == 0);
    CHECK(s.in_flight == 0);
    CHECK(s.failed == 0);
    check_balanced(s);
    CHECK(reports.load() == total);
    CHECK(s.batch_events.percentile(0.99) <= 1024);
    auto ids = ids_accepted(mock);
    CHECK(ids.size() == total);
    std::size_t dup = 0;
    for (const auto& [id, c] : ids) dup += c != 1;
    CHECK(dup == 0);
    CHECK(mock.events_accepted() == total);
}

TEST_CASE("batches seal at max_batch_events: 1, 1000, 1000+1", "[client]") {
    for (int n : {1, 1000, 1001}) {
        MockGraphServer mock;
        auto opts = tight_client_options(mock);
        opts.linger = std::chrono::milliseconds(60'000);
        capi::Client client(opts);
        for (int i = 0; i < n; ++i) REQUIRE(client.enqueue(purchase_event(numbered("s", i))));
        REQUIRE(client.flush(20s));
        std::multiset<std::size_t> sizes;
        for (const auto& r : mock.requests()) sizes.insert(r.events);
        INFO("n = " << n);
        if (n == 1) CHECK(sizes == std::multiset<std::size_t>{1});
        if (n == 1000) CHECK(sizes == std::multiset<std::size_t>{1000});
        if (n == 1001) CHECK(sizes == std::multiset<std::size_t>{1, 1000});
        CHECK(client.stats().delivered == static_cast<std::uint64_t>(n));
    }
}

TEST_CASE("a body the transport still holds after its outcome is never reused", "[client]") {
    // The client sends each batch straight from its encoder's buffer
    // (PostRequest::shared_body). A transport may keep the body's owner after it
    // reported the outcome (e.g. a request object freed later): the encoder must
    // not go back to the pool, and a later batch must not write into those bytes.
    class HoldingTransport final : public capi::Transport {
    public:
        explicit HoldingTransport(std::shared_ptr<capi::Transport> inner) : inner_(std::move(inner)) {}
        void post(capi::PostRequest request, handler done) override {
            inner_->post(std::move(request), std::move(done));
        }
        void post_shared(const capi::PostRequest& request, capi::SharedBody body, handler done) override {
            {
                std::lock_guard lock(mu_);
                held_.push_back(body);
                copies_.emplace_back(body.bytes);
            }
            inner_->post_shared(request, std::move(body), std::move(done));
        }
        void close() override { inner_->close(); }
        /// Bodies whose bytes changed since they were posted.
        std::size_t changed() const {
            std::lock_guard lock(mu_);
            std::size_t n = 0;
            for (std::size_t i = 0; i < held_.size(); ++i) n += held_[i].bytes != copies_[i];
            return n;
        }
        std::size_t posts() const {
            std::lock_guard lock(mu_);
            return held_.size();
        }

    private:
        std::shared_ptr<capi::Transport> inner_;
        mutable std::mutex mu_;
        std::vector<capi::SharedBody> held_;
        std::vector<std::string> copies_;
    };

    MockGraphServer mock;
    IoThread net;
    auto opts = tight_client_options(mock);
    auto transport =
        std::make_shared<HoldingTransport>(capi::make_https_transport(net.io.get_executor(), opts.transport));
    opts.custom_transport = transport;
    opts.encode.max_batch_events = 10;
    capi::Client client(opts);
    // One batch at a time, each delivered before the next is built: with the
    // encoder recycled at the outcome, every batch would reuse the first one's.
    constexpr int batches = 5;
    for (int b = 0; b < batches; ++b) {
        for (int i = 0; i < 10; ++i) REQUIRE(client.enqueue(purchase_event(numbered("hold", b * 10 + i))));
        REQUIRE(client.flush(20s));
    }
    CHECK(client.stats().delivered == batches * 10);
    REQUIRE(transport->posts() == batches);
    CHECK(transport->changed() == 0);
    CHECK(ids_accepted(mock).size() == batches * 10);
    client.shutdown(5s);
    net.stop();
}

TEST_CASE("a client destroyed with a request whose callback is never called is freed", "[client]") {
    // As when the io_context running a transport is destroyed with a request on
    // the wire: the transport's callback is destroyed uncalled. Nothing may keep
    // the client alive then (a Sender that owned its unfinished operations kept
    // them, their completions, and through those the whole client, forever).
    class SwallowingTransport final : public capi::Transport {
    public:
        void post(capi::PostRequest, handler done) override { keep(std::move(done)); }
        void post_shared(const capi::PostRequest&, capi::SharedBody, handler done) override { keep(std::move(done)); }
        void close() override {}
        std::size_t held() const {
            std::lock_guard lock(mu_);
            return held_.size();
        }
        void drop() {
            std::vector<handler> gone;
            {
                std::lock_guard lock(mu_);
                gone.swap(held_);
            }
        }

    private:
        void keep(handler done) {
            std::lock_guard lock(mu_);
            held_.push_back(std::move(done));
        }
        mutable std::mutex mu_;
        std::vector<handler> held_;
    };

    MockGraphServer mock;  // for the options only: nothing reaches it
    // The io_context outlives the client, as a server's does: the operation
    // (and its timer on that io_context) may die after the client.
    IoThread user;
    auto transport = std::make_shared<SwallowingTransport>();
    {
        auto opts = tight_client_options(mock);
        opts.custom_transport = transport;
        capi::Client client(user.io.get_executor(), opts);
        REQUIRE(client.enqueue(purchase_event("swallowed")));
        REQUIRE(wait_for([&] { return transport->held() == 1; }, 10s));
        CHECK_FALSE(client.shutdown(50ms));  // the request never ends: failed as shutdown
        CHECK(client.stats().failed == 1);
    }
    CHECK(transport.use_count() > 1);  // the callback still holds the operation
    transport->drop();
    CHECK(transport.use_count() == 1);  // and nothing else held the client
    user.stop();
}

TEST_CASE("duplicate event_ids: all sent, counted within a batch only", "[client]") {
    MockGraphServer mock;
    auto opts = tight_client_options(mock);
    opts.linger = std::chrono::milliseconds(60'000);  // one batch per flush
    opts.batchers = 1;
    capi::Client client(opts);
    for (const char* id : {"d", "d", "e", "d", "f", "e"}) REQUIRE(client.enqueue(purchase_event(id)));
    for (int i = 0; i < 3; ++i) {  // assigned ids are not counted (these three share one derived id)
        auto ev = purchase_event("");
        ev.event_id.reset();
        REQUIRE(client.enqueue(std::move(ev)));
    }
    REQUIRE(client.flush(20s));
    CHECK(client.stats().duplicate_ids == 3);  // d twice more, e once more
    REQUIRE(client.enqueue(purchase_event("d")));  // the next batch: not a duplicate of the last one's
    REQUIRE(client.flush(20s));
    const auto s = client.stats();
    CHECK(s.duplicate_ids == 3);
    CHECK(s.delivered == 10);
    CHECK(mock.requests().size() == 2);
    const auto ids = ids_accepted(mock);
    CHECK(ids.at("d") == 4);
    CHECK(ids.at("e") == 2);
}

TEST_CASE("linger seals a lone event", "[client]") {
    MockGraphServer mock;
    auto opts = tight_client_options(mock);
    opts.linger = 20ms;
    capi::Client client(opts);
    const auto t0 = steady::now();
    REQUIRE(client.enqueue(purchase_event("lone")));
    REQUIRE(wait_for([&] { return client.stats().delivered == 1; }, 5s));
    const auto took = steady::now() - t0;
    CHECK(took >= 20ms);
    CHECK(took < 2s);
    REQUIRE(mock.requests().size() == 1);
    CHECK(mock.requests()[0].events == 1);
}

TEST_CASE("a poisoned batch is split: only the bad event fails", "[client][split]") {
    MockGraphServer mock;
    auto opts = tight_client_options(mock);
    opts.linger = 50ms;
    capi::Client client(opts);
    std::vector<capi::Event> evs;
    for (int i = 0; i < 10; ++i) evs.push_back(purchase_event(numbered("p", i)));
    evs[6].extra = {{"unknown_key", "1"}};
    auto fut = client.async_send(std::move(evs), asio::use_future);
    REQUIRE(fut.wait_for(20s) == std::future_status::ready);
    auto [ec, results] = fut.get();
    REQUIRE(results.size() == 10);
    CHECK(ec == errc::graph_error);
    for (int i = 0; i < 10; ++i) {
        INFO("event " << i);
        CHECK(results[i].event_id == numbered("p", i));
        if (i == 6) {
            CHECK(results[i].outcome == Outcome::failed);
            REQUIRE(results[i].graph);
            CHECK(results[i].graph->code == 100);
        } else {
            CHECK(results[i].outcome == Outcome::delivered);
        }
    }
    auto s = client.stats();
    CHECK(s.splits >= 1);
    CHECK(s.delivered == 9);
    CHECK(s.failed == 1);
    auto ids = ids_accepted(mock);
    CHECK(ids.size() == 9);
    for (const auto& [id, c] : ids) CHECK(c == 1);
}

TEST_CASE("many destinations in one client: batches never mix", "[client]") {
    MockGraphServer mock;
    auto opts = tight_client_options(mock);
    opts.linger = 30ms;
    capi::Client client(opts);
    std::vector<capi::Destination> dests(3);
    dests[0] = {"111", "mock-token", "", ""};
    dests[1] = {"222", "mock-token", "", "TEST123"};
    dests[2] = {"333", "mock-token", "", ""};
    std::map<std::string, std::string> pixel_of;
    for (int i = 0; i < 60; ++i) {
        auto id = numbered("m", i);
        pixel_of[id] = dests[i % 3].pixel_id;
        REQUIRE(client.enqueue(purchase_event(id), dests[i % 3]));
    }
    REQUIRE(client.flush(10s));
    std::map<std::string, int> events_per_pixel;
    for (const auto& r : mock.requests()) {
        REQUIRE(r.status == 200);
        std::string pixel;
        for (const auto& d : dests)
            if (r.target.find("/" + d.pixel_id + "/events") != std::string::npos) pixel = d.pixel_id;
        REQUIRE(!pixel.empty());
        for (const auto& id : r.event_ids) CHECK(pixel_of[id] == pixel);
        CHECK(r.test_event_code == (pixel == "222" ? "TEST123" : ""));  // per destination
        events_per_pixel[pixel] += static_cast<int>(r.events);
    }
    CHECK(events_per_pixel["111"] == 20);
    CHECK(events_per_pixel["222"] == 20);
    CHECK(events_per_pixel["333"] == 20);
    // A bad per-event destination is an invalid event, never queued.
    auto bad = client.enqueue(purchase_event("x"), capi::Destination{"12ab", "t", "", ""});
    CHECK(bad.status == capi::EnqueueResult::Status::invalid);
    REQUIRE(!bad.errors.empty());
    CHECK(bad.errors[0].path == "destination.pixel_id");
}

TEST_CASE("no default destination: every event names its own", "[client]") {
    MockGraphServer mock;
    auto opts = tight_client_options(mock);
    opts.destination = {};  // all empty: no default
    opts.linger = 30ms;
    capi::Client client(opts);
    const capi::Destination a{"111", "mock-token", "", ""}, b{"222", "mock-token", "", ""};
    REQUIRE(client.enqueue(purchase_event("nd-a"), a));
    REQUIRE(client.enqueue(purchase_event("nd-b"), b));
    // Without one the event is invalid, named, and never queued.
    auto none = client.enqueue(purchase_event("nd-none"));
    CHECK(none.status == capi::EnqueueResult::Status::invalid);
    REQUIRE(none.errors.size() == 1);
    CHECK(none.errors[0].path == "destination");
    auto fut = client.async_send(purchase_event("nd-none2"), asio::use_future);
    REQUIRE(fut.wait_for(10s) == std::future_status::ready);
    auto [ec, r] = fut.get();
    CHECK(ec == errc::invalid_event);
    CHECK(r.outcome == Outcome::rejected);
    REQUIRE(client.flush(10s));
    const auto s = client.stats();
    CHECK(s.delivered == 2);
    CHECK(s.rejected == 2);
    const auto ids = ids_accepted(mock);
    CHECK(ids.size() == 2);
    CHECK(ids.count("nd-none") == 0);
    // A half-filled default is still a configuration error.
    auto half = tight_client_options(mock);
    half.destination.access_token.clear();
    CHECK_THROWS_AS(capi::Client(half), std::system_error);
}

TEST_CASE("delivery reports: exactly once per accepted event", "[client]") {
    MockGraphServer mock;
    auto opts = tight_client_options(mock);
    std::mutex m;
    std::map<std::string, int> seen;
    opts.on_delivery = [&](const capi::SendResult& r) {
        std::lock_guard lock(m);
        ++seen[r.event_id];
        if (r.event_id == "dr-3") throw std::runtime_error("a throwing callback is swallowed");
    };
    capi::Client client(opts);
    for (int i = 0; i < 2000; ++i) REQUIRE(client.enqueue(purchase_event(numbered("dr-", i))));
    REQUIRE(client.flush(10s));
    std::lock_guard lock(m);
    CHECK(seen.size() == 2000);
    for (const auto& [id, c] : seen) CHECK(c == 1);
}

TEST_CASE("Options::on_values: a valid event's dropped and unmatchable values, on the calling thread, during "
          "the call",
          "[client]") {
    MockGraphServer mock;
    auto opts = tight_client_options(mock);
    opts.encode.invalid_pii = capi::InvalidPiiPolicy::drop_value;
    struct Call {
        std::thread::id thread;
        std::vector<capi::FieldError> dropped, unmatchable;
    };
    std::vector<Call> calls;  // only ever touched on this thread (checked)
    opts.on_values = [&](const capi::ValueReport& r) {
        calls.push_back({std::this_thread::get_id(), r.dropped, r.unmatchable});
        if (calls.size() == 3) throw std::runtime_error("a throwing callback is swallowed");
    };
    auto with_bad_values = [](const std::string& id) {
        auto ev = purchase_event(id);
        ev.user_data.em.push_back("not-an-email");  // dropped
        ev.user_data.db = {"1990-01-02"};            // hashed as given, will not match
        return ev;
    };
    capi::Client client(opts);

    // A clean event: no call.
    REQUIRE(client.enqueue(purchase_event("ov-clean")));
    CHECK(calls.empty());

    // enqueue: one call before it returns, with both lists and their paths.
    REQUIRE(client.enqueue(with_bad_values("ov-1")));
    REQUIRE(calls.size() == 1);
    CHECK(calls[0].thread == std::this_thread::get_id());
    REQUIRE(calls[0].dropped.size() == 1);
    CHECK(calls[0].dropped[0].path == "user_data.em[1]");
    CHECK(calls[0].dropped[0].reason == "email must contain exactly one '@'");
    REQUIRE(calls[0].unmatchable.size() == 1);
    CHECK(calls[0].unmatchable[0].path == "user_data.db[0]");
    CHECK(calls[0].unmatchable[0].reason.find("YYYYMMDD") != std::string::npos);

    // async_send: the call comes before async_send returns, not with the outcome.
    auto fut = client.async_send(with_bad_values("ov-2"), asio::use_future);
    CHECK(calls.size() == 2);

    // A throwing callback: swallowed, the event is still accepted.
    REQUIRE(client.enqueue(with_bad_values("ov-3")));
    CHECK(calls.size() == 3);

    // An invalid event: rejected, no call, though it has a value to drop.
    auto invalid = with_bad_values("ov-invalid");
    invalid.event_name.clear();
    CHECK(client.enqueue(invalid).status == capi::EnqueueResult::Status::invalid);
    CHECK(calls.size() == 3);

    auto [ec, res] = fut.get();
    CHECK(!ec);
    CHECK(res.outcome == Outcome::delivered);
    REQUIRE(client.flush(10s));
    for (const auto& c : calls) CHECK(c.thread == std::this_thread::get_id());
    const auto got = ids_accepted(mock);
    for (const char* id : {"ov-clean", "ov-1", "ov-2", "ov-3"}) CHECK(got.count(id) == 1);
    CHECK(got.count("ov-invalid") == 0);
    const auto s = client.stats();
    CHECK(s.delivered == 4);
    CHECK(s.rejected == 1);
    check_balanced(s);
}

TEST_CASE("invalid events are rejected with the field path; bad options name the field", "[client]") {
    MockGraphServer mock;
    {
        capi::Client client(tight_client_options(mock));
        auto ev = purchase_event("inv");
        ev.event_name.clear();
        auto r = client.enqueue(ev);
        CHECK(r.status == capi::EnqueueResult::Status::invalid);
        REQUIRE(!r.errors.empty());
        CHECK(r.errors[0].path == "event_name");
        auto fut = client.async_send(ev, asio::use_future);
        auto [ec, res] = fut.get();
        CHECK(ec == errc::invalid_event);
        CHECK(res.outcome == Outcome::rejected);
        REQUIRE(!res.invalid.empty());
        CHECK(res.invalid[0].path == "event_name");
        auto s = client.stats();
        CHECK(s.rejected == 2);
        CHECK(s.accepted == 0);
    }
    auto expect_bad = [&](auto mutate, const std::string& field) {
        auto o = tight_client_options(mock);
        mutate(o);
        try {
            capi::Client c(o);
            FAIL("no exception for " << field);
        } catch (const std::system_error& e) {
            CHECK(e.code() == errc::invalid_option);
            CHECK(std::string(e.what()).find(field) != std::string::npos);
        }
    };
    expect_bad([](capi::Options& o) { o.queue_capacity = 1; }, "queue_capacity");
    expect_bad([](capi::Options& o) { o.encode.max_batch_events = 1001; }, "max_batch_events");
    expect_bad([](capi::Options& o) { o.encode.max_batch_events = 0; }, "max_batch_events");
    expect_bad([](capi::Options& o) { o.linger = 0ms; }, "linger");
    expect_bad([](capi::Options& o) { o.max_batch_bytes = 1000; }, "max_batch_bytes");
    expect_bad([](capi::Options& o) { o.destination.pixel_id = "abc"; }, "destination.pixel_id");
    expect_bad([](capi::Options& o) { o.destination.access_token.clear(); }, "destination.access_token");
    expect_bad([](capi::Options& o) { o.io_threads = 0; }, "io_threads");
    expect_bad([](capi::Options& o) { o.transport.endpoint = "http://plain"; }, "endpoint");
}

TEST_CASE("cancellation of async_send through the token's slot", "[client]") {
    MockGraphServer mock;
    mock.push_fault(hang_fault());
    IoThread io;
    auto opts = tight_client_options(mock);
    opts.retry.max_attempts = 1;
    capi::Client client(io.io.get_executor(), opts);
    asio::cancellation_signal signal;
    std::promise<std::pair<std::error_code, capi::SendResult>> p;
    asio::post(io.io, [&] {
        client.async_send(purchase_event("c1"), asio::bind_cancellation_slot(
                                                signal.slot(), [&](std::error_code ec, capi::SendResult r) {
                                                    p.set_value({ec, std::move(r)});
                                                }));
    });
    std::this_thread::sleep_for(100ms);
    asio::post(io.io, [&] { signal.emit(asio::cancellation_type::terminal); });
    auto f = p.get_future();
    REQUIRE(f.wait_for(5s) == std::future_status::ready);
    auto [ec, r] = f.get();
    CHECK(ec == errc::cancelled);
    CHECK(r.error == errc::cancelled);
    // The event itself continues: it still gets its own outcome.
    CHECK_FALSE(client.shutdown(100ms));
    auto s = client.stats();
    CHECK(s.accepted == 1);
    CHECK(s.failed == 1);
    check_balanced(s);
}

TEST_CASE("async_send completing on another io_context: its work counts until the handler ran; "
          "destroyed with that io_context when it never runs",
          "[client]") {
    MockGraphServer mock;
    capi::Client client(tight_client_options(mock));  // its own io threads
    {
        // Nothing else keeps `io` busy: run_for returns as soon as it runs out of
        // work, so before the completion arrived unless the operation counts as work.
        // `io` is destroyed right after: under TSan, a post still signalling its
        // wake-up by then (its work no longer counted) is a reported race.
        asio::io_context io{1};
        int calls = 0;
        client.async_send(purchase_event("elsewhere-1"),
                          asio::bind_executor(asio::any_io_executor(io.get_executor()),
                                              [&calls](std::error_code ec, capi::SendResult r) {
                                                  ++calls;
                                                  CHECK(!ec);
                                                  CHECK(r.outcome == Outcome::delivered);
                                                  CHECK(r.event_id == "elsewhere-1");
                                              }));
        io.run_for(10s);
        CHECK(calls == 1);
    }
    {
        // Its io_context never runs: the completion waits in it, then goes with it,
        // destroyed (releasing what the handler holds), never called.
        auto held = std::make_shared<int>(0);
        const std::weak_ptr<int> watch = held;
        bool called = false;
        {
            asio::io_context io{1};
            client.async_send(purchase_event("elsewhere-2"),
                              asio::bind_executor(asio::any_io_executor(io.get_executor()),
                                                  [&called, held = std::move(held)](std::error_code,
                                                                                    capi::SendResult) {
                                                      called = true;
                                                  }));
            REQUIRE(client.flush(10s));  // the outcome was handed to `io` before the flush completed
            CHECK_FALSE(watch.expired());
        }
        CHECK_FALSE(called);
        CHECK(watch.expired());
    }
    CHECK(client.stats().delivered == 2);
}

TEST_CASE("async_send reads the event during the call: reuse at once, deferred launch, never launched", "[client]") {
    MockGraphServer mock;
    auto opts = tight_client_options(mock);
    opts.linger = 5ms;
    capi::Client client(opts);
    // The caller refills one Event between calls: each call sent what it saw.
    auto ev = purchase_event("reuse-1");
    auto f1 = client.async_send(ev, asio::use_future);
    ev.event_id = "reuse-2";
    ev.custom_data->value = 7.0;
    auto f2 = client.async_send(ev, asio::use_future);
    ev = capi::Event{};  // gone: the operations kept nothing of it
    REQUIRE(f1.wait_for(10s) == std::future_status::ready);
    REQUIRE(f2.wait_for(10s) == std::future_status::ready);
    CHECK(std::get<1>(f1.get()).event_id == "reuse-1");
    CHECK(std::get<1>(f2.get()).event_id == "reuse-2");

    // deferred: prepared at the call, queued only when launched.
    auto later = purchase_event("deferred-1");
    auto op = client.async_send(later, asio::deferred);
    later = capi::Event{};
    REQUIRE(client.flush(10s));
    CHECK(ids_accepted(mock).count("deferred-1") == 0);  // not launched yet
    std::promise<capi::SendResult> got;
    std::move(op)([&](std::error_code, capi::SendResult r) { got.set_value(std::move(r)); });
    auto fut = got.get_future();
    REQUIRE(fut.wait_for(10s) == std::future_status::ready);
    CHECK(fut.get().outcome == Outcome::delivered);
    CHECK(ids_accepted(mock).count("deferred-1") == 1);

    // An invalid event completes rejected at launch, not at the call.
    auto bad = purchase_event("deferred-bad");
    bad.event_name.clear();
    auto bad_op = client.async_send(bad, asio::deferred);
    CHECK(client.stats().rejected == 0);
    std::promise<std::error_code> bad_ec;
    std::move(bad_op)([&](std::error_code e, capi::SendResult) { bad_ec.set_value(e); });
    auto bf = bad_ec.get_future();
    REQUIRE(bf.wait_for(10s) == std::future_status::ready);
    CHECK(bf.get() == errc::invalid_event);

    // Never launched: dropped with its operation; nothing counted, nothing sent.
    {
        auto dropped = client.async_send(purchase_event("deferred-never"), asio::deferred);
        (void)dropped;
    }
    REQUIRE(client.flush(10s));
    const auto s = client.stats();
    CHECK(s.accepted == 3);
    CHECK(s.delivered == 3);
    CHECK(s.rejected == 1);
    CHECK(ids_accepted(mock).count("deferred-never") == 0);
}

TEST_CASE("use_future and async_flush with use_future", "[client]") {
    MockGraphServer mock;
    capi::Client client(tight_client_options(mock));
    auto fut = client.async_send(purchase_event("f1"), asio::use_future);
    REQUIRE(fut.wait_for(10s) == std::future_status::ready);
    auto [ec, r] = fut.get();
    CHECK(!ec);
    CHECK(r.outcome == Outcome::delivered);
    REQUIRE(client.enqueue(purchase_event("f2")));
    auto ff = client.async_flush(asio::use_future);
    REQUIRE(ff.wait_for(10s) == std::future_status::ready);
    CHECK(!ff.get());
    auto s = client.stats();
    CHECK(s.delivered == 2);
    CHECK(s.queued + s.in_flight == 0);
    CHECK(client.shutdown(1s));
    // After shutdown a flush completes at once.
    CHECK(client.flush(1s));
}

TEST_CASE("Histogram::percentile", "[client]") {
    capi::Histogram h;
    CHECK(h.percentile(0.5) == 0);
    h.buckets[0] = 50;  // [1, 2)
    h.buckets[3] = 50;  // [8, 16)
    h.count = 100;
    CHECK(h.percentile(0.5) == 2);
    CHECK(h.percentile(0.51) == 16);
    CHECK(h.percentile(1.0) == 16);
}

TEST_CASE("BatchEncoder: event_json and add_json rebuild a batch without hashing again", "[client][encoder]") {
    const auto now = std::chrono::system_clock::now();
    capi::BatchEncoder a;
    for (int i = 0; i < 3; ++i) REQUIRE(a.add(purchase_event(numbered("e", i)), now).status == capi::EncodeStatus::added);
    const std::string whole(a.json_body({}, "tok"));
    capi::BatchEncoder b;
    for (std::size_t i = 0; i < a.size(); ++i) {
        const auto j = batch_access::event_json(a, i);
        CHECK(j.front() == '{');
        CHECK(j.back() == '}');
        REQUIRE(batch_access::add_json(b, j));
    }
    CHECK(std::string(b.json_body({}, "tok")) == whole);
    CHECK(b.data_bytes() == a.data_bytes());
    // A half of it, as a split sends.
    capi::BatchEncoder c;
    REQUIRE(batch_access::add_json(c, batch_access::event_json(a, 1)));
    CHECK(std::string(c.json_body()) == "{\"data\":[" + std::string(batch_access::event_json(a, 1)) + "]}");
}

TEST_CASE("event_ids of every length reach the result and the delivery report intact", "[client]") {
    // The pipeline carries an id of up to 39 bytes in place and a longer one in
    // a string: both sides of that bound, and a long one, through both readers.
    MockGraphServer mock;
    auto opts = tight_client_options(mock);
    opts.linger = 5ms;
    std::mutex mu;
    std::multiset<std::string> reported;
    opts.on_delivery = [&](const capi::SendResult& r) {
        std::lock_guard lock(mu);
        reported.insert(r.event_id);
    };
    capi::Client client(opts);
    std::vector<std::string> ids;
    for (std::size_t n : {1, 38, 39, 40, 41, 120}) {
        std::string id = "id-" + std::to_string(n) + "-";
        id.resize(n, 'x');
        ids.push_back(id);
    }
    std::vector<std::future<std::tuple<std::error_code, capi::SendResult>>> results;
    for (const auto& id : ids) results.push_back(client.async_send(purchase_event(id), asio::use_future));
    // The same ids through enqueue (only the delivery report reads them).
    for (const auto& id : ids) REQUIRE(client.enqueue(purchase_event(id)));
    for (std::size_t i = 0; i < ids.size(); ++i) {
        REQUIRE(results[i].wait_for(10s) == std::future_status::ready);
        auto [ec, r] = results[i].get();
        CHECK(!ec);
        CHECK(r.event_id == ids[i]);
    }
    REQUIRE(client.flush(10s));
    client.shutdown(10s);
    std::multiset<std::string> expected;
    for (const auto& id : ids) expected.insert({id, id});
    std::lock_guard lock(mu);
    CHECK(reported == expected);
    auto s = client.stats();
    CHECK(s.delivered == 2 * ids.size());
    check_balanced(s);
}

TEST_CASE("the event_time windows read the system clock coarsely: never ahead, a tick behind at most", "[client][clock]") {
    using std::chrono::system_clock;
    for (int i = 0; i < 10000; ++i) {
        const auto before = system_clock::now();
        const auto coarse = capi::pipeline::window_now({});
        const auto after = system_clock::now();
        REQUIRE(coarse <= after);
        // The kernel's last tick: 1-10 ms before `before` (HZ 100-1000), with room.
        REQUIRE(before - coarse < 50ms);
    }
    // An injected clock is read as it is.
    capi::ManualClock manual(system_clock::time_point(std::chrono::hours(400000)));
    CHECK(capi::pipeline::window_now(manual.as_clock()) == manual.now());
}
