// Test that the header file is self-contained.
#include <capi/testing/mock_graph.hpp>
