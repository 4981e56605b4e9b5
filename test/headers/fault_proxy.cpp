// Test that the header file is self-contained.
#include <capi/testing/fault_proxy.hpp>
