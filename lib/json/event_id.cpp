// EventIdMode::deterministic (include/capi/client.hpp): an event's id derived
// from its destination and its prepared bytes. docs/client.md ("Event ids")
// states what is hashed; test/event_id_test.cpp pins it with known answers.
#include "json/prepared.hpp"

#include <capi/sha256.hpp>

#include <array>
#include <cstring>

namespace capi::detail {

bool batch_access::derive_event_id(PreparedEvent& ev, std::string_view pixel_id, std::string& id) {
    if (ev.id_at_ == 0 || ev.empty()) return false;
    // The prepared record as the encoder left it: the event's JSON with the id
    // as 32 '0' and each value to hash as 64 '0', the normalized values, and a
    // (value offset, length, hole offset) triple per value. It is the encoding
    // before any digest: the same bytes for the same event on every run, and
    // unlike the JSON alone it tells apart events that differ only in PII.
    const std::size_t n = std::size_t{ev.json_size_} + ev.values_size_ + std::size_t{ev.holes_} * 12;
    const auto inner = sha256::hash(std::string_view(ev.data_, n));
    // Then the destination: the same event sent to two pixels is two events.
    // Hashed with the inner digest rather than in front of the record, which
    // would take a copy of the record (the SHA-256 here is one-shot).
    std::array<char, 128> small;
    std::string large;
    char* p = small.data();
    const std::size_t m = pixel_id.size() + 1 + inner.size();
    if (m > small.size()) {
        large.resize(m);
        p = large.data();
    }
    std::memcpy(p, pixel_id.data(), pixel_id.size());
    p[pixel_id.size()] = '\n';
    std::memcpy(p + pixel_id.size() + 1, inner.data(), inner.size());
    const auto outer = sha256::hash(std::string_view(p, m));
    char hex[64];
    sha256::to_hex(outer, hex);
    id.assign(hex, 32);  // the first 128 bits
    std::memcpy(ev.data_ + ev.id_at_, hex, 32);
    return true;
}

} // namespace capi::detail
