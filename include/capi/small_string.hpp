// capi::SmallString: a short string held in place, for the ids every event's
// result carries (SendResult::event_id, SendResult::fbtrace_id). Up to
// `inline_capacity` bytes (an assigned event_id is 32, a UUID 36, Meta's
// fbtrace_id 11 or 23) it allocates nothing, where a std::string past its
// small-string buffer (15 bytes in libstdc++) allocates once per copy; a longer
// value goes to the heap. Reads as a std::string_view, converts to a
// std::string where one is asked for (a map's key, a push_back), and is always
// NUL-terminated (c_str()).
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#pragma GCC visibility push(default)  // exported: docs/install.md#symbol-visibility
namespace capi {

class SmallString {
public:
    static constexpr std::size_t inline_capacity = 43;

    SmallString() noexcept { small_[0] = '\0'; }
    /// Explicit, so that comparing with a literal or a std::string is never ambiguous.
    explicit SmallString(std::string_view s) { assign(s); }
    SmallString(const SmallString& o) { assign(o.view()); }
    SmallString(SmallString&& o) noexcept : size_(o.size_), long_(std::move(o.long_)) {
        if (size_ <= inline_capacity) std::memcpy(small_, o.small_, size_ + 1);
        o.size_ = 0;
        o.small_[0] = '\0';
    }
    SmallString& operator=(const SmallString& o) {
        if (this != &o) assign(o.view());
        return *this;
    }
    SmallString& operator=(SmallString&& o) noexcept {
        if (this != &o) {
            size_ = o.size_;
            long_ = std::move(o.long_);
            if (size_ <= inline_capacity) std::memcpy(small_, o.small_, size_ + 1);
            o.size_ = 0;
            o.small_[0] = '\0';
        }
        return *this;
    }
    SmallString& operator=(std::string_view s) {
        assign(s);
        return *this;
    }
    ~SmallString() = default;

    /// Replaces the value. `s` may point into this string.
    void assign(std::string_view s) {
        if (s.size() <= inline_capacity) {
            std::memmove(small_, s.data(), s.size());
            small_[s.size()] = '\0';
            size_ = static_cast<std::uint32_t>(s.size());
            long_.reset();
            return;
        }
        auto fresh = std::make_unique<char[]>(s.size() + 1);
        std::memcpy(fresh.get(), s.data(), s.size());
        fresh[s.size()] = '\0';
        long_ = std::move(fresh);
        size_ = static_cast<std::uint32_t>(s.size());
    }
    void clear() noexcept {
        size_ = 0;
        small_[0] = '\0';
        long_.reset();
    }

    std::string_view view() const noexcept { return {data(), size_}; }
    operator std::string_view() const noexcept { return view(); }
    operator std::string() const { return std::string(view()); }
    std::string str() const { return std::string(view()); }
    const char* data() const noexcept { return size_ <= inline_capacity ? small_ : long_.get(); }
    const char* c_str() const noexcept { return data(); }
    std::size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }

    friend bool operator==(const SmallString& a, const SmallString& b) noexcept { return a.view() == b.view(); }
    friend bool operator==(const SmallString& a, std::string_view b) noexcept { return a.view() == b; }
    friend std::strong_ordering operator<=>(const SmallString& a, const SmallString& b) noexcept {
        return a.view() <=> b.view();
    }
    friend std::strong_ordering operator<=>(const SmallString& a, std::string_view b) noexcept {
        return a.view() <=> b;
    }
    // Concatenation gives a std::string, as with a std::string operand.
    friend std::string operator+(const SmallString& a, const SmallString& b) { return join(a.view(), b.view()); }
    friend std::string operator+(const SmallString& a, std::string_view b) { return join(a.view(), b); }
    friend std::string operator+(std::string_view a, const SmallString& b) { return join(a, b.view()); }
    friend std::string operator+(const SmallString& a, const char* b) { return join(a.view(), b); }
    friend std::string operator+(const char* a, const SmallString& b) { return join(a, b.view()); }
    friend std::string operator+(const SmallString& a, const std::string& b) { return join(a.view(), b); }
    friend std::string operator+(const std::string& a, const SmallString& b) { return join(a, b.view()); }

    template <class Ostream>
    friend Ostream& operator<<(Ostream& os, const SmallString& s) {
        os << s.view();
        return os;
    }

private:
    static std::string join(std::string_view a, std::string_view b) {
        std::string s;
        s.reserve(a.size() + b.size());
        s.append(a).append(b);
        return s;
    }

    std::uint32_t size_ = 0;
    char small_[inline_capacity + 1];  // NUL-terminated when in use
    std::unique_ptr<char[]> long_;  // the value when longer than inline_capacity
};

} // namespace capi
#pragma GCC visibility pop

template <>
struct std::hash<capi::SmallString> {
    std::size_t operator()(const capi::SmallString& s) const noexcept { return std::hash<std::string_view>{}(s.view()); }
};
