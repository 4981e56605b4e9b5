// capi: turns events into Conversions API request bodies.
//
// BatchEncoder validates, normalizes, hashes (sha256::hash_many) and serializes
// each event straight into a reused buffer (no JSON tree). An event that fails
// leaves the batch untouched, so a batch only ever holds events Meta can accept.
//
// Thread safety: distinct objects safe, shared objects unsafe.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <capi/event.hpp>
#include <capi/validate.hpp>

#pragma GCC visibility push(default)  // exported: docs/install.md#symbol-visibility
namespace capi {

/// What happens to an event when one of its PII values is rejected by normalization.
enum class InvalidPiiPolicy : std::uint8_t {
    drop_value,    ///< drop that value, report it in EncodeResult::dropped, keep the event
    reject_event,  ///< the event is invalid
};

struct EncodeOptions {
    ValidationOptions validation{};
    InvalidPiiPolicy invalid_pii = InvalidPiiPolicy::drop_value;
    /// Hash user_data.external_id (Meta recommends it; the classic SDKs send it raw).
    bool hash_external_id = false;
    /// Events per request body; Meta accepts at most 1000.
    std::size_t max_batch_events = 1000;
};

enum class EncodeStatus : std::uint8_t {
    added,       ///< the event is in the batch
    invalid,     ///< rejected; `errors` says which fields and why
    batch_full,  ///< the batch holds max_batch_events already; finish it first
};

struct EncodeResult {
    EncodeStatus status = EncodeStatus::added;
    std::vector<FieldError> errors;   ///< why the event is invalid
    std::vector<FieldError> dropped;  ///< PII values dropped (drop_value policy)
};

/// One event validated, normalized and serialized, its SHA-256 digests still to
/// be computed (BatchEncoder::prepare). A batch built from prepared events with
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
    friend class BatchEncoder;
    void swap_(PreparedEvent& o) noexcept {
        std::swap(event_time, o.event_time);
        std::swap(action_source, o.action_source);
        std::swap(data_, o.data_);
        std::swap(capacity_, o.capacity_);
        std::swap(json_size_, o.json_size_);
        std::swap(values_size_, o.values_size_);
        std::swap(holes_, o.holes_);
    }
    // JSON object, then the normalized values to hash, then one
    // {value offset, value length, hole offset} triple of uint32 per value.
    // Allocated by the encoder's buffer (lib/json/buffer.hpp), which prepare()
    // lends it to.
    char* data_ = nullptr;
    std::size_t capacity_ = 0;
    std::uint32_t json_size_ = 0, values_size_ = 0, holes_ = 0;
};

/// Builds one request body of at most max_batch_events events.
class BatchEncoder {
public:
    explicit BatchEncoder(EncodeOptions options = {});
    ~BatchEncoder();
    BatchEncoder(BatchEncoder&&) noexcept;
    BatchEncoder& operator=(BatchEncoder&&) noexcept;

    /// Validates `ev` at time `now` and appends it to the batch.
    EncodeResult add(const Event& ev, std::chrono::system_clock::time_point now);
    /// Appends `ev`, which passed validate() earlier (e.g. when it was queued):
    /// re-checks only the event_time window at `now` (an event ages while it
    /// waits), then normalizes and serializes as add() does.
    EncodeResult add_validated(const Event& ev, std::chrono::system_clock::time_point now);
    /// Validates and normalizes `ev` at `now` and serializes it into `out` (digests
    /// pending), as add() would add it; the batch itself is left unchanged. `out`
    /// keeps its buffer and holds the event only when the status is `added`;
    /// otherwise (or when this throws) it is left empty().
    /// `event_id_if_absent`: written as the event_id when `ev` has none (how
    /// capi::Client gives such events an id without copying them).
    EncodeResult prepare(const Event& ev, std::chrono::system_clock::time_point now, PreparedEvent& out,
                         std::string_view event_id_if_absent = {});
    /// Appends a prepared event (from any BatchEncoder with the same options):
    /// re-checks only the event_time window at `now`, as add_validated() does.
    EncodeResult add_prepared(const PreparedEvent& ev, std::chrono::system_clock::time_point now);
    /// Appends one event already serialized by a BatchEncoder (event_json() of
    /// another batch, hashes filled): how a rejected batch is split and resent
    /// without normalizing or hashing again. Returns false when the batch is full.
    bool add_json(std::string_view event_json);
    /// The serialized JSON object of the i-th event (i < size()), hashes filled.
    /// The view stays valid until the next non-const call on this object.
    std::string_view event_json(std::size_t i);

    std::size_t size() const noexcept;        ///< events in the batch
    bool empty() const noexcept { return size() == 0; }
    bool full() const noexcept;
    std::size_t data_bytes() const noexcept;  ///< bytes of the serialized events so far

    /// The JSON body `{"data":[...],"test_event_code":...,"access_token":...}`.
    /// `access_token` is written only when non-empty. The view stays valid until
    /// the next call on this object.
    std::string_view json_body(const RequestFields& fields = {},
                               std::string_view access_token = {});
    /// The form-encoded body `data=<url-encoded JSON array>&test_event_code=...`,
    /// the format Meta documents. Same lifetime as json_body().
    std::string_view form_body(const RequestFields& fields = {},
                               std::string_view access_token = {});

    /// Empties the batch, keeping its buffers.
    void clear() noexcept;
    /// Makes room for a body of `bytes` up front (a batch of known typical size
    /// then grows without reallocating and copying what it holds).
    void reserve(std::size_t bytes);

    const EncodeOptions& options() const noexcept;

private:
    EncodeResult add_(const Event& ev, std::chrono::system_clock::time_point now, bool full_validation);
    struct [[gnu::visibility("hidden")]] impl;  // lib/ only: not exported
    std::unique_ptr<impl> impl_;
};

} // namespace capi
#pragma GCC visibility pop
