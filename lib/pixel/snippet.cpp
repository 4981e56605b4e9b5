// The browser side of a server event: the page's fbq() call and the noscript
// image, so that the page's pixel event and the server event carry one
// event_id and the same values (Meta keeps one of the two).
//
// custom_data is rendered by walking wire::schema<CustomData> (and Content's
// table for contents): the pixel's object properties have the wire's names.
// user_data is never rendered into a page.
//
// Escaping (a value must not leave its context, whatever it holds):
//  - script: every string, the JSON object's and the single-quoted arguments',
//    escapes \ " ' < > & U+2028 U+2029 and control characters (\u0022, \u003c ...), so
//    no "</script>", "<!--", quote or line terminator can appear raw; the same
//    escapes are valid JSON, so the object still parses as JSON. A string that
//    is not UTF-8 (validate() refuses those) has its non-ASCII bytes rendered
//    as U+FFFD. A custom property whose raw JSON does not parse is left out;
//  - URL: every component percent-encoded but RFC 3986's unreserved characters;
//  - attribute: & " ' < > as character references.
#include <capi/normalize.hpp>
#include <capi/pixel.hpp>

#include "json/writer.hpp"
#include "util/ascii.hpp"
#include "wire/schema.hpp"

#include <simdjson.h>

#include <charconv>
#include <cmath>
#include <type_traits>

