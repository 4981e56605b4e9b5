// capi::Client: intake, the MPMC queue, batcher threads, the dispatcher, flush
// and shutdown.
//
// Pipeline
//   producers  prepare the event on their own thread (validate, normalize,
//              serialize with digests pending: BatchEncoder::prepare, so the
//              Event is freed where it was made), wrap it in an Envelope, push it
//              into the bounded lock-free MpmcQueue (overflow policy when full).
//   batchers   N threads; each bulk-pops envelopes and appends them to its own
//              partial batches (one BatchEncoder per destination); seals at
//              max_batch_events, before max_batch_bytes, or `linger` after a
//              batch's first event. Sealed batches go to the dispatcher. When the
//              dispatcher holds too many batches the batchers stop popping, so
//              the queue fills and the overflow policy applies (back pressure,
//              like librdkafka's queue.buffering.max.messages).
//   dispatcher on the io executor: at most transport.max_in_flight batches in the
//              Sender at once, the rest wait in FIFO order. Code 100 on a batch of
//              more than one event splits it into halves rebuilt from the events'
//              serialized JSON (no second hashing), recursively.
//
// Flush (STYLE rule 4: a marker through the pipeline)
//   async_flush registers generation g and pushes a marker envelope into the
//   queue behind every event accepted before the call. Whoever pops the marker
//   (a batcher, or a producer dropping the oldest envelope under drop_oldest)
//   issues seal request r = ++seal_req_ and records "flush g waits for r". Every
//   batcher checks seal_req_ between two bulk pops: when it is newer than the
//   request it acknowledged, it seals all its partial batches and then records
//   acked = r. A batch is tagged, when sealed, with its batcher's acked request
//   (its epoch), so everything a batcher held when it acknowledged r has an
//   epoch < r. Popping the marker means every position before it in the queue
//   was claimed by some batcher, which will hold it (or has sealed it) by the
//   time it acknowledges r. Flush g therefore completes when every batcher has
//   acked >= r and no batch of epoch < r is outstanding (per-epoch counters;
//   split halves inherit their parent's epoch). This holds under continuous
//   load and with any number of batchers sharing the queue; later events only
//   ever make a flush wait longer, never complete early.
//
// Outcomes: every accepted event is settled exactly once (counters, histogram,
// its completion, the delivery report). A batch is settled once: its `settled`
// flag decides between the Sender's completion and shutdown's forced settlement.
#include <capi/client.hpp>

#include "queue/mpmc_queue.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <limits>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>

#if defined(__linux__)
#include <pthread.h>
#endif

namespace capi {

namespace asio = boost::asio;
using steady = std::chrono::steady_clock;
using sys_time = std::chrono::system_clock::time_point;

std::string_view to_string(Outcome o) noexcept {
    switch (o) {
    case Outcome::delivered: return "delivered";
    case Outcome::rejected: return "rejected";
    case Outcome::failed: return "failed";
    case Outcome::expired: return "expired";
    case Outcome::dropped: return "dropped";
    }
    return "unknown";
}

std::uint64_t Histogram::percentile(double q) const noexcept {
    if (count == 0) return 0;
    if (!(q > 0)) q = 0;
    if (q > 1) q = 1;
    auto target = static_cast<std::uint64_t>(q * static_cast<double>(count) + 0.999999);
    if (target == 0) target = 1;
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < buckets.size(); ++i) {
        seen += buckets[i];
        if (seen >= target)
            return i >= 63 ? std::numeric_limits<std::uint64_t>::max() : (std::uint64_t{1} << (i + 1));
    }
    return std::numeric_limits<std::uint64_t>::max();
}

namespace {

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
    bool taken = false;               // its Pending was made (settled or in a batch)
    bool own_id = false;              // the caller gave the event_id (an assigned one is unique)
    std::vector<FieldError> invalid;  // async_send: why the prepared event cannot go in
    std::uint64_t id_hash = 0;        // of a caller's event_id, for Stats::duplicate_ids
};
using EnvelopePtr = std::unique_ptr<Envelope>;

// An accepted event inside a batch.
struct Pending {
    completion_ptr done;
    std::string event_id;
    steady::time_point accepted;
    bool settled = false;
    sys_time not_after = sys_time::max();  // its 7/62-day window closes
};

struct DestState {
    Destination dest;
    RequestFields fields;
    std::string proof;  // appsecret_proof, computed once per destination
};

/// Batch encoders, reused: each keeps a body's worth of buffer between batches.
/// Shared with the batches, which return their encoder when the last holder of
/// the batch lets go (the transport may still hold the body it is writing).
struct EncoderPool {
    EncoderPool(EncodeOptions o, std::size_t max_body) : options(std::move(o)), max_batch_bytes(max_body) {}

    BatchEncoder get() {
        {
            std::lock_guard lock(mu);
            if (!spare.empty()) {
                auto e = std::move(spare.back());
                spare.pop_back();
                return e;
            }
        }
        BatchEncoder e(options);
        // Sized like the last sealed body (and some): a 1 MB body built by
        // doubling would be copied about twice over on the way.
        if (const auto typical = typical_body.load(std::memory_order_relaxed); typical != 0)
            e.reserve(std::min(max_batch_bytes, typical + typical / 8) + 4096);
        return e;
    }
    void put(BatchEncoder&& e) noexcept {
        try {
            e.clear();
            std::lock_guard lock(mu);
            if (spare.size() < 64) spare.push_back(std::move(e));
        } catch (...) {
        }
    }

    const EncodeOptions options;
    const std::size_t max_batch_bytes;
    std::atomic<std::size_t> typical_body{0};  // the last sealed body's size
    std::mutex mu;
    std::vector<BatchEncoder> spare;  // guarded by mu
};

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

    explicit Batch(std::shared_ptr<EncoderPool> p) : pool(std::move(p)), enc(pool->get()) {}
    ~Batch() { pool->put(std::move(enc)); }
    /// Hashes, closes the body and keeps its view: the last change to `enc`.
    void finish_body() { body = enc.json_body(dest->fields, dest->dest.access_token); }
    Batch(const Batch&) = delete;
    Batch& operator=(const Batch&) = delete;
};
using BatchPtr = std::shared_ptr<Batch>;

struct Partial {
    std::shared_ptr<const DestState> dest;
    bool is_default = false;
    BatchPtr batch;  // null until the first event after a seal
    steady::time_point first;
};

struct Batcher {
    std::thread thread;
    std::vector<Partial> partials;
    std::uint64_t acked = 0;  // written by its own thread under flush_mu_
};

/// Names the calling thread (top, perf and gdb show it); best effort, Linux only.
void name_thread(const char* name) noexcept {
#if defined(__linux__)
    pthread_setname_np(pthread_self(), name);
#else
    (void)name;
#endif
}

