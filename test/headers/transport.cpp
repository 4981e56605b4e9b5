// Test that the header file is self-contained.
#define CAPI_TRANSPORT_ONLY
#include <capi/transport.hpp>
