// BatchEncoder: validate, normalize, hash and serialize events into one request body.
//
// The body is built in place: `buf_` starts with `{"data":[`, each event is appended
// (comma separated), and json_body() appends the tail after the last event; the
// next add() cuts the tail off again. An event that fails part-way is rolled back by
// truncating to where it started, so the batch never holds a half-written event.
#include <capi/encode.hpp>
#include <capi/normalize.hpp>
#include <capi/sha256.hpp>

#include "json/buffer.hpp"
#include "json/fused_check.hpp"
#include "json/match_tally.hpp"
#include "json/prepared.hpp"
#include "json/writer.hpp"
#include "normalize/refine.hpp"
#include "normalize/unicode.hpp"
#include "util/prefetch.hpp"
#include "validate/rules.hpp"
#include "wire/schema.hpp"
#include "wire/window.hpp"

#include <algorithm>
#include <charconv>
#include <array>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <utility>

namespace capi {

namespace {

constexpr std::string_view body_prefix = "{\"data\":[";

using Writer = json::BasicWriter<json::Buffer>;

// user_data's keys by kind, in wire order (the schema's rows as flat arrays).
using wire::Kind;
constexpr auto& multi_keys = wire::user_multi_keys;
constexpr auto& single_keys = wire::user_single_keys;
constexpr auto& plain_keys = wire::user_plain_keys;

// One normalized PII value of the event being added.
struct Slot {
    std::uint32_t offset;  // into impl::arena
    std::uint32_t length;
    std::uint64_t hash;    // 0: send the value itself (a 16-byte slot: size() is a shift)
};
static_assert(sizeof(Slot) == 16);

// A value whose digest is still owed: its 64 hex characters go at buf[at].
struct PendingHash {
    std::uint32_t offset;  // into impl::arena
    std::uint32_t length;
    std::size_t at;
};

void write_strings(Writer& w, std::string_view key, const std::vector<std::string>& v) {
    w.lit_key(key);
    w.begin_array();
    for (const auto& s : v) w.string(s);
    w.end_array();
}
[[gnu::noinline]] void write_raw_members(Writer& w, const RawMembers& members) {
    for (const auto& m : members) {
        w.key(m.key);
        w.raw(m.json);
    }
}
// Most events have none: no call for an empty list.
[[gnu::always_inline]] inline void write_raw(Writer& w, const RawMembers& members) {
    if (!members.empty()) [[unlikely]]
        write_raw_members(w, members);
}

// An Event is some 3 KB, mostly optionals, and the walk reads every one of
// them. Events handed to add() are often cold (a batch built or read long
// before it is encoded): asking for all its cache lines at once makes their
// misses overlap instead of coming one at a time as the walk reaches them
// (bench_core: 15-20% less time per event). prepare() does not: capi::Client
// prepares an event on the thread that just made it, where it is in cache.
void prefetch_event(const Event& ev) noexcept { detail::prefetch_lines(&ev, sizeof(Event)); }

} // namespace

std::string detail::element_path(std::string_view object, std::string_view key, std::size_t index,
                                 bool indexed) {
    std::string p;
    p.reserve(object.size() + key.size() + 8);
    p += object;
    p += '.';
    p += key;
    if (indexed) {
        char digits[24];
        const auto end = std::to_chars(digits, digits + sizeof digits, index).ptr;
        p += '[';
        p.append(digits, end);
        p += ']';
    }
    return p;
}

struct BatchEncoder::impl {
    EncodeOptions options;
    json::Buffer buf{body_prefix};    // prefix + events (+ tail after json_body())
    std::size_t events_end = body_prefix.size();
    std::size_t count = 0;
    std::vector<std::size_t> starts;   // where each event's '{' is in buf
    std::string form;                  // form_body() output

    // Hashing is deferred, so one hash_many call covers the values of many
    // events (what the multi-buffer SHA-256 paths need to fill their lanes): the
    // writer leaves a 64-character hole per hashed value, hash_some() hashes
    // them in waves of `hash_wave` as the batch grows, and fill_hashes() the
    // rest. `arena` keeps the normalized values until they are hashed.
    json::Buffer arena;
    std::vector<PendingHash> pending;
    std::vector<std::string_view> to_hash;
    std::vector<sha256::digest> digests;