/// A random 128-bit event_id as 32 lowercase hex digits, for events accepted
/// without one (Options::assign_event_id): a batch resent after an attempt that
/// may have been delivered then deduplicates at Meta. xoshiro256** per thread,
/// seeded from std::random_device and the thread's identity.
void new_event_id(std::string& id) {
    struct Rng {
        std::uint64_t s[4];
        Rng() {
            std::random_device rd;
            std::uint64_t x = (std::uint64_t{rd()} << 32) ^ rd() ^
                              static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(this)) ^
                              static_cast<std::uint64_t>(steady::now().time_since_epoch().count());
            for (auto& w : s) {  // splitmix64 spreads the seed over the state
                x += 0x9e3779b97f4a7c15ULL;
                std::uint64_t z = x;
                z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
                z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
                w = z ^ (z >> 31);
            }
        }
        static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
        std::uint64_t next() {
            const std::uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
            s[2] ^= s[0];
            s[3] ^= s[1];
            s[1] ^= s[2];
            s[0] ^= s[3];
            s[2] ^= t;
            s[3] = rotl(s[3], 45);
            return r;
        }
    };
    thread_local Rng rng;
    static constexpr char hex[] = "0123456789abcdef";
    id.resize(32);  // keeps a recycled envelope's capacity
    for (int half = 0; half < 2; ++half) {
        std::uint64_t v = rng.next();
        for (int i = 0; i < 16; ++i, v >>= 4) id[static_cast<std::size_t>(half * 16 + i)] = hex[v & 15];
    }
}

bool all_digits(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

[[noreturn]] void bad_option(const std::string& what) {
    throw std::system_error(make_error_code(errc::invalid_option), what);
}

/// An all-empty Options::destination means none: every event names its own.
bool no_default(const Destination& d) { return d == Destination{}; }

void check_options(const Options& o, bool owns_io) {
    if (!no_default(o.destination)) {
        if (!all_digits(o.destination.pixel_id))
            bad_option("destination.pixel_id: must be a non-empty string of digits");
        if (o.destination.access_token.empty()) bad_option("destination.access_token: must not be empty");
    }
    if (o.queue_capacity < 2) bad_option("queue_capacity: must be at least 2");
    if (o.queue_capacity > (std::size_t{1} << 30)) bad_option("queue_capacity: must be at most 2^30");
    if (o.encode.max_batch_events < 1 || o.encode.max_batch_events > 1000)
        bad_option("encode.max_batch_events: must be 1..1000 (Meta's limit)");
    if (o.linger.count() <= 0) bad_option("linger: must be positive");
    if (o.max_batch_bytes < 64 * 1024) bad_option("max_batch_bytes: must be at least 64 KiB");
    if (o.encode.validation.max_event_bytes > o.max_batch_bytes)
        bad_option("encode.validation.max_event_bytes: must not exceed max_batch_bytes");
    if (owns_io && o.io_threads < 1) bad_option("io_threads: must be at least 1");
    if (o.io_threads > 256) bad_option("io_threads: must be at most 256");
    if (o.batchers > 256) bad_option("batchers: must be at most 256");
    if (o.retry.max_attempts < 1) bad_option("retry.max_attempts: must be at least 1");
    if (o.transport.max_in_flight < 1) bad_option("transport.max_in_flight: must be at least 1");
    if (o.max_batches_in_flight > 65536) bad_option("max_batches_in_flight: must be at most 65536");
}

std::vector<FieldError> check_destination(const Destination& d) {
    std::vector<FieldError> e;
    if (!all_digits(d.pixel_id)) e.push_back({"destination.pixel_id", "must be a non-empty string of digits"});
    if (d.access_token.empty()) e.push_back({"destination.access_token", "must not be empty"});
    return e;
}

SendResult make_result(Outcome o, std::error_code ec) {
    SendResult r;
    r.outcome = o;
    r.error = ec;
    return r;
}

std::error_code error_of(const std::exception_ptr& e) {
    try {
        std::rethrow_exception(e);
    } catch (const std::bad_alloc&) {
        return std::make_error_code(std::errc::not_enough_memory);
    } catch (const std::system_error& se) {
        return se.code();
    } catch (...) {
        return std::make_error_code(std::errc::state_not_recoverable);
    }
}

} // namespace

struct Client::impl : std::enable_shared_from_this<Client::impl> {
    Options opts;
    std::unique_ptr<asio::io_context> owned_io;
    asio::any_io_executor ex;
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> io_work;
    std::vector<std::thread> io_threads;

    std::shared_ptr<Transport> transport;
    std::unique_ptr<Sender> sender;

    detail::MpmcQueue<EnvelopePtr> queue;
    // Envelopes the batchers are done with, their buffers' capacity kept for the
    // next enqueue: in steady state an accepted event costs no allocation on the
    // producer and no free on the batcher (a buffer malloc'ed on one thread and
    // freed on another takes the allocator's arena lock each time, a contended
    // futex under load).
    detail::MpmcQueue<EnvelopePtr> spare_envelopes{spare_envelope_count};

    // Intake gate: shutdown waits for producers that passed the closed_ check.
    alignas(64) std::atomic<bool> closed{false};
    // Per stripe, a producer's increment of intake_active and its load of
    // `closed` (both seq_cst) pair with shutdown's store of `closed` and its loads
    // of every stripe: either shutdown sees the producer inside, or the producer
    // sees `closed` and backs out.
    StripedCounter intake_active;
    StripedCounter accepted;
    alignas(64) std::atomic<std::uint64_t> in_flight{0};
    alignas(64) std::atomic<std::uint64_t> delivered{0}, failed{0}, expired{0}, dropped{0};
    std::atomic<std::uint64_t> rejected{0}, rejected_full{0};
    std::atomic<std::uint64_t> retries{0}, batches{0}, bytes{0}, splits{0};
    // Reliability counters and the tokens Meta refused (code 190): a batch for a
    // refused token fails at once with auth_error, no request (no retry storm).
    std::atomic<std::uint64_t> possibly_delivered{0}, throttled{0}, receipt_mismatch{0}, duplicate_ids{0};
    std::mutex auth_mu;
    std::unordered_map<std::string, GraphError> refused_tokens;  // guarded by auth_mu
    std::atomic<bool> any_refused{false};  // keeps auth_mu off the path until a refusal
    AtomicHistogram latency_us, batch_events;

    // Batchers and their wake-up.
    std::vector<std::unique_ptr<Batcher>> batchers;
    std::atomic<bool> stop{false};
    alignas(64) std::atomic<int> sleepers{0};
    std::atomic<bool> wake_on_next{false};  // a batcher holding nothing sleeps
    std::mutex wake_mu;
    std::condition_variable wake_cv;

    // Flush bookkeeping (see the file comment).
    struct FlushWait {
        std::uint64_t req = 0;  // 0: marker not popped yet
        std::function<void()> done;
    };
    std::mutex flush_mu;
    std::atomic<std::uint64_t> seal_req{0};
    std::uint64_t next_gen = 0;                      // guarded by flush_mu
    std::map<std::uint64_t, FlushWait> flushes;      // guarded by flush_mu
    std::map<std::uint64_t, std::size_t> outstanding;  // epoch -> batches; guarded
    bool batchers_gone = false;                      // guarded

    // Dispatcher.
    std::mutex disp_mu;
    std::size_t disp_cap = 1;
    std::size_t disp_inflight = 0;                   // guarded by disp_mu
    std::deque<BatchPtr> waiting;                    // guarded
    std::unordered_map<Batch*, BatchPtr> live;       // guarded: waiting + in the Sender
    bool closing = false;                            // guarded
    std::atomic<std::size_t> live_count{0};
    std::size_t backpressure_at = 2;

    // Destinations and recycled encoders.
    std::mutex dest_mu;
    std::shared_ptr<const DestState> default_dest;
    std::vector<std::shared_ptr<const DestState>> dests;  // guarded by dest_mu
    std::shared_ptr<EncoderPool> encoders;

    std::atomic<std::uint64_t> pending_reports{0};
    std::mutex shutdown_mu;
    bool shut = false;
    bool shut_result = true;

    explicit impl(Options o)
        : opts(std::move(o)),
          queue(std::max<std::size_t>(opts.queue_capacity, 2)),
          encoders(std::make_shared<EncoderPool>(opts.encode, opts.max_batch_bytes)) {}

