// capi::detail::MpmcQueue: single-thread semantics, then many producers and
// consumers proving no value is lost or duplicated and per-producer order holds.
#include "queue/mpmc_queue.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using capi::detail::MpmcQueue;

namespace {

// Counts live instances so the destructor test can see leftovers destroyed.
struct Counted {
    static inline std::atomic<int> live{0};
    int v = -1;

    Counted() noexcept { ++live; }
    explicit Counted(int x) noexcept : v(x) { ++live; }
    Counted(Counted&& o) noexcept : v(o.v) { ++live; }
    Counted& operator=(Counted&& o) noexcept {
        v = o.v;
        return *this;
    }
    Counted(const Counted&) = delete;
    Counted& operator=(const Counted&) = delete;
    ~Counted() { --live; }
};

}  // namespace

TEST_CASE("capacity is rounded up to a power of two, at least 2", "[queue]") {
    CHECK(MpmcQueue<int>(0).capacity() == 2);
    CHECK(MpmcQueue<int>(1).capacity() == 2);
    CHECK(MpmcQueue<int>(2).capacity() == 2);
    CHECK(MpmcQueue<int>(3).capacity() == 4);
    CHECK(MpmcQueue<int>(5).capacity() == 8);
    CHECK(MpmcQueue<int>(1000).capacity() == 1024);
    CHECK(MpmcQueue<int>(1024).capacity() == 1024);
    CHECK(MpmcQueue<int>(1025).capacity() == 2048);
    CHECK_THROWS_AS(MpmcQueue<int>(MpmcQueue<int>::max_capacity + 1), std::length_error);
}

TEST_CASE("single thread: FIFO, full and empty, across many laps", "[queue]") {
    MpmcQueue<int> q(5);  // 8 cells
    REQUIRE(q.capacity() == 8);
    int out = -1;
    CHECK_FALSE(q.try_pop(out));
    CHECK(out == -1);  // untouched on failure
    CHECK(q.size_approx() == 0);

    int next_in = 0;
    int next_out = 0;
    // Fill and drain with varying depths so positions wrap the array many times.
    for (int round = 0; round < 50; ++round) {
        const int depth = 1 + round % 8;
        for (int i = 0; i < depth; ++i) {
            int v = next_in++;
            REQUIRE(q.try_push(std::move(v)));
        }
        CHECK(q.size_approx() == static_cast<std::size_t>(depth));
        for (int i = 0; i < depth; ++i) {
            REQUIRE(q.try_pop(out));
            REQUIRE(out == next_out++);
        }
        CHECK_FALSE(q.try_pop(out));
    }

    for (int i = 0; i < 8; ++i) {
        int v = 100 + i;
        REQUIRE(q.try_push(std::move(v)));
    }
    CHECK(q.size_approx() == 8);
    int extra = 999;
    CHECK_FALSE(q.try_push(std::move(extra)));
    CHECK(extra == 999);
    // One pop frees exactly one slot (the client's drop_oldest: pop one, then push).
    REQUIRE(q.try_pop(out));
    CHECK(out == 100);
    CHECK(q.try_push(std::move(extra)));
    CHECK_FALSE(q.try_push(1));
    for (int i = 1; i < 8; ++i) {
        REQUIRE(q.try_pop(out));
        CHECK(out == 100 + i);
    }
    REQUIRE(q.try_pop(out));
    CHECK(out == 999);
    CHECK_FALSE(q.try_pop(out));
    CHECK(q.size_approx() == 0);
}

TEST_CASE("move-only values; a failed try_push leaves the value intact", "[queue]") {
    MpmcQueue<std::unique_ptr<int>> q(2);
    REQUIRE(q.try_push(std::make_unique<int>(1)));
    REQUIRE(q.try_push(std::make_unique<int>(2)));

    auto third = std::make_unique<int>(3);
    int* const raw = third.get();
    CHECK_FALSE(q.try_push(std::move(third)));
    REQUIRE(third != nullptr);
    CHECK(third.get() == raw);
    CHECK(*third == 3);

    std::unique_ptr<int> out;
    REQUIRE(q.try_pop(out));
    REQUIRE(out);
    CHECK(*out == 1);
    REQUIRE(q.try_push(std::move(third)));
    CHECK(third == nullptr);

    std::unique_ptr<int> bulk[4];
    REQUIRE(q.pop_bulk(bulk, 4) == 2);
    CHECK(*bulk[0] == 2);
    CHECK(*bulk[1] == 3);
    CHECK(bulk[1].get() == raw);
    CHECK(bulk[2] == nullptr);
}

