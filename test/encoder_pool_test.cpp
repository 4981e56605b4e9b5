// The client's pool of spare batch encoders and event lists (lib/client/batcher.hpp):
// what trim() lets go after a burst and what a steady load keeps. Pure: no
// socket, no clock, no thread.
#include "client/batcher.hpp"

#include <capi/encode.hpp>

#include <catch2/catch.hpp>

#include <cstddef>
#include <cstdint>
#include <vector>

using capi::BatchEncoder;
using capi::pipeline::EncoderPool;
using capi::pipeline::Pending;

namespace {

// Takes n encoders from the pool, then puts them all back.
void cycle(EncoderPool& pool, std::size_t n) {
    std::vector<BatchEncoder> out;
    for (std::size_t i = 0; i < n; ++i) out.push_back(pool.get());
    for (auto& e : out) pool.put(std::move(e));
}

// Takes n lists from the pool (fresh ones get capacity), then puts them all back;
// returns how many came from the pool (had capacity).
std::size_t cycle_lists(EncoderPool& pool, std::size_t n) {
    std::vector<std::vector<Pending>> events(n);
    std::vector<std::vector<std::uint64_t>> hashes(n);
    std::size_t reused = 0;
    for (std::size_t i = 0; i < n; ++i) {
        pool.get_lists(events[i], hashes[i]);
        if (events[i].capacity() != 0) {
            ++reused;
        } else {
            events[i].reserve(64);
            hashes[i].reserve(64);
        }
    }
    for (std::size_t i = 0; i < n; ++i) pool.put_lists(std::move(events[i]), std::move(hashes[i]));
    return reused;
}

} // namespace

TEST_CASE("the encoder pool lets go of the spares a burst left, and keeps what a steady load cycles") {
    EncoderPool pool({}, 4 << 20);
    REQUIRE(pool.spares() == 0);

    cycle(pool, 6);  // a burst of six batches at once
    REQUIRE(pool.spares() == 6);
    // The first trim only starts the count: all six were taken since the pool began.
    CHECK(pool.trim() == 0);
    CHECK(pool.spares() == 6);

    // A steady load of two batches at a time: four spares stayed untouched.
    for (int i = 0; i < 5; ++i) cycle(pool, 2);
    CHECK(pool.trim() == 4);
    CHECK(pool.spares() == 2);

    // The load goes on: what it cycles stays, trim after trim.
    for (int round = 0; round < 3; ++round) {
        cycle(pool, 2);
        CHECK(pool.trim() == 0);
        CHECK(pool.spares() == 2);
    }

    // It stops: the last spares go at the next trim, and the pool still serves.
    CHECK(pool.trim() == 2);
    CHECK(pool.spares() == 0);
    CHECK(pool.trim() == 0);
    cycle(pool, 3);
    CHECK(pool.spares() == 3);

    // A burst larger than what is spare: the low-water mark is zero, nothing goes.
    cycle(pool, 5);
    CHECK(pool.spares() == 5);
    CHECK(pool.trim() == 0);
    CHECK(pool.spares() == 5);
}

TEST_CASE("the encoder pool trims its spare event lists the same way") {
    EncoderPool pool({}, 4 << 20);
    CHECK(cycle_lists(pool, 4) == 0);  // all fresh
    pool.trim();                       // starts the count
    CHECK(cycle_lists(pool, 1) == 1);  // one of four spares used
    pool.trim();                       // the three left untouched go
    CHECK(cycle_lists(pool, 2) == 1);  // one spare left: the second list is fresh
    pool.trim();
    pool.trim();                       // nothing taken since: all go
    CHECK(cycle_lists(pool, 1) == 0);
}
