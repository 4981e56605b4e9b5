// Placeholder until the avx512 path lands: built, never supported, never selected.
#include "sha256/impl.hpp"

namespace capi::sha256::detail {
namespace {
void unavailable(const std::string_view* in, digest* out, std::size_t n) noexcept {
    scalar_impl.hash_many(in, out, n);
}
bool never() noexcept { return false; }
} // namespace
const impl avx512_impl = {"avx512", unavailable, never};
} // namespace capi::sha256::detail
