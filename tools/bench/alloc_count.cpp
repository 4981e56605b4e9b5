// Counts the heap allocations of each thread, for the caller's-path figures of
// the end-to-end benchmark (caller_path.hpp: thread_allocations). Replaces the
// unaligned operator new/delete family of the program that links it; the cost is
// one thread-local increment per allocation. Out of line so GCC does not pair an
// inlined malloc()/free() with new/delete expressions (-Wmismatched-new-delete).
#include "caller_path.hpp"

#include <cstdlib>
#include <new>

namespace {
thread_local std::uint64_t allocations = 0;

void* counted_malloc(std::size_t n) noexcept {
    ++allocations;
    return std::malloc(n == 0 ? 1 : n);
}
} // namespace

std::uint64_t capi_bench::thread_allocations() noexcept { return allocations; }

[[gnu::noinline]] void* operator new(std::size_t n) {
    if (void* p = counted_malloc(n)) return p;
    throw std::bad_alloc();
}
[[gnu::noinline]] void* operator new[](std::size_t n) {
    if (void* p = counted_malloc(n)) return p;
    throw std::bad_alloc();
}
[[gnu::noinline]] void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return counted_malloc(n); }
[[gnu::noinline]] void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return counted_malloc(n); }
[[gnu::noinline]] void operator delete(void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete[](void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, std::size_t) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