    // Per-event scratch, reused.
    std::string tmp;
    std::vector<Slot> slots;
    // slot_begin[k] .. slot_begin[k+1] are the slots of key k (11 multi + 6 single).
    std::array<std::uint32_t, multi_keys.size() + single_keys.size() + 1> slot_begin{};

    explicit impl(EncodeOptions o) : options(std::move(o)) {}

    // The match-quality report (json/match_tally.hpp), and the event's country
    // for the warning rules.
    detail::MatchTally tally;
    detail::EventCountry country;
    // Per event: the fields whose ok values refine() may change (every field
    // with the enhanced rules on; else db and ph, and st and zp when the event
    // has a country). A value of any other field has the outcome its status says.
    std::uint32_t refine_fields = 0;
    void set_context(const UserData& ud) {
        country.reset(ud);
        refine_fields = options.enhanced.enabled ? ~0u : detail::warned_fields(country.has_any());
    }

    std::string_view event_id_if_absent;  // set by prepare() for one call
    std::size_t id_at = 0;                // where prepare() wrote it (0: not written)
    bool user_data_ok = false;            // write_user_data()'s verdict for write_event()

    // The fused checks (json/fused_check.hpp): the walk that normalizes and
    // writes an event also checks what validate() would, when it can.
    detail::FusedCheck fused;
    std::size_t prepared_bytes = 0;       // the last prepared event's, to size a new PreparedEvent

    // is_hashed_field() for the user_data keys, without the call.
    bool hashed(Field f) const noexcept {
        return f == Field::external_id ? options.hash_external_id : f != Field::currency;
    }

    // Normalizes one value into the arena; reports a reject per the policy.
    [[gnu::always_inline]] inline void take(Field f, std::string_view value, std::string_view key, std::size_t index,
              bool indexed, std::uint32_t first_slot, EncodeResult& r) {
        std::string_view reason;
        auto st = normalize_into(f, value, tmp, reason);
        MatchOutcome outcome = detail::outcome_of(st);
        // detail::needs_refine(), with the event's fields precomputed; the
        // country is read only when a rule is about to ask for it.
        if ((refine_fields >> static_cast<unsigned>(f) & 1u) != 0 &&
            (options.enhanced.enabled || (st == NormalizeStatus::ok && detail::may_warn(f, value, tmp)))) {
            const auto* enhanced = options.enhanced.enabled ? &options.enhanced : nullptr;
            st = detail::refine(f, value, st, tmp, reason, {enhanced, country.get(enhanced)}, outcome);
        }
        tally.note(detail::MatchCounters::index(f, outcome));
        if (outcome == MatchOutcome::unmatchable) [[unlikely]]
            tally.unmatchable(key, index, indexed, reason);
        if (st == NormalizeStatus::omitted) return;
        if (st == NormalizeStatus::rejected) {
            if (fused.checking) {  // validate() reports it (or the policy drops it): not the fused walk's
                fused.failed = true;
                return;
            }
            FieldError e{detail::element_path(wire::schema<UserData>::name, key, index, indexed), std::string(reason)};
            (options.invalid_pii == InvalidPiiPolicy::reject_event ? r.errors : r.dropped)
                .push_back(std::move(e));
            return;
        }
        // external_id is byte-exact and never reported as already hashed; when the
        // option hashes it, a value that is already a digest must not be hashed twice.
        if (f == Field::external_id && options.hash_external_id && looks_hashed(tmp)) {
            for (auto& c : tmp) c = static_cast<char>(c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c);
            st = NormalizeStatus::already_hashed;
        }
        // Duplicates after normalization are sent once, first occurrence kept.
        for (std::size_t i = first_slot; i < slots.size(); ++i) {
            std::string_view prev(arena.data() + slots[i].offset, slots[i].length);
            if (prev == tmp) return;
        }
        slots.push_back({static_cast<std::uint32_t>(arena.size()),
                         static_cast<std::uint32_t>(tmp.size()),
                         st == NormalizeStatus::ok && hashed(f)});
        arena += tmp;
    }

