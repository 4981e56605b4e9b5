// capi: Meta's wire format (one JSON object per event) into capi::Event.
//
// simdjson's DOM parser, reused across lines with one padded copy buffer. The
// walk is strict the way Meta is (wrong types, unknown keys and duplicate keys
// are errors naming the field) and lenient where senders commonly differ from
// the docs without changing meaning:
//  - null for a modelled field means "absent";
//  - numbers are accepted, as their decimal text, where the value is an
//    identifier or digits people keep as numbers (ph, zp, db, dob*, external_id,
//    content ids, extinfo);
//  - event_time may be a string of digits;
//  - booleans may be 0 or 1 (Meta's own app_data examples send 1).
#include <capi/ndjson.hpp>

#include "json/utf8_locate.hpp"
#include "util/ascii.hpp"
#include "wire/schema.hpp"

#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <new>
#include <vector>

namespace capi {

namespace dom = simdjson::dom;

namespace {

using element_type = dom::element_type;

template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};

/// A step of the path to the value being read, kept on the stack and rendered
/// only when an error is reported, so the happy path builds no strings.
struct path_node {
    const path_node* parent = nullptr;
    std::string_view key;            // when !is_index
    std::size_t index = 0;           // when is_index
    bool is_index = false;
};

void render(const path_node* p, std::string& out) {
    if (p == nullptr) return;
    render(p->parent, out);
    if (p->is_index) {
        char buf[24];
        const auto r = std::to_chars(buf, buf + sizeof buf, p->index);
        out += '[';
        out.append(buf, r.ptr);
        out += ']';
    } else {
        if (!out.empty()) out += '.';
        out.append(p->key);
    }
}

path_node child(const path_node* parent, std::string_view key) { return {parent, key, 0, false}; }
path_node element_at(const path_node* parent, std::size_t i) { return {parent, {}, i, true}; }

/// Decimal text of a JSON number: integers exactly; integral doubles within the
/// exact range (2^53) as integers, so 9.4025e4 is "94025"; other doubles in the
/// shortest form that round-trips.
void number_text(dom::element v, std::string& out) {
    char buf[32];
    std::to_chars_result r{};
    switch (v.type()) {
    case element_type::INT64:
        r = std::to_chars(buf, buf + sizeof buf, v.get_int64().value_unsafe());
        break;
    case element_type::UINT64:
        r = std::to_chars(buf, buf + sizeof buf, v.get_uint64().value_unsafe());
        break;
    default: {
        const double d = v.get_double().value_unsafe();
        constexpr double exact = 9007199254740992.0;  // 2^53
        if (std::trunc(d) == d && std::fabs(d) <= exact) {
            r = std::to_chars(buf, buf + sizeof buf, static_cast<std::int64_t>(d));
        } else {
            r = std::to_chars(buf, buf + sizeof buf, d);
        }
        break;
    }
    }
    out.assign(buf, r.ptr);
}

bool is_number(element_type t) {
    return t == element_type::INT64 || t == element_type::UINT64 || t == element_type::DOUBLE;
}

/// Digits only, no sign or spaces, fitting int64.
bool parse_digits(std::string_view s, std::int64_t& out) {
    if (!detail::ascii::all_digits(s)) return false;
    const auto r = std::from_chars(s.data(), s.data() + s.size(), out);
    return r.ec == std::errc{} && r.ptr == s.data() + s.size();
}

class walker {
public:
    walker(const ReaderOptions& options, FieldError& error, std::vector<std::string_view>& keys)
        : options_(options), error_(error), keys_(keys) {}

    bool event(dom::element root, Event& ev);

private:
    bool fail(const path_node& at, std::string_view reason) {
        error_.path.clear();
        render(&at, error_.path);
        error_.reason.assign(reason);
        return false;
    }

    /// Duplicate keys are checked per object before its fields are read: simdjson
    /// keeps every member, and Meta would reject or silently pick one.
    bool no_duplicates(dom::object obj, const path_node* here) {
        keys_.clear();
        for (dom::key_value_pair kv : obj) keys_.push_back(kv.key);
        if (keys_.size() < 2) return true;
        std::sort(keys_.begin(), keys_.end());
        const auto dup = std::adjacent_find(keys_.begin(), keys_.end());
        if (dup == keys_.end()) return true;
        return fail(child(here, *dup), "duplicate key");
    }

    bool object(dom::element v, const path_node& p, dom::object& out) {
        if (v.type() != element_type::OBJECT) return fail(p, "expected an object");
        out = v.get_object().value_unsafe();
        return no_duplicates(out, &p);
    }

