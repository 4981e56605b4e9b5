// Internal: a bounded lock-free multi-producer multi-consumer queue.
//
// Contract the client relies on:
//  - try_push(T&&) never blocks; false when full (the value is left untouched).
//  - try_pop(T&) never blocks; false when empty.
//  - pop_bulk(T* out, n) moves up to n values out, returns how many.
//  - FIFO per producer; no value lost or duplicated; capacity is rounded up to a
//    power of two; size_approx() is a hint.
//  - Slots are padded against false sharing.
//
// Design: Dmitry Vyukov's bounded MPMC queue. Every cell carries a sequence
// number that says whose turn it is: for the position `pos` that maps to it,
// seq == pos means "free for the producer of pos", seq == pos + 1 means "holds
// the value of pos, for its consumer". A producer or consumer claims a position
// with one CAS on enqueue_pos_ / dequeue_pos_ and then publishes the cell with a
// release store of its sequence; the other side's acquire load of the sequence
// is the only synchronisation the payload needs, so the position counters are
// accessed relaxed. The queue is not linearizable as a whole (a stalled
// producer holds back the consumers of later positions, which see "empty"
// until it publishes), which the client tolerates: it polls.
//
// "FIFO per producer" means: two values pushed by one thread are claimed by
// consumers in push order. Two consumers may still finish moving them out in
// either order; within one consumer the order always holds.
//
// Thread safety: every member function except the constructor and destructor
// may be called from any number of threads at once.
#pragma once

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <new>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace capi::detail {

// std::hardware_destructive_interference_size makes g++ warn (-Winterference-size)
// that its value is not ABI-stable; x86-64 and most AArch64 parts use 64-byte lines.
inline constexpr std::size_t cache_line_size = 64;

template <class T>
class MpmcQueue {
    // A value is claimed before it is moved in or out: a throwing move would
    // leave a claimed cell that nobody ever publishes, wedging the queue.
    static_assert(std::is_nothrow_move_constructible_v<T>, "MpmcQueue<T> needs a noexcept move constructor");
    static_assert(std::is_nothrow_move_assignable_v<T>, "MpmcQueue<T> needs a noexcept move assignment");
    static_assert(std::is_nothrow_destructible_v<T>, "MpmcQueue<T> needs a noexcept destructor");

public:
    using value_type = T;

    // Larger capacities would let positions a lap apart compare wrongly as signed.
    static constexpr std::size_t max_capacity = std::size_t{1} << (std::numeric_limits<std::size_t>::digits - 2);

    // capacity is rounded up to a power of two, at least 2.
    // Throws std::length_error above max_capacity, std::bad_alloc when out of memory.
    explicit MpmcQueue(std::size_t capacity)
        : mask_(round_capacity(capacity) - 1), cells_(std::make_unique<Cell[]>(mask_ + 1)) {
        for (std::size_t i = 0; i <= mask_; ++i) cells_[i].seq.store(i, std::memory_order_relaxed);
        enqueue_pos_.store(0, std::memory_order_relaxed);
        dequeue_pos_.store(0, std::memory_order_relaxed);
    }

    MpmcQueue(const MpmcQueue&) = delete;
    MpmcQueue& operator=(const MpmcQueue&) = delete;

    // Destroys the values still queued. No other thread may be using the queue.
    ~MpmcQueue() {
        std::size_t pos = dequeue_pos_.load(std::memory_order_acquire);
        // At rest every position in [dequeue_pos_, enqueue_pos_) holds a value.
        const std::size_t queued = size_approx();
        for (std::size_t i = 0; i < queued; ++i, ++pos) {
            Cell& cell = cells_[pos & mask_];
            if (cell.seq.load(std::memory_order_acquire) == pos + 1) cell.value()->~T();
        }
    }

    // Moves v into the queue; on false (full) v is untouched.
    bool try_push(T&& v) noexcept {
        std::size_t pos = enqueue_pos_.load(std::memory_order_relaxed);
        Cell* cell;
        for (;;) {
            cell = &cells_[pos & mask_];
            const std::size_t seq = cell->seq.load(std::memory_order_acquire);
            const auto diff = static_cast<std::intptr_t>(seq) - static_cast<std::intptr_t>(pos);
            if (diff == 0) {
                if (enqueue_pos_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) break;
                // pos now holds the winner's value: retry there.
            } else if (diff < 0) {
                return false;  // the cell still holds the value from one lap ago: full
            } else {
                pos = enqueue_pos_.load(std::memory_order_relaxed);  // another producer got pos
            }
        }
        ::new (static_cast<void*>(cell->storage)) T(std::move(v));
        cell->seq.store(pos + 1, std::memory_order_release);
        return true;
    }

    // Moves the oldest claimable value into out; false (out untouched) when empty.
    bool try_pop(T& out) noexcept {
        std::size_t pos = dequeue_pos_.load(std::memory_order_relaxed);
        Cell* cell;
        for (;;) {
            cell = &cells_[pos & mask_];
            const std::size_t seq = cell->seq.load(std::memory_order_acquire);
            const auto diff = static_cast<std::intptr_t>(seq) - static_cast<std::intptr_t>(pos + 1);
            if (diff == 0) {
                if (dequeue_pos_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) break;
            } else if (diff < 0) {
                return false;  // not yet published for this lap: empty (or its producer is mid-push)
            } else {
                pos = dequeue_pos_.load(std::memory_order_relaxed);
            }
        }
        take_(*cell, pos, out);
        return true;
    }

    // Moves up to max values into out[0..n) in queue order and returns n (0 when empty).
    // Claims the whole run of published cells at the head with one CAS; a run is
    // cut short at the first cell not yet published.
    std::size_t pop_bulk(T* out, std::size_t max) noexcept {
        if (max == 0) return 0;
        if (max > mask_ + 1) max = mask_ + 1;
        std::size_t pos = dequeue_pos_.load(std::memory_order_relaxed);
        std::size_t n;
        for (;;) {
            const std::size_t seq = cells_[pos & mask_].seq.load(std::memory_order_acquire);
            const auto diff = static_cast<std::intptr_t>(seq) - static_cast<std::intptr_t>(pos + 1);
            if (diff < 0) return 0;
            if (diff > 0) {
                pos = dequeue_pos_.load(std::memory_order_relaxed);
                continue;
            }
            // Each acquire load below pairs with that cell's producer, so every value
            // in the run is visible once the CAS makes it ours. The cells cannot change
            // between the scan and a successful CAS: dequeue_pos_ only grows, so
            // nobody else has claimed pos or anything after it.
            n = 1;
            while (n < max && cells_[(pos + n) & mask_].seq.load(std::memory_order_acquire) == pos + n + 1) ++n;
            if (dequeue_pos_.compare_exchange_weak(pos, pos + n, std::memory_order_relaxed)) break;
        }
        for (std::size_t i = 0; i < n; ++i) take_(cells_[(pos + i) & mask_], pos + i, out[i]);
        return n;
    }

    std::size_t capacity() const noexcept { return mask_ + 1; }

    // A snapshot that may be stale by the time it returns; never above capacity().
    std::size_t size_approx() const noexcept {
        const std::size_t head = dequeue_pos_.load(std::memory_order_acquire);
        const std::size_t tail = enqueue_pos_.load(std::memory_order_acquire);
        if (tail <= head) return 0;
        return tail - head > mask_ + 1 ? mask_ + 1 : tail - head;
    }

private:
    // One cell per cache line (or more for a large T), so producers and consumers
    // working on neighbouring positions do not invalidate each other's lines.
    struct alignas(cache_line_size) Cell {
        std::atomic<std::size_t> seq;
        alignas(T) std::byte storage[sizeof(T)];

        T* value() noexcept { return std::launder(reinterpret_cast<T*>(storage)); }
    };

    static std::size_t round_capacity(std::size_t capacity) {
        if (capacity > max_capacity) throw std::length_error("MpmcQueue capacity too large");
        return capacity < 2 ? 2 : std::bit_ceil(capacity);
    }

    // Moves the value of claimed position pos out and hands the cell to the
    // producer of the next lap (pos + capacity).
    void take_(Cell& cell, std::size_t pos, T& out) noexcept {
        T* v = cell.value();
        out = std::move(*v);
        v->~T();
        cell.seq.store(pos + mask_ + 1, std::memory_order_release);
    }

    // Read-only after construction: shares a line with nothing that is written.
    alignas(cache_line_size) const std::size_t mask_;
    const std::unique_ptr<Cell[]> cells_;
    alignas(cache_line_size) std::atomic<std::size_t> enqueue_pos_;
    alignas(cache_line_size) std::atomic<std::size_t> dequeue_pos_;
};

}  // namespace capi::detail