    // Appends the event's normalized values to the arena (the caller rolls the
    // arena back if the event fails).
    void normalize_user_data(const UserData& ud, EncodeResult& r) {
        slots.clear();
        tally.begin();
        set_context(ud);
        std::size_t k = 0;
        for (const auto& mk : multi_keys) {
            const auto first = static_cast<std::uint32_t>(slots.size());
            slot_begin[k++] = first;
            const auto& values = ud.*mk.member;
            const std::string* const v = values.data();
            const std::size_t n = values.size();  // once: take() writes memory
            for (std::size_t i = 0; i < n; ++i) take(mk.field, v[i], mk.key, i, true, first, r);
        }
        for (const auto& sk : single_keys) {
            const auto first = static_cast<std::uint32_t>(slots.size());
            slot_begin[k++] = first;
            if (const auto& v = ud.*sk.member) take(sk.field, *v, sk.key, 0, false, first, r);
        }
        slot_begin[k] = static_cast<std::uint32_t>(slots.size());
    }

    void write_slot(Writer& w, const Slot& s) {
        if (s.hash) {
            static constexpr char hole[] = "0000000000000000000000000000000000000000000000000000000000000000";
            w.string_raw(hole);
            pending.push_back({s.offset, s.length, buf.size() - 65});
        } else {
            w.string(std::string_view(arena.data() + s.offset, s.length));
        }
    }

    // Validated when it was queued; only the window can have changed since.
    // The future-skew bound needs no second look: time only moves forward.
    void check_window(std::int64_t event_time, ActionSource source, std::chrono::system_clock::time_point now,
                      EncodeResult& r) const {
        if (wire::expired_at(event_time, source, now, options.validation))
            r.errors.push_back({"event_time",
                                "event_time left its " +
                                    std::to_string(wire::max_age(source, options.validation).count()) +
                                    " s window before the event could be sent",
                                FieldErrorKind::expired});
    }

    // The next event's bytes go right after the last one's, in memory last
    // written a batch ago (a reused buffer, since evicted by the request that
    // sent it): asks for about one event's lines for writing now, not one miss
    // at a time in add_prepared()'s copy. (add() writes an event over about a
    // microsecond, which the hardware's own prefetch keeps up with: no gain
    // measured there.)
    void prefetch_next(std::size_t last_event_bytes) noexcept {
        const std::size_t ahead = std::min(buf.capacity() - buf.size(), last_event_bytes + 64);
        detail::prefetch_lines<detail::for_write>(buf.data() + buf.size(), ahead);
    }

    // Hashes every pending value in one hash_many call and fills the holes.
    void fill_hashes() {
        if (!pending.empty()) hash_front(pending.size());
    }

    // Pending values are hashed in waves as the batch grows, not all at the
    // end: a wave's values, and the holes its digests go into, are still in
    // the cache then, where a whole batch's (about 1.3 MB of JSON for 1000
    // events) is not. A wave is a multiple of 16 values, so every lane group
    // of the multi-buffer paths is full and none is left to the scalar code.
    static constexpr std::size_t hash_wave = 256;
    // Called where the batch's state has not started to change (the start of
    // add() and add_prepared()): only the scratch vectors' growth can throw.
    void hash_some() {
        if (pending.size() >= hash_wave) hash_front(pending.size() & ~std::size_t{15});
    }