TEST_CASE("the destructor destroys the values left in the queue", "[queue]") {
    REQUIRE(Counted::live == 0);
    {
        MpmcQueue<Counted> q(4);
        // Move the head past the end of the array first, so the leftovers wrap.
        for (int i = 0; i < 3; ++i) REQUIRE(q.try_push(Counted(i)));
        Counted out;
        for (int i = 0; i < 3; ++i) REQUIRE(q.try_pop(out));
        for (int i = 0; i < 3; ++i) REQUIRE(q.try_push(Counted(10 + i)));
        CHECK(Counted::live == 1 + 3);  // out + three queued
    }
    CHECK(Counted::live == 0);
    {
        MpmcQueue<Counted> q(8);
        for (int i = 0; i < 8; ++i) REQUIRE(q.try_push(Counted(i)));
        Counted spare(42);
        CHECK_FALSE(q.try_push(std::move(spare)));
        CHECK(Counted::live == 9);
    }
    CHECK(Counted::live == 0);
    { MpmcQueue<Counted> empty(16); }
    CHECK(Counted::live == 0);
}

TEST_CASE("pop_bulk moves up to max values in order", "[queue]") {
    MpmcQueue<int> q(8);
    int out[16];
    std::fill(std::begin(out), std::end(out), -1);

    CHECK(q.pop_bulk(out, 16) == 0);  // empty
    REQUIRE(q.try_push(7));
    CHECK(q.pop_bulk(out, 0) == 0);  // max 0 touches nothing
    CHECK(out[0] == -1);
    CHECK(q.size_approx() == 1);
    REQUIRE(q.pop_bulk(out, 16) == 1);
    CHECK(out[0] == 7);

    // Partial takes keep order and leave the rest; bulk and single pops interleave.
    int next_in = 0;
    int next_out = 0;
    for (int round = 0; round < 40; ++round) {
        const int depth = 1 + round % 8;
        for (int i = 0; i < depth; ++i) REQUIRE(q.try_push(int(next_in++)));
        int left = depth;
        const std::size_t want = 1 + round % 3;
        while (left > 0) {
            if (left % 2 == 1) {
                int one = -1;
                REQUIRE(q.try_pop(one));
                REQUIRE(one == next_out++);
                --left;
                continue;
            }
            const std::size_t got = q.pop_bulk(out, want);
            REQUIRE(got == std::min<std::size_t>(want, static_cast<std::size_t>(left)));
            for (std::size_t i = 0; i < got; ++i) REQUIRE(out[i] == next_out++);
            left -= static_cast<int>(got);
        }
        CHECK(q.pop_bulk(out, 16) == 0);
    }

    // Full queue, wrapped: max above capacity takes exactly capacity values.
    for (int i = 0; i < 8; ++i) REQUIRE(q.try_push(100 + i));
    REQUIRE_FALSE(q.try_push(0));
    REQUIRE(q.pop_bulk(out, 16) == 8);
    for (int i = 0; i < 8; ++i) CHECK(out[i] == 100 + i);
    CHECK(q.size_approx() == 0);
    CHECK(q.try_push(1));  // and the cells are usable again
}

