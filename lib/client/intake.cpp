// Intake (intake.hpp): prepare on the producer's thread, the push into the
// queue, the overflow policy, and async_send's halves.
#include "client/impl.hpp"

#include <boost/asio/steady_timer.hpp>

#include <random>

namespace capi::pipeline {

namespace asio = boost::asio;

namespace {

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

std::vector<FieldError> check_destination(const Destination& d) {
    std::vector<FieldError> e;
    if (!all_digits(d.pixel_id)) e.push_back({"destination.pixel_id", "must be a non-empty string of digits"});
    if (d.access_token.empty()) e.push_back({"destination.access_token", "must not be empty"});
    return e;
}

} // namespace

Intake::Intake(Pipeline& c, const Options& o)
    : c_(c), opts_(o), queue_(std::max<std::size_t>(o.queue_capacity, 2)) {}

void Intake::close() noexcept {
    closed_.store(true, std::memory_order_seq_cst);
    while (active_.load(std::memory_order_seq_cst) != 0) std::this_thread::yield();
}

/// This thread's scratch encoder for prepare(), with this client's options.
/// A few per thread (a thread may feed several clients), keyed by a client
/// serial number rather than the address, which a later client may reuse.
inline BatchEncoder& Intake::staging_encoder() {
    struct Slot {
        std::uint64_t client = 0;
        std::optional<BatchEncoder> enc;
    };
    thread_local std::array<Slot, 4> slots;
    thread_local std::size_t next_victim = 0;
    for (auto& sl : slots)
        if (sl.client == serial_ && sl.enc) return *sl.enc;
    auto& sl = slots[next_victim++ % slots.size()];
    sl.enc.emplace(opts_.encode);
    sl.client = serial_;
    // Per-value lists (paths, reasons) only for Options::on_values.
    if (!opts_.on_values) batch_access::count_only(*sl.enc);
    c_.outcomes.match.add(batch_access::match_counters(*sl.enc));
    return *sl.enc;
}

/// Pushes `env` (left untouched unless accepted). Any thread; never blocks.
inline Intake::Push Intake::try_accept(EnvelopePtr& env) {
    active_.add(1, std::memory_order_seq_cst);
    if (closed_.load(std::memory_order_seq_cst)) {
        active_.sub(1, std::memory_order_seq_cst);
        return Push::shutdown;
    }
    // Counted before the push, so a snapshot never sees an outcome of an
    // event it has not seen accepted; undone when the push fails.
    c_.outcomes.accepted.add(1, std::memory_order_relaxed);
    env->accepted = steady::now();
    // Options::caller_batches: into this thread's own batch while its bytes
    // are hot; `env` stays with the caller, who recycles it.
    if (c_.batchers.add_to_lane(*env)) {
        active_.sub(1, std::memory_order_seq_cst);
        return Push::accepted;
    }
    bool ok = queue_.try_push(std::move(env));
    if (!ok && opts_.overflow == Overflow::drop_oldest) {
        for (int i = 0; i < 16 && !ok; ++i) {
            EnvelopePtr old;
            if (queue_.try_pop(old)) {
                if (old->marker) {
                    c_.flush.on_marker(old->flush_gen);  // popping it is what counts
                } else {
                    auto p = c_.outcomes.pending_of(*old);
                    c_.outcomes.settle(p, make_result(Outcome::dropped, make_error_code(errc::queue_full)),
                                       false, false);
                }
            }
            ok = queue_.try_push(std::move(env));
        }
    }
    if (!ok) c_.outcomes.accepted.sub(1, std::memory_order_relaxed);
    active_.sub(1, std::memory_order_seq_cst);
    if (ok) c_.batchers.maybe_wake();
    return ok ? Push::accepted : Push::full;
}

/// Validation common to enqueue and async_send; empty when the event may go in.
/// Prepares the event on the calling thread (validate, normalize, serialize;
/// see PreparedEvent): the caller's thread frees the Event it allocated, and
/// an event that cannot be sent is refused here, never queued.
inline std::vector<FieldError> Intake::check(const Event& ev, std::optional<Destination>& dest, PreparedEvent& out,
                              std::string_view assigned_id, sys_time now) {
    auto res = batch_access::prepare(staging_encoder(), ev, now, out, assigned_id);
    auto errors = std::move(res.errors);
    if (!dest && !c_.dests.default_dest()) {
        errors.push_back({"destination", "none given, and Options::destination is empty (no default)"});
    } else if (dest) {
        if (c_.dests.default_dest() && *dest == opts_.destination) {
            dest.reset();
        } else {
            auto d = check_destination(*dest);
            errors.insert(errors.end(), d.begin(), d.end());
        }
    }
    if (errors.empty() && (!res.dropped.empty() || !res.unmatchable.empty()) && opts_.on_values) [[unlikely]]
        report_values(res);
    return errors;
}

/// Options::on_values for a valid event (never an exception out of it).
void Intake::report_values(const EncodeResult& res) const noexcept {
    try {
        opts_.on_values(ValueReport{res.dropped, res.unmatchable});
    } catch (...) {
    }
}

/// The id the envelope's event travels with: its own (hashed here, off the
/// batcher, for the duplicate count), a fresh random one, or none yet (a derived
/// one comes once the event is encoded). Returns what the encoder writes for an
/// event without an id: the random id, the placeholder a derived one replaces,
/// or nothing.
inline std::string_view Intake::assign_id(const Event& ev, Envelope& env) const {
    env.own_id = ev.event_id.has_value();
    env.event_id.clear();  // keeps a recycled envelope's capacity
    if (env.own_id) {
        env.event_id.assign(*ev.event_id);
        env.id_hash = std::hash<std::string_view>{}(env.event_id);
        return {};
    }
    const auto mode = opts_.assign_event_id ? opts_.event_ids : EventIdMode::none;
    if (mode == EventIdMode::random) {
        new_event_id(env.event_id);
        return env.event_id;
    }
    return mode == EventIdMode::deterministic ? detail::derived_id_placeholder : std::string_view{};
}

EnvelopePtr Intake::prepare_send(const Event& ev, std::optional<Destination> dest) {
    return prepare(ev, std::move(dest));
}

inline EnvelopePtr Intake::prepare(const Event& ev, std::optional<Destination> dest) {
    auto env = take_envelope();
    // A recycled buffer was last read on a batcher's core: ask for its lines
    // for writing now, all at once, rather than one miss at a time as the
    // writer reaches them. Its last event's size is the likely size of this one.
    prefetch<for_write>(env->prep.json_with_holes());
    const auto if_absent = assign_id(ev, *env);
    const bool derive = !env->own_id && opts_.assign_event_id && opts_.event_ids == EventIdMode::deterministic;
    // The pixel before check(), which forgets a destination equal to the default.
    const std::string_view pixel = dest ? std::string_view(dest->pixel_id) : opts_.destination.pixel_id;
    env->prepared_at = window_now(opts_.clock);
    env->invalid = check(ev, dest, env->prep, if_absent, env->prepared_at);
    // Derived from the bytes just encoded, in place: no second encoding.
    if (derive && env->invalid.empty()) batch_access::derive_event_id(env->prep, pixel, env->event_id);
    env->dest = std::move(dest);
    return env;
}

EnqueueResult Intake::enqueue(const Event& ev, std::optional<Destination> dest) {
    EnqueueResult res;
    if (closed_.load(std::memory_order_relaxed)) {
        res.status = EnqueueResult::Status::shutdown;
        return res;
    }
    auto env = prepare(ev, std::move(dest));
    if (!env->invalid.empty()) {
        res.errors = std::move(env->invalid);
        recycle(std::move(env));
        c_.outcomes.rejected.fetch_add(1, std::memory_order_relaxed);
        res.status = EnqueueResult::Status::invalid;
        return res;
    }
    switch (try_accept(env)) {
    case Push::accepted: res.status = EnqueueResult::Status::accepted; break;
    case Push::full:
        c_.outcomes.rejected_full.fetch_add(1, std::memory_order_relaxed);
        res.status = EnqueueResult::Status::queue_full;
        break;
    case Push::shutdown: res.status = EnqueueResult::Status::shutdown; break;
    }
    recycle(std::move(env));  // null when the queue took it
    return res;
}

void Intake::send(EnvelopePtr env, completion_ptr done) {
    if (!env->invalid.empty()) {
        c_.outcomes.rejected.fetch_add(1, std::memory_order_relaxed);
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
inline void Intake::push_or_wait(EnvelopePtr env, std::chrono::microseconds delay) {
    if (env->done->withdrawn()) return;
    auto st = try_accept(env);
    if (st == Push::accepted) {
        recycle(std::move(env));  // null unless a lane took the event
        return;
    }
    if (st == Push::full && opts_.overflow == Overflow::block) {
        auto timer = std::make_shared<asio::steady_timer>(c_.ex, delay);
        auto next = std::min<std::chrono::microseconds>(delay * 2, std::chrono::milliseconds(5));
        timer->async_wait([self = c_.shared_from_this(), timer, env = std::move(env), next](
                              const boost::system::error_code&) mutable {
            self->intake.push_or_wait(std::move(env), next);
        });
        return;
    }
    if (st == Push::full) c_.outcomes.rejected_full.fetch_add(1, std::memory_order_relaxed);
    // Never accepted: `rejected` with the reason, no delivery report.
    auto r = make_result(Outcome::rejected,
                         make_error_code(st == Push::full ? errc::queue_full : errc::shutdown));
    r.event_id = std::move(env->event_id);
    detail::send_op::complete(std::move(env->done), std::move(r));
}

void Intake::send_many(std::vector<Event> events, std::function<void(std::vector<SendResult>)> done) {
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
        send(prepare(events[i], std::nullopt), std::make_shared<Part>(agg, i));
    }
}

} // namespace capi::pipeline