    // Hashes pending[0, m) and writes their digests into their holes. The
    // rest stay pending, their values moved to the front of the arena.
    void hash_front(std::size_t m) {
        to_hash.resize(m);
        digests.resize(m);
        for (std::size_t i = 0; i < m; ++i)
            to_hash[i] = std::string_view(arena.data() + pending[i].offset, pending[i].length);
        sha256::hash_many(to_hash, digests);
        for (std::size_t i = 0; i < m; ++i) sha256::to_hex(digests[i], buf.data() + pending[i].at);
        const std::size_t n = pending.size();
        if (m == n) {
            pending.clear();
            arena.clear();
            return;
        }
        std::uint32_t base = pending[m].offset;
        for (std::size_t i = m + 1; i < n; ++i) base = std::min(base, pending[i].offset);
        std::memmove(arena.data(), arena.data() + base, arena.size() - base);
        arena.resize(arena.size() - base);
        for (std::size_t i = m; i < n; ++i) {
            pending[i - m] = pending[i];
            pending[i - m].offset -= base;
        }
        pending.resize(n - m);
    }

    bool write_user_data(Writer& w, const UserData& ud) {
        bool any = false;
        w.begin_object();
        std::size_t k = 0;
        for (const auto& mk : multi_keys) {
            auto b = slot_begin[k], e = slot_begin[k + 1];
            ++k;
            if (b == e) continue;
            any = true;
            w.lit_key(mk.key);
            w.begin_array();
            for (auto i = b; i < e; ++i) write_slot(w, slots[i]);
            w.end_array();
        }
        for (const auto& sk : single_keys) {
            auto b = slot_begin[k];
            ++k;
            if (b == slot_begin[k]) continue;
            any = true;
            w.lit_key(sk.key);
            write_slot(w, slots[b]);
        }
        for (const auto& pk : plain_keys) {
            if (const auto& v = ud.*pk.member; v && !v->empty()) {
                if (fused.checking) {
                    fused.text(*v);
                    fused.rules(pk.flags, *v);
                }
                any = true;
                w.member(pk.key, *v);
            }
        }
        if (fused.checking && !ud.extra.empty()) fused.failed = true;
        write_raw(w, ud.extra);
        w.end_object();
        // Raw extra members are not customer information parameters (validate()
        // does not count them either): an event left with only those after
        // normalization is one validate() rejects once read back.
        return any;
    }

    // Writes the rows of `obj` (any object but user_data) in wire order. Unset
    // optional fields are omitted; `ev` is the event (data_processing_options'
    // country and state go only with it).
    template <class T>
    void write_fields(Writer& w, const T& obj, const Event& ev) {
        wire::schema<T>::each([&](auto r) {
            using R = decltype(r);
            using V = typename R::value;
            const auto& v = obj.*R::member;
            if (fused.checking) fused.row<R>(v);
            if constexpr (R::has(wire::with_dpo)) {
                if (!ev.data_processing_options) return;
            }
            if constexpr (wire::is_member<R, &Event::event_id>) {
                if (v)
                    w.member(R::key, *v);
                else if (!event_id_if_absent.empty()) {
                    w.member(R::key, event_id_if_absent);
                    // Its value ends before the closing quote: an assigned id
                    // needs no escaping, so it is there verbatim.
                    id_at = buf.size() - 1 - event_id_if_absent.size();
                }
            } else if constexpr (R::kind == Kind::raw) {
                write_raw(w, v);
            } else if constexpr (R::kind == Kind::normalized) {
                // Validation guarantees the value normalizes; it is never hashed.
                if (v) {
                    if constexpr (R::field == Field::currency) {
                        // precheck() vouched for it: three ASCII letters of a known code.
                        if (fused.checking) {
                            const char lower[3] = {static_cast<char>((*v)[0] | 0x20), static_cast<char>((*v)[1] | 0x20),
                                                   static_cast<char>((*v)[2] | 0x20)};
                            w.member(R::key, std::string_view(lower, 3));
                            return;
                        }
                    }
                    std::string_view reason;
                    if (normalize_into(R::field, *v, tmp, reason) == NormalizeStatus::ok) w.member(R::key, tmp);
                }
            } else if constexpr (std::is_same_v<V, std::string>) {
                w.member(R::key, v);
            } else if constexpr (std::is_same_v<V, std::int64_t>) {
                w.member_int(R::key, v);
            } else if constexpr (std::is_same_v<V, ActionSource>) {
                w.lit_key(R::key);
                w.string_raw(to_string(v));
            } else if constexpr (std::is_same_v<V, std::optional<std::string>>) {
                if (v) w.member(R::key, *v);
            } else if constexpr (std::is_same_v<V, std::optional<std::int64_t>>) {
                if (v) w.member_int(R::key, *v);
            } else if constexpr (std::is_same_v<V, std::optional<double>>) {
                if (v) w.member_num(R::key, *v);
            } else if constexpr (std::is_same_v<V, std::optional<bool>>) {
                if (v) w.member_bool(R::key, *v);
            } else if constexpr (R::kind == Kind::enumeration) {
                if (v) {
                    w.lit_key(R::key);
                    w.string_raw(to_string(*v));
                }
            } else if constexpr (std::is_same_v<V, std::vector<std::string>>) {
                if (!v.empty()) write_strings(w, R::key, v);
            } else if constexpr (std::is_same_v<V, std::optional<std::vector<std::string>>>) {
                // Set but empty is meaningful: [] opts out of Limited Data Use.
                if (v) write_strings(w, R::key, *v);
            } else if constexpr (std::is_same_v<V, UserData>) {
                w.lit_key(R::key);
                user_data_ok = write_user_data(w, v);
            } else if constexpr (R::kind == Kind::object_list) {
                if (!v.empty()) {
                    w.lit_key(R::key);
                    w.begin_array();
                    for (const auto& item : v) {
                        w.begin_object();
                        write_fields(w, item, ev);
                        w.end_object();
                    }
                    w.end_array();
                }
            } else {
                static_assert(R::kind == Kind::object, "a row kind the encoder does not write");
                if (v) {
                    w.lit_key(R::key);
                    w.begin_object();
                    write_fields(w, *v, ev);
                    w.end_object();
                }
            }
        });
    }

