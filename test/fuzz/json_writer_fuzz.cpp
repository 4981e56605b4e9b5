// libFuzzer target: the JSON writer round trip (lib/json/writer.hpp). The input
// is a little program that writes a document through json::Writer; the output
// is parsed back with simdjson and compared, value by value, with what was
// written: strings and keys byte for byte, integers exactly, doubles bit for
// bit (an integral double may come back as an integer of the same value, so
// -0.0, written "-0", comes back as 0),
// non-finite doubles as null. The text itself must be valid UTF-8 with no raw
// control character and no raw U+2028/U+2029 (the writer's promise to
// line-oriented consumers). Every string also goes through
// append_form_encoded, whose output is decoded and compared.
//
// Program, one opcode byte then its operands (the input running out ends it;
// open containers are closed):
//   op % 8 = 0 string: a length byte, then that many bytes (invalid UTF-8 is
//            skipped: the writer's precondition is valid UTF-8, checked by
//            validation upstream)
//            1 integer: 8 bytes, int64
//            2 double: 8 bytes, the bit pattern
//            3 boolean (op bit 3)
//            4 null
//            5 begin object, 6 begin array (at most 64 deep), 7 end
// Inside an object each value is preceded by a key read like a string.
#include "json/writer.hpp"

#include <capi/normalize.hpp>

#include <simdjson.h>

#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace dom = simdjson::dom;

void check(bool ok) {
    if (!ok) __builtin_trap();
}

struct node {
    enum kind_t { string, integer, number, boolean, null, object, array } kind = null;
    std::string s;
    std::int64_t i = 0;
    double d = 0;
    bool b = false;
    std::vector<std::string> keys;  // object: one per item
    std::vector<node> items;        // array elements, object member values
};

struct reader {
    const std::uint8_t* p;
    const std::uint8_t* end;

    bool has(std::size_t n) const { return static_cast<std::size_t>(end - p) >= n; }
    bool byte(std::uint8_t& out) {
        if (!has(1)) return false;
        out = *p++;
        return true;
    }
    bool bytes(std::size_t n, std::string_view& out) {
        if (!has(n)) return false;
        out = std::string_view(reinterpret_cast<const char*>(p), n);
        p += n;
        return true;
    }
    bool text(std::string_view& out) {
        std::uint8_t n;
        return byte(n) && bytes(n, out);
    }
};

std::string form_decode(std::string_view s) {
    std::string out;
    const auto hex = [](char c) { return c <= '9' ? c - '0' : c - 'A' + 10; };
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '+') {
            out += ' ';
        } else if (s[i] == '%') {
            check(i + 2 < s.size());
            out += static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2]));
            i += 2;
        } else {
            out += s[i];
        }
    }
    return out;
}

void check_form(std::string_view s) {
    std::string enc;
    capi::json::append_form_encoded(enc, s);
    for (std::size_t i = 0; i < enc.size(); ++i) {
        const char c = enc[i];
        const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                           c == '-' || c == '_' || c == '.' || c == '*' || c == '+';
        if (c == '%') {
            check(i + 2 < enc.size());
            for (std::size_t k = 1; k <= 2; ++k) {
                const char h = enc[i + k];
                check((h >= '0' && h <= '9') || (h >= 'A' && h <= 'F'));
            }
            i += 2;
        } else {
            check(plain);
        }
    }
    check(form_decode(enc) == s);
}

class program {
public:
    program(const std::uint8_t* data, std::size_t size, std::string& out)
        : in_{data, data + size}, w_(out) {}

    // Writes values into `into` (the top-level array) until the input ends.
    void run(node& root) {
        root.kind = node::array;
        w_.begin_array();
        body(root, 0);
        w_.end_array();
    }

private:
    // Reads values into container `c` until an "end" opcode or the input runs out.
    void body(node& c, int depth) {
        for (;;) {
            std::string_view key;
            if (c.kind == node::object) {
                if (!in_.text(key)) return;
                if (!capi::is_valid_utf8(key)) continue;
            }
            std::uint8_t op;
            if (!in_.byte(op)) return;
            if (op % 8 == 7) return;
            node v;
            if (!value(op, v, key, c.kind == node::object, depth)) continue;
            if (c.kind == node::object) c.keys.emplace_back(key);
            c.items.push_back(std::move(v));
        }
    }