namespace capi::pixel {

namespace {

using capi::detail::ascii::append_percent_encoded;

/// Appends `s` escaped for a JavaScript string (single- or double-quoted) that
/// sits inside a <script> element, and for a JSON string.
void append_js(std::string& out, std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    const bool utf8 = is_valid_utf8(s);
    auto u = [&](unsigned c) {
        const char buf[6] = {'\\', 'u', hex[(c >> 12) & 0xF], hex[(c >> 8) & 0xF], hex[(c >> 4) & 0xF], hex[c & 0xF]};
        out.append(buf, 6);
    };
    for (std::size_t i = 0; i < s.size(); ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        switch (c) {
        case '\\': out.append("\\\\", 2); continue;
        // Quotes as \u0022 and \u0027, not \" and \': no quote of a value
        // appears raw, whichever quote its string uses.
        case '"': case '\'': case '<': case '>': case '&': u(c); continue;
        default: break;
        }
        if (c < 0x20 || c == 0x7f) {
            u(c);
        } else if (c < 0x80) {
            out += static_cast<char>(c);
        } else if (!utf8) {
            out.append("\\ufffd", 6);
        } else if (c == 0xE2 && i + 2 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0x80 &&
                   (static_cast<unsigned char>(s[i + 2]) & 0xFE) == 0xA8) {
            u(static_cast<unsigned char>(s[i + 2]) == 0xA8 ? 0x2028 : 0x2029);
            i += 2;
        } else {
            out += static_cast<char>(c);
        }
    }
}

void append_number(std::string& out, double v) {
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

void append_integer(std::string& out, std::int64_t v) {
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

/// Raw JSON re-serialized (minified) with the script escapes: outside strings
/// JSON has none of the escaped characters, so escaping them everywhere is
/// escaping them in strings. False when `json` does not parse.
bool append_raw_json(std::string& out, std::string_view json) {
    thread_local simdjson::dom::parser parser;
    simdjson::dom::element e;
    if (parser.parse(json.data(), json.size(), true).get(e)) return false;
    const std::string min = simdjson::minify(e);
    for (std::size_t i = 0; i < min.size(); ++i) {
        const auto c = static_cast<unsigned char>(min[i]);
        if (c == '<' || c == '>' || c == '&' || c == '\'') {
            static constexpr char hex[] = "0123456789abcdef";
            const char buf[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xF]};
            out.append(buf, 6);
        } else if (c == 0xE2 && i + 2 < min.size() && static_cast<unsigned char>(min[i + 1]) == 0x80 &&
                   (static_cast<unsigned char>(min[i + 2]) & 0xFE) == 0xA8) {
            out.append(static_cast<unsigned char>(min[i + 2]) == 0xA8 ? "\\u2028" : "\\u2029", 6);
            i += 2;
        } else {
            out += static_cast<char>(c);
        }
    }
    return true;
}

/// The decoded string of raw JSON that is a string; false for anything else.
bool raw_string(std::string_view json, std::string& out) {
    thread_local simdjson::dom::parser parser;
    simdjson::dom::element e;
    std::string_view s;
    if (parser.parse(json.data(), json.size(), true).get(e) || e.get_string().get(s)) return false;
    out.assign(s);
    return true;
}

template <class T>
void object_json(std::string& out, const T& obj);

/// `"key":` then the JSON of one row's value; nothing when it is unset.
template <class R, class T>
void member_json(std::string& out, bool& first, const T& obj) {
    using V = typename R::value;
    const V& v = obj.*R::member;
    auto key = [&](std::string_view k) {
        if (!first) out += ',';
        first = false;
        out += '"';
        append_js(out, k);
        out.append("\":", 2);
    };
    if constexpr (std::is_same_v<V, std::optional<std::string>>) {
        if (!v) return;
        key(R::key);
        out += '"';
        append_js(out, *v);
        out += '"';
    } else if constexpr (std::is_same_v<V, std::optional<double>>) {
        if (!v || !std::isfinite(*v)) return;
        key(R::key);
        append_number(out, *v);
    } else if constexpr (std::is_same_v<V, std::optional<std::int64_t>>) {
        if (!v) return;
        key(R::key);
        append_integer(out, *v);
    } else if constexpr (std::is_same_v<V, std::vector<std::string>>) {
        if (v.empty()) return;
        key(R::key);
        out += '[';
        for (std::size_t i = 0; i < v.size(); ++i) {
            if (i) out += ',';
            out += '"';
            append_js(out, v[i]);
            out += '"';
        }
        out += ']';
    } else if constexpr (std::is_same_v<V, std::vector<Content>>) {
        if (v.empty()) return;
        key(R::key);
        out += '[';
        for (std::size_t i = 0; i < v.size(); ++i) {
            if (i) out += ',';
            object_json(out, v[i]);
        }
        out += ']';
    } else if constexpr (R::kind == wire::Kind::enumeration) {
        if (!v) return;
        key(R::key);
        out += '"';
        out.append(to_string(*v));
        out += '"';
    } else if constexpr (std::is_same_v<V, RawMembers>) {
        for (const RawMember& m : v) {
            // A raw member repeating a typed key would be a duplicate key.
            if (wire::schema<T>::has_key(m.key)) continue;
            std::string value;
            if (!append_raw_json(value, m.json)) continue;
            key(m.key);
            out += value;
        }
    } else {
        static_assert(sizeof(V) == 0, "a row kind the snippet does not render");
    }
}

template <class T>
void object_json(std::string& out, const T& obj) {
    out += '{';
    bool first = true;
    wire::schema<T>::each([&](auto r) { member_json<decltype(r)>(out, first, obj); });
    out += '}';
}

/// `&cd[key]=value` for one row of custom_data; nothing when it is unset.
template <class R>
void member_param(std::string& out, const CustomData& cd) {
    using V = typename R::value;
    const V& v = cd.*R::member;
    auto param = [&](std::string_view k, std::string_view value) {
        out.append("&cd[");
        append_percent_encoded(out, k);
        out.append("]=");
        append_percent_encoded(out, value);
    };
    std::string text;
    if constexpr (std::is_same_v<V, std::optional<std::string>>) {
        if (v) param(R::key, *v);
    } else if constexpr (std::is_same_v<V, std::optional<double>>) {
        if (!v || !std::isfinite(*v)) return;
        append_number(text, *v);
        param(R::key, text);
    } else if constexpr (std::is_same_v<V, std::optional<std::int64_t>>) {
        if (!v) return;
        append_integer(text, *v);
        param(R::key, text);
    } else if constexpr (std::is_same_v<V, std::vector<std::string>>) {
        if (v.empty()) return;
        // As the pixel sends it: a JSON array's text.
        text += '[';
        for (std::size_t i = 0; i < v.size(); ++i) {
            if (i) text += ',';
            text += '"';
            json::append_escaped(text, v[i]);
            text += '"';
        }
        text += ']';
        param(R::key, text);
    } else if constexpr (std::is_same_v<V, std::vector<Content>>) {
        if (v.empty()) return;
        text += '[';
        for (std::size_t i = 0; i < v.size(); ++i) {
            if (i) text += ',';
            object_json(text, v[i]);
        }
        text += ']';
        param(R::key, text);
    } else if constexpr (R::kind == wire::Kind::enumeration) {
        if (v) param(R::key, to_string(*v));
    } else if constexpr (std::is_same_v<V, RawMembers>) {
        for (const RawMember& m : v) {
            if (wire::schema<CustomData>::has_key(m.key)) continue;
            // A string property as its text (what parse_hit reads back); other
            // JSON as its text.
            if (!raw_string(m.json, text)) {
                text.clear();
                if (!append_raw_json(text, m.json)) continue;
            }
            param(m.key, text);
        }
    } else {
        static_assert(sizeof(V) == 0, "a row kind the snippet does not render");
    }
}

} // namespace

std::string render_fbq(const Event& ev, std::string_view pixel_id, Call call) {
    if (call == Call::automatic) call = is_standard_event(ev.event_name) ? Call::track : Call::track_custom;
    std::string out;
    out.reserve(128);
    out.append("fbq('");
    switch (call) {
    case Call::track: out.append("track"); break;
    case Call::track_custom: out.append("trackCustom"); break;
    case Call::track_single: out.append("trackSingle"); break;
    case Call::track_single_custom: out.append("trackSingleCustom"); break;
    case Call::automatic: break;
    }
    out.append("', '");
    if (call == Call::track_single || call == Call::track_single_custom) {
        append_js(out, pixel_id);
        out.append("', '");
    }
    append_js(out, ev.event_name);
    out += '\'';
    if (ev.custom_data || ev.event_id) {
        out.append(", ");
        if (ev.custom_data) object_json(out, *ev.custom_data);
        else out.append("{}");
    }
    if (ev.event_id) {
        out.append(", {eventID: '");
        append_js(out, *ev.event_id);
        out.append("'}");
    }
    out.append(");");
    return out;
}

std::string render_noscript_url(const Event& ev, std::string_view pixel_id, std::string_view base) {
    std::string out;
    out.reserve(base.size() + 128);
    out.append(base);
    out += base.find('?') == std::string_view::npos ? '?' : '&';
    out.append("id=");
    append_percent_encoded(out, pixel_id);
    out.append("&ev=");
    append_percent_encoded(out, ev.event_name);
    if (ev.event_id) {
        out.append("&eid=");
        append_percent_encoded(out, *ev.event_id);
    }
    if (ev.event_source_url) {
        out.append("&dl=");
        append_percent_encoded(out, *ev.event_source_url);
    }
    if (ev.referrer_url) {
        out.append("&rl=");
        append_percent_encoded(out, *ev.referrer_url);
    }
    if (ev.custom_data) {
        wire::schema<CustomData>::each([&](auto r) { member_param<decltype(r)>(out, *ev.custom_data); });
    }
    out.append("&noscript=1");
    return out;
}

std::string render_noscript_img(const Event& ev, std::string_view pixel_id, std::string_view base) {
    const std::string u = render_noscript_url(ev, pixel_id, base);
    std::string out;
    out.reserve(u.size() + 96);
    out.append(R"(<img height="1" width="1" style="display:none" src=")");
    for (const char c : u) {
        switch (c) {
        case '&': out.append("&amp;"); break;
        case '"': out.append("&quot;"); break;
        case '\'': out.append("&#39;"); break;
        case '<': out.append("&lt;"); break;
        case '>': out.append("&gt;"); break;
        default: out += c;
        }
    }
    out.append(R"(" alt=""/>)");
    return out;
}

} // namespace capi::pixel
