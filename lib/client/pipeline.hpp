// The client pipeline's shared types: what travels between its stages
// (envelopes, pending events, batches) and the small helpers every stage uses.
// Lib-private; the stages and their locks are described in client.cpp.
#pragma once

#include <capi/client.hpp>
#include <capi/sender.hpp>

#include "json/prepared.hpp"
#include "util/ascii.hpp"
#include "util/prefetch.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <cstdint>
#include <exception>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <time.h>

namespace capi::pipeline {

struct Pipeline;  // impl.hpp: the stages wired together

using steady = std::chrono::steady_clock;
using sys_time = std::chrono::system_clock::time_point;
using detail::PreparedEvent;
using detail::batch_access;

/// The wall clock of the event_time windows: Options::clock, or the system
/// clock read coarsely (CLOCK_REALTIME_COARSE, the kernel's last tick: ~4 ns a
/// read instead of ~25, and behind by at most a few milliseconds). The windows
/// are whole seconds (event_time) against days and a five-minute skew.
inline sys_time window_now(const Clock& clock) {
    if (clock) return clock();
    timespec ts{};
    if (::clock_gettime(CLOCK_REALTIME_COARSE, &ts) != 0) return std::chrono::system_clock::now();
    return sys_time(std::chrono::duration_cast<std::chrono::system_clock::duration>(
        std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec)));
}

constexpr std::size_t bulk_size = 256;
constexpr auto idle_wait_max = std::chrono::milliseconds(5);
constexpr std::uint64_t never = std::numeric_limits<std::uint64_t>::max();

struct AtomicHistogram {
    std::array<std::atomic<std::uint64_t>, 64> buckets{};
    std::atomic<std::uint64_t> count{0};

    void record(std::uint64_t v) noexcept {
        const std::size_t i = v == 0 ? 0 : static_cast<std::size_t>(63 - __builtin_clzll(v));
        buckets[i].fetch_add(1, std::memory_order_relaxed);
        count.fetch_add(1, std::memory_order_relaxed);
    }
    /// Adds per-bucket counts gathered elsewhere (`total` = their sum).
    void add(const std::array<std::uint64_t, 64>& b, std::uint64_t total) noexcept {
        for (std::size_t i = 0; i < b.size(); ++i)
            if (b[i] != 0) buckets[i].fetch_add(b[i], std::memory_order_relaxed);
        count.fetch_add(total, std::memory_order_relaxed);
    }
    Histogram snapshot() const noexcept {
        Histogram h;
        for (std::size_t i = 0; i < buckets.size(); ++i) {
            h.buckets[i] = buckets[i].load(std::memory_order_relaxed);
            h.count += h.buckets[i];
        }
        return h;
    }
};

/// A counter spread over cache lines, so producer threads on different cores
/// do not bounce one line on every enqueue; a thread always uses the same
/// stripe, and readers sum the stripes.
struct StripedCounter {
    static constexpr std::size_t stripes = 16;
    struct alignas(64) Cell {
        std::atomic<std::uint64_t> v{0};
    };
    std::array<Cell, stripes> cells{};

    static std::size_t mine() noexcept {
        thread_local const std::size_t i = std::hash<std::thread::id>{}(std::this_thread::get_id()) % stripes;
        return i;
    }
    void add(std::uint64_t n, std::memory_order o) noexcept { cells[mine()].v.fetch_add(n, o); }
    void sub(std::uint64_t n, std::memory_order o) noexcept { cells[mine()].v.fetch_sub(n, o); }
    std::uint64_t load(std::memory_order o) const noexcept {
        std::uint64_t sum = 0;
        for (const auto& c : cells) sum += c.v.load(o);
        return sum;
    }
};

// The operation waiting for an event's outcome (async_send); null for enqueue().
using completion_ptr = std::shared_ptr<detail::send_op>;