    static constexpr std::size_t spare_envelope_count = 2048;
    // A recycled envelope keeps at most this much buffer (a rare huge event's
    // memory goes back to the allocator).
    static constexpr std::size_t spare_buffer_bytes = 8 * 1024;

    EnvelopePtr take_envelope() {
        EnvelopePtr e;
        if (spare_envelopes.try_pop(e)) return e;
        return std::make_unique<Envelope>();
    }

    /// Resets `e` and keeps it for a later enqueue (or frees it when enough wait).
    void recycle(EnvelopePtr e) noexcept {
        if (!e) return;
        e->marker = false;
        e->flush_gen = 0;
        e->dest.reset();
        e->done.reset();
        e->taken = false;
        e->own_id = false;
        e->invalid.clear();
        if (e->prep.capacity() > spare_buffer_bytes) e->prep = PreparedEvent{};
        if (e->event_id.capacity() > 64) e->event_id = std::string{};
        (void)spare_envelopes.try_push(std::move(e));  // when full, e is freed here
    }

    static inline std::atomic<std::uint64_t> serials{0};
    const std::uint64_t serial = serials.fetch_add(1, std::memory_order_relaxed) + 1;

    // ---------------------------------------------------------------- setup

    void start(std::optional<asio::any_io_executor> user_ex) {
        if (user_ex) {
            ex = *user_ex;
        } else {
            owned_io = std::make_unique<asio::io_context>(static_cast<int>(opts.io_threads));
            ex = owned_io->get_executor();
            io_work.emplace(owned_io->get_executor());
        }
        transport = opts.custom_transport ? opts.custom_transport
                                          : std::shared_ptr<Transport>(make_https_transport(ex, opts.transport));
        sender = std::make_unique<Sender>(ex, *transport, opts.retry, opts.clock);
        if (!no_default(opts.destination)) default_dest = make_dest(opts.destination);
        // Sealed batches handed to the Sender at once: more than the connections
        // can carry only hold ~1 MB bodies (and their allocations) while they wait.
        disp_cap = opts.max_batches_in_flight != 0
                       ? opts.max_batches_in_flight
                       : std::min<std::size_t>(opts.transport.max_in_flight,
                                               2 * std::max<std::size_t>(opts.transport.max_connections, 1));
        unsigned n = opts.batchers;
        if (n == 0) {
            const unsigned hc = std::thread::hardware_concurrency();
            n = hc > 1 ? hc - 1 : 1;
        }
        backpressure_at = disp_cap + n + 1;
        for (unsigned i = 0; i < n; ++i) batchers.push_back(std::make_unique<Batcher>());
        for (unsigned i = 0; i < n; ++i)
            batchers[i]->thread = std::thread([this, i] {
                name_thread("capi-batch");
                batcher_main(i);
            });
        if (owned_io) {
            for (unsigned i = 0; i < opts.io_threads; ++i)
                io_threads.emplace_back([io = owned_io.get()] {
                    name_thread("capi-io");
                    for (;;) {
                        try {
                            io->run();
                            return;
                        } catch (...) {
                            // A user handler threw: keep the loop alive (rule 9).
                        }
                    }
                });
        }
    }

    /// This thread's scratch encoder for prepare(), with this client's options.
    /// A few per thread (a thread may feed several clients), keyed by a client
    /// serial number rather than the address, which a later client may reuse.
    BatchEncoder& staging_encoder() {
        struct Slot {
            std::uint64_t client = 0;
            std::optional<BatchEncoder> enc;
        };
        thread_local std::array<Slot, 4> slots;
        thread_local std::size_t next_victim = 0;
        for (auto& sl : slots)
            if (sl.client == serial && sl.enc) return *sl.enc;
        auto& sl = slots[next_victim++ % slots.size()];
        sl.enc.emplace(opts.encode);
        sl.client = serial;
        return *sl.enc;
    }

    std::shared_ptr<const DestState> make_dest(const Destination& d) {
        auto s = std::make_shared<DestState>();
        s->dest = d;
        s->fields = opts.request;
        if (!d.test_event_code.empty()) s->fields.test_event_code = d.test_event_code;
        if (!d.app_secret.empty()) s->proof = appsecret_proof(d.access_token, d.app_secret);
        return s;
    }

    std::shared_ptr<const DestState> dest_for(const std::optional<Destination>& d) {
        if (!d) return default_dest;
        std::lock_guard lock(dest_mu);
        for (const auto& s : dests)
            if (s->dest == *d) return s;
        dests.push_back(make_dest(*d));
        return dests.back();
    }

    // ---------------------------------------------------------------- outcomes

    std::atomic<std::uint64_t>& outcome_counter(Outcome o) noexcept {
        switch (o) {
        case Outcome::delivered: return delivered;
        case Outcome::expired: return expired;
        case Outcome::dropped: return dropped;
        default: return failed;
        }
    }

    /// Delivers one event's outcome. Any thread; `on_io`: the caller runs on the
    /// io executor (or is shutdown), so the report is made inline.
    void settle(Pending& p, SendResult r, bool was_in_flight, bool on_io) {
        if (p.settled) return;
        p.settled = true;
        r.latency = steady::now() - p.accepted;
        if (r.event_id.empty()) r.event_id = std::move(p.event_id);
        // The outcome is counted before in_flight drops, so stats() never sees
        // an event in neither.
        outcome_counter(r.outcome).fetch_add(1, std::memory_order_relaxed);
        if (was_in_flight) in_flight.fetch_sub(1, std::memory_order_relaxed);
        latency_us.record(static_cast<std::uint64_t>(
            std::chrono::duration_cast<std::chrono::microseconds>(r.latency).count()));
        if (opts.on_delivery) {
            if (p.done) detail::send_op::complete(std::move(p.done), SendResult(r));
            report(std::move(r), on_io);
        } else if (p.done) {
            detail::send_op::complete(std::move(p.done), std::move(r));
        }
    }

    /// settle() for every unsettled event of a batch, alike: the counters move
    /// once per batch, the clock is read once, and a delivery report made inline
    /// reuses one SendResult (no per-event copy of the Graph fields) when the
    /// event has no completion of its own. Any thread.
    void settle_all(std::vector<Pending>& events, const SendResult& r, bool was_in_flight, bool on_io) {
        const auto now = steady::now();
        std::uint64_t n = 0;
        std::array<std::uint64_t, 64> lat{};
        // Marked settled first, so a second call (after a throw below) never counts twice.
        std::vector<Pending*> fresh;
        fresh.reserve(events.size());
        for (auto& p : events) {
            if (p.settled) continue;
            p.settled = true;
            fresh.push_back(&p);
            ++n;
            const auto us = std::chrono::duration_cast<std::chrono::microseconds>(now - p.accepted).count();
            const auto v = static_cast<std::uint64_t>(us < 0 ? 0 : us);
            ++lat[v == 0 ? 0 : static_cast<std::size_t>(63 - __builtin_clzll(v))];
        }
        if (n == 0) return;
        outcome_counter(r.outcome).fetch_add(n, std::memory_order_relaxed);
        if (was_in_flight) in_flight.fetch_sub(n, std::memory_order_relaxed);
        latency_us.add(lat, n);
        const bool reports = static_cast<bool>(opts.on_delivery);
        std::optional<SendResult> shared;  // reused for inline reports
        for (Pending* pp : fresh) {
            Pending& p = *pp;
            const auto latency = now - p.accepted;
            try {
                if (p.done || (reports && !on_io)) {
                    SendResult own = r;
                    own.latency = latency;
                    if (own.event_id.empty()) own.event_id = std::move(p.event_id);
                    if (!reports) {
                        detail::send_op::complete(std::move(p.done), std::move(own));
                        continue;
                    }
                    if (p.done) detail::send_op::complete(std::move(p.done), SendResult(own));
                    report(std::move(own), on_io);
                } else if (reports) {
                    if (!shared) shared.emplace(r);
                    shared->latency = latency;
                    const bool own_id = r.event_id.empty();
                    if (own_id) shared->event_id.swap(p.event_id);
                    report_inline(*shared);
                    if (own_id) shared->event_id.swap(p.event_id);
                }
            } catch (...) {
                // Out of memory building one result: the others still get theirs.
            }
        }
    }

