// Placeholder: no CPU features detected yet.
#include "sha256/impl.hpp"

namespace capi::sha256::detail {
const cpu_features& cpu() noexcept {
    static const cpu_features f{};
    return f;
}
} // namespace capi::sha256::detail
