// Test that the header file is self-contained.
#include <capi/pixel.hpp>
