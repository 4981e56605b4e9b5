// Options::caller_batches: a caller thread's events batched on that thread (its
// lane), sealed there when full, by a batcher when they linger or a flush asks,
// by shutdown when nothing else did; threads past the last lane take the queue
// (callers while the dispatcher is backed up too: client_test's overflow cases).
// Real TLS to MockGraphServer on 127.0.0.1; every wait is bounded.
#include <capi/client.hpp>
#include <capi/testing/mock_graph.hpp>

#include "support/client_checks.hpp"
#include "support/fixtures.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using capi::testing::Fault;
using capi::testing::MockGraphServer;
using capi_test::check_balanced;
using capi_test::numbered;
using capi_test::purchase_event;
using capi_test::tight_client_options;
using capi_test::wait_for;
using steady = std::chrono::steady_clock;

namespace {

/// Events per request the mock answered, sorted.
std::vector<std::size_t> request_sizes(const MockGraphServer& mock) {
    std::vector<std::size_t> v;
    for (const auto& r : mock.requests())
        if (r.status == 200) v.push_back(r.events);
    std::sort(v.begin(), v.end());
    return v;
}

/// "<prefix><thread>-<i>", built piecewise (GCC 12's -Wrestrict misfires on a + b).
std::string id_of(const char* prefix, int thread, int i) {
    std::string id = prefix;
    id += std::to_string(thread);
    id += numbered("-", i);
    return id;
}

/// Lets `n` threads go on only once all of them arrived (each holds its lane
/// until then, so which threads hold one is settled).
class Gate {
public:
    explicit Gate(int n) : left_(n) {}
    void arrive_and_wait() {
        std::unique_lock lock(mu_);
        if (--left_ == 0) cv_.notify_all();
        cv_.wait_for(lock, 10s, [&] { return left_ == 0; });
    }

private:
    std::mutex mu_;
    std::condition_variable cv_;
    int left_;
};

/// `threads` threads each enqueue `per` events ("<prefix><thread>-<i>"), and
/// none ends before all have enqueued (no thread lets its lane go early).
/// Returns how many enqueue() calls refused.
int enqueue_together(capi::Client& client, int threads, int per, const char* prefix) {
    Gate gate(threads);
    std::atomic<int> refused{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t)
        ts.emplace_back([&, t] {
            for (int i = 0; i < per; ++i)
                if (!client.enqueue(purchase_event(id_of(prefix, t, i)))) ++refused;
            gate.arrive_and_wait();
        });
    for (auto& th : ts) th.join();
    return refused.load();
}

} // namespace

TEST_CASE("lanes: each caller thread's events make its own batch, held until a flush seals every lane",
          "[client][lanes]") {
    const bool lanes = GENERATE(true, false);
    CAPTURE(lanes);
    MockGraphServer mock;
    auto opts = tight_client_options(mock);
    opts.caller_batches = lanes;
    opts.linger = std::chrono::hours(1);  // only the flush seals
    capi::Client client(opts);
    constexpr int threads = 4, per = 250;
    // A thread that ended would leave its lane, events and all, to the next.
    REQUIRE(enqueue_together(client, threads, per, "t") == 0);
    // Held: nothing sealed, every event counted as queued (not in flight).
    auto s = client.stats();
    CHECK(s.accepted == threads * per);
    check_balanced(s);
    if (lanes) {
        CHECK(s.queued == threads * per);
        CHECK(s.in_flight == 0);
    }
    CHECK(mock.requests().empty());

    REQUIRE(client.flush(10s));
    s = client.stats();
    CHECK(s.delivered == threads * per);
    CHECK(s.queued == 0);
    CHECK(s.in_flight == 0);
    check_balanced(s);
    CHECK(mock.events_accepted() == threads * per);
    if (lanes) {
        // One batch per thread, sealed by the flush's seal request.
        CHECK(request_sizes(mock) == std::vector<std::size_t>(threads, per));
    } else {
        // The queue's one batcher holds them all in one batch.
        CHECK(request_sizes(mock) == std::vector<std::size_t>{threads * per});
    }
}

TEST_CASE("lanes: a thread that fills a batch seals it itself; the rest lingers, also after the thread ended",
          "[client][lanes]") {
    MockGraphServer mock;
    auto opts = tight_client_options(mock);
    // Linger is read from the steady clock (never the injected one), so it is
    // long enough that no enqueue, however slow (TSan on two busy cores took
    // over 40 ms for 100 events), outlasts it: only the full batches are the
    // thread's, and only the last 30 wait for linger.
    opts.linger = 1s;
    opts.encode.max_batch_events = 100;
    capi::Client client(opts);
    const auto t0 = steady::now();
    int refused = 0;  // counted there, checked here: Catch's assertions are this thread's
    std::thread([&] {
        for (int i = 0; i < 230; ++i)
            if (!client.enqueue(purchase_event(numbered("q", i)))) ++refused;
    }).join();  // the thread is gone: its lane keeps its last 30 events
    REQUIRE(refused == 0);
    REQUIRE(wait_for([&] { return client.stats().delivered == 230; }, 10s));
    CHECK(steady::now() - t0 >= 1s);  // the last 30 waited for linger
    CHECK(request_sizes(mock) == std::vector<std::size_t>{30, 100, 100});
    auto s = client.stats();
    CHECK(s.queued == 0);
    CHECK(s.in_flight == 0);
    check_balanced(s);
}

