// The client out of memory while it seals a batch: the batch fails as a whole,
// each of its events settled failed (std::errc::not_enough_memory) and counted,
// nothing escapes the batcher thread, and the client goes on delivering. The
// failure is injected into the batcher thread's first allocation after arming
// (operator new replaced for this executable). Real TLS to MockGraphServer on
// 127.0.0.1; every wait is bounded.
#include <capi/client.hpp>
#include <capi/testing/mock_graph.hpp>

#include "replace_new.hpp"
#include "support/client_checks.hpp"
#include "support/fixtures.hpp"

#include <catch2/catch.hpp>

#include <pthread.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <system_error>

namespace {

/// Armed: the next allocation on a thread named "capi-batch" fails (once).
std::atomic<bool> fail_next_on_batcher{false};
std::atomic<int> failed_allocations{0};

bool on_batcher_thread() noexcept {
    char name[16] = {};
    return pthread_getname_np(pthread_self(), name, sizeof name) == 0 && std::strcmp(name, "capi-batch") == 0;
}

} // namespace

void* test_malloc(std::size_t n) noexcept {
    if (fail_next_on_batcher.load(std::memory_order_relaxed) && on_batcher_thread() &&
        fail_next_on_batcher.exchange(false)) {
        failed_allocations.fetch_add(1);
        return nullptr;
    }
    return std::malloc(n == 0 ? 1 : n);
}

using namespace std::chrono_literals;
using capi::testing::MockGraphServer;
using capi_test::check_balanced;
using capi_test::numbered;
using capi_test::purchase_event;
using capi_test::wait_for;

TEST_CASE("out of memory sealing a lingering lane: the batch fails as a whole, counted, and the client goes on",
          "[client][lanes][oom]") {
    MockGraphServer mock;
    auto opts = capi_test::client_options(mock);
    opts.caller_batches = true;  // this thread's lane; a batcher seals it when it lingers
    opts.linger = 50ms;
    std::mutex mu;
    std::map<std::string, std::error_code> outcome;  // event_id -> error (empty: delivered)
    opts.on_delivery = [&](const capi::SendResult& r) {
        std::lock_guard lock(mu);
        outcome[r.event_id] = r.error;
    };
    capi::Client client(opts);
    auto reported = [&] {
        std::lock_guard lock(mu);
        return outcome.size();
    };

    // A first batch delivered: the batcher threads run their loops.
    for (int i = 0; i < 3; ++i) REQUIRE(client.enqueue(purchase_event(numbered("before-", i))));
    REQUIRE(client.flush(10s));
    REQUIRE(wait_for([&] { return reported() == 3; }, 10s));

    // The batcher that seals the next lingering batch gets no memory for it.
    fail_next_on_batcher = true;
    for (int i = 0; i < 3; ++i) REQUIRE(client.enqueue(purchase_event(numbered("starved-", i))));
    REQUIRE(wait_for([&] { return reported() == 6; }, 10s));
    CHECK(failed_allocations.load() == 1);
    CHECK_FALSE(fail_next_on_batcher.load());
    {
        std::lock_guard lock(mu);
        for (int i = 0; i < 3; ++i) {
            const auto id = numbered("starved-", i);
            REQUIRE(outcome.count(id) == 1);
            CHECK(outcome[id] == std::make_error_code(std::errc::not_enough_memory));
        }
    }
    auto s = client.stats();
    CHECK(s.failed == 3);
    CHECK(s.delivered == 3);
    check_balanced(s);

    // The client goes on: the same lane, the same batcher.
    for (int i = 0; i < 3; ++i) REQUIRE(client.enqueue(purchase_event(numbered("after-", i))));
    REQUIRE(client.flush(10s));
    REQUIRE(wait_for([&] { return reported() == 9; }, 10s));
    s = client.stats();
    CHECK(s.delivered == 6);
    CHECK(s.failed == 3);
    CHECK(s.queued == 0);
    CHECK(s.in_flight == 0);
    check_balanced(s);
    // Only the delivered batches reached the mock.
    std::size_t sent = 0;
    for (const auto& r : mock.requests())
        if (r.status == 200) sent += r.events;
    CHECK(sent == 6);
    CHECK(client.shutdown(5s));
}
