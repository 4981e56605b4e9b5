// json::Buffer's storage for a batch's body (buffer.hpp): whole huge pages.
#include "json/buffer.hpp"

#include <sys/mman.h>

#include <cstdint>

namespace capi::json {

void Buffer::reallocate_large_(std::size_t capacity) {
    if (capacity > SIZE_MAX - large_page) throw std::bad_alloc();
    const std::size_t rounded = (capacity + large_page - 1) & ~(large_page - 1);
    auto* p = static_cast<char*>(std::aligned_alloc(large_page, rounded));
    if (p == nullptr) throw std::bad_alloc();
    // Advice only: where transparent huge pages are off (or the range already
    // holds small pages), the memory stays as it is and works the same.
#ifdef MADV_HUGEPAGE
    (void)::madvise(p, rounded, MADV_HUGEPAGE);
#endif
    if (size_ != 0) std::memcpy(p, data_, size_);
    std::free(data_);
    data_ = p;
    capacity_ = rounded;
}

} // namespace capi::json
