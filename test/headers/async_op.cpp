// Test that the header file is self-contained.
#include <capi/detail/async_op.hpp>
