// capi: the injectable clock used by every time-dependent rule (event_time
// windows, linger, retry deadlines), so tests move time instead of sleeping.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>

#pragma GCC visibility push(default)  // exported: docs/install.md#symbol-visibility
namespace capi {

/// Returns the current wall-clock time. An empty Clock means system_clock::now.
using Clock = std::function<std::chrono::system_clock::time_point()>;

/// Reads `clock`, or the system clock when it is empty.
inline std::chrono::system_clock::time_point now(const Clock& clock) {
    return clock ? clock() : std::chrono::system_clock::now();
}

/// A clock that moves only when told to. Thread safety: safe from any thread.
class ManualClock {
public:
    explicit ManualClock(std::chrono::system_clock::time_point start = {}) noexcept
        : ns_(start.time_since_epoch().count()) {}

    std::chrono::system_clock::time_point now() const noexcept {
        return std::chrono::system_clock::time_point(
            std::chrono::system_clock::duration(ns_.load(std::memory_order_acquire)));
    }
    void set(std::chrono::system_clock::time_point t) noexcept {
        ns_.store(t.time_since_epoch().count(), std::memory_order_release);
    }
    void advance(std::chrono::system_clock::duration d) noexcept {
        ns_.fetch_add(d.count(), std::memory_order_acq_rel);
    }
    /// A Clock reading this object; the object must outlive every copy.
    Clock as_clock() const {
        return [this] { return now(); };
    }

private:
    std::atomic<std::chrono::system_clock::rep> ns_;
};

} // namespace capi
#pragma GCC visibility pop
