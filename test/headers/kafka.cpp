// Test that the header file is self-contained.
#include <capi/kafka.hpp>
