// Queue benchmark: items/s through capi's MpmcQueue (try_pop and pop_bulk)
// against a plain mutex + std::deque queue (single and bulk pop under one lock)
// and boost::lockfree::queue, for 1, 2 and 4 producers and 1 or 2 consumers,
// plus one thread pushing and popping its own items (the uncontended cost).
//
//   bench_queue [--items N] [--rounds R] [--capacity C] [--bulk B]
//   (defaults: 2,000,000 items per run, 3 rounds, capacity 16384, bulk 64)
//
// The payload is a std::uint64_t for every contender (boost::lockfree::queue
// needs a trivially copyable T; the client queues a pointer-sized handle too).
// All queues are bounded at the same capacity; a full or empty queue makes the
// thread yield, the same back-off for everyone. The machine is shared and has
// few cores: contenders alternate within each round and the best round of each
// is reported, so a slow spell hits everybody. With more threads than cores the
// numbers measure the scheduler as much as the queue; they are printed anyway.
#include "queue/mpmc_queue.hpp"

#include "args.hpp"

#include <boost/lockfree/queue.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;
using item = std::uint64_t;

struct MutexDequeQueue {
    explicit MutexDequeQueue(std::size_t capacity) : capacity_(capacity) {}

    bool try_push(item v) {
        std::lock_guard lock(mutex_);
        if (items_.size() >= capacity_) return false;
        items_.push_back(v);
        return true;
    }
    bool try_pop(item& out) {
        std::lock_guard lock(mutex_);
        if (items_.empty()) return false;
        out = items_.front();
        items_.pop_front();
        return true;
    }
    std::size_t pop_bulk(item* out, std::size_t max) {
        std::lock_guard lock(mutex_);
        const std::size_t n = std::min(max, items_.size());
        std::copy_n(items_.begin(), n, out);
        items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(n));
        return n;
    }

    std::mutex mutex_;
    std::deque<item> items_;
    std::size_t capacity_;
};

struct BoostQueue {
    // fixed_sized: nodes come from the preallocated pool only, so push fails when
    // full (bounded, like the others) instead of allocating.
    explicit BoostQueue(std::size_t capacity) : q_(capacity) {}
    bool try_push(item v) { return q_.push(v); }
    bool try_pop(item& out) { return q_.pop(out); }

    boost::lockfree::queue<item, boost::lockfree::fixed_sized<true>> q_;
};

struct CapiQueue {
    explicit CapiQueue(std::size_t capacity) : q_(capacity) {}
    bool try_push(item v) { return q_.try_push(std::move(v)); }
    bool try_pop(item& out) { return q_.try_pop(out); }
    std::size_t pop_bulk(item* out, std::size_t max) { return q_.pop_bulk(out, max); }

    capi::detail::MpmcQueue<item> q_;
};

struct Config {
    std::size_t items = 2'000'000;
    int rounds = 3;
    std::size_t capacity = 16384;
    std::size_t bulk = 64;
};

struct RunResult {
    double seconds = 0;
    std::uint64_t items = 0;
    bool ok = true;  // every item arrived exactly once (checked by count and sum)
};

