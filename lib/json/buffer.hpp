// Internal: the growable byte buffer the encoder serializes into.
//
// std::string's append and push_back are out-of-line calls into libstdc++ (one
// capacity check, a call to memcpy and a terminating NUL each), and an encoded
// event is ~80 of them. Here the common case is inline: a compare, a copy the
// compiler sizes at compile time for literals, an add. Growth is the rare,
// out-of-line path. Never NUL-terminated; view it as a std::string_view.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string_view>
#include <utility>

namespace capi::json {

class Buffer {
public:
    Buffer() { reallocate_(initial_capacity); }
    explicit Buffer(std::string_view init) : Buffer() { append(init); }
    ~Buffer() { std::free(data_); }
    // Owned by one encoder, never copied or moved (the encoder moves its impl by
    // pointer); swap_storage() lends its storage out.
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;

    char* data() noexcept { return data_; }
    const char* data() const noexcept { return data_; }
    std::size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }
    std::size_t capacity() const noexcept { return capacity_; }
    operator std::string_view() const noexcept { return {data_, size_}; }

    void clear() noexcept { size_ = 0; }
    void reserve(std::size_t n) {
        if (n > capacity_) reallocate_(n);
    }
    /// Shrinks to `n`, or grows with zero bytes (as std::string::resize).
    void resize(std::size_t n) {
        if (n > size_) {
            reserve(n);
            std::memset(data_ + size_, 0, n - size_);
        }
        size_ = n;
    }

    /// Grows by `n` uninitialized bytes (geometrically, as append does) and
    /// returns where they start, for the caller to write.
    char* extend(std::size_t n) {
        if (capacity_ - size_ < n) grow_(n);
        char* p = data_ + size_;
        size_ += n;
        return p;
    }
    /// Room for `n` more bytes: where they start, for the caller to write up to
    /// `n` bytes and then commit() its end. One capacity check for a whole JSON
    /// member, instead of one per piece of it.
    char* room(std::size_t n) {
        if (capacity_ - size_ < n) grow_(n);
        return data_ + size_;
    }
    /// Ends the buffer at `end` (within the last room()).
    void commit(const char* end) noexcept { size_ = static_cast<std::size_t>(end - data_); }
    /// Trades storage with a block held elsewhere: one this class allocated
    /// (std::realloc; free it with std::free), or null with capacity 0.
    void swap_storage(char*& data, std::size_t& size, std::size_t& capacity) noexcept {
        std::swap(data_, data);
        std::swap(size_, size);
        std::swap(capacity_, capacity);
    }

    void append(const char* p, std::size_t n) {
        if (capacity_ - size_ < n) grow_(n);
        copy_bytes(data_ + size_, p, n);
        size_ += n;
    }
    void append(std::string_view s) { append(s.data(), s.size()); }
    void push_back(char c) {
        if (size_ == capacity_) grow_(1);
        data_[size_++] = c;
    }
    Buffer& operator+=(std::string_view s) {
        append(s);
        return *this;
    }
    Buffer& operator+=(char c) {
        push_back(c);
        return *this;
    }

    // Most appends are keys and short values, of a size known only at run
    // time: two overlapping loads and stores instead of a call to memcpy.
    static void copy_bytes(char* d, const char* p, std::size_t n) noexcept {
        if (n >= 8 && n <= 16) {
            std::uint64_t a, b;
            std::memcpy(&a, p, 8);
            std::memcpy(&b, p + n - 8, 8);
            std::memcpy(d, &a, 8);
            std::memcpy(d + n - 8, &b, 8);
        } else if (n >= 4 && n < 8) {
            std::uint32_t a, b;
            std::memcpy(&a, p, 4);
            std::memcpy(&b, p + n - 4, 4);
            std::memcpy(d, &a, 4);
            std::memcpy(d + n - 4, &b, 4);
        } else if (n < 4) {
            for (std::size_t i = 0; i < n; ++i) d[i] = p[i];
        } else {
            std::memcpy(d, p, n);
        }
    }

    /// From this capacity on (a batch's body), storage comes in whole 2 MB
    /// pages, 2 MB-aligned and advised as transparent huge pages (buffer.cpp):
    /// the first writes into a new body fault once per 2 MB rather than ~350
    /// times per 1.4 MB, each fault microseconds on a virtual machine
    /// (docs/performance.md, "Batch bodies in huge pages"). Still std::malloc
    /// memory: std::free and std::realloc take it.
    static constexpr std::size_t large_capacity = std::size_t{1} << 20;
    static constexpr std::size_t large_page = std::size_t{2} << 20;

private:
    static constexpr std::size_t initial_capacity = 256;

    [[gnu::noinline]] void reallocate_large_(std::size_t capacity);

    [[gnu::noinline]] void grow_(std::size_t n) {
        reallocate_(std::max(capacity_ * 2, size_ + n));
    }
    void reallocate_(std::size_t capacity) {
        if (capacity >= large_capacity) {
            reallocate_large_(capacity);
            return;
        }
        auto* p = static_cast<char*>(std::realloc(data_, capacity));
        if (p == nullptr) throw std::bad_alloc();
        data_ = p;
        capacity_ = capacity;
    }

    char* data_ = nullptr;
    std::size_t size_ = 0, capacity_ = 0;
};

} // namespace capi::json
