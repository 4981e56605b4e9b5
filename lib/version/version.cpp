// The library's own version, compiled in: the headers' macros tell what a
// program was built against, this tells what it runs with.
#include <capi/version.hpp>

namespace capi {

std::string_view version() noexcept { return CAPI_VERSION_STRING; }

} // namespace capi