namespace {

enum class PopMode { single, bulk, mixed };

struct StressResult {
    bool timed_out = false;
    bool payload_ok = true;
    std::uint64_t total_seen = 0;
    std::uint64_t lost = 0;
    std::uint64_t duplicated = 0;
    std::uint64_t out_of_order = 0;  // per consumer, one producer's sequence went backwards
    std::uint64_t failed_push_damaged = 0;
    std::uint64_t bulk_calls = 0;
};

constexpr std::uint64_t tag(std::uint32_t producer, std::uint32_t seq) {
    return (std::uint64_t{producer} << 32) | seq;
}

// Item wrappers: a plain tag (the cell storage itself is the payload) or a heap
// object (the payload lives outside the queue, so a missing happens-before edge
// shows up under TSan and as a torn value here).
struct PlainItem {
    using type = std::uint64_t;
    static type make(std::uint64_t t) { return t; }
    static bool valid(const type&) { return true; }
    static std::uint64_t tag_of(const type& v) { return v; }
};
struct HeapItem {
    struct Payload {
        std::uint64_t t;
        std::uint64_t check;
    };
    using type = std::unique_ptr<Payload>;
    static type make(std::uint64_t t) { return std::make_unique<Payload>(Payload{t, ~t}); }
    static bool valid(const type& v) { return v && v->check == ~v->t; }
    static std::uint64_t tag_of(const type& v) { return v->t; }
};

// P producers push `per_producer` tagged values each; C consumers pop until every
// value is accounted for. Every wait loop checks the watchdog's abort flag, so a
// lost value fails the test as timed_out instead of hanging it.
template <class Item>
StressResult run_stress(int producers, int consumers, std::uint32_t per_producer, std::size_t capacity,
                        PopMode mode) {
    using T = typename Item::type;
    MpmcQueue<T> q(capacity);
    const std::uint64_t total = std::uint64_t(producers) * per_producer;
    std::atomic<std::uint64_t> consumed{0};
    std::atomic<bool> abort{false};
    std::atomic<bool> finished{false};
    std::atomic<int> ready{0};
    std::atomic<std::uint64_t> damaged{0};
    std::atomic<std::uint64_t> bulk_calls{0};

    auto expired = [&] { return abort.load(std::memory_order_relaxed); };
    // The watchdog fails the run when nothing is consumed for a while (a lost value
    // leaves everyone polling), judged on progress rather than total time so a slow
    // TSan build still passes. A thread stuck inside the queue itself (a livelocked
    // CAS loop) never sees the flag: then the process exits rather than hang CI.
    std::thread watchdog([&] {
        using clock = std::chrono::steady_clock;
        constexpr auto stall_limit = std::chrono::seconds(5);
        std::uint64_t last = 0;
        auto last_change = clock::now();
        while (!finished.load()) {
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
            const std::uint64_t now_consumed = consumed.load();
            if (now_consumed != last) {
                last = now_consumed;
                last_change = clock::now();
            } else if (clock::now() - last_change > stall_limit) {
                abort.store(true);
            }
            if (abort.load() && clock::now() - last_change > 2 * stall_limit) {
                std::fputs("queue_test: stress threads stuck inside MpmcQueue; exiting\n", stderr);
                std::_Exit(3);
            }
        }
    });
    // Everyone starts together, so producers and consumers really overlap.
    auto start_gate = [&] {
        ready.fetch_add(1);
        while (ready.load() < producers + consumers) std::this_thread::yield();
    };

    std::vector<std::vector<std::uint64_t>> seen(static_cast<std::size_t>(consumers));
    std::vector<char> payload_ok(static_cast<std::size_t>(consumers), 1);
    std::vector<std::thread> threads;

    for (int p = 0; p < producers; ++p) {
        threads.emplace_back([&, p] {
            start_gate();
            std::uint64_t spins = 0;
            for (std::uint32_t s = 0; s < per_producer; ++s) {
                const std::uint64_t t = tag(static_cast<std::uint32_t>(p), s);
                T v = Item::make(t);
                while (!q.try_push(std::move(v))) {
                    if (!Item::valid(v) || Item::tag_of(v) != t) damaged.fetch_add(1);
                    if ((++spins & 63) == 0) {
                        if (expired()) return;
                        std::this_thread::yield();
                    }
                }
            }
        });
    }
    for (int c = 0; c < consumers; ++c) {
        threads.emplace_back([&, c] {
            auto& mine = seen[static_cast<std::size_t>(c)];
            mine.reserve(total / static_cast<std::uint64_t>(consumers) + 1024);
            std::vector<T> buf(64);
            std::uint64_t spins = 0;
            std::uint64_t iter = 0;
            start_gate();
            while (consumed.load(std::memory_order_relaxed) < total) {
                // mixed: consumers differ (even ones lean on pop_bulk with varying
                // sizes, odd ones on try_pop) and each also switches between the two.
                const bool use_bulk = mode == PopMode::bulk ||
                                      (mode == PopMode::mixed && ((iter + static_cast<std::uint64_t>(c)) % 3 != 0));
                ++iter;
                std::size_t got = 0;
                if (use_bulk) {
                    const std::size_t want = mode == PopMode::bulk ? buf.size() : 1 + iter % buf.size();
                    got = q.pop_bulk(buf.data(), want);
                    if (got > 0) bulk_calls.fetch_add(1, std::memory_order_relaxed);
                } else if (q.try_pop(buf[0])) {
                    got = 1;
                }
                if (got == 0) {
                    if ((++spins & 63) == 0) {
                        if (expired()) return;
                        std::this_thread::yield();
                    }
                    continue;
                }
                for (std::size_t i = 0; i < got; ++i) {
                    if (!Item::valid(buf[i])) {
                        payload_ok[static_cast<std::size_t>(c)] = 0;
                        continue;
                    }
                    mine.push_back(Item::tag_of(buf[i]));
                    buf[i] = T{};
                }
                consumed.fetch_add(got, std::memory_order_relaxed);
            }
        });
    }
    for (auto& t : threads) t.join();
    finished.store(true);
    watchdog.join();

    StressResult r;
    r.timed_out = abort.load();
    r.failed_push_damaged = damaged.load();
    r.bulk_calls = bulk_calls.load();
    std::vector<std::uint32_t> count(static_cast<std::size_t>(total), 0);
    for (std::size_t c = 0; c < seen.size(); ++c) {
        r.payload_ok = r.payload_ok && payload_ok[c];
        std::vector<std::int64_t> last(static_cast<std::size_t>(producers), -1);
        for (const std::uint64_t t : seen[c]) {
            const auto p = static_cast<std::uint32_t>(t >> 32);
            const auto s = static_cast<std::uint32_t>(t);
            if (p >= static_cast<std::uint32_t>(producers) || s >= per_producer) {
                ++r.duplicated;  // a value nobody pushed: count it against us
                continue;
            }
            ++r.total_seen;
            ++count[std::size_t{p} * per_producer + s];
            if (static_cast<std::int64_t>(s) <= last[p]) ++r.out_of_order;
            last[p] = s;
        }
    }
    for (const std::uint32_t n : count) {
        if (n == 0) ++r.lost;
        if (n > 1) r.duplicated += n - 1;
    }
    return r;
}

void check_stress(const StressResult& r, std::uint64_t expected) {
    CHECK_FALSE(r.timed_out);
    CHECK(r.payload_ok);
    CHECK(r.failed_push_damaged == 0);
    CHECK(r.lost == 0);
    CHECK(r.duplicated == 0);
    CHECK(r.out_of_order == 0);
    CHECK(r.total_seen == expected);
}

}  // namespace

