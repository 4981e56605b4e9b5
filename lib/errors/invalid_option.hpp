// Internal: the one way lib/ refuses an option (client, transport and Kafka
// options alike), so every refusal carries the same error code.
#pragma once

#include <string>

namespace capi::detail {

/// Throws std::system_error with errc::invalid_option and `what`, which names
/// the option and the reason.
[[noreturn]] void invalid_option(const std::string& what);

} // namespace capi::detail