    /// Checks that `v` is an object without duplicate keys, then calls
    /// field(key, value, path) for each member, stopping at the first false.
    template <class Field>
    bool members(dom::element v, const path_node& p, Field&& field) {
        dom::object obj;
        if (!object(v, p, obj)) return false;
        for (dom::key_value_pair kv : obj) {
            const std::string_view k = kv.key;
            if (!field(k, dom::element(kv.value), child(&p, k))) return false;
        }
        return true;
    }

    bool unknown(std::string_view key, dom::element v, const path_node& p, RawMembers& extra) {
        if (!options_.pass_unknown_keys) return fail(p, "unknown key");
        extra.push_back({std::string(key), simdjson::to_string(v)});
        return true;
    }

    bool text(dom::element v, const path_node& p, std::string& out) {
        if (v.type() == element_type::NULL_VALUE) return true;
        if (v.type() != element_type::STRING) return fail(p, "expected a string");
        out.assign(v.get_string().value_unsafe());
        return true;
    }

    bool text(dom::element v, const path_node& p, std::optional<std::string>& out) {
        if (v.type() == element_type::NULL_VALUE) return true;
        if (v.type() != element_type::STRING) return fail(p, "expected a string");
        out.emplace(v.get_string().value_unsafe());
        return true;
    }

    /// A string, or a number taken as its decimal text.
    bool text_or_number(dom::element v, const path_node& p, std::string& out) {
        const auto t = v.type();
        if (t == element_type::STRING) {
            out.assign(v.get_string().value_unsafe());
            return true;
        }
        if (is_number(t)) {
            number_text(v, out);
            return true;
        }
        return fail(p, "expected a string or a number");
    }

    bool text_or_number(dom::element v, const path_node& p, std::optional<std::string>& out) {
        if (v.type() == element_type::NULL_VALUE) return true;
        return text_or_number(v, p, out.emplace());
    }

    /// An array of strings (and of numbers when `numbers` is set).
    bool text_array(dom::element v, const path_node& p, std::vector<std::string>& out, bool numbers) {
        if (v.type() != element_type::ARRAY) {
            return fail(p, numbers ? "expected an array of strings or numbers"
                                   : "expected an array of strings");
        }
        // A named copy: ranging over value_unsafe() of the temporary result
        // would iterate a dangling array.
        const dom::array arr = v.get_array().value_unsafe();
        std::size_t i = 0;
        for (dom::element e : arr) {
            const path_node at = element_at(&p, i++);
            auto& s = out.emplace_back();
            if (numbers) {
                if (!text_or_number(e, at, s)) return false;
            } else if (e.type() != element_type::STRING) {
                return fail(at, "expected a string");
            } else {
                s.assign(e.get_string().value_unsafe());
            }
        }
        return true;
    }

    bool text_array(dom::element v, const path_node& p, std::optional<std::vector<std::string>>& out) {
        if (v.type() == element_type::NULL_VALUE) return true;
        return text_array(v, p, out.emplace(), false);
    }

    bool text_list(dom::element v, const path_node& p, std::vector<std::string>& out, bool numbers) {
        if (v.type() == element_type::NULL_VALUE) return true;
        if (v.type() == element_type::ARRAY) return text_array(v, p, out, numbers);
        out.clear();
        if (v.type() == element_type::STRING || (numbers && is_number(v.type()))) {
            return text_or_number(v, p, out.emplace_back());
        }
        return fail(p, numbers ? "expected a string, a number or an array of them"
                               : "expected a string or an array of strings");
    }

    bool integer(dom::element v, const path_node& p, std::int64_t& out) {
        switch (v.type()) {
        case element_type::INT64:
            out = v.get_int64().value_unsafe();
            return true;
        case element_type::UINT64:
            return fail(p, "integer out of range");
        default:
            return fail(p, "expected an integer");
        }
    }

    bool integer(dom::element v, const path_node& p, std::optional<std::int64_t>& out) {
        if (v.type() == element_type::NULL_VALUE) return true;
        return integer(v, p, out.emplace());
    }

    /// Unix seconds: an integer, or a string of digits (some senders quote it).
    bool timestamp(dom::element v, const path_node& p, std::int64_t& out) {
        if (v.type() == element_type::STRING) {
            if (parse_digits(v.get_string().value_unsafe(), out)) return true;
            return fail(p, "expected an integer");
        }
        return integer(v, p, out);
    }