TEST_CASE("concurrent: nothing lost or duplicated, per-producer order per consumer", "[queue][concurrent]") {
    constexpr std::uint32_t n = 100'000;
    // Races are rare events on two cores: each configuration runs a few times.
    constexpr int rounds = 3;
    auto stress = [&](auto item, int producers, int consumers, std::uint32_t per_producer, std::size_t capacity,
                      PopMode mode) {
        for (int round = 0; round < rounds; ++round) {
            INFO("round " << round);
            const auto r = run_stress<decltype(item)>(producers, consumers, per_producer, capacity, mode);
            check_stress(r, std::uint64_t(producers) * per_producer);
            if (mode == PopMode::bulk) CHECK(r.bulk_calls > 0);
        }
    };

    SECTION("1 producer x 1 consumer, try_pop") { stress(PlainItem{}, 1, 1, n, 1024, PopMode::single); }
    SECTION("4 producers x 4 consumers, try_pop") { stress(PlainItem{}, 4, 4, n, 1024, PopMode::single); }
    SECTION("8 producers x 2 consumers, try_pop") { stress(PlainItem{}, 8, 2, n, 1024, PopMode::single); }
    SECTION("4 producers x 4 consumers, pop_bulk") { stress(PlainItem{}, 4, 4, n, 1024, PopMode::bulk); }
    SECTION("8 producers x 2 consumers, pop_bulk and try_pop mixed") {
        stress(PlainItem{}, 8, 2, n, 1024, PopMode::mixed);
    }
    SECTION("4 producers x 4 consumers, mixed, capacity 2 (every push and pop races a full or empty queue)") {
        stress(PlainItem{}, 4, 4, 20'000, 2, PopMode::mixed);
    }
    SECTION("4 producers x 2 consumers, heap payloads (unique_ptr), mixed") {
        stress(HeapItem{}, 4, 2, 50'000, 256, PopMode::mixed);
    }
}
