// Where a line's first invalid UTF-8 byte is, and in which field.
//
// simdjson validates a document's UTF-8 as a whole before parsing it and says
// only "The input is not valid UTF-8". A user with a 2 KB line needs more: the
// byte's offset and, where the text around it is still JSON, the field that
// holds it (normalization.md: a bad value is named). This scan runs only after
// that failure, so it favours clarity over speed.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace capi::json {

struct Utf8Fault {
    std::size_t offset = 0;  ///< of the first byte of the invalid sequence
    unsigned char byte = 0;  ///< that byte
    /// The field whose value (or key) holds it, as the reader names fields
    /// ("user_data.em[1]", "custom_data.contents[0].title"); empty when the byte
    /// is outside any string or the text before it is not JSON.
    std::string path;
    bool in_key = false;  ///< the byte is in the key of `path`'s member
};

/// The first invalid UTF-8 sequence of `text` (overlong forms, surrogates and
/// code points past U+10FFFF are invalid, as in RFC 3629); nullopt when the
/// text is valid UTF-8.
std::optional<Utf8Fault> locate_invalid_utf8(std::string_view text);

/// "(byte 0xff at offset 37 of the line)".
std::string position(const Utf8Fault& fault);
/// "invalid UTF-8 (byte 0xff at offset 37 of the line)", or for a key "a member's
/// key is not valid UTF-8 (...)".
std::string describe(const Utf8Fault& fault);

}  // namespace capi::json
