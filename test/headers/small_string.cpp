// Test that the header file is self-contained.
#include <capi/small_string.hpp>
