// capi::kafka::detail::OffsetTracker: the committable offset never passes an
// unsettled record, whatever order records settle in.
#include "kafka/tracker.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

using capi::kafka::detail::OffsetTracker;

TEST_CASE("an empty tracker has nothing to commit", "[kafka][tracker]") {
    OffsetTracker t;
    CHECK(t.committable() == -1);
    CHECK(t.pending_count() == 0);
    CHECK(t.first_pending() == -1);
    CHECK_FALSE(t.settle(0));
}

TEST_CASE("the committable offset is the first unsettled one", "[kafka][tracker]") {
    OffsetTracker t;
    for (std::int64_t o = 10; o < 15; ++o) REQUIRE(t.add(o));
    CHECK(t.committable() == 10);
    CHECK(t.settle(12));
    CHECK(t.committable() == 10);  // 10 and 11 still open
    CHECK(t.settle(10));
    CHECK(t.committable() == 11);
    CHECK(t.settle(11));
    CHECK(t.committable() == 13);  // 12 settled earlier
    CHECK(t.settle(14));
    CHECK(t.committable() == 13);
    CHECK(t.settle(13));
    CHECK(t.committable() == 15);  // all settled: the next to read
    CHECK(t.pending_count() == 0);
}

TEST_CASE("gaps in offsets do not block commits", "[kafka][tracker]") {
    OffsetTracker t;
    REQUIRE(t.add(3));
    REQUIRE(t.add(7));  // 4-6 compacted away or transaction markers
    CHECK(t.settle(3));
    CHECK(t.committable() == 7);
    CHECK(t.settle(7));
    CHECK(t.committable() == 8);
}

TEST_CASE("offsets out of order, repeated settles and unknown offsets are refused", "[kafka][tracker]") {
    OffsetTracker t;
    REQUIRE(t.add(5));
    CHECK_FALSE(t.add(5));
    CHECK_FALSE(t.add(4));
    CHECK_FALSE(t.add(-1));
    CHECK_FALSE(t.settle(6));
    CHECK(t.pending(5));
    CHECK(t.settle(5));
    CHECK_FALSE(t.settle(5));
    CHECK_FALSE(t.pending(5));
    CHECK(t.pending_count() == 0);
}

TEST_CASE("random settle orders never commit past an unsettled record", "[kafka][tracker]") {
    std::mt19937_64 rng(42);
    for (int round = 0; round < 50; ++round) {
        OffsetTracker t;
        std::vector<std::int64_t> offsets;
        std::int64_t o = static_cast<std::int64_t>(rng() % 1000);
        for (int i = 0; i < 300; ++i) {
            o += 1 + static_cast<std::int64_t>(rng() % 3);
            offsets.push_back(o);
            REQUIRE(t.add(o));
        }
        std::vector<std::int64_t> order = offsets;
        std::shuffle(order.begin(), order.end(), rng);
        std::vector<bool> settled(offsets.size(), false);
        for (auto s : order) {
            REQUIRE(t.settle(s));
            settled[static_cast<std::size_t>(std::lower_bound(offsets.begin(), offsets.end(), s) - offsets.begin())] = true;
            // The reference: the first unsettled offset, or one past the last.
            std::int64_t expect = offsets.back() + 1;
            for (std::size_t i = 0; i < offsets.size(); ++i)
                if (!settled[i]) {
                    expect = offsets[i];
                    break;
                }
            REQUIRE(t.committable() == expect);
        }
        CHECK(t.pending_count() == 0);
    }
}