// producers threads push items/producers values each; consumers pop (one at a time
// or in runs of up to `bulk`) until all have arrived. Timed from the moment every
// thread is ready to the last join.
template <class Queue>
RunResult run_threads(const Config& cfg, int producers, int consumers, bool use_bulk) {
    Queue q(cfg.capacity);
    const std::size_t per_producer = cfg.items / static_cast<std::size_t>(producers);
    const std::uint64_t total = per_producer * static_cast<std::uint64_t>(producers);
    std::atomic<std::uint64_t> consumed{0};
    std::atomic<std::uint64_t> sum{0};
    std::atomic<int> ready{0};
    std::atomic<bool> go{false};

    auto gate = [&] {
        ready.fetch_add(1);
        while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
    };

    std::vector<std::thread> threads;
    for (int p = 0; p < producers; ++p) {
        threads.emplace_back([&, p] {
            gate();
            const std::uint64_t base = std::uint64_t(p) * per_producer;
            for (std::uint64_t i = 0; i < per_producer; ++i) {
                while (!q.try_push(base + i)) std::this_thread::yield();
            }
        });
    }
    for (int c = 0; c < consumers; ++c) {
        threads.emplace_back([&] {
            std::vector<item> buf(cfg.bulk);
            std::uint64_t local_sum = 0;
            gate();
            while (consumed.load(std::memory_order_relaxed) < total) {
                std::size_t got = 0;
                if constexpr (requires { q.pop_bulk(buf.data(), buf.size()); }) {
                    if (use_bulk) got = q.pop_bulk(buf.data(), buf.size());
                    else got = q.try_pop(buf[0]) ? 1 : 0;
                } else {
                    got = q.try_pop(buf[0]) ? 1 : 0;
                }
                if (got == 0) {
                    std::this_thread::yield();
                    continue;
                }
                for (std::size_t i = 0; i < got; ++i) local_sum += buf[i];
                consumed.fetch_add(got, std::memory_order_relaxed);
            }
            sum.fetch_add(local_sum);
        });
    }
    while (ready.load() < producers + consumers) std::this_thread::yield();
    const auto start = clock_type::now();
    go.store(true, std::memory_order_release);
    for (auto& t : threads) t.join();
    const auto stop = clock_type::now();

    RunResult r;
    r.seconds = std::chrono::duration<double>(stop - start).count();
    r.items = total;
    r.ok = consumed.load() == total && sum.load() == total * (total - 1) / 2;
    return r;
}

// One thread pushes a run of `bulk` items then pops them back: no contention,
// the bare cost of a push + pop.
template <class Queue>
RunResult run_same_thread(const Config& cfg, bool use_bulk) {
    Queue q(cfg.capacity);
    std::vector<item> buf(cfg.bulk);
    const std::size_t run = std::min(cfg.bulk, cfg.capacity);
    std::uint64_t next = 0;
    std::uint64_t sum = 0;
    std::uint64_t popped = 0;
    const auto start = clock_type::now();
    while (next < cfg.items) {
        const std::uint64_t end = std::min<std::uint64_t>(next + run, cfg.items);
        for (; next < end; ++next) q.try_push(next);
        for (;;) {
            std::size_t got = 0;
            if constexpr (requires { q.pop_bulk(buf.data(), buf.size()); }) {
                if (use_bulk) got = q.pop_bulk(buf.data(), buf.size());
                else got = q.try_pop(buf[0]) ? 1 : 0;
            } else {
                got = q.try_pop(buf[0]) ? 1 : 0;
            }
            if (got == 0) break;
            for (std::size_t i = 0; i < got; ++i) sum += buf[i];
            popped += got;
        }
    }
    RunResult r;
    r.seconds = std::chrono::duration<double>(clock_type::now() - start).count();
    r.items = cfg.items;
    r.ok = popped == cfg.items && sum == std::uint64_t(cfg.items) * (cfg.items - 1) / 2;
    return r;
}

struct Contender {
    const char* name;
    RunResult (*threads)(const Config&, int, int, bool);
    RunResult (*same_thread)(const Config&, bool);
    bool bulk;
};

const Contender contenders[] = {
    {"mutex+deque", &run_threads<MutexDequeQueue>, &run_same_thread<MutexDequeQueue>, false},
    {"boost::lockfree", &run_threads<BoostQueue>, &run_same_thread<BoostQueue>, false},
    {"capi try_pop", &run_threads<CapiQueue>, &run_same_thread<CapiQueue>, false},
    {"mutex bulk", &run_threads<MutexDequeQueue>, &run_same_thread<MutexDequeQueue>, true},
    {"capi pop_bulk", &run_threads<CapiQueue>, &run_same_thread<CapiQueue>, true},
};
constexpr std::size_t n_contenders = std::size(contenders);
enum { mutex_single, boost_single, capi_single, mutex_bulk, capi_bulk };

