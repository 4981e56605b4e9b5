// Internal: a request's body as every attempt shares it.
#pragma once

#include <capi/transport.hpp>

#include <utility>

namespace capi::detail {

/// Moves the body out of `r` (its shared body when one is set, else its string),
/// leaving both empty.
inline SharedBody take_body(PostRequest& r) {
    SharedBody body = r.shared_body.owner ? std::move(r.shared_body) : SharedBody::take(std::move(r.body));
    r.shared_body = {};
    r.body.clear();
    return body;
}

} // namespace capi::detail
