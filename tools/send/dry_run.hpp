// capi send --dry-run: the request bodies on stdout instead of sending them.
#pragma once

#include "send/input.hpp"
#include "send/options.hpp"

#include <ostream>

namespace capi_send {

/// Reads `in` to its end and prints the bodies capi::Client would send (the ids
/// it would give events without one, when a pixel is known); returns the exit status.
int dry_run(const Args& a, Input& in, std::ostream& out, std::ostream& err);

} // namespace capi_send
