// capi internals: a request body shared by the attempts of one request.
//
// Plumbing between capi::Client, the Sender and the transports, not something a
// user builds: a custom Transport only needs post(). It lives here so that
// transport.hpp shows what users use; capi::SharedBody remains an alias of it
// (transport.hpp) for transports written before it moved.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace capi::detail {

/// A request body that the attempts of one request share without copying it:
/// `bytes` stays valid for as long as `owner` (or a copy of it) is held.
struct SharedBody {
    std::string_view bytes;
    std::shared_ptr<const void> owner;
    /// A body that owns `s` (moved in, not copied). Inline: nothing of capi::detail
    /// is exported from the shared library (docs/install.md#symbol-visibility).
    static SharedBody take(std::string s) {
        auto owned = std::make_shared<const std::string>(std::move(s));
        return {*owned, std::move(owned)};
    }
};

} // namespace capi::detail