    void report_inline(const SendResult& r) noexcept {
        try {
            opts.on_delivery(r);
        } catch (...) {
            // The user's callback: swallowed (rule 9).
        }
    }

    void report(SendResult r, bool on_io) {
        if (on_io) {
            report_inline(r);
            return;
        }
        pending_reports.fetch_add(1, std::memory_order_relaxed);
        try {
            asio::post(ex, [self = shared_from_this(), r = std::move(r)] {
                try {
                    self->opts.on_delivery(r);
                } catch (...) {
                }
                self->pending_reports.fetch_sub(1, std::memory_order_relaxed);
            });
        } catch (...) {
            pending_reports.fetch_sub(1, std::memory_order_relaxed);
        }
    }

    Pending pending_of(Envelope& e) {
        e.taken = true;
        // Only a completion or a delivery report carries the id; otherwise the
        // envelope keeps the string (and its capacity) for its next event.
        std::string id;
        if (e.done || opts.on_delivery) id = std::move(e.event_id);
        return Pending{std::move(e.done), std::move(id), e.accepted, false};
    }

    // ---------------------------------------------------------------- intake

    enum class Push { accepted, full, shutdown };

    /// Pushes `env` (left untouched unless accepted). Any thread; never blocks.
    Push try_accept(EnvelopePtr& env) {
        intake_active.add(1, std::memory_order_seq_cst);
        if (closed.load(std::memory_order_seq_cst)) {
            intake_active.sub(1, std::memory_order_seq_cst);
            return Push::shutdown;
        }
        // Counted before the push, so a snapshot never sees an outcome of an
        // event it has not seen accepted; undone when the push fails.
        accepted.add(1, std::memory_order_relaxed);
        env->accepted = steady::now();
        bool ok = queue.try_push(std::move(env));
        if (!ok && opts.overflow == Overflow::drop_oldest) {
            for (int i = 0; i < 16 && !ok; ++i) {
                EnvelopePtr old;
                if (queue.try_pop(old)) {
                    if (old->marker) {
                        on_marker(old->flush_gen);  // popping it is what counts
                    } else {
                        auto p = pending_of(*old);
                        settle(p, make_result(Outcome::dropped, make_error_code(errc::queue_full)), false, false);
                    }
                }
                ok = queue.try_push(std::move(env));
            }
        }
        if (!ok) accepted.sub(1, std::memory_order_relaxed);
        intake_active.sub(1, std::memory_order_seq_cst);
        if (ok) maybe_wake();
        return ok ? Push::accepted : Push::full;
    }

    /// After an event went in: wakes a sleeping batcher only when one asked for
    /// the next event (it holds nothing, so nothing else would wake it before
    /// its idle timeout) or when a bulk's worth is waiting. A batcher that holds
    /// a partial batch sleeps until that batch's linger ends and takes what came
    /// meanwhile then, so a steady trickle costs no futex call per event.
    void maybe_wake() {
        std::atomic_thread_fence(std::memory_order_seq_cst);
        if (sleepers.load(std::memory_order_relaxed) == 0) return;
        // Back pressure: the batchers may not pop until a batch leaves (forget()
        // wakes them then), so waking one per event would only cost a futex call.
        if (live_count.load(std::memory_order_relaxed) >= backpressure_at) return;
        if (queue.size_approx() < bulk_size / 2 &&
            !(wake_on_next.load(std::memory_order_relaxed) && wake_on_next.exchange(false, std::memory_order_acq_rel)))
            return;
        std::lock_guard lock(wake_mu);
        wake_cv.notify_one();
    }
    void wake_one() {
        std::atomic_thread_fence(std::memory_order_seq_cst);
        if (sleepers.load(std::memory_order_relaxed) > 0) {
            std::lock_guard lock(wake_mu);
            wake_cv.notify_one();
        }
    }
    void wake_all() {
        std::lock_guard lock(wake_mu);
        wake_cv.notify_all();
    }

    /// Validation common to enqueue and async_send; empty when the event may go in.
    /// Prepares the event on the calling thread (validate, normalize, serialize;
    /// see PreparedEvent): the caller's thread frees the Event it allocated, and
    /// an event that cannot be sent is refused here, never queued.
    std::vector<FieldError> check(const Event& ev, std::optional<Destination>& dest, PreparedEvent& out,
                                  std::string_view assigned_id) {
        auto errors = std::move(staging_encoder().prepare(ev, capi::now(opts.clock), out, assigned_id).errors);
        if (!dest && !default_dest) {
            errors.push_back({"destination", "none given, and Options::destination is empty (no default)"});
        } else if (dest) {
            if (default_dest && *dest == opts.destination) {
                dest.reset();
            } else {
                auto d = check_destination(*dest);
                errors.insert(errors.end(), d.begin(), d.end());
            }
        }
        return errors;
    }

    /// The id the envelope's event travels with: its own (hashed here, off the
    /// batcher, for the duplicate count), a fresh one, or none.
    void assign_id(const Event& ev, Envelope& env) const {
        env.own_id = ev.event_id.has_value();
        if (env.own_id) {
            env.event_id.assign(*ev.event_id);
            env.id_hash = std::hash<std::string_view>{}(env.event_id);
        } else if (opts.assign_event_id) {
            new_event_id(env.event_id);
        } else {
            env.event_id.clear();
        }
    }

    /// An envelope with `ev` prepared on the calling thread (or the reasons it
    /// cannot go in, in `invalid`), not queued: enqueue's work before the push,
    /// and async_send's first half, at its call.
    EnvelopePtr prepare_send(const Event& ev, std::optional<Destination> dest) {
        auto env = take_envelope();
        // A recycled buffer was last read on a batcher's core: ask for its lines
        // for writing now, all at once, rather than one miss at a time as the
        // writer reaches them. Its last event's size is the likely size of this one.
        prefetch<for_write>(env->prep.json_with_holes());
        assign_id(ev, *env);
        env->invalid = check(ev, dest, env->prep, env->event_id);
        env->dest = std::move(dest);
        return env;
    }

    EnqueueResult enqueue(const Event& ev, std::optional<Destination> dest) {
        EnqueueResult res;
        if (closed.load(std::memory_order_relaxed)) {
            res.status = EnqueueResult::Status::shutdown;
            return res;
        }
        auto env = prepare_send(ev, std::move(dest));
        if (!env->invalid.empty()) {
            res.errors = std::move(env->invalid);
            recycle(std::move(env));
            rejected.fetch_add(1, std::memory_order_relaxed);
            res.status = EnqueueResult::Status::invalid;
            return res;
        }
        switch (try_accept(env)) {
        case Push::accepted: res.status = EnqueueResult::Status::accepted; break;
        case Push::full:
            rejected_full.fetch_add(1, std::memory_order_relaxed);
            res.status = EnqueueResult::Status::queue_full;
            break;
        case Push::shutdown: res.status = EnqueueResult::Status::shutdown; break;
        }
        recycle(std::move(env));  // null when accepted
        return res;
    }