TEST_CASE("lanes: threads past the last lane take the queue; every event is delivered once", "[client][lanes]") {
    MockGraphServer mock;
    auto opts = tight_client_options(mock);
    opts.linger = std::chrono::hours(1);
    capi::Client client(opts);
    constexpr int threads = 40, per = 50;  // 32 lanes, 8 threads without one
    REQUIRE(enqueue_together(client, threads, per, "m") == 0);
    REQUIRE(client.flush(10s));
    std::vector<std::size_t> expected(32, per);
    expected.push_back(8 * per);  // the batcher's one batch of what the queue carried
    CHECK(request_sizes(mock) == expected);
    std::map<std::string, int> seen;
    for (const auto& r : mock.requests())
        for (const auto& id : r.event_ids) ++seen[id];
    CHECK(seen.size() == threads * per);
    CHECK(std::all_of(seen.begin(), seen.end(), [](const auto& kv) { return kv.second == 1; }));
    auto s = client.stats();
    CHECK(s.delivered == threads * per);
    check_balanced(s);
}

TEST_CASE("lanes: a thread that found no lane free takes one once another thread let its lane go",
          "[client][lanes]") {
    MockGraphServer mock;
    auto opts = tight_client_options(mock);
    opts.linger = std::chrono::hours(1);  // only the flush seals
    capi::Client client(opts);
    constexpr int owners = 32, per = 10;
    // 32 threads hold every lane; a 33rd (`late`) enqueues meanwhile (the queue),
    // then again once the 32 ended.
    Gate all_in(owners + 1);
    std::mutex mu;
    std::condition_variable cv;
    bool late_first_done = false, owners_gone = false;
    std::atomic<int> refused{0};
    std::thread late([&] {
        all_in.arrive_and_wait();
        for (int i = 0; i < per; ++i)
            if (!client.enqueue(purchase_event(id_of("late-a", 0, i)))) ++refused;
        std::unique_lock lock(mu);
        late_first_done = true;
        cv.notify_all();
        cv.wait_for(lock, 10s, [&] { return owners_gone; });
        lock.unlock();
        for (int i = 0; i < per; ++i)
            if (!client.enqueue(purchase_event(id_of("late-b", 0, i)))) ++refused;
    });
    std::atomic<int> timed_out{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < owners; ++t)
        ts.emplace_back([&, t] {
            for (int i = 0; i < per; ++i)
                if (!client.enqueue(purchase_event(id_of("own", t, i)))) ++refused;
            all_in.arrive_and_wait();
            // Held until `late`'s first enqueue() calls returned (its events are
            // counted accepted before they reach the queue: a lane let go on that
            // count could still take the last one).
            std::unique_lock lock(mu);
            if (!cv.wait_for(lock, 10s, [&] { return late_first_done; })) ++timed_out;
        });
    for (auto& th : ts) th.join();  // their lanes are let go, events and all
    CHECK(timed_out.load() == 0);
    {
        std::lock_guard lock(mu);
        owners_gone = true;
    }
    cv.notify_all();
    late.join();
    CHECK(refused.load() == 0);
    REQUIRE(client.flush(10s));
    // `late`'s first events went through the queue (one batch of the batcher's);
    // its second ones joined a lane a gone thread left, with that thread's events.
    std::vector<std::size_t> expected(owners - 1, per);
    expected.insert(expected.begin(), per);
    expected.push_back(2 * per);
    std::sort(expected.begin(), expected.end());
    CHECK(request_sizes(mock) == expected);
    auto count = [](const auto& ids, std::string_view prefix) {
        return std::count_if(ids.begin(), ids.end(), [&](const std::string& id) { return id.starts_with(prefix); });
    };
    int with_second = 0;
    for (const auto& r : mock.requests()) {
        if (count(r.event_ids, "late-b") == 0) continue;
        ++with_second;
        CHECK(count(r.event_ids, "late-b") == per);
        CHECK(count(r.event_ids, "own") == per);  // a lane's, not the queue's
        CHECK(count(r.event_ids, "late-a") == 0);
    }
    CHECK(with_second == 1);
    auto s = client.stats();
    CHECK(s.delivered == (owners + 2) * per);
    check_balanced(s);
}

TEST_CASE("lanes: shutdown during an outage settles what the lanes hold, counters add up", "[client][lanes]") {
    MockGraphServer mock;
    const Fault hang = capi_test::hang_fault();
    for (int i = 0; i < 16; ++i) mock.push_fault(hang);
    auto opts = tight_client_options(mock);
    opts.linger = std::chrono::hours(1);
    opts.retry.max_attempts = 1;
    capi::Client client(opts);
    int refused = 0;
    std::thread([&] {
        for (int i = 0; i < 120; ++i)
            if (!client.enqueue(purchase_event(numbered("s", i)))) ++refused;
    }).join();
    REQUIRE(refused == 0);
    auto s = client.stats();
    CHECK(s.queued == 120);
    // 0 ms: the batchers may stop before they seal the lane, and shutdown
    // settles it itself; 200 ms: they seal it and the batch hangs on the wire.
    const auto timeout = GENERATE(0ms, 200ms);
    CAPTURE(timeout.count());
    const auto t0 = steady::now();
    CHECK_FALSE(client.shutdown(timeout));
    CHECK(steady::now() - t0 < 5s);
    s = client.stats();
    CHECK(s.accepted == 120);
    CHECK(s.failed == 120);
    CHECK(s.queued + s.in_flight == 0);
    check_balanced(s);
}