    // Serializes `ev` at the end of buf (after a comma unless `first`); returns
    // false when user_data ended up empty.
    bool write_event(const Event& ev, bool first) {
        Writer w(buf);
        w.set_first(first);
        w.begin_object();
        user_data_ok = false;
        write_fields(w, ev, ev);
        w.end_object();
        return user_data_ok;
    }

    // The fused walk: normalizes and serializes `ev` as encode() does, checking
    // as it goes what validate() would. True when the event is written and
    // certainly valid; otherwise buf, arena and pending are as they were.
    bool encode_checked(const Event& ev, std::chrono::system_clock::time_point now, bool first) {
        if (!detail::precheck(ev, now, options.validation)) return false;
        const auto buf0 = buf.size();
        const auto arena0 = arena.size();
        const auto pending0 = pending.size();
        fused.checking = true;
        fused.failed = false;
        EncodeResult unused;  // rejects make the walk fail before they are recorded
        normalize_user_data(ev.user_data, unused);
        bool ok = !fused.failed && write_event(ev, first) && !fused.failed;
        fused.checking = false;
        // validate()'s size bound counts a part of the serialized bytes, so an
        // event within the cap passes it.
        ok = ok && buf.size() - buf0 - (first ? 0 : 1) <= options.validation.max_event_bytes;
        if (!ok) {
            buf.resize(buf0);
            arena.resize(arena0);
            pending.resize(pending0);
        }
        return ok;
    }

