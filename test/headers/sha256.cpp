// Test that the header file is self-contained.
#include <capi/sha256.hpp>