Config parse(int argc, char** argv) {
    capi_bench::Args args(argc, argv, "[--items N] [--rounds R] [--capacity C] [--bulk B]");  // tools/bench/args.hpp
    Config cfg;
    cfg.items = static_cast<std::size_t>(args.integer("--items", static_cast<long>(cfg.items), 1, 1'000'000'000));
    cfg.rounds = static_cast<int>(args.integer("--rounds", cfg.rounds, 1, 10'000));
    cfg.capacity = static_cast<std::size_t>(args.integer("--capacity", static_cast<long>(cfg.capacity), 1, 1'000'000'000));
    cfg.bulk = static_cast<std::size_t>(args.integer("--bulk", static_cast<long>(cfg.bulk), 1, 1'000'000));
    args.finish();
    // boost::lockfree's fixed-size pool indexes nodes with 16 bits.
    if (cfg.capacity > 65534) args.fail("--capacity", "at most 65534 (boost::lockfree::queue's fixed_sized limit)");
    // capi rounds its capacity up to a power of two: give everyone the same number.
    cfg.capacity = capi::detail::MpmcQueue<item>(cfg.capacity).capacity();
    if (cfg.capacity > 65534) cfg.capacity = 32768;
    return cfg;
}

}  // namespace

int main(int argc, char** argv) {
    const Config cfg = parse(argc, argv);
    std::printf("bench_queue: %zu items per run, capacity %zu, pop_bulk up to %zu, best of %d rounds, "
                "%u hardware threads\n",
                cfg.items, cfg.capacity, cfg.bulk, cfg.rounds, std::thread::hardware_concurrency());
    std::printf("M ops/s = items moved producer -> consumer per second (one push + one pop each)\n\n");

    struct Shape {
        int producers;
        int consumers;  // 0: the same thread pushes and pops
    };
    const Shape shapes[] = {{0, 0}, {1, 1}, {2, 1}, {4, 1}, {1, 2}, {2, 2}, {4, 2}};

    std::printf("%-10s", "P x C");
    for (const auto& c : contenders) std::printf(" %15s", c.name);
    std::printf(" | %10s %10s %10s %10s\n", "capi/mutex", "capi/boost", "bulk/mutbk", "bulk/capi");

    bool all_ok = true;
    for (const Shape& s : shapes) {
        double best[n_contenders];
        std::fill(std::begin(best), std::end(best), 1e300);
        std::uint64_t moved = cfg.items;
        for (int round = 0; round < cfg.rounds; ++round) {
            for (std::size_t k = 0; k < n_contenders; ++k) {
                const Contender& c = contenders[k];
                const RunResult r = s.producers == 0 ? c.same_thread(cfg, c.bulk)
                                                     : c.threads(cfg, s.producers, s.consumers, c.bulk);
                if (!r.ok) {
                    std::fprintf(stderr, "%s lost or duplicated items (%d x %d)\n", c.name, s.producers, s.consumers);
                    all_ok = false;
                }
                best[k] = std::min(best[k], r.seconds);
                moved = r.items;
            }
        }
        char label[32];
        if (s.producers == 0) std::snprintf(label, sizeof label, "1 thread");
        else std::snprintf(label, sizeof label, "%d x %d", s.producers, s.consumers);
        std::printf("%-10s", label);
        double mops[n_contenders];
        for (std::size_t k = 0; k < n_contenders; ++k) {
            mops[k] = static_cast<double>(moved) / best[k] / 1e6;
            std::printf(" %15.2f", mops[k]);
        }
        std::printf(" | %9.2fx %9.2fx %9.2fx %9.2fx\n", mops[capi_single] / mops[mutex_single],
                    mops[capi_single] / mops[boost_single], mops[capi_bulk] / mops[mutex_bulk],
                    mops[capi_bulk] / mops[capi_single]);
        std::fflush(stdout);
    }
    std::printf("\nbulk/mutbk = capi pop_bulk vs mutex+deque popping the same run under one lock;\n"
                "bulk/capi = capi pop_bulk vs capi try_pop. boost::lockfree::queue has no bulk pop.\n");
    return all_ok ? 0 : 1;
}
