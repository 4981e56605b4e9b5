// capi::Client's plumbing into BatchEncoder, out of the public header: an event
// prepared on the producer's thread and added to a batch on the batcher's, and a
// rejected batch split and rebuilt from its serialized events.
#pragma once

#include <capi/encode.hpp>

#include <array>
#include <atomic>
#include <memory>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace capi::detail {

/// One event validated, normalized and serialized, its SHA-256 digests still to
/// be computed (batch_access::prepare). A batch built from prepared events with
/// add_prepared() is byte-identical to one built with add(), and still hashes all
/// its values in one sha256::hash_many call. This is how capi::Client splits the
/// work: the thread that made the event prepares it (and frees the Event itself),
/// a batcher thread concatenates and hashes. One buffer, which prepare() writes
/// the event into directly and keeps for the next prepare(); movable, copyable.
class PreparedEvent {
public:
    std::int64_t event_time = 0;  ///< for the window re-check at add_prepared()
    ActionSource action_source = ActionSource::unset;

    PreparedEvent() noexcept = default;
    ~PreparedEvent();
    PreparedEvent(const PreparedEvent& other);
    PreparedEvent& operator=(const PreparedEvent& other);
    PreparedEvent(PreparedEvent&& other) noexcept { swap_(other); }
    PreparedEvent& operator=(PreparedEvent&& other) noexcept {
        PreparedEvent(std::move(other)).swap_(*this);
        return *this;
    }

    bool empty() const noexcept { return json_size_ == 0; }
    /// The serialized event object, each hashed value a run of 64 '0' until a
    /// batch fills it.
    std::string_view json_with_holes() const noexcept { return {data_, json_size_}; }
    /// Bytes of buffer it holds (reused when it is prepared again).
    std::size_t capacity() const noexcept { return capacity_; }

private:
    friend class capi::BatchEncoder;
    void swap_(PreparedEvent& o) noexcept {
        std::swap(event_time, o.event_time);
        std::swap(action_source, o.action_source);
        std::swap(data_, o.data_);
        std::swap(capacity_, o.capacity_);
        std::swap(json_size_, o.json_size_);
        std::swap(values_size_, o.values_size_);
        std::swap(holes_, o.holes_);
        std::swap(id_at_, o.id_at_);
    }
    // JSON object, then the normalized values to hash, then one
    // {value offset, value length, hole offset} triple of uint32 per value.
    // Allocated by the encoder's buffer (lib/json/buffer.hpp), which prepare()
    // lends it to.
    char* data_ = nullptr;
    std::size_t capacity_ = 0;
    std::uint32_t json_size_ = 0, values_size_ = 0, holes_ = 0;
    // Where the event_id prepare() was given for an event without one sits in
    // the JSON (32 characters); 0 when it wrote none.
    std::uint32_t id_at_ = 0;
    friend struct batch_access;
};

/// A BatchEncoder's match-quality totals (BatchEncoder::match_quality()): written
/// by the encoder's one thread (a load and a store, no read-modify-write), read
/// by any (capi::Client sums its producer threads' encoders in stats()).
struct MatchCounters {
    /// index(field, outcome): a shift and an or.
    static constexpr std::size_t stride = 8;
    static_assert(match_outcome_count <= stride);
    static constexpr std::uint8_t index(Field f, MatchOutcome o) noexcept {
        return static_cast<std::uint8_t>(static_cast<std::size_t>(f) * stride + static_cast<std::size_t>(o));
    }
    std::array<std::atomic<std::uint64_t>, field_count * stride> counts{};

    void add(std::uint8_t i) noexcept {
        auto& a = counts[i];
        a.store(a.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    }
    void sub(std::uint8_t i) noexcept {
        auto& a = counts[i];
        a.store(a.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
    }
    void add_to(MatchQuality& q) const noexcept {
        for (std::size_t f = 0; f < field_count; ++f)
            for (std::size_t o = 0; o < match_outcome_count; ++o)
                q.counts[f][o] += counts[f * stride + o].load(std::memory_order_relaxed);
    }
};

/// The placeholder capi::Client prepares an event without an event_id with,
/// when its id is derived from the event (EventIdMode::deterministic).
inline constexpr std::string_view derived_id_placeholder = "00000000000000000000000000000000";

/// The library's one way to BatchEncoder's private plumbing (inline: a direct
/// call to the member, nothing between).
struct batch_access {
    /// Validates and normalizes `ev` at `now` and serializes it into `out` (digests
    /// pending), as add() would add it; the batch itself is left unchanged. `out`
    /// keeps its buffer and holds the event only when the status is `added`;
    /// otherwise (or when this throws) it is left empty().
    /// `event_id_if_absent`: written as the event_id when `ev` has none (how
    /// capi::Client gives such events an id without copying them).
    static EncodeResult prepare(BatchEncoder& enc, const Event& ev, std::chrono::system_clock::time_point now,
                                PreparedEvent& out, std::string_view event_id_if_absent = {}) {
        return enc.prepare(ev, now, out, event_id_if_absent);
    }
    /// EventIdMode::deterministic: the id of an event prepared with
    /// derived_id_placeholder as its `event_id_if_absent`, written into the
    /// event's JSON in place of the placeholder and into `id` (32 lowercase hex
    /// digits). False (nothing written) when the event had its own id.
    /// What is hashed is documented in docs/client.md ("Event ids") and pinned
    /// by test/event_id_test.cpp: do not change it without a new scheme name.
    static bool derive_event_id(PreparedEvent& ev, std::string_view pixel_id, std::string& id);
    /// The encoder's match-quality totals, shared: they outlive the encoder (a
    /// thread's staging encoder may go before the client reads them).
    static std::shared_ptr<const MatchCounters> match_counters(const BatchEncoder& enc);
    /// The encoder counts match outcomes but leaves EncodeResult::unmatchable
    /// empty (capi::Client's staging encoders: nobody reads it there).
    static void count_only(BatchEncoder& enc) noexcept;
    /// Appends a prepared event (from any BatchEncoder with the same options):
    /// re-checks only the event_time window at `now` (an event ages while it
    /// waits), and the batch's cap.
    static EncodeResult add_prepared(BatchEncoder& enc, const PreparedEvent& ev,
                                     std::chrono::system_clock::time_point now) {
        return enc.add_prepared(ev, now);
    }
    /// Appends one event already serialized by a BatchEncoder (event_json() of
    /// another batch, hashes filled): how a rejected batch is split and resent
    /// without normalizing or hashing again. Returns false when the batch is full.
    static bool add_json(BatchEncoder& enc, std::string_view event_json) { return enc.add_json(event_json); }
    /// The serialized JSON object of the i-th event (i < size()), hashes filled.
    /// The view stays valid until the next non-const call on `enc`.
    static std::string_view event_json(BatchEncoder& enc, std::size_t i) { return enc.event_json(i); }
};

} // namespace capi::detail