    // Validates `ev`, normalizes its values into the arena and serializes it at
    // the end of buf, after a comma unless `first`. False, with r.errors, when it is
    // invalid: buf, arena and pending may then hold part of it, for the caller
    // to truncate.
    bool encode(const Event& ev, std::chrono::system_clock::time_point now, bool first, EncodeResult& r) {
        // Not accepted, or thrown out of: its values leave the totals again.
        struct Uncount {
            impl& d;
            bool accepted = false;
            ~Uncount() {
                if (!accepted) d.tally.discard();
            }
        } uncount{*this};
        if (!encode_walks(ev, now, first, r)) return false;
        uncount.accepted = true;
        tally.accept(r);
        return true;
    }
    bool encode_walks(const Event& ev, std::chrono::system_clock::time_point now, bool first, EncodeResult& r) {
        if (encode_checked(ev, now, first)) return true;
        fused.checking = false;
        r.errors = validate(ev, now, options.validation);
        if (!r.errors.empty()) return false;
        normalize_user_data(ev.user_data, r);
        if (!r.errors.empty()) return false;
        const auto start = buf.size();
        const bool user_data_ok = write_event(ev, first);
        // The comma before a non-first event is not part of the event's size.
        const auto bytes = buf.size() - start - (first ? 0 : 1);
        if (!user_data_ok) {
            r.errors.push_back({std::string(wire::schema<UserData>::name), "no customer information parameter left after normalization"});
            return false;
        }
        if (bytes > options.validation.max_event_bytes) {
            // Name what weighs most, as validate()'s own bound does: its size
            // check with a cap of 0 names the heaviest value or list (the event
            // is otherwise valid, so that is its only error). Rare: errors only.
            ValidationOptions probe = options.validation;
            probe.max_event_bytes = 0;
            std::string heaviest;
            for (auto& e : validate(ev, now, probe))
                if (e.reason.starts_with("too large")) heaviest = std::move(e.path);
            r.errors.push_back({heaviest, "too large: the event is " + std::to_string(bytes) +
                                              " bytes serialized, over the " +
                                              std::to_string(options.validation.max_event_bytes) +
                                              "-byte event cap (max_event_bytes)" +
                                              (heaviest.empty() ? "" : "; this field weighs most")});
            return false;
        }
        return true;
    }