    /// The second half, at the operation's initiation: queues it, or completes.
    void send(EnvelopePtr env, completion_ptr done) {
        if (!env->invalid.empty()) {
            rejected.fetch_add(1, std::memory_order_relaxed);
            auto r = make_result(Outcome::rejected, make_error_code(errc::invalid_event));
            r.invalid = std::move(env->invalid);
            if (env->own_id) r.event_id = std::move(env->event_id);  // an assigned id was never used
            recycle(std::move(env));
            detail::send_op::complete(std::move(done), std::move(r));
            return;
        }
        env->done = std::move(done);
        push_or_wait(std::move(env), std::chrono::microseconds(100));
    }

    /// Pushes; under Overflow::block retries on a timer (100 us doubling to 5 ms)
    /// without blocking any thread.
    /// An operation cancelled while it waits (withdrawn) is dropped: it was
    /// never accepted, and its completion already ran.
    void push_or_wait(EnvelopePtr env, std::chrono::microseconds delay) {
        if (env->done->withdrawn()) return;
        auto st = try_accept(env);
        if (st == Push::accepted) return;
        if (st == Push::full && opts.overflow == Overflow::block) {
            auto timer = std::make_shared<asio::steady_timer>(ex, delay);
            auto next = std::min<std::chrono::microseconds>(delay * 2, std::chrono::milliseconds(5));
            timer->async_wait([self = shared_from_this(), timer, env = std::move(env), next](
                                  const boost::system::error_code&) mutable {
                self->push_or_wait(std::move(env), next);
            });
            return;
        }
        if (st == Push::full) rejected_full.fetch_add(1, std::memory_order_relaxed);
        // Never accepted: `rejected` with the reason, no delivery report.
        auto r = make_result(Outcome::rejected,
                             make_error_code(st == Push::full ? errc::queue_full : errc::shutdown));
        r.event_id = std::move(env->event_id);
        detail::send_op::complete(std::move(env->done), std::move(r));
    }

    void send_many(std::vector<Event> events, std::function<void(std::vector<SendResult>)> done) {
        struct Agg {
            std::vector<SendResult> results;
            std::atomic<std::size_t> left;
            std::function<void(std::vector<SendResult>)> done;
        };
        // One event's share: its outcome goes to its place in the results.
        struct Part final : detail::send_op {
            Part(std::shared_ptr<Agg> a, std::size_t at) : agg(std::move(a)), i(at) {}
            std::shared_ptr<Agg> agg;
            std::size_t i;
            void complete_(std::shared_ptr<send_op>&&, SendResult&& r) override {
                agg->results[i] = std::move(r);
                if (agg->left.fetch_sub(1, std::memory_order_acq_rel) == 1) agg->done(std::move(agg->results));
            }
        };
        auto agg = std::make_shared<Agg>();
        agg->results.resize(events.size());
        agg->left.store(events.size());
        agg->done = std::move(done);
        if (events.empty()) {
            agg->done({});
            return;
        }
        for (std::size_t i = 0; i < events.size(); ++i) {
            send(prepare_send(events[i], std::nullopt), std::make_shared<Part>(agg, i));
        }
    }

    // ---------------------------------------------------------------- flush

    /// A marker was popped. Any thread.
    void on_marker(std::uint64_t gen) {
        {
            std::lock_guard lock(flush_mu);
            const auto r = seal_req.load(std::memory_order_relaxed) + 1;
            seal_req.store(r, std::memory_order_release);
            if (auto it = flushes.find(gen); it != flushes.end()) it->second.req = r;
        }
        wake_all();
    }

    /// Collects the flushes that are complete. Caller holds flush_mu.
    void ready_flushes(std::vector<std::function<void()>>& out) {
        std::uint64_t min_acked = never;
        if (!batchers_gone)
            for (const auto& b : batchers) min_acked = std::min(min_acked, b->acked);
        const std::uint64_t min_open = outstanding.empty() ? never : outstanding.begin()->first;
        for (auto it = flushes.begin(); it != flushes.end();) {
            const auto r = it->second.req;
            if (batchers_gone || (r != 0 && min_acked >= r && min_open >= r)) {
                out.push_back(std::move(it->second.done));
                it = flushes.erase(it);
            } else {
                ++it;
            }
        }
    }

    static void run_all(std::vector<std::function<void()>>& fns) {
        for (auto& f : fns) {
            try {
                f();
            } catch (...) {
            }
        }
    }

    void epoch_open(std::uint64_t epoch, std::size_t n) {
        std::lock_guard lock(flush_mu);
        outstanding[epoch] += n;
    }
    void epoch_done(std::uint64_t epoch) {
        std::vector<std::function<void()>> done;
        {
            std::lock_guard lock(flush_mu);
            auto it = outstanding.find(epoch);
            if (it != outstanding.end() && --it->second == 0) outstanding.erase(it);
            ready_flushes(done);
        }
        run_all(done);
    }

    void flush(std::function<void()> done) {
        std::uint64_t gen;
        {
            std::lock_guard lock(flush_mu);
            if (batchers_gone) {
                // Shut down: everything accepted has its outcome already.
                gen = 0;
            } else {
                gen = ++next_gen;
                flushes[gen].done = std::move(done);
            }
        }
        if (gen == 0) {
            done();
            return;
        }
        auto env = take_envelope();
        env->marker = true;
        env->flush_gen = gen;
        push_marker(std::move(env), std::chrono::microseconds(100));
    }

    /// The marker must get in even when the queue is full: retried on a timer.
    void push_marker(EnvelopePtr env, std::chrono::microseconds delay) {
        if (stop.load(std::memory_order_acquire)) return;  // shutdown completes the flush
        if (queue.try_push(std::move(env))) {
            wake_one();
            return;
        }
        auto timer = std::make_shared<asio::steady_timer>(ex, delay);
        auto next = std::min<std::chrono::microseconds>(delay * 2, std::chrono::milliseconds(5));
        timer->async_wait([self = shared_from_this(), timer, env = std::move(env), next](
                              const boost::system::error_code&) mutable {
            self->push_marker(std::move(env), next);
        });
    }

    /// Blocks until flushed or `deadline`; false on timeout.
    bool flush_until(steady::time_point deadline) {
        struct W {
            std::mutex m;
            std::condition_variable cv;
            bool done = false;
        };
        auto w = std::make_shared<W>();
        flush([w] {
            std::lock_guard lock(w->m);
            w->done = true;
            w->cv.notify_all();
        });
        std::unique_lock lock(w->m);
        return w->cv.wait_until(lock, deadline, [&] { return w->done; });
    }

    bool on_own_io_thread() const {
        const auto me = std::this_thread::get_id();
        return std::any_of(io_threads.begin(), io_threads.end(),
                           [&](const std::thread& t) { return t.get_id() == me; });
    }

    // ---------------------------------------------------------------- batchers

