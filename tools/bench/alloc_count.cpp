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

// As the standard operator new does: on failure, the new-handler gets its chance
// (it may free memory or throw); without one, bad_alloc.
void* counted_new(std::size_t n) {
    for (;;) {
        if (void* p = counted_malloc(n)) return p;
        std::new_handler h = std::get_new_handler();
        if (!h) throw std::bad_alloc();
        h();
    }
}
} // namespace

std::uint64_t capi_bench::thread_allocations() noexcept { return allocations; }

[[gnu::noinline]] void* operator new(std::size_t n) { return counted_new(n); }
[[gnu::noinline]] void* operator new[](std::size_t n) { return counted_new(n); }
[[gnu::noinline]] void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
    try {
        return counted_new(n);
    } catch (...) {
        return nullptr;
    }
}
[[gnu::noinline]] void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
    try {
        return counted_new(n);
    } catch (...) {
        return nullptr;
    }
}
[[gnu::noinline]] void operator delete(void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete[](void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, std::size_t) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
