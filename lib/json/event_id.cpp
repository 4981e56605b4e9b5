// EventIdMode::deterministic (include/capi/client.hpp): an event's id derived
// from its destination and its prepared bytes. docs/client.md ("Event ids")
// states what is hashed; test/event_id_test.cpp pins it with known answers.
#include "json/prepared.hpp"

#include <capi/sha256.hpp>

#include <algorithm>
#include <array>
#include <cstring>

namespace capi::detail {

namespace {
void put_u32le(std::string& out, std::uint32_t v) {
    const char b[4] = {static_cast<char>(v & 0xff), static_cast<char>((v >> 8) & 0xff),
                       static_cast<char>((v >> 16) & 0xff), static_cast<char>(v >> 24)};
    out.append(b, 4);
}
} // namespace

bool batch_access::derive_event_id(PreparedEvent& ev, std::string_view pixel_id, std::string& id) {
    if (ev.id_at_ == 0 || ev.empty()) return false;
    // The message: the pixel, a newline, the event's JSON as the encoder wrote
    // it without the id's placeholder and without the 64-character hole of each
    // value still to hash, then each such value, normalized, after its length
    // (4 bytes, little-endian), in the order of the holes. It is the encoding
    // before any digest: the same bytes for the same event on every run; unlike
    // the JSON alone it tells apart events that differ only in PII; and the
    // holes, half the bytes of a typical event, are left out of the hashing.
    const char* json = ev.data_;
    const char* values = json + ev.json_size_;
    const char* triples = values + ev.values_size_;
    // Hole positions in the JSON, ascending (the writer writes in order): the
    // id's, merged in among the values'.
    std::array<std::pair<std::uint32_t, std::uint32_t>, 32> small_holes;  // {at, width}
    std::vector<std::pair<std::uint32_t, std::uint32_t>> many_holes;
    std::pair<std::uint32_t, std::uint32_t>* holes = small_holes.data();
    const std::size_t n_holes = std::size_t{ev.holes_} + 1;
    if (n_holes > small_holes.size()) {
        many_holes.resize(n_holes);
        holes = many_holes.data();
    }
    for (std::uint32_t i = 0; i < ev.holes_; ++i) {
        std::uint32_t t[3];
        std::memcpy(t, triples + std::size_t{i} * 12, sizeof t);
        holes[i] = {t[2], 64};
    }
    holes[ev.holes_] = {ev.id_at_, 32};
    std::sort(holes, holes + n_holes);

    thread_local std::string msg;
    msg.clear();
    msg.reserve(pixel_id.size() + 1 + ev.json_size_ + ev.values_size_ + std::size_t{ev.holes_} * 4);
    msg.append(pixel_id);
    msg += '\n';
    std::uint32_t from = 0;
    for (std::size_t i = 0; i < n_holes; ++i) {
        msg.append(json + from, holes[i].first - from);
        from = holes[i].first + holes[i].second;
    }
    msg.append(json + from, ev.json_size_ - from);
    for (std::uint32_t i = 0; i < ev.holes_; ++i) {
        std::uint32_t t[3];
        std::memcpy(t, triples + std::size_t{i} * 12, sizeof t);
        put_u32le(msg, t[1]);
        msg.append(values + t[0], t[1]);
    }
    const auto d = sha256::hash(msg);
    char hex[64];
    sha256::to_hex(d, hex);
    id.assign(hex, 32);  // the first 128 bits
    std::memcpy(ev.data_ + ev.id_at_, hex, 32);
    return true;
}

} // namespace capi::detail
