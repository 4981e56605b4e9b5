// Replaces the global operator new/delete family for a test executable: every
// allocation goes through test_malloc() (defined by the including file: count
// allocations, or fail a chosen one), every release through std::free.
// Include from exactly one translation unit of the executable.
//
// The whole unaligned family is replaced, so every pointer meets its own kind of
// delete (sanitizers check the pairing). Out of line so GCC does not pair an
// inlined malloc()/free() with new/delete expressions (-Wmismatched-new-delete).
#pragma once

#include <cstddef>
#include <cstdlib>
#include <new>

/// Allocates `n` bytes (at least 1) with std::malloc, or returns null to fail the allocation.
void* test_malloc(std::size_t n) noexcept;

[[gnu::noinline]] void* operator new(std::size_t n) {
    if (void* p = test_malloc(n)) return p;
    throw std::bad_alloc();
}
[[gnu::noinline]] void* operator new[](std::size_t n) {
    if (void* p = test_malloc(n)) return p;
    throw std::bad_alloc();
}
[[gnu::noinline]] void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return test_malloc(n); }
[[gnu::noinline]] void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return test_malloc(n); }
[[gnu::noinline]] void operator delete(void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete[](void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, std::size_t) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