    void write_tail(json::Buffer& out, const RequestFields& f, std::string_view token) {
        Writer w(out);
        w.set_first(false);
        wire::schema<RequestFields>::each([&](auto r) {
            using R = decltype(r);
            if (const auto& v = f.*R::member) w.member(R::key, *v);
        });
        if (!token.empty()) w.member("access_token", token);
    }
};

// PreparedEvent's own members (its buffer's free and copy): prepared.cpp.

using detail::PreparedEvent;

BatchEncoder::BatchEncoder(EncodeOptions options)
    : impl_(std::make_unique<impl>(std::move(options))) {}
BatchEncoder::~BatchEncoder() = default;
BatchEncoder::BatchEncoder(BatchEncoder&&) noexcept = default;
BatchEncoder& BatchEncoder::operator=(BatchEncoder&&) noexcept = default;

EncodeResult BatchEncoder::add(const Event& ev, std::chrono::system_clock::time_point now) {
    prefetch_event(ev);
    auto& d = *impl_;
    EncodeResult r;
    if (d.count >= d.options.max_batch_events) {
        r.status = EncodeStatus::batch_full;
        return r;
    }
    d.hash_some();
    const auto arena0 = d.arena.size();
    const auto pending0 = d.pending.size();
    d.buf.resize(d.events_end);  // drop a tail left by json_body()
    const auto start = d.buf.size();
    // A failed or throwing event leaves nothing behind: a stale pending hole would
    // later be filled inside whatever event is written over it.
    auto roll_back = [&] {
        d.buf.resize(start);
        d.arena.resize(arena0);
        d.pending.resize(pending0);
    };
    try {
        if (!d.encode(ev, now, d.count == 0, r)) {
            roll_back();
            r.status = EncodeStatus::invalid;
            return r;
        }
        d.starts.push_back(start + (d.count == 0 ? 0 : 1));
    } catch (...) {
        roll_back();
        throw;
    }
    d.events_end = d.buf.size();
    ++d.count;
    return r;
}

EncodeResult BatchEncoder::prepare(const Event& ev, std::chrono::system_clock::time_point now,
                                   PreparedEvent& out, std::string_view event_id_if_absent) {
    auto& d = *impl_;
    out.json_size_ = out.values_size_ = out.holes_ = 0;  // empty until it holds this event
    // The event is written straight into out's buffer, lent to the encoder in
    // place of the batch's for this call. The values and their holes go after
    // the batch's in the arena and pending list (hot scratch), then after the
    // JSON in out's buffer. However the call ends, the batch gets its buffer
    // back and loses the scratch, and out keeps its (grown) buffer.
    struct Lend {
        impl& d;
        PreparedEvent& out;
        std::size_t arena0, pending0;
        std::size_t size = 0;  // the batch's while lent; then out's
        Lend(impl& d_, PreparedEvent& out_)
            : d(d_), out(out_), arena0(d_.arena.size()), pending0(d_.pending.size()) {
            d.buf.swap_storage(out.data_, size, out.capacity_);
        }
        ~Lend() {
            d.buf.swap_storage(out.data_, size, out.capacity_);
            d.arena.resize(arena0);
            d.pending.resize(pending0);
            d.event_id_if_absent = {};
        }
        Lend(const Lend&) = delete;
        Lend& operator=(const Lend&) = delete;
    } lend(d, out);
    // A new PreparedEvent: one allocation the size of the last event rather than
    // doubling from nothing. No slack: the batcher reads these cold, and with
    // gaps between them (bench_core --split, 64 or 400 bytes more) it reads
    // measurably slower.
    if (d.buf.capacity() == 0) d.buf.reserve(std::max<std::size_t>(256, d.prepared_bytes));
    d.event_id_if_absent = event_id_if_absent;
    d.id_at = 0;
    EncodeResult r;
    if (!d.encode(ev, now, true, r)) {
        r.status = EncodeStatus::invalid;
        return r;
    }
    const auto json_size = d.buf.size();
    const auto values = std::string_view(d.arena).substr(lend.arena0);
    const auto holes = d.pending.size() - lend.pending0;
    d.buf.reserve(json_size + values.size() + holes * 12);
    d.buf.append(values);
    char* dst = d.buf.extend(holes * 12);
    for (auto i = lend.pending0; i < d.pending.size(); ++i, dst += 12) {
        // `at` is already relative to the event: it was written from offset 0.
        const std::uint32_t t[3] = {static_cast<std::uint32_t>(d.pending[i].offset - lend.arena0),
                                    d.pending[i].length, static_cast<std::uint32_t>(d.pending[i].at)};
        std::memcpy(dst, t, sizeof t);
    }
    d.prepared_bytes = d.buf.size();
    out.json_size_ = static_cast<std::uint32_t>(json_size);
    out.values_size_ = static_cast<std::uint32_t>(values.size());
    out.holes_ = static_cast<std::uint32_t>(holes);
    out.id_at_ = static_cast<std::uint32_t>(d.id_at);
    out.event_time = ev.event_time;
    out.action_source = ev.action_source;
    return r;
}

namespace {
// Room for `n` more elements, growing geometrically (reserve(size() + n) alone
// would reallocate, and copy, on almost every call once the vector is full).
template <class T>
void reserve_more(std::vector<T>& v, std::size_t n) {
    if (v.capacity() - v.size() < n) v.reserve(std::max(v.capacity() * 2, v.size() + n));
}
} // namespace

EncodeResult BatchEncoder::add_prepared(const PreparedEvent& ev, std::chrono::system_clock::time_point now) {
    auto& d = *impl_;
    EncodeResult r;
    if (d.count >= d.options.max_batch_events) {
        r.status = EncodeStatus::batch_full;
        return r;
    }
    if (ev.empty()) {
        r.errors.push_back({"", "not a prepared event"});
        r.status = EncodeStatus::invalid;
        return r;
    }
    d.check_window(ev.event_time, ev.action_source, now, r);
    if (!r.errors.empty()) {
        r.status = EncodeStatus::invalid;
        return r;
    }
    // Room first, all growing geometrically: nothing below may throw once the
    // batch's state starts to change.
    d.hash_some();
    reserve_more(d.pending, ev.holes_);
    reserve_more(d.starts, 1);
    const std::size_t comma = d.count != 0 ? 1 : 0;
    d.buf.resize(d.events_end);  // drop a tail left by json_body()
    const auto start = d.events_end + comma;
    const auto arena_base = d.arena.size();
    // Then the one copy that matters, the JSON (cold: prepared on another thread).
    char* dst = d.buf.extend(comma + ev.json_size_);
    std::memcpy(dst + comma, ev.data_, ev.json_size_);
    if (comma != 0) *dst = ',';
    // The buffers' own growth is geometric and kept by clear(); an exception here
    // leaves only bytes past events_end, which the next event overwrites.
    std::memcpy(d.arena.extend(ev.values_size_), ev.data_ + ev.json_size_, ev.values_size_);
    const char* t = ev.data_ + ev.json_size_ + ev.values_size_;
    for (std::uint32_t i = 0; i < ev.holes_; ++i, t += 12) {
        std::uint32_t h[3];
        std::memcpy(h, t, sizeof h);
        d.pending.push_back({static_cast<std::uint32_t>(arena_base + h[0]), h[1], start + h[2]});
    }
    d.events_end = d.buf.size();
    d.starts.push_back(start);
    ++d.count;
    d.prefetch_next(ev.json_size_);
    return r;
}

bool BatchEncoder::add_json(std::string_view event_json) {
    auto& d = *impl_;
    if (d.count >= d.options.max_batch_events) return false;
    d.buf.resize(d.events_end);
    if (d.count != 0) d.buf += ',';
    d.starts.push_back(d.buf.size());
    d.buf += event_json;
    d.events_end = d.buf.size();
    ++d.count;
    return true;
}

std::string_view BatchEncoder::event_json(std::size_t i) {
    auto& d = *impl_;
    d.fill_hashes();
    const auto begin = d.starts[i];
    // The next event starts after a comma.
    const auto end = i + 1 < d.count ? d.starts[i + 1] - 1 : d.events_end;
    return std::string_view(d.buf).substr(begin, end - begin);
}

std::size_t BatchEncoder::size() const noexcept { return impl_->count; }
MatchQuality BatchEncoder::match_quality() const noexcept {
    MatchQuality q;
    impl_->tally.counters->add_to(q);
    return q;
}

std::shared_ptr<const detail::MatchCounters> detail::batch_access::match_counters(const BatchEncoder& enc) {
    return enc.impl_->tally.counters;
}

void detail::batch_access::count_only(BatchEncoder& enc) noexcept { enc.impl_->tally.report_values = false; }

bool BatchEncoder::full() const noexcept { return impl_->count >= impl_->options.max_batch_events; }
void BatchEncoder::reserve(std::size_t bytes) { impl_->buf.reserve(bytes); }

std::size_t BatchEncoder::data_bytes() const noexcept {
    return impl_->events_end - body_prefix.size();
}

std::string_view BatchEncoder::json_body(const RequestFields& fields, std::string_view access_token) {
    auto& d = *impl_;
    d.fill_hashes();
    d.buf.resize(d.events_end);
    d.buf += ']';
    d.write_tail(d.buf, fields, access_token);
    d.buf += '}';
    return d.buf;
}

std::string_view BatchEncoder::form_body(const RequestFields& fields, std::string_view access_token) {
    auto& d = *impl_;
    d.fill_hashes();
    d.form.clear();
    d.form += "data=";
    // The JSON array starts at the '[' that ends the prefix.
    std::string_view array(d.buf.data() + body_prefix.size() - 1,
                           d.events_end - body_prefix.size() + 1);
    json::append_form_encoded(d.form, array);
    d.form += "%5D";
    auto field = [&](std::string_view k, std::string_view v) {
        d.form += '&';
        d.form += k;
        d.form += '=';
        json::append_form_encoded(d.form, v);
    };
    wire::schema<RequestFields>::each([&](auto r) {
        using R = decltype(r);
        if (const auto& v = fields.*R::member) field(R::key, *v);
    });
    if (!access_token.empty()) field("access_token", access_token);
    return d.form;
}

void BatchEncoder::clear() noexcept {
    auto& d = *impl_;
    d.buf.resize(body_prefix.size());
    d.events_end = body_prefix.size();
    d.count = 0;
    d.starts.clear();
    d.pending.clear();
    d.arena.clear();
}

const EncodeOptions& BatchEncoder::options() const noexcept { return impl_->options; }

} // namespace capi