    bool value(std::uint8_t op, node& v, std::string_view key, bool in_object, int depth) {
        std::string_view raw;
        switch (op % 8) {
        case 0:
            if (!in_.text(raw) || !capi::is_valid_utf8(raw)) return false;
            check_form(raw);
            if (in_object) w_.key(key);
            v.kind = node::string;
            v.s.assign(raw);
            w_.string(raw);
            return true;
        case 1:
            if (!in_.bytes(8, raw)) return false;
            if (in_object) w_.key(key);
            v.kind = node::integer;
            std::memcpy(&v.i, raw.data(), 8);
            w_.integer(v.i);
            return true;
        case 2:
            if (!in_.bytes(8, raw)) return false;
            if (in_object) w_.key(key);
            std::memcpy(&v.d, raw.data(), 8);
            v.kind = std::isfinite(v.d) ? node::number : node::null;
            w_.number(v.d);
            return true;
        case 3:
            if (in_object) w_.key(key);
            v.kind = node::boolean;
            v.b = (op & 8) != 0;
            w_.boolean(v.b);
            return true;
        case 4:
            if (in_object) w_.key(key);
            v.kind = node::null;
            w_.null();
            return true;
        default:  // 5, 6: containers
            if (depth >= 64) return false;
            if (in_object) w_.key(key);
            if (op % 8 == 5) {
                v.kind = node::object;
                w_.begin_object();
                body(v, depth + 1);
                w_.end_object();
            } else {
                v.kind = node::array;
                w_.begin_array();
                body(v, depth + 1);
                w_.end_array();
            }
            return true;
        }
    }

    reader in_;
    capi::json::Writer w_;
};

void compare(const node& want, dom::element got) {
    using t = dom::element_type;
    switch (want.kind) {
    case node::string: {
        check(got.type() == t::STRING);
        check(got.get_string().value_unsafe() == want.s);
        break;
    }
    case node::integer:
        if (got.type() == t::INT64) check(got.get_int64().value_unsafe() == want.i);
        else check(got.type() == t::UINT64 && want.i >= 0 &&
                   got.get_uint64().value_unsafe() == static_cast<std::uint64_t>(want.i));
        break;
    case node::number:
        if (got.type() == t::DOUBLE) {
            check(std::bit_cast<std::uint64_t>(got.get_double().value_unsafe()) ==
                  std::bit_cast<std::uint64_t>(want.d));
        } else if (got.type() == t::INT64) {
            const std::int64_t i = got.get_int64().value_unsafe();
            // An integral double. -0.0 is written "-0", correct JSON, which
            // simdjson reads as the integer 0: equal as a value, sign lost.
            check(static_cast<double>(i) == want.d);
        } else {
            check(got.type() == t::UINT64 &&
                  static_cast<double>(got.get_uint64().value_unsafe()) == want.d);
        }
        break;
    case node::boolean: check(got.type() == t::BOOL && got.get_bool().value_unsafe() == want.b); break;
    case node::null: check(got.type() == t::NULL_VALUE); break;
    case node::object: {
        check(got.type() == t::OBJECT);
        std::size_t k = 0;
        // A named copy: ranging over value_unsafe() of a temporary dangles.
        const dom::object obj = got.get_object().value_unsafe();
        for (dom::key_value_pair kv : obj) {
            check(k < want.items.size());
            check(kv.key == want.keys[k]);
            compare(want.items[k], kv.value);
            ++k;
        }
        check(k == want.items.size());
        break;
    }
    case node::array: {
        check(got.type() == t::ARRAY);
        std::size_t k = 0;
        const dom::array arr = got.get_array().value_unsafe();
        for (dom::element e : arr) {
            check(k < want.items.size());
            compare(want.items[k], e);
            ++k;
        }
        check(k == want.items.size());
        break;
    }
    }
}

void check_text(std::string_view out) {
    check(capi::is_valid_utf8(out));
    for (char c : out) check(static_cast<unsigned char>(c) >= 0x20);
    check(out.find("\xE2\x80\xA8") == std::string_view::npos);
    check(out.find("\xE2\x80\xA9") == std::string_view::npos);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static dom::parser parser;
    std::string out;
    node root;
    program(data, size, out).run(root);
    check_text(out);

    dom::element got;
    check(parser.parse(out).get(got) == simdjson::SUCCESS);
    compare(root, got);
    return 0;
}
