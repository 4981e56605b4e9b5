// capi: per-event validation, run before an event can join a batch, so one bad
// event never poisons the batch Meta would otherwise reject whole.
//
// Thread safety: validate() is reentrant.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <capi/event.hpp>

#pragma GCC visibility push(default)  // exported: docs/install.md#symbol-visibility
namespace capi {

/// What kind of problem a FieldError is, for code that branches on it (the
/// reason is for people and may change wording).
enum class FieldErrorKind : std::uint8_t {
    invalid,            ///< breaks a rule of the field; sending it later will not help
    expired,            ///< event_time is older than the 7/62-day window
    too_far_in_future,  ///< event_time is ahead of the clock by more than max_future_skew
};

/// A problem with one field: `path` is the JSON path without the leading `data[i]`
/// (`event_time`, `user_data.em[1]`, `custom_data.contents[3].quantity`).
struct FieldError {
    std::string path;
    std::string reason;
    FieldErrorKind kind = FieldErrorKind::invalid;

    friend bool operator==(const FieldError&, const FieldError&) = default;
};

struct ValidationOptions {
    /// Oldest event_time accepted, for every action_source but physical_store (Meta: 7 days).
    std::chrono::seconds max_age{7 * 24 * 3600};
    /// Oldest event_time accepted for physical_store events (Meta: 62 days).
    std::chrono::seconds physical_store_max_age{62 * 24 * 3600};
    /// How far event_time may lie in the future (clock skew). Meta publishes no
    /// rule; events from skewed clocks are reported to fail, so keep it small.
    std::chrono::seconds max_future_skew{5 * 60};
    /// Largest serialized event accepted, in bytes (checked by the encoder).
    std::size_t max_event_bytes = 64 * 1024;
    /// Website events also need event_source_url and user_data.client_user_agent
    /// (Meta's required parameters for website events).
    bool require_website_fields = true;
};

/// Checks `ev` against Meta's rules at time `now`: required fields, the event_time
/// window, enums, ISO 4217 currency, Purchase value and currency, finite numbers,
/// valid UTF-8 in every string, the 16-value extinfo, well-formed raw members that
/// do not repeat typed keys. Returns every error found (empty when valid).
/// Normalization rejects of single PII values are the encoder's business.
std::vector<FieldError> validate(const Event& ev, std::chrono::system_clock::time_point now,
                                 const ValidationOptions& options = {});

} // namespace capi
#pragma GCC visibility pop
