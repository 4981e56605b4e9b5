// lib/json/utf8_locate.hpp: the first invalid UTF-8 byte of a line, and its field.
#include "json/utf8_locate.hpp"

#include <cstdio>
#include <vector>

namespace capi::json {

namespace {

/// The length of the valid UTF-8 sequence starting at s[i], or 0 when it is
/// not one (RFC 3629's table: no overlong forms, no surrogates, nothing past
/// U+10FFFF).
std::size_t sequence_length(std::string_view s, std::size_t i) noexcept {
    const auto at = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned char c = at(i);
    if (c < 0x80) return 1;
    std::size_t n = 0;
    unsigned char lo = 0x80, hi = 0xbf;  // the second byte's range
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
    } else if (c == 0xe0) {
        n = 3, lo = 0xa0;
    } else if (c == 0xed) {
        n = 3, hi = 0x9f;
    } else if (c >= 0xe1 && c <= 0xef) {
        n = 3;
    } else if (c == 0xf0) {
        n = 4, lo = 0x90;
    } else if (c >= 0xf1 && c <= 0xf3) {
        n = 4;
    } else if (c == 0xf4) {
        n = 4, hi = 0x8f;
    } else {
        return 0;
    }
    if (i + n > s.size() || at(i + 1) < lo || at(i + 1) > hi) return 0;
    for (std::size_t k = 2; k < n; ++k)
        if ((at(i + k) & 0xc0) != 0x80) return 0;
    return n;
}

/// One open object or array, and which of its members the scan is in.
struct Level {
    bool array = false;
    std::size_t index = 0;  // arrays: the element
    std::string key;        // objects: the member's key, once read
    bool has_key = false;
};

/// The reader's name of the member the scan is in: keys joined by '.', indexes
/// in brackets ("user_data.em[1]"); the top-level object has no name of its own.
std::string path_of(const std::vector<Level>& levels) {
    std::string path;
    for (const Level& l : levels) {
        if (l.array) {
            path += '[' + std::to_string(l.index) + ']';
        } else if (l.has_key) {
            if (!path.empty()) path += '.';
            path += l.key;
        }
    }
    return path;
}

}  // namespace

std::optional<Utf8Fault> locate_invalid_utf8(std::string_view s) {
    std::vector<Level> levels;
    bool expect_key = false;  // in an object, before a member's key
    bool structured = true;   // the brackets so far match: a path means something
    auto fault = [&](std::size_t i, bool in_key) {
        Utf8Fault f;
        f.offset = i;
        f.byte = static_cast<unsigned char>(s[i]);
        f.in_key = in_key;
        if (structured) f.path = path_of(levels);
        return f;
    };
    std::size_t i = 0;
    while (i < s.size()) {
        const char c = s[i];
        if (c == '"') {
            const bool is_key = expect_key && !levels.empty() && !levels.back().array;
            std::string text;
            ++i;
            while (i < s.size() && s[i] != '"') {
                if (s[i] == '\\') {
                    // An escape: the backslash and the ASCII character it
                    // escapes (\" among them, which does not end the string). A
                    // byte past 0x7f after it is no escape: it is checked as
                    // UTF-8 like any other, so the path holds valid text only.
                    text += '\\';
                    ++i;
                    if (i < s.size() && static_cast<unsigned char>(s[i]) < 0x80) text += s[i++];
                    continue;
                }
                const std::size_t n = sequence_length(s, i);
                if (n == 0) {
                    if (is_key) {
                        levels.back().has_key = false;  // the object's own path
                    }
                    return fault(i, is_key);
                }
                text.append(s.substr(i, n));
                i += n;
            }
            ++i;  // the closing quote
            if (is_key) {
                levels.back().key = std::move(text);
                levels.back().has_key = true;
                expect_key = false;
            }
            continue;
        }
        switch (c) {
        case '{':
            levels.push_back(Level{});
            expect_key = true;
            break;
        case '[':
            levels.push_back(Level{true, 0, {}, false});
            break;
        case '}':
        case ']':
            if (levels.empty() || levels.back().array != (c == ']')) structured = false;
            if (!levels.empty()) levels.pop_back();
            expect_key = false;
            break;
        case ',':
            if (levels.empty()) {
                structured = false;
            } else if (levels.back().array) {
                ++levels.back().index;
            } else {
                levels.back().has_key = false;
                expect_key = true;
            }
            break;
        default:
            if (static_cast<unsigned char>(c) >= 0x80) {
                const std::size_t n = sequence_length(s, i);
                if (n == 0) {
                    structured = false;  // outside a string: no field holds it
                    return fault(i, false);
                }
                i += n;
                continue;
            }
        }
        ++i;
    }
    return std::nullopt;
}

std::string position(const Utf8Fault& f) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%02x", f.byte);
    return std::string("(byte ") + hex + " at offset " + std::to_string(f.offset) + " of the line)";
}

std::string describe(const Utf8Fault& f) {
    return (f.in_key ? "a member's key is not valid UTF-8 " : "invalid UTF-8 ") + position(f);
}

}  // namespace capi::json
