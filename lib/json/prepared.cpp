// PreparedEvent's own memory (prepared.hpp): the buffer BatchEncoder::prepare()
// lends it, freed and copied here.
#include "json/prepared.hpp"

#include <cstdlib>
#include <cstring>
#include <new>

namespace capi::detail {

// PreparedEvent's buffer is json::Buffer storage (prepare() lends it to one): std::realloc'd.
PreparedEvent::~PreparedEvent() { std::free(data_); }

PreparedEvent::PreparedEvent(const PreparedEvent& other)
    : event_time(other.event_time),
      action_source(other.action_source),
      json_size_(other.json_size_),
      values_size_(other.values_size_),
      holes_(other.holes_),
      id_at_(other.id_at_) {
    const std::size_t n = std::size_t{json_size_} + values_size_ + std::size_t{holes_} * 12;
    if (n == 0) return;
    data_ = static_cast<char*>(std::malloc(n));
    if (data_ == nullptr) throw std::bad_alloc();
    capacity_ = n;
    std::memcpy(data_, other.data_, n);
}

PreparedEvent& PreparedEvent::operator=(const PreparedEvent& other) {
    if (this != &other) PreparedEvent(other).swap_(*this);
    return *this;
}

} // namespace capi::detail
