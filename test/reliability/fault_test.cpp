// The fault half of the reliability matrix (docs/reliability.md, F1-F14).
#include <catch2/catch.hpp>