struct Envelope {
    bool marker = false;
    std::uint64_t flush_gen = 0;
    // The event as the producer prepared it (validated, normalized, serialized,
    // digests pending): the Event itself never crosses threads.
    PreparedEvent prep;
    std::string event_id;
    std::optional<Destination> dest;  // nullopt: Options::destination
    completion_ptr done;              // null for enqueue()
    steady::time_point accepted;
    sys_time prepared_at{};           // the wall clock prepare() validated the event at
    bool taken = false;               // its Pending was made (settled or in a batch)
    bool own_id = false;              // the caller gave the event_id (assigned ones are not in duplicate_ids)
    std::vector<FieldError> invalid;  // async_send: why the prepared event cannot go in
    std::uint64_t id_hash = 0;        // of a caller's event_id, for Stats::duplicate_ids
};
using EnvelopePtr = std::unique_ptr<Envelope>;

// An accepted event inside a batch.
struct Pending {
    completion_ptr done;
    // Held in place (SmallString, up to 43 bytes: an assigned id is 32, a UUID
    // 36), so carrying it costs no allocation on the producer and no free on the
    // thread that settles the batch (a cross-thread free takes the allocator's
    // arena lock), and it moves into the event's SendResult as it is.
    SmallString event_id;
    steady::time_point accepted;
    bool settled = false;
    bool fresh = false;  // Outcomes::settle_all's mark between its two passes
    sys_time not_after = sys_time::max();  // its 7/62-day window closes
};

struct DestState {
    Destination dest;
    RequestFields fields;
    std::string proof;  // appsecret_proof, computed once per destination
};

/// The destinations events name, each with its request fields and proof made
/// once. Its own lock (mu_), taken only when an event names a destination a
/// batcher has no partial batch for yet.
class Destinations {
public:
    explicit Destinations(const Options& o) : opts_(o) {}
    /// Sets Options::destination as the default (at start, before any thread).
    void set_default(const Destination& d) { default_ = make(d); }
    const std::shared_ptr<const DestState>& default_dest() const noexcept { return default_; }
    /// The state of `d` (nullopt: the default). Any thread.
    std::shared_ptr<const DestState> find(const std::optional<Destination>& d);

private:
    std::shared_ptr<const DestState> make(const Destination& d) const;

    const Options& opts_;
    std::shared_ptr<const DestState> default_;            // set before the threads start
    std::mutex mu_;
    std::vector<std::shared_ptr<const DestState>> all_;   // guarded by mu_
};

class EncoderPool;  // batcher.hpp

struct Batch {
    std::shared_ptr<const DestState> dest;
    const std::shared_ptr<EncoderPool> pool;
    BatchEncoder enc;
    /// The sealed request body, in `enc`'s buffer (BatchEncoder::json_body at seal):
    /// the transport sends it from there, holding the batch.
    std::string_view body;
    std::vector<Pending> events;
    std::vector<std::uint64_t> id_hashes;  // of callers' event_ids, counted for duplicates at seal
    sys_time not_after = sys_time::max();
    std::uint64_t epoch = 0;
    std::atomic<bool> settled{false};

    explicit Batch(std::shared_ptr<EncoderPool> p);  // batcher.cpp: takes an encoder from the pool
    ~Batch();                                        // and gives it back
    /// Hashes, closes the body and keeps its view: the last change to `enc`.
    void finish_body() { body = enc.json_body(dest->fields, dest->dest.access_token); }
    Batch(const Batch&) = delete;
    Batch& operator=(const Batch&) = delete;
};
using BatchPtr = std::shared_ptr<Batch>;

inline SendResult make_result(Outcome o, std::error_code ec) {
    SendResult r;
    r.outcome = o;
    r.error = ec;
    return r;
}

using detail::ascii::all_digits;

/// The error an exception caught in the pipeline stands for.
std::error_code error_of(const std::exception_ptr& e);

/// Names the calling thread (top, perf and gdb show it); best effort, Linux only.
void name_thread(const char* name) noexcept;

/// Runs each function, swallowing what it throws (rule 9).
void run_all(std::vector<std::function<void()>>& fns);

using detail::for_reading;
using detail::for_write;
/// Asks for the cache lines of `bytes` ahead of use (util/prefetch.hpp).
template <int Rw = for_reading>
inline void prefetch(std::string_view bytes) noexcept {
    detail::prefetch_lines<Rw>(bytes.data(), bytes.size());
}

} // namespace capi::pipeline