    bool timestamp(dom::element v, const path_node& p, std::optional<std::int64_t>& out) {
        if (v.type() == element_type::NULL_VALUE) return true;
        return timestamp(v, p, out.emplace());
    }

    bool number(dom::element v, const path_node& p, std::optional<double>& out) {
        switch (v.type()) {
        case element_type::NULL_VALUE:
            return true;
        case element_type::INT64:
            out = static_cast<double>(v.get_int64().value_unsafe());
            return true;
        case element_type::UINT64:
            out = static_cast<double>(v.get_uint64().value_unsafe());
            return true;
        case element_type::DOUBLE:
            out = v.get_double().value_unsafe();
            return true;
        default:
            return fail(p, "expected a number");
        }
    }

    bool boolean(dom::element v, const path_node& p, std::optional<bool>& out) {
        switch (v.type()) {
        case element_type::NULL_VALUE:
            return true;
        case element_type::BOOL:
            out = v.get_bool().value_unsafe();
            return true;
        case element_type::INT64: {
            const auto i = v.get_int64().value_unsafe();
            if (i == 0 || i == 1) {
                out = i == 1;
                return true;
            }
            break;
        }
        default:
            break;
        }
        return fail(p, "expected a boolean");
    }

    template <class Enum>
    bool enumerated(dom::element v, const path_node& p, std::optional<Enum>& out,
                    std::optional<Enum> (*parse)(std::string_view) noexcept,
                    std::string_view reason) {
        if (v.type() == element_type::NULL_VALUE) return true;
        if (v.type() != element_type::STRING) return fail(p, "expected a string");
        out = parse(v.get_string().value_unsafe());
        return out.has_value() || fail(p, reason);
    }

    bool enumerated(dom::element v, const path_node& p, ActionSource& out) {
        std::optional<ActionSource> a;
        if (!enumerated(v, p, a, &wire::enum_info<ActionSource>::parse, wire::enum_info<ActionSource>::expected))
            return false;
        if (a) out = *a;
        return true;
    }
    template <class Enum>
    bool enumerated(dom::element v, const path_node& p, std::optional<Enum>& out) {
        return enumerated(v, p, out, &wire::enum_info<Enum>::parse, wire::enum_info<Enum>::expected);
    }

    /// Reads the value of row R into `out`, by the member's type and the row's flags.
    template <class R>
    bool field(dom::element v, const path_node& p, typename R::value& out) {
        using V = typename R::value;
        constexpr bool numbers = R::has(wire::numbers_as_text);
        if constexpr (std::is_same_v<V, std::string>) {
            return text(v, p, out);
        } else if constexpr (std::is_same_v<V, std::int64_t>) {
            static_assert(R::has(wire::digits_string));
            return v.type() == element_type::NULL_VALUE || timestamp(v, p, out);
        } else if constexpr (std::is_same_v<V, std::optional<std::string>>) {
            if constexpr (numbers) return text_or_number(v, p, out);
            else return text(v, p, out);
        } else if constexpr (std::is_same_v<V, std::optional<std::int64_t>>) {
            if constexpr (R::has(wire::digits_string)) return timestamp(v, p, out);
            else return integer(v, p, out);
        } else if constexpr (std::is_same_v<V, std::optional<double>>) {
            return number(v, p, out);
        } else if constexpr (std::is_same_v<V, std::optional<bool>>) {
            return boolean(v, p, out);
        } else if constexpr (R::kind == wire::Kind::enumeration) {
            return enumerated(v, p, out);
        } else if constexpr (R::kind == wire::Kind::hashed_list) {
            // A single value or an array of them.
            return text_list(v, p, out, numbers);
        } else if constexpr (std::is_same_v<V, std::vector<std::string>>) {
            return v.type() == element_type::NULL_VALUE || text_array(v, p, out, numbers);
        } else if constexpr (std::is_same_v<V, std::optional<std::vector<std::string>>>) {
            return text_array(v, p, out);
        } else if constexpr (R::kind == wire::Kind::object_list) {
            if (v.type() == element_type::NULL_VALUE) return true;
            if (v.type() != element_type::ARRAY) return fail(p, "expected an array of objects");
            const dom::array arr = v.get_array().value_unsafe();
            std::size_t i = 0;
            for (dom::element item : arr) {
                if (!object_fields(item, element_at(&p, i++), out.emplace_back())) return false;
            }
            return true;
        } else if constexpr (is_optional<V>::value) {
            static_assert(R::kind == wire::Kind::object);
            if (v.type() == element_type::NULL_VALUE) return true;
            return object_fields(v, p, out.emplace());
        } else {
            static_assert(R::kind == wire::Kind::object);
            if (v.type() == element_type::NULL_VALUE) return true;
            return object_fields(v, p, out);
        }
    }

