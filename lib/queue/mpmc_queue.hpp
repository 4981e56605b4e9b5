// Internal: a bounded lock-free multi-producer multi-consumer queue
// (placeholder declaration; the implementation lands with its tests).
//
// Contract the client relies on:
//  - try_push(T&&) never blocks; false when full (the value is left untouched).
//  - try_pop(T&) never blocks; false when empty.
//  - pop_bulk(T* out, n) moves up to n values out, returns how many.
//  - FIFO per producer; no value lost or duplicated; capacity is rounded up to a
//    power of two; size_approx() is a hint.
//  - Slots are padded against false sharing.
#pragma once