    /// @locality batcher thread `idx`.
    void batcher_main(std::size_t idx) {
        Batcher& me = *batchers[idx];
        std::vector<EnvelopePtr> got(bulk_size);
        while (!stop.load(std::memory_order_acquire)) {
            std::size_t n = 0;
            if (live_count.load(std::memory_order_relaxed) < backpressure_at)
                n = queue.pop_bulk(got.data(), got.size());
            if (n != 0) {
                const auto sys_now = capi::now(opts.clock);
                const auto now = steady::now();
                for (std::size_t i = 0; i < n; ++i) {
                    // The next event's bytes were written on another core: start
                    // pulling them in while this one is copied into its batch.
                    if (i + 1 < n) prefetch(got[i + 1]->prep.json_with_holes());
                    EnvelopePtr env = std::move(got[i]);
                    if (env->marker) {
                        on_marker(env->flush_gen);
                        recycle(std::move(env));
                        continue;
                    }
                    in_flight.fetch_add(1, std::memory_order_relaxed);
                    try {
                        add_event(me, *env, sys_now, now);
                    } catch (...) {
                        // The event is settled; the batches it would have joined are intact
                        // (the encoder rolls a failed add back).
                        if (!env->taken) {
                            auto p = pending_of(*env);
                            settle(p, make_result(Outcome::failed, error_of(std::current_exception())), true,
                                   false);
                        }
                    }
                    recycle(std::move(env));
                }
            }
            const auto now = steady::now();
            seal_lingering(me, now);
            ack_seal_request(idx);
            if (n == 0) idle_wait(me, now);
        }
    }

    static constexpr int for_reading = 0, for_write = 1;
    /// Asks for the cache lines of `bytes` ahead of use (__builtin_prefetch's `rw`).
    template <int Rw = for_reading>
    static void prefetch(std::string_view bytes) noexcept {
        for (std::size_t at = 0; at < bytes.size(); at += 64) __builtin_prefetch(bytes.data() + at, Rw);
    }

    /// @locality batcher thread.
    void add_event(Batcher& me, Envelope& env, sys_time sys_now, steady::time_point now) {
        Partial* part = nullptr;
        for (auto& p : me.partials) {
            if (env.dest ? (!p.is_default && p.dest->dest == *env.dest) : p.is_default) {
                part = &p;
                break;
            }
        }
        if (!part) {
            Partial p;
            p.is_default = !env.dest;
            p.dest = dest_for(env.dest);
            me.partials.push_back(std::move(p));
            part = &me.partials.back();
        }
        // Byte cap: the prepared event's size is known (digests take the 64 bytes
        // of their holes), so the batch is sealed when this event would not fit;
        // one event always fits (max_event_bytes <= max_batch_bytes).
        if (part->batch && !part->batch->events.empty() &&
            part->batch->enc.data_bytes() + env.prep.json_with_holes().size() + 1 > opts.max_batch_bytes)
            seal(me, *part);
        if (!part->batch) {
            part->batch = std::make_shared<Batch>(encoders);
            part->batch->dest = part->dest;
        }
        Batch& b = *part->batch;
        auto res = b.enc.add_prepared(env.prep, sys_now);
        if (res.status != EncodeStatus::added) {
            const bool window = std::any_of(res.errors.begin(), res.errors.end(),
                                            [](const FieldError& e) { return e.path == "event_time"; });
            auto r = make_result(window ? Outcome::expired : Outcome::failed,
                                 make_error_code(window ? errc::expired : errc::invalid_event));
            r.invalid = std::move(res.errors);
            auto p = pending_of(env);
            settle(p, std::move(r), true, false);
            return;
        }
        if (b.events.empty()) part->first = now;
        // Geometric growth (reserve(size() + 1) would reallocate on every push);
        // reserved before taking the event, so nothing throws between taking and storing.
        if (b.events.size() == b.events.capacity())
            b.events.reserve(std::max<std::size_t>(64, 2 * b.events.capacity()));
        b.events.push_back(pending_of(env));
        if (env.own_id) b.id_hashes.push_back(env.id_hash);  // after the event is stored: a throw only misses a count
        const bool store = env.prep.action_source == ActionSource::physical_store;
        const auto max_age = store ? opts.encode.validation.physical_store_max_age : opts.encode.validation.max_age;
        // validate() accepts the whole second at the limit: expired from the next one.
        const auto expiry = sys_time(std::chrono::seconds(env.prep.event_time)) + max_age + std::chrono::seconds(1);
        b.events.back().not_after = expiry;
        b.not_after = std::min(b.not_after, expiry);
        if (b.enc.full()) seal(me, *part);
    }

    /// Hands the partial's batch to the dispatcher. @locality batcher thread.
    void seal(Batcher& me, Partial& part) {
        if (!part.batch) return;
        if (part.batch->events.empty()) return;  // keeps the empty batch for reuse
        BatchPtr b = std::move(part.batch);
        count_duplicates(*b);
        // Hash every value of the batch (one hash_many call) and finish the body
        // here, on the batcher, so the io thread (perhaps the caller's) only sends.
        b->finish_body();
        encoders->typical_body.store(b->body.size(), std::memory_order_relaxed);
        b->epoch = me.acked;
        epoch_open(b->epoch, 1);
        submit(std::move(b), false);
    }

    /// Events whose caller-given event_id an earlier event of the batch carries:
    /// both are sent (Meta keeps one), and counted here. @locality batcher thread.
    void count_duplicates(Batch& b) {
        auto& h = b.id_hashes;
        if (h.size() > 1) {
            std::sort(h.begin(), h.end());
            std::uint64_t n = 0;
            for (std::size_t i = 1; i < h.size(); ++i) n += h[i] == h[i - 1];
            if (n != 0) duplicate_ids.fetch_add(n, std::memory_order_relaxed);
        }
        h = {};
    }

    void seal_lingering(Batcher& me, steady::time_point now) {
        for (auto& p : me.partials)
            if (p.batch && !p.batch->events.empty() && now - p.first >= opts.linger) seal(me, p);
    }

    void ack_seal_request(std::size_t idx) {
        Batcher& me = *batchers[idx];
        const auto r = seal_req.load(std::memory_order_acquire);
        if (r <= me.acked) return;
        for (auto& p : me.partials) seal(me, p);
        std::vector<std::function<void()>> done;
        {
            std::lock_guard lock(flush_mu);
            me.acked = r;
            ready_flushes(done);
        }
        run_all(done);
    }

    void idle_wait(Batcher& me, steady::time_point now) {
        auto wait = std::chrono::duration_cast<steady::duration>(idle_wait_max);
        bool holding = false;
        for (const auto& p : me.partials) {
            if (p.batch && !p.batch->events.empty()) {
                wait = std::min(wait, p.first + opts.linger - now);
                holding = true;
            }
        }
        if (wait <= steady::duration::zero()) return;
        std::unique_lock lock(wake_mu);
        sleepers.fetch_add(1, std::memory_order_seq_cst);
        if (!holding) wake_on_next.store(true, std::memory_order_seq_cst);
        const bool can_pop = live_count.load(std::memory_order_relaxed) < backpressure_at;
        if (!stop.load(std::memory_order_acquire) && seal_req.load(std::memory_order_acquire) <= me.acked &&
            !(can_pop && queue.size_approx() > 0))
            wake_cv.wait_for(lock, wait);
        sleepers.fetch_sub(1, std::memory_order_relaxed);
    }

    // ---------------------------------------------------------------- dispatcher