    /// Reads member `k` of an object of type T: its row, or its raw members.
    template <class T>
    bool member(T& obj, std::string_view k, dom::element v, const path_node& p) {
        bool ok = true;
        const bool typed = wire::schema<T>::any([&](auto r) {
            using R = decltype(r);
            if constexpr (R::kind == wire::Kind::raw) {
                return false;
            } else {
                if (k != R::key) return false;
                ok = field<R>(v, p, obj.*R::member);
                return true;
            }
        });
        if (typed) return ok;
        bool raw_row = false;
        wire::schema<T>::each([&](auto r) {
            using R = decltype(r);
            if constexpr (R::kind == wire::Kind::raw) {
                raw_row = true;
                if constexpr (R::has(wire::open)) {
                    // Meta's wire format has no custom_properties object: custom keys
                    // sit beside the typed ones, so anything else is one, never an error.
                    (obj.*R::member).push_back({std::string(k), simdjson::to_string(v)});
                } else {
                    ok = unknown(k, v, p, obj.*R::member);
                }
            }
        });
        // No raw row (AttributionSetting): nowhere to keep extra members, so an
        // unknown key is an error even with pass_unknown_keys.
        return raw_row ? ok : fail(p, "unknown key");
    }

    /// An object of type T: no duplicate keys, then each member.
    template <class T>
    bool object_fields(dom::element v, const path_node& p, T& obj) {
        return members(v, p, [&](std::string_view k, dom::element e, const path_node& at) {
            return member(obj, k, e, at);
        });
    }

    const ReaderOptions& options_;
    FieldError& error_;
    std::vector<std::string_view>& keys_;
};

bool walker::event(dom::element root, Event& ev) {
    const path_node top{};  // renders as "" (the whole value)
    if (root.type() != element_type::OBJECT) return fail(top, "expected an object");
    const dom::object obj = root.get_object().value_unsafe();
    if (!no_duplicates(obj, nullptr)) return false;
    for (dom::key_value_pair kv : obj) {
        const std::string_view k = kv.key;
        if (!member(ev, k, kv.value, child(nullptr, k))) return false;
    }
    return true;
}

} // namespace

struct EventReader::impl {
    ReaderOptions options;
    dom::parser parser;
    // The input is copied here with simdjson's padding after it: a caller's
    // string_view promises no readable bytes past its end.
    std::unique_ptr<char[]> buffer;
    std::size_t capacity = 0;
    std::vector<std::string_view> keys;  // scratch for the duplicate-key check
};

EventReader::EventReader(ReaderOptions options) : impl_(std::make_unique<impl>()) {
    impl_->options = options;
}
EventReader::~EventReader() = default;
EventReader::EventReader(EventReader&&) noexcept = default;
EventReader& EventReader::operator=(EventReader&&) noexcept = default;

bool EventReader::parse(std::string_view json, Event& out, FieldError& error) {
    out = Event{};
    error = FieldError{};
    try {
        impl& s = *impl_;
        const std::size_t need = json.size() + simdjson::SIMDJSON_PADDING;
        if (need > s.capacity) {
            const std::size_t cap = std::max(need, s.capacity * 2);
            s.buffer.reset(new char[cap]());  // zeroed: padding is read, never used
            s.capacity = cap;
        }
        if (!json.empty()) std::memcpy(s.buffer.get(), json.data(), json.size());

        dom::element root;
        if (const auto err = s.parser.parse(s.buffer.get(), json.size(), false).get(root)) {
            error.reason = "invalid JSON: ";
            error.reason += simdjson::error_message(err);
            if (err == simdjson::UTF8_ERROR) {
                // Name the byte, and the field when the text around it is JSON.
                if (const auto fault = json::locate_invalid_utf8(json)) {
                    error.path = fault->path;
                    if (fault->path.empty() && !fault->in_key)
                        error.reason += " " + json::position(*fault);
                    else
                        error.reason = json::describe(*fault);
                }
            }
            return false;
        }
        walker w(s.options, error, s.keys);
        if (!w.event(root, out)) {
            out = Event{};  // no half-read event escapes a failure
            return false;
        }
        return true;
    } catch (const std::bad_alloc&) {
        // Only allocation can throw here (simdjson is used through error codes).
        out = Event{};
        error.path.clear();
        error.reason = "out of memory";
        return false;
    }
}

} // namespace capi
