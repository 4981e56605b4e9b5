// capi: reading events written in Meta's wire format (one JSON object per event,
// Meta's field names, PII in clear or already hashed), as `capi send` does.
//
// Thread safety: distinct EventReader objects are safe, one object is not.
#pragma once

#include <memory>
#include <string_view>

#include <capi/event.hpp>
#include <capi/validate.hpp>

#pragma GCC visibility push(default)  // exported: docs/install.md#symbol-visibility
namespace capi {

struct ReaderOptions {
    /// Unknown keys become raw extra members (passed through to Meta) instead of
    /// being an error. Off by default: Meta rejects the whole batch on an unknown key.
    bool pass_unknown_keys = false;
};

/// Parses JSON text into Events, reusing its parser and buffers across calls.
class EventReader {
public:
    explicit EventReader(ReaderOptions options = {});
    ~EventReader();
    EventReader(EventReader&&) noexcept;
    EventReader& operator=(EventReader&&) noexcept;

    /// Parses one JSON object into `out` (reset first). On failure returns false
    /// and sets `error` to the field path (empty for a syntax error of the whole
    /// text) and the reason. Never throws on bad input.
    bool parse(std::string_view json, Event& out, FieldError& error);

private:
    struct [[gnu::visibility("hidden")]] impl;  // lib/ only: not exported
    std::unique_ptr<impl> impl_;
};

} // namespace capi
#pragma GCC visibility pop