    /// Queues a sealed batch (its epoch already open). Any thread; `on_io`: the
    /// caller runs on the io executor.
    void submit(BatchPtr b, bool on_io) {
        bool start_now = false, refused = false;
        {
            std::lock_guard lock(disp_mu);
            if (closing) {
                refused = true;
            } else {
                live.emplace(b.get(), b);
                live_count.store(live.size(), std::memory_order_relaxed);
                if (disp_inflight < disp_cap) {
                    ++disp_inflight;
                    start_now = true;
                } else {
                    waiting.push_back(b);
                }
            }
        }
        if (refused) {
            settle_batch(*b, make_result(Outcome::failed, make_error_code(errc::shutdown)), on_io);
            return;
        }
        if (!start_now) return;
        if (on_io) {
            start_batch(std::move(b));
        } else {
            try {
                asio::post(ex, [self = shared_from_this(), b]() mutable { self->start_batch(std::move(b)); });
            } catch (...) {
                finish_slot(*b);
                settle_batch(*b, make_result(Outcome::failed, error_of(std::current_exception())), false);
            }
        }
    }

    /// Settles every event of `b` alike, once. Any thread.
    void settle_batch(Batch& b, const SendResult& r, bool on_io) {
        if (b.settled.exchange(true, std::memory_order_acq_rel)) return;
        forget(b);
        settle_all(b.events, r, true, on_io);
        epoch_done(b.epoch);
    }

    void forget(Batch& b) {
        bool eased = false;
        {
            std::lock_guard lock(disp_mu);
            const auto before = live.size();
            live.erase(&b);
            live_count.store(live.size(), std::memory_order_relaxed);
            eased = before >= backpressure_at && live.size() < backpressure_at;
        }
        if (eased) wake_one();  // the batchers may pop again
    }

    /// A batch left the Sender: its slot goes to the next waiting batch.
    void finish_slot(Batch&) {
        BatchPtr next;
        {
            std::lock_guard lock(disp_mu);
            if (disp_inflight > 0) --disp_inflight;
            if (!closing && !waiting.empty()) {
                next = std::move(waiting.front());
                waiting.pop_front();
                ++disp_inflight;
            }
        }
        if (sleepers.load(std::memory_order_relaxed) > 0) wake_all();  // back pressure eased
        if (next) {
            try {
                asio::post(ex, [self = shared_from_this(), next]() mutable { self->start_batch(std::move(next)); });
            } catch (...) {
                finish_slot(*next);
                settle_batch(*next, make_result(Outcome::failed, error_of(std::current_exception())), false);
            }
        }
    }

    /// @locality io executor.
    void start_batch(BatchPtr b) {
        if (b->settled.load(std::memory_order_acquire)) {
            finish_slot(*b);
            return;
        }
        if (auto refused = refused_token(b->dest->dest.access_token)) {
            finish_slot(*b);
            auto r = make_result(Outcome::failed, make_error_code(errc::auth_error));
            r.graph = std::move(refused);
            settle_batch(*b, r, true);
            return;
        }
        try {
            PostRequest req;
            req.pixel_id = b->dest->dest.pixel_id;
            // Sent from the encoder's buffer: the batch (and so its encoder) lives
            // as long as the transport holds the body.
            req.shared_body = {b->body, b};
            req.appsecret_proof = b->dest->proof;
            batches.fetch_add(1, std::memory_order_relaxed);
            bytes.fetch_add(b->body.size(), std::memory_order_relaxed);
            batch_events.record(b->events.size());
            const auto not_after = b->not_after;
            sender->async_post(std::move(req), not_after,
                               [self = shared_from_this(), b](std::error_code ec, PostResult res) mutable {
                                   self->on_result(std::move(b), ec, std::move(res));
                               });
        } catch (...) {
            finish_slot(*b);
            settle_batch(*b, make_result(Outcome::failed, error_of(std::current_exception())), true);
        }
    }

    std::optional<GraphError> refused_token(const std::string& token) {
        if (!any_refused.load(std::memory_order_acquire)) return std::nullopt;
        std::lock_guard lock(auth_mu);
        auto it = refused_tokens.find(token);
        if (it == refused_tokens.end()) return std::nullopt;
        return it->second;
    }

    /// The Sender's completion. @locality io executor.
    void on_result(BatchPtr b, std::error_code ec, PostResult res) {
        finish_slot(*b);
        if (res.attempts > 1) retries.fetch_add(res.attempts - 1, std::memory_order_relaxed);
        if (res.possibly_delivered != 0) possibly_delivered.fetch_add(b->events.size(), std::memory_order_relaxed);
        if (res.throttled != 0) throttled.fetch_add(res.throttled, std::memory_order_relaxed);
        if (!ec && res.events_received != static_cast<std::int64_t>(b->events.size()))
            receipt_mismatch.fetch_add(1, std::memory_order_relaxed);
        if (ec == errc::graph_error && res.error && res.error->code == 190) {
            // The token is dead for this client: its other batches fail in start_batch.
            {
                std::lock_guard lock(auth_mu);
                refused_tokens.emplace(b->dest->dest.access_token, *res.error);
            }
            any_refused.store(true, std::memory_order_release);
            ec = make_error_code(errc::auth_error);
        }
        if (b->settled.exchange(true, std::memory_order_acq_rel)) return;  // shutdown settled it
        forget(*b);
        try {
            if (ec == errc::graph_error && res.error && res.error->code == 100 && b->events.size() > 1) {
                split(*b);
            } else if (ec == errc::expired && resend_fresh(*b)) {
                // The expired events failed; the others went again.
            } else {
                SendResult r;
                r.fbtrace_id = res.fbtrace_id;
                r.attempts = res.attempts;
                r.http_status = res.http_status;
                if (ec && res.last_error != ec) r.cause = res.last_error;
                if (!ec) {
                    r.outcome = Outcome::delivered;
                } else {
                    r.outcome = ec == errc::expired ? Outcome::expired : Outcome::failed;
                    r.error = ec;
                    r.graph = res.error;
                    if (r.fbtrace_id.empty() && res.error) r.fbtrace_id = res.error->fbtrace_id;
                }
                settle_all(b->events, r, true, true);
            }
        } catch (...) {
            // Events not settled yet keep a completion; settle them as failed.
            const auto r = make_result(Outcome::failed, error_of(std::current_exception()));
            settle_all(b->events, r, true, true);  // skips the settled ones
        }
        epoch_done(b->epoch);
    }

    /// The batch reached its earliest expiry: the events that expire then fail
    /// `expired`, the later ones go again in a batch of their own, so one stale
    /// event never takes its batch-mates down. False when none is left. @locality io executor.
    bool resend_fresh(Batch& b) {
        auto c = std::make_shared<Batch>(encoders);
        c->dest = b.dest;
        c->epoch = b.epoch;
        for (std::size_t i = 0; i < b.events.size(); ++i) {
            if (b.events[i].not_after <= b.not_after) continue;
            c->enc.add_json(b.enc.event_json(i));
            c->not_after = std::min(c->not_after, b.events[i].not_after);
        }
        if (c->enc.empty()) return false;
        const auto r = make_result(Outcome::expired, make_error_code(errc::expired));
        c->events.reserve(c->enc.size());
        for (auto& p : b.events) {
            if (p.not_after <= b.not_after) settle(p, r, true, true);
            else c->events.push_back(std::move(p));
        }
        b.events.clear();
        c->finish_body();
        epoch_open(b.epoch, 1);
        submit(std::move(c), true);
        return true;
    }

