#include "pixel/url.hpp"

#include <cstring>

namespace capi::pixel::url {

namespace {

int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool unreserved(unsigned char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

} // namespace

bool needs_decoding(std::string_view in) noexcept {
    for (const char c : in) {
        if (c == '%' || c == '+') return true;
    }
    return false;
}

const char* decode_append(std::string_view in, std::string& out) {
    const char* p = in.data();
    const char* const end = p + in.size();
    while (p < end) {
        // Copy the run up to the next escape in one go: most values have none.
        const char* q = p;
        while (q < end && *q != '%' && *q != '+') ++q;
        out.append(p, static_cast<std::size_t>(q - p));
        if (q == end) break;
        if (*q == '+') {
            out += ' ';
            p = q + 1;
            continue;
        }
        // Browsers never send a bare '%' (they write %25); a hand-made hit that
        // does is refused rather than guessed at.
        if (end - q < 3) return "truncated percent escape";
        const int hi = hex_value(q[1]);
        const int lo = hex_value(q[2]);
        if (hi < 0 || lo < 0) return "malformed percent escape";
        out += static_cast<char>(hi * 16 + lo);
        p = q + 3;
    }
    return nullptr;
}

void encode_append(std::string& out, std::string_view s) {
    static constexpr char hex[] = "0123456789ABCDEF";
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (unreserved(c)) {
            out += ch;
        } else {
            const char buf[3] = {'%', hex[c >> 4], hex[c & 0xF]};
            out.append(buf, 3);
        }
    }
}

bool query_param(std::string_view u, std::string_view name, std::string_view& value) noexcept {
    const std::size_t hash = u.find('#');
    if (hash != std::string_view::npos) u = u.substr(0, hash);
    const std::size_t q = u.find('?');
    if (q == std::string_view::npos) return false;
    bool found = false;
    each_pair(u.substr(q + 1), [&](std::string_view n, std::string_view v) {
        if (n != name) return true;
        value = v;
        found = true;
        return false;
    });
    return found;
}

} // namespace capi::pixel::url
