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
#include <capi/normalize.hpp>
#include <capi/validate.hpp>

// Declared before the push: lib-private, so hidden (not exported).
namespace capi::detail {
class PreparedEvent;  // lib/json/prepared.hpp: capi::Client's producer/batcher split
struct batch_access;  // lib/json/prepared.hpp: the library's way to BatchEncoder's private members
} // namespace capi::detail

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
    /// Opt-in conversions into the form Meta matches (off: the default rules,
    /// byte for byte). docs/normalization.md, "Enhanced, opt-in".
    EnhancedNormalization enhanced{};
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
    /// PII values sent hashed that Meta will not match as they are (a `db` not
    /// in YYYYMMDD, a phone without its country code, ...): match_warning()'s
    /// reason, for added events.
    std::vector<FieldError> unmatchable;
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
    /// What normalization made of the customer information of every event this
    /// encoder added (add() and prepared events), since it was made; clear()
    /// keeps it.
    MatchQuality match_quality() const noexcept;

private:
    // Client plumbing, reached through detail::batch_access (lib/json/prepared.hpp,
    // where they are documented); hidden like impl: lib/ only, not exported.
    friend struct detail::batch_access;
    [[gnu::visibility("hidden")]] EncodeResult prepare(const Event& ev, std::chrono::system_clock::time_point now,
                                                       detail::PreparedEvent& out,
                                                       std::string_view event_id_if_absent);
    [[gnu::visibility("hidden")]] EncodeResult add_prepared(const detail::PreparedEvent& ev,
                                                            std::chrono::system_clock::time_point now);
    [[gnu::visibility("hidden")]] bool add_json(std::string_view event_json);
    [[gnu::visibility("hidden")]] std::string_view event_json(std::size_t i);

    struct [[gnu::visibility("hidden")]] impl;  // lib/ only: not exported
    std::unique_ptr<impl> impl_;
};

} // namespace capi
#pragma GCC visibility pop