    /// Splits a batch Meta refused with code 100 into two halves rebuilt from
    /// the events' serialized JSON and resends both. @locality io executor.
    void split(Batch& b) {
        const auto n = b.events.size();
        const auto half = n / 2;
        BatchPtr parts[2];
        for (int k = 0; k < 2; ++k) {
            const auto from = k == 0 ? 0 : half, to = k == 0 ? half : n;
            auto c = std::make_shared<Batch>(encoders);
            c->dest = b.dest;
            c->not_after = b.not_after;
            c->epoch = b.epoch;
            for (auto i = from; i < to; ++i) c->enc.add_json(b.enc.event_json(i));
            c->events.reserve(to - from);
            c->finish_body();
            parts[k] = std::move(c);
        }
        for (int k = 0; k < 2; ++k) {
            const auto from = k == 0 ? 0 : half, to = k == 0 ? half : n;
            for (auto i = from; i < to; ++i) parts[k]->events.push_back(std::move(b.events[i]));
        }
        b.events.clear();
        splits.fetch_add(1, std::memory_order_relaxed);
        epoch_open(b.epoch, 2);
        submit(std::move(parts[0]), true);
        submit(std::move(parts[1]), true);
    }

    // ---------------------------------------------------------------- shutdown

    bool shutdown(std::chrono::milliseconds timeout) {
        std::lock_guard guard(shutdown_mu);
        if (shut) return shut_result;
        const auto deadline = steady::now() + timeout;
        closed.store(true, std::memory_order_seq_cst);
        while (intake_active.load(std::memory_order_seq_cst) != 0) std::this_thread::yield();

        // Drain within the bound (not from our own io thread: it would wait on itself).
        bool drained = !on_own_io_thread() && flush_until(deadline);

        // Stop the batchers; what they and the queue still hold fails as shutdown.
        stop.store(true, std::memory_order_release);
        wake_all();
        for (auto& b : batchers)
            if (b->thread.joinable()) b->thread.join();
        const auto down = make_result(Outcome::failed, make_error_code(errc::shutdown));
        EnvelopePtr env;
        while (queue.try_pop(env)) {
            if (env->marker) continue;
            auto p = pending_of(*env);
            settle(p, down, false, true);
            drained = false;
        }
        for (auto& b : batchers) {
            for (auto& part : b->partials) {
                if (!part.batch) continue;
                if (!part.batch->events.empty()) drained = false;
                settle_all(part.batch->events, down, true, true);
                part.batch.reset();
            }
        }
        // Batches waiting or in the Sender (backoff or on the wire).
        std::vector<BatchPtr> left;
        {
            std::lock_guard lock(disp_mu);
            closing = true;
            for (auto& [_, b] : live) left.push_back(b);
            waiting.clear();
        }
        sender->close();
        transport->close();
        for (auto& b : left) {
            if (!b->settled.load()) drained = false;
            settle_batch(*b, down, true);
        }
        // Every accepted event has its outcome: complete the remaining flushes.
        std::vector<std::function<void()>> done;
        {
            std::lock_guard lock(flush_mu);
            batchers_gone = true;
            ready_flushes(done);
        }
        run_all(done);

        if (owned_io) {
            // Let posted reports and completions run, then stop the threads (a
            // request hanging on the wire would otherwise keep run() going).
            const auto report_deadline = std::max(deadline, steady::now() + std::chrono::milliseconds(500));
            while (pending_reports.load() != 0 && steady::now() < report_deadline && !on_own_io_thread())
                std::this_thread::sleep_for(std::chrono::microseconds(200));
            io_work.reset();
            owned_io->stop();
            const auto me = std::this_thread::get_id();
            for (auto& t : io_threads) {
                if (!t.joinable()) continue;
                if (t.get_id() == me) t.detach();  // shutdown from our own io thread
                else t.join();
            }
            if (!on_own_io_thread()) {
                // Completions already posted run here, on the client's io_context.
                owned_io->restart();
                for (int i = 0; i < 100; ++i) {
                    try {
                        if (owned_io->poll() == 0) break;
                    } catch (...) {
                    }
                }
            }
        }
        shut = true;
        shut_result = drained;
        return drained;
    }

    Stats stats() const {
        Stats s;
        s.delivered = delivered.load(std::memory_order_seq_cst);
        s.failed = failed.load(std::memory_order_seq_cst);
        s.expired = expired.load(std::memory_order_seq_cst);
        s.dropped = dropped.load(std::memory_order_seq_cst);
        const auto in = in_flight.load(std::memory_order_seq_cst);
        s.accepted = accepted.load(std::memory_order_seq_cst);
        s.rejected = rejected.load(std::memory_order_relaxed);
        s.rejected_full = rejected_full.load(std::memory_order_relaxed);
        // queued is derived so the invariant holds by construction in every sample.
        const auto settled = s.delivered + s.failed + s.expired + s.dropped;
        const auto open = s.accepted > settled ? s.accepted - settled : 0;
        if (s.accepted < settled) s.accepted = settled;  // never seen: counted before the push
        s.in_flight = std::min(in, open);
        s.queued = open - s.in_flight;
        s.retries = retries.load(std::memory_order_relaxed);
        s.batches = batches.load(std::memory_order_relaxed);
        s.bytes = bytes.load(std::memory_order_relaxed);
        s.splits = splits.load(std::memory_order_relaxed);
        s.possibly_delivered = possibly_delivered.load(std::memory_order_relaxed);
        s.throttled = throttled.load(std::memory_order_relaxed);
        s.receipt_mismatch = receipt_mismatch.load(std::memory_order_relaxed);
        s.duplicate_ids = duplicate_ids.load(std::memory_order_relaxed);
        s.latency_us = latency_us.snapshot();
        s.batch_events = batch_events.snapshot();
        return s;
    }
};

Client::Client(Options options) {
    check_options(options, true);
    impl_ = std::make_shared<impl>(std::move(options));
    impl_->start(std::nullopt);
}

Client::Client(boost::asio::any_io_executor executor, Options options) {
    check_options(options, false);
    impl_ = std::make_shared<impl>(std::move(options));
    impl_->start(executor);
}

Client::~Client() {
    if (!impl_) return;
    try {
        impl_->shutdown(std::chrono::seconds(5));
    } catch (...) {
    }
    if (impl_->owned_io) {
        // Destroy the I/O objects while their io_context still exists, then the
        // io_context (which destroys the handlers still queued in it).
        impl_->sender.reset();
        impl_->transport.reset();
        impl_->owned_io.reset();
    }
}

EnqueueResult Client::enqueue(const Event& ev) { return impl_->enqueue(ev, std::nullopt); }
EnqueueResult Client::enqueue(const Event& ev, Destination destination) {
    return impl_->enqueue(ev, std::move(destination));
}

Client::prepared Client::prepare_(const Event& ev, std::optional<Destination> dest) {
    return prepared(impl_->prepare_send(ev, std::move(dest)).release());
}
void Client::discard_(void* env) noexcept { delete static_cast<Envelope*>(env); }
void Client::send_(prepared p, std::shared_ptr<detail::send_op> op) {
    EnvelopePtr env(static_cast<Envelope*>(p.release()));
    impl_->send(std::move(env), std::move(op));
}
void Client::send_many_(std::vector<Event> events, std::function<void(std::vector<SendResult>)> done) {
    impl_->send_many(std::move(events), std::move(done));
}
void Client::flush_(std::function<void()> done) { impl_->flush(std::move(done)); }

bool Client::flush(std::chrono::milliseconds timeout) {
    if (impl_->on_own_io_thread()) return false;  // would wait on itself
    return impl_->flush_until(steady::now() + timeout);
}

bool Client::shutdown(std::chrono::milliseconds timeout) { return impl_->shutdown(timeout); }

Stats Client::stats() const { return impl_->stats(); }

boost::asio::any_io_executor Client::get_executor() const noexcept { return impl_->ex; }

} // namespace capi
