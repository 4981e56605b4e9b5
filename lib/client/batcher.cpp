// Batchers (batcher.hpp): the batcher threads' loop, partial batches, sealing,
// the encoder pool and the destinations' registry.
#include "client/impl.hpp"
#include "wire/window.hpp"

#include <bit>

namespace capi::pipeline {

namespace {

/// Whether an event add_prepared() refused failed the window (its outcome is
/// `expired`) rather than being invalid: the window rule (wire/window.hpp)
/// types its errors.
inline bool window_refused(const std::vector<FieldError>& errors) {
    return std::any_of(errors.begin(), errors.end(),
                       [](const FieldError& e) { return e.kind == FieldErrorKind::expired; });
}

/// Asks for a prepared event's lines: its JSON, and the values to hash and
/// their offsets that follow it in the same buffer (a few hundred bytes for a
/// typical event; their exact size is the encoder's, a prefetch past them is harmless
/// within the buffer).
inline void prefetch_prepared(const PreparedEvent& p) noexcept {
    const auto json = p.json_with_holes();
    prefetch(std::string_view(json.data(), std::min(p.capacity(), json.size() + 512)));
}

} // namespace

BatchEncoder EncoderPool::get() {
    {
        std::lock_guard lock(mu);
        if (!spare.empty()) {
            auto e = std::move(spare.back());
            spare.pop_back();
            spare_low = std::min(spare_low, spare.size());
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
void EncoderPool::put(BatchEncoder&& e) noexcept {
    try {
        e.clear();
        std::lock_guard lock(mu);
        if (spare.size() < 64) spare.push_back(std::move(e));
    } catch (...) {
    }
}

std::size_t EncoderPool::trim() noexcept {
    std::vector<BatchEncoder> gone;
    std::vector<Lists> gone_lists;
    {
        std::lock_guard lock(mu);
        // The oldest spares go (the front): get() and put() use the back, whose
        // memory was touched last.
        const auto n = std::min(spare_low, spare.size());
        const auto m = std::min(lists_low, spare_lists.size());
        try {
            gone.reserve(n);
            gone_lists.reserve(m);
        } catch (...) {
            return 0;  // out of memory: nothing let go this time
        }
        std::move(spare.begin(), spare.begin() + static_cast<std::ptrdiff_t>(n), std::back_inserter(gone));
        spare.erase(spare.begin(), spare.begin() + static_cast<std::ptrdiff_t>(n));
        std::move(spare_lists.begin(), spare_lists.begin() + static_cast<std::ptrdiff_t>(m),
                  std::back_inserter(gone_lists));
        spare_lists.erase(spare_lists.begin(), spare_lists.begin() + static_cast<std::ptrdiff_t>(m));
        spare_low = spare.size();
        lists_low = spare_lists.size();
    }
    return gone.size();  // destroyed here, outside the lock
}

/// @locality batcher thread `idx`.
void Batchers::batcher_main(std::size_t idx) {
    Batcher& me = *batchers_[idx];
    std::vector<EnvelopePtr> got(bulk_size);
    while (!stop_.load(std::memory_order_acquire)) {
        std::size_t n = 0;
        if (!c_.dispatcher.backed_up()) n = c_.intake.pop_bulk(got.data(), got.size());
        if (n != 0) {
            const auto sys_now = window_now(opts_.clock);
            const auto now = steady::now();
            // One pass over the envelopes first: their cache lines (written on
            // another core) are asked for all at once rather than one miss per
            // event, and the events go in flight with one atomic add, not one
            // per event (a line the io thread's settlements also write).
            std::uint64_t events = 0;
            for (std::size_t i = 0; i < n; ++i) events += !got[i]->marker;
            if (events != 0) c_.outcomes.in_flight.fetch_add(events, std::memory_order_relaxed);
            for (std::size_t i = 0; i < n; ++i) {
                // The next event's bytes were written on another core: start
                // pulling them in while this one is copied into its batch.
                if (i + 1 < n) prefetch_prepared(got[i + 1]->prep);
                Envelope& env = *got[i];
                if (env.marker) {
                    c_.flush.on_marker(env.flush_gen);
                    continue;
                }
                try {
                    add_event(me, env, sys_now, now);
                } catch (...) {
                    // The event is settled; the batches it would have joined are intact
                    // (the encoder rolls a failed add back).
                    if (!env.taken) {
                        auto p = c_.outcomes.pending_of(env);
                        c_.outcomes.settle(p, make_result(Outcome::failed, error_of(std::current_exception())),
                                           true, false);
                    }
                }
            }
            c_.intake.recycle_bulk(got.data(), n);
        }
        const auto now = steady::now();
        seal_lingering(me, now);
        if (!lanes_.empty()) sweep_lanes(now, false);
        ack_seal_request(idx);
        if (idx == 0 && now >= next_trim_) {
            encoders_->trim();
            next_trim_ = now + spare_trim_interval;
        }
        if (n == 0) idle_wait(me, now);
    }
}

/// @locality batcher thread. Inlined into the loop, once per event (GCC's size
/// heuristics alone no longer do it since the loop's callees moved here).
[[gnu::always_inline]] inline void Batchers::add_event(Batcher& me, Envelope& env, sys_time sys_now,
                                                     steady::time_point now) {
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
        p.dest = c_.dests.find(env.dest);
        me.partials.push_back(std::move(p));
        part = &me.partials.back();
    }
    // Byte cap: the prepared event's size is known (digests take the 64 bytes
    // of their holes), so the batch is sealed when this event would not fit;
    // one event always fits (max_event_bytes <= max_batch_bytes).
    if (part->batch && !part->batch->events.empty() &&
        part->batch->enc.data_bytes() + env.prep.json_with_holes().size() + 1 > opts_.max_batch_bytes)
        seal(me, *part);
    if (!part->batch) {
        part->batch = std::make_shared<Batch>(encoders_);
        part->batch->dest = part->dest;
        // As many as the last sealed batch held (a spare batch's lists have
        // that already): a full batch's Pendings grown by doubling from 64
        // would be moved about once more each on the way, and its id hashes
        // would take ten allocations.
        part->batch->events.reserve(std::max<std::size_t>(64, me.typical_events));
        part->batch->id_hashes.reserve(std::max<std::size_t>(64, me.typical_events));
    }
    Batch& b = *part->batch;
    auto res = batch_access::add_prepared(b.enc, env.prep, sys_now);
    if (res.status != EncodeStatus::added) {
        const bool window = window_refused(res.errors);
        auto r = make_result(window ? Outcome::expired : Outcome::failed,
                             make_error_code(window ? errc::expired : errc::invalid_event));
        r.invalid = std::move(res.errors);
        auto p = c_.outcomes.pending_of(env);
        c_.outcomes.settle(p, std::move(r), !me.lane, false);  // a lane's events are in flight once sealed
        return;
    }
    if (b.events.empty()) {
        part->first = now;
        if (me.lane) part->epoch = c_.flush.seal_request();
    }
    // Geometric growth (reserve(size() + 1) would reallocate on every push);
    // reserved before taking the event, so nothing throws between taking and storing.
    if (b.events.size() == b.events.capacity())
        b.events.reserve(std::max<std::size_t>(64, 2 * b.events.capacity()));
    b.events.push_back(c_.outcomes.pending_of(env));
    if (env.own_id) b.id_hashes.push_back(env.id_hash);  // after the event is stored: a throw only misses a count
    // From then on Meta refuses it: the batch must be answered before.
    const auto expiry = wire::expiry(env.prep.event_time, env.prep.action_source, opts_.encode.validation);
    b.events.back().not_after = expiry;
    b.not_after = std::min(b.not_after, expiry);
    if (b.enc.full()) seal(me, *part);
}

/// Hands the partial's batch to the dispatcher. @locality batcher thread (or
/// the lane's caller). Throws nothing: a batch that cannot be finished or
/// taken in (out of memory) fails as a whole, each of its events settled and
/// counted, and the thread goes on (an exception here would leave a batcher
/// thread, or fail an enqueue() whose own event was already taken).
inline void Batchers::seal(Batcher& me, Partial& part) noexcept {
    if (!part.batch) return;
    if (part.batch->events.empty()) return;  // keeps the empty batch for reuse
    BatchPtr b = std::move(part.batch);
    me.typical_events = b->events.size();
    count_duplicates(me, *b);
    try {
        // Hash every value of the batch (one hash_many call) and finish the body
        // here, on the batcher, so the io thread (perhaps the caller's) only sends.
        b->finish_body();
        encoders_->typical_body.store(b->body.size(), std::memory_order_relaxed);
        // A batcher's batch: every event it holds came before the seal request it
        // acknowledged last. A lane's: every event came at or after the request
        // current at its first event, and a flush's request is acknowledged only
        // after the lanes are sealed (sweep_lanes), so a flush waits for it.
        b->epoch = me.lane ? part.epoch : c_.flush.acked(me.idx);
        c_.flush.epoch_open(b->epoch, 1);
    } catch (...) {
        // Nothing of it went anywhere yet (its epoch is not open): its events fail
        // here. A lane's events were still queued, a batcher's in flight.
        c_.outcomes.settle_all(b->events, make_result(Outcome::failed, error_of(std::current_exception())),
                               !me.lane, false);
        return;
    }
    // A lane's events were queued (Stats) until now; a batcher's went in flight when popped.
    if (me.lane) c_.outcomes.in_flight.fetch_add(b->events.size(), std::memory_order_relaxed);
    try {
        c_.dispatcher.submit(std::move(b), false);  // settles a batch it cannot take in
    } catch (...) {
        // Its events are settled; only a flush's bookkeeping ran out of memory.
    }
}

/// Events whose caller-given event_id an earlier event of the batch carries:
/// both are sent (Meta keeps one), and counted here. An open-addressing set of
/// the batch's id hashes in the batcher's own table (a sort of a full batch's
/// 1000 random hashes mispredicts a branch every other comparison; this is one
/// probe or two per event). @locality batcher thread.
inline void Batchers::count_duplicates(Batcher& me, Batch& b) {
    auto& h = b.id_hashes;
    if (h.size() > 1) {
        auto& table = me.id_table;
        // At most half full, so probes stay short; 0 marks an empty slot, and a
        // hash that is 0 is tracked apart.
        const std::size_t size = std::bit_ceil(2 * h.size());
        if (table.size() < size) {
            try {
                table.resize(size);
            } catch (...) {
                h = {};
                return;  // out of memory: this batch's duplicates go uncounted, nothing else
            }
        }
        std::fill_n(table.begin(), size, std::uint64_t{0});
        const std::size_t mask = size - 1;
        std::uint64_t n = 0;
        bool zero_seen = false;
        for (const std::uint64_t x : h) {
            if (x == 0) {
                n += zero_seen;
                zero_seen = true;
                continue;
            }
            // Multiplied, so the slot comes from well-mixed bits whatever the
            // standard library's string hash is like.
            for (std::size_t i = static_cast<std::size_t>((x * 0x9e3779b97f4a7c15ULL) >> 32) & mask;;
                 i = (i + 1) & mask) {
                if (table[i] == x) {
                    ++n;
                    break;
                }
                if (table[i] == 0) {
                    table[i] = x;
                    break;
                }
            }
        }
        if (n != 0) c_.outcomes.duplicate_ids.fetch_add(n, std::memory_order_relaxed);
    }
    h = {};
}

inline void Batchers::seal_all(Batcher& me) {
    for (auto& p : me.partials) seal(me, p);
}

inline void Batchers::seal_lingering(Batcher& me, steady::time_point now) {
    for (auto& p : me.partials)
        if (p.batch && !p.batch->events.empty() && now - p.first >= opts_.linger) seal(me, p);
}

inline void Batchers::ack_seal_request(std::size_t idx) {
    Batcher& me = *batchers_[idx];
    const auto r = c_.flush.seal_request();
    if (r <= c_.flush.acked(idx)) return;
    seal_all(me);
    if (!lanes_.empty()) sweep_lanes(steady::now(), true);
    c_.flush.ack(idx, r);
}

inline void Batchers::idle_wait(Batcher& me, steady::time_point now) {
    auto wait = std::chrono::duration_cast<steady::duration>(idle_wait_max);
    bool holding = false;
    for (const auto& p : me.partials) {
        if (p.batch && !p.batch->events.empty()) {
            wait = std::min(wait, p.first + opts_.linger - now);
            holding = true;
        }
    }
    if (wait <= steady::duration::zero()) return;
    std::unique_lock lock(wake_mu_);
    sleepers_.fetch_add(1, std::memory_order_seq_cst);
    if (!holding) wake_on_next_.store(true, std::memory_order_seq_cst);
    // The lanes' oldest events, read after the flag: a caller starting a lane's
    // batch either sees the flag and wakes us (lane_started), or we see its
    // event here and sleep only until its linger ends.
    for (const auto& l : lanes_) {
        const auto f = l->first.load(std::memory_order_seq_cst);
        if (f != Lane::empty) wait = std::min(wait, steady::time_point(steady::duration(f)) + opts_.linger - now);
    }
    const bool can_pop = !c_.dispatcher.backed_up();
    if (wait > steady::duration::zero() && !stop_.load(std::memory_order_acquire) &&
        c_.flush.seal_request() <= c_.flush.acked(me.idx) &&
        !(can_pop && c_.intake.size_approx() > 0))
        wake_cv_.wait_for(lock, wait);
    sleepers_.fetch_sub(1, std::memory_order_relaxed);
}

Batch::Batch(std::shared_ptr<EncoderPool> p) : pool(std::move(p)), enc(pool->get()) {
    pool->get_lists(events, id_hashes);
}
Batch::~Batch() {
    pool->put_lists(std::move(events), std::move(id_hashes));
    pool->put(std::move(enc));
}

void EncoderPool::get_lists(std::vector<Pending>& events, std::vector<std::uint64_t>& id_hashes) {
    std::lock_guard lock(mu);
    if (spare_lists.empty()) return;
    events = std::move(spare_lists.back().events);
    id_hashes = std::move(spare_lists.back().id_hashes);
    spare_lists.pop_back();
    lists_low = std::min(lists_low, spare_lists.size());
}
void EncoderPool::put_lists(std::vector<Pending>&& events, std::vector<std::uint64_t>&& id_hashes) noexcept {
    if (events.capacity() == 0 && id_hashes.capacity() == 0) return;
    events.clear();  // outside the lock: a Pending's completion may go with it
    id_hashes.clear();
    try {
        std::lock_guard lock(mu);
        if (spare_lists.size() < 64) spare_lists.push_back({std::move(events), std::move(id_hashes)});
    } catch (...) {
    }
}

std::shared_ptr<const DestState> Destinations::make(const Destination& d) const {
    auto s = std::make_shared<DestState>();
    s->dest = d;
    s->fields = opts_.request;
    if (!d.test_event_code.empty()) s->fields.test_event_code = d.test_event_code;
    if (!d.app_secret.empty()) s->proof = appsecret_proof(d.access_token, d.app_secret);
    return s;
}

std::shared_ptr<const DestState> Destinations::find(const std::optional<Destination>& d) {
    if (!d) return default_;
    std::lock_guard lock(mu_);
    for (const auto& s : all_)
        if (s->dest == *d) return s;
    all_.push_back(make(*d));
    return all_.back();
}

void Batchers::start(unsigned n) {
    if (opts_.caller_batches) {
        lanes_.reserve(lane_count);
        auto releases = std::make_shared<std::atomic<std::uint64_t>>(0);
        for (std::size_t i = 0; i < lane_count; ++i) {
            lanes_.push_back(std::make_shared<Lane>());
            lanes_.back()->releases = releases;
            lanes_.back()->b.lane = true;
            lanes_.back()->b.idx = std::numeric_limits<std::size_t>::max();  // lanes have no acknowledgement
        }
    }
    for (unsigned i = 0; i < n; ++i) {
        batchers_.push_back(std::make_unique<Batcher>());
        batchers_.back()->idx = i;
    }
    for (unsigned i = 0; i < n; ++i)
        batchers_[i]->thread = std::thread([this, i] {
            name_thread("capi-batch");
            batcher_main(i);
        });
}

void Batchers::stop_and_join() {
    stop_.store(true, std::memory_order_release);
    wake_all();
    for (auto& b : batchers_)
        if (b->thread.joinable()) b->thread.join();
}

bool Batchers::settle_partials(Batcher& me, const SendResult& r) {
    bool none = true;
    for (auto& part : me.partials) {
        if (!part.batch) continue;
        if (!part.batch->events.empty()) none = false;
        // A lane's events are queued until sealed, a batcher's in flight once popped.
        c_.outcomes.settle_all(part.batch->events, r, !me.lane, true);
        part.batch.reset();
    }
    return none;
}

bool Batchers::settle_held(const SendResult& r) {
    bool none = true;
    for (auto& b : batchers_) none = settle_partials(*b, r) && none;
    // The lanes: the intake is closed, so no caller appends any more.
    for (auto& l : lanes_) {
        std::lock_guard lock(l->mu);
        none = settle_partials(l->b, r) && none;
        // Nothing of this client stays in a thread's slot (it may outlive the client).
        l->b.partials.clear();
        update_first(*l);
    }
    return none;
}

// --- Lanes (Options::caller_batches) ---------------------------------------

Lane* Batchers::my_lane() {
    // A few clients per thread, as the staging encoders; a thread past the last
    // lane keeps a slot with no lane and takes the queue, until some lane of
    // the client is let go (the count of releases it saw moved): then it looks
    // again. One relaxed load per event, on lane-less threads only.
    struct Slot {
        std::uint64_t client = 0;
        std::shared_ptr<Lane> lane;
        std::uint64_t releases_seen = 0;  // when lane is null: the count it looked at
        void release() noexcept {
            if (lane) {
                lane->claimed.store(false, std::memory_order_release);
                lane->releases->fetch_add(1, std::memory_order_release);
            }
            lane.reset();
        }
        ~Slot() { release(); }
    };
    thread_local std::array<Slot, 4> slots;
    thread_local std::size_t next_victim = 0;
    Slot* sl = nullptr;
    for (auto& s : slots) {
        if (s.client != serial_) continue;
        if (s.lane || s.releases_seen == lanes_.front()->releases->load(std::memory_order_relaxed))
            return s.lane.get();
        sl = &s;  // none before, one let go since: look again
        break;
    }
    if (!sl) {
        sl = &slots[next_victim++ % slots.size()];
        sl->release();
        sl->client = serial_;
    }
    // Read before looking: a release after this is seen on the next event.
    sl->releases_seen = lanes_.front()->releases->load(std::memory_order_acquire);
    for (const auto& l : lanes_) {
        bool expected = false;
        if (!l->claimed.load(std::memory_order_relaxed) &&
            l->claimed.compare_exchange_strong(expected, true, std::memory_order_acq_rel)) {
            sl->lane = l;
            break;
        }
    }
    return sl->lane.get();
}

void Batchers::update_first(Lane& lane) noexcept {
    steady::rep f = Lane::empty;
    for (const auto& p : lane.b.partials)
        if (p.batch && !p.batch->events.empty()) f = std::min(f, p.first.time_since_epoch().count());
    if (lane.first.load(std::memory_order_relaxed) != f) lane.first.store(f, std::memory_order_seq_cst);
}

void Batchers::lane_started() {
    // Pairs with idle_wait: it raises wake_on_next_, then reads the lanes.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_relaxed) == 0) return;
    if (!take_wake_request()) return;
    std::lock_guard lock(wake_mu_);
    wake_cv_.notify_one();
}

bool Batchers::add_to_lane(Envelope& env) {
    if (lanes_.empty() || !c_.dispatcher.lane_room()) return false;
    Lane* lane = my_lane();
    if (!lane) return false;
    bool started = false;
    {
        std::lock_guard lock(lane->mu);
        const bool was_empty = lane->first.load(std::memory_order_relaxed) == Lane::empty;
        try {
            add_event(lane->b, env, env.prepared_at, env.accepted);
        } catch (...) {
            // Not taken: nothing changed, the queue takes it. Taken: it is in
            // the batch or settled, as on a batcher.
            if (!env.taken) return false;
        }
        update_first(*lane);
        started = was_empty && lane->first.load(std::memory_order_relaxed) != Lane::empty;
    }
    // After the lane's lock: wake_mu_ is never taken under it.
    if (started) lane_started();
    return true;
}

void Batchers::sweep_lanes(steady::time_point now, bool all) {
    for (const auto& l : lanes_) {
        if (!all) {
            const auto f = l->first.load(std::memory_order_acquire);
            if (f == Lane::empty || now - steady::time_point(steady::duration(f)) < opts_.linger) continue;
        }
        std::lock_guard lock(l->mu);
        if (all) {
            seal_all(l->b);
        } else {
            seal_lingering(l->b, now);
        }
        update_first(*l);
    }
}

} // namespace capi::pipeline
