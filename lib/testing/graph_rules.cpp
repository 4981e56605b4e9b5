// Meta's rules for POST /{version}/{pixel_id}/events, as the mock applies them.
// The bodies copy Meta's (reference/graph-api.md §2); where no verbatim body is
// known the message follows Graph's "(#100) ..." style and the code is right,
// which is what clients must branch on.
#include "testing/graph_rules.hpp"

#include <capi/transport.hpp>  // capi::appsecret_proof

#include "util/ascii.hpp"

#include <simdjson.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <random>

namespace capi::testing::rules {

namespace dom = simdjson::dom;

namespace {

constexpr std::int64_t day_seconds = 86'400;
constexpr std::size_t max_events = 1000;

// Server event parameters Meta documents at the top level of an event.
constexpr std::array<std::string_view, 18> event_keys = {
    "event_name",       "event_time",         "event_id",
    "event_source_url", "referrer_url",       "action_source",
    "opt_out",          "messaging_channel",  "data_processing_options",
    "data_processing_options_country",        "data_processing_options_state",
    "advanced_measurement_table",             "user_data",
    "custom_data",      "app_data",           "original_event_data",
    "attribution_data", "customer_segmentation",
};

// user_data keys whose values must arrive SHA-256 hashed (external_id may be anything).
constexpr std::array<std::string_view, 16> hashed_keys = {
    "em", "ph", "fn", "ln", "ge", "db", "ct", "st", "zp", "country",
    "f5first", "f5last", "fi", "dobd", "dobm", "doby",
};

// user_data keys sent as they are.
constexpr std::array<std::string_view, 16> plain_user_keys = {
    "external_id", "client_ip_address", "client_user_agent", "fbc", "fbp",
    "subscription_id", "fb_login_id", "lead_id", "anon_id", "madid", "page_id",
    "page_scoped_user_id", "ctwa_clid", "ig_account_id", "ig_sid",
    "whatsapp_business_account_id",
};

constexpr std::array<std::string_view, 9> action_sources = {
    "email", "website", "app", "phone_call", "chat", "physical_store",
    "system_generated", "business_messaging", "other",
};

template <std::size_t N>
bool contains(const std::array<std::string_view, N>& a, std::string_view v) {
    return std::find(a.begin(), a.end(), v) != a.end();
}

// Which of a list of keys a key is, comparing only keys of its length: the rules
// look up every key of every event (tens of thousands per 1000-event request),
// and most lengths hold one to three keys.
class KeyIndex {
public:
    static constexpr int none = -1;

    template <std::size_t... N>
    explicit KeyIndex(const std::array<std::string_view, N>&... lists) {
        (add(lists), ...);
        std::stable_sort(order_.begin(), order_.end(),
                         [this](int a, int b) { return keys_[a].size() < keys_[b].size(); });
        for (std::size_t len = 0, k = 0; len < first_.size(); ++len) {
            first_[len] = k;
            while (k < order_.size() && keys_[order_[k]].size() == len) ++k;
        }
    }

    /// The key's position in the lists given to the constructor, one after the
    /// other; none when it is in none of them.
    int find(std::string_view key) const noexcept {
        if (key.size() + 1 >= first_.size()) return none;
        for (std::size_t k = first_[key.size()]; k < first_[key.size() + 1]; ++k) {
            const int at = order_[k];
            if (std::memcmp(keys_[at].data(), key.data(), key.size()) == 0) return at;
        }
        return none;
    }

private:
    template <std::size_t N>
    void add(const std::array<std::string_view, N>& list) {
        for (std::string_view k : list) {
            order_.push_back(static_cast<int>(keys_.size()));
            keys_.push_back(k);
        }
    }

    std::vector<std::string_view> keys_;
    std::vector<int> order_;                 // positions in keys_, shortest keys first
    std::array<std::size_t, 48> first_{};    // first_[len]: the first of order_ of that length
};

const KeyIndex& event_key_index() {
    static const KeyIndex index(event_keys);
    return index;
}

// hashed_keys first: a position below hashed_keys.size() is a hashed key.
const KeyIndex& user_key_index() {
    static const KeyIndex index(hashed_keys, plain_user_keys);
    return index;
}

// Positions in event_keys of the members the rules read.
constexpr int key_event_name = 0, key_event_time = 1, key_action_source = 5, key_user_data = 12;
static_assert(event_keys[key_event_name] == "event_name" && event_keys[key_event_time] == "event_time" &&
              event_keys[key_action_source] == "action_source" && event_keys[key_user_data] == "user_data");

using capi::detail::ascii::all_digits;
using capi::detail::ascii::hex_value;
using capi::detail::ascii::iequals;
using capi::detail::ascii::to_lower;

// Spaces and tabs at both ends, and CR and LF at the end (ascii::trim keeps those).
std::string_view trim(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
        s.remove_suffix(1);
    return s;
}

// The value of parameter `name` in a header value like `multipart/form-data; boundary="x"`.
std::string header_param(std::string_view value, std::string_view name) {
    std::size_t pos = value.find(';');
    while (pos != std::string_view::npos) {
        std::string_view rest = value.substr(pos + 1);
        std::size_t end = rest.find(';');
        std::string_view item = trim(rest.substr(0, end));
        std::size_t eq = item.find('=');
        if (eq != std::string_view::npos && iequals(trim(item.substr(0, eq)), name)) {
            std::string_view v = trim(item.substr(eq + 1));
            if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
            return std::string(v);
        }
        pos = end == std::string_view::npos ? end : pos + 1 + end;
    }
    return {};
}

// "v24.0"
bool is_version(std::string_view s) noexcept {
    if (s.size() < 4 || s[0] != 'v') return false;
    std::size_t dot = s.find('.');
    return dot != std::string_view::npos && all_digits(s.substr(1, dot - 1)) &&
           all_digits(s.substr(dot + 1));
}

std::string data_param(std::size_t index) {
    return "$['data'][" + std::to_string(index) + "]";
}

// A rule failed: fills the verdict with the Graph error.
void fail(Verdict& v, int status, ErrorFields f) {
    f.fbtrace_id = v.fbtrace_id;
    v.status = status;
    v.code = f.code;
    v.subcode = f.subcode;
    v.success = false;
    v.body = error_body(f);
}

ErrorFields param_error(std::string message, std::string user_title = {}, std::string user_msg = {},
                        std::int64_t subcode = 0) {
    ErrorFields f;
    f.message = std::move(message);
    f.code = 100;
    f.subcode = subcode;
    if (!user_title.empty() || !user_msg.empty()) {
        f.is_transient = false;
        f.user_title = std::move(user_title);
        f.user_msg = std::move(user_msg);
    }
    return f;
}

// The event_time of `ev` in Unix seconds: an integer, or a string of digits (Graph
// coerces form values); nullopt when it is neither.
std::optional<std::int64_t> event_time_of(dom::element ev_time) {
    std::int64_t i = 0;
    if (ev_time.get_int64().get(i) == simdjson::SUCCESS) return i;
    double d = 0;
    if (ev_time.get_double().get(d) == simdjson::SUCCESS && d > 0 && d < 1e12)
        return static_cast<std::int64_t>(d);
    std::string_view s;
    if (ev_time.get_string().get(s) == simdjson::SUCCESS && all_digits(s) && s.size() < 19) {
        std::int64_t out = 0;
        std::from_chars(s.data(), s.data() + s.size(), out);
        return out;
    }
    return std::nullopt;
}

std::string event_id_of(dom::object ev) {
    dom::element id;
    if (ev["event_id"].get(id) != simdjson::SUCCESS) return {};
    std::string_view s;
    if (id.get_string().get(s) == simdjson::SUCCESS) return std::string(s);
    std::int64_t i = 0;
    if (id.get_int64().get(i) == simdjson::SUCCESS) return std::to_string(i);
    std::uint64_t u = 0;
    if (id.get_uint64().get(u) == simdjson::SUCCESS) return std::to_string(u);
    return simdjson::to_string(id);
}

bool non_empty_value(dom::element v) {
    switch (v.type()) {
    case dom::element_type::STRING: return !std::string_view(v.get_string().value_unsafe()).empty();
    case dom::element_type::ARRAY: return dom::array(v.get_array().value_unsafe()).size() != 0;
    case dom::element_type::NULL_VALUE: return false;
    default: return true;
    }
}

// Checks one hashed user_data value: a hash or an array of hashes.
bool hashed_value_ok(dom::element v) {
    std::string_view s;
    if (v.get_string().get(s) == simdjson::SUCCESS) return is_sha256_hex(s);
    dom::array a;
    if (v.get_array().get(a) != simdjson::SUCCESS) return false;
    for (dom::element e : a) {
        if (e.get_string().get(s) != simdjson::SUCCESS || !is_sha256_hex(s)) return false;
    }
    return true;
}

// Checks event `i`; on failure fills `v` and returns false.
bool check_event(Verdict& v, dom::element element, std::size_t i, std::int64_t now_s) {
    // Built only for an error message: this runs for every event of every request.
    const auto where = [i] { return data_param(i); };
    dom::object ev;
    if (element.get_object().get(ev) != simdjson::SUCCESS) {
        fail(v, 400, param_error("(#100) param data[" + std::to_string(i) + "] must be an object.",
                                 "Invalid event", where() + " is not a JSON object."));
        return false;
    }
    // One pass over the members: each key must be known, and the first of each
    // member the rules read is kept (the one ev[key] would find).
    std::array<std::optional<dom::element>, event_keys.size()> member;
    for (dom::key_value_pair kv : ev) {
        const int k = event_key_index().find(kv.key);
        if (k == KeyIndex::none) {
            fail(v, 400, param_error("Server Side Api Parameter Error: Unexpected key \"" +
                                     std::string(kv.key) + "\" on param \"" + where() + "\""));
            return false;
        }
        if (!member[static_cast<std::size_t>(k)]) member[static_cast<std::size_t>(k)] = kv.value;
    }
    for (int required : {key_event_name, key_event_time, key_action_source}) {
        const auto& e = member[static_cast<std::size_t>(required)];
        if (!e || e->is_null()) {
            const std::string name(event_keys[static_cast<std::size_t>(required)]);
            fail(v, 400, param_error("(#100) The parameter " + name + " is required",
                                     "Missing required parameter", where() + " has no " + name + "."));
            return false;
        }
    }
    std::string_view name;
    if (member[key_event_name]->get_string().get(name) != simdjson::SUCCESS || name.empty()) {
        fail(v, 400, param_error("(#100) param event_name must be a non-empty string",
                                 "Invalid event_name", where() + "['event_name'] is not a non-empty string."));
        return false;
    }
    auto event_time = event_time_of(*member[key_event_time]);
    if (!event_time) {
        fail(v, 400, param_error("(#100) param event_time must be an integer", "Invalid event_time",
                                 where() + "['event_time'] is not Unix seconds."));
        return false;
    }
    std::string_view source;
    if (member[key_action_source]->get_string().get(source) != simdjson::SUCCESS ||
        !contains(action_sources, source)) {
        fail(v, 400, param_error("(#100) param action_source must be one of {email, website, app, "
                                 "phone_call, chat, physical_store, system_generated, "
                                 "business_messaging, other}",
                                 "Invalid action_source",
                                 where() + "['action_source'] is not a valid action source."));
        return false;
    }

    bool has_customer_info = false;
    if (const auto& user_data = member[key_user_data]) {
        dom::object ud;
        if (user_data->get_object().get(ud) != simdjson::SUCCESS) {
            fail(v, 400, param_error("(#100) param user_data must be an object", "Invalid user_data",
                                     where() + "['user_data'] is not a JSON object."));
            return false;
        }
        for (dom::key_value_pair kv : ud) {
            const int k = user_key_index().find(kv.key);
            if (k == KeyIndex::none) {
                fail(v, 400, param_error("Server Side Api Parameter Error: Unexpected key \"" +
                                         std::string(kv.key) + "\" on param \"" + where() +
                                         "['user_data']\""));
                return false;
            }
            const bool hashed = static_cast<std::size_t>(k) < hashed_keys.size();
            if (hashed && !hashed_value_ok(kv.value)) {
                // Meta's systems "do not accept unhashed contact information".
                fail(v, 400, param_error("(#100) Invalid parameter", "Unhashed customer information",
                                         "user_data." + std::string(kv.key) + " on param \"" + where() +
                                             "\" must be a SHA-256 hash (64 lowercase hex "
                                             "characters) or an array of them."));
                return false;
            }
            if (non_empty_value(kv.value)) has_customer_info = true;
        }
    }
    if (!has_customer_info) {
        fail(v, 400, param_error("Invalid parameter",
                                 "You haven't added sufficient customer information parameter data "
                                 "for this event",
                                 "The event on param \"" + where() +
                                     "\" has no customer information parameters in user_data. "
                                     "Add at least one, e.g. em, ph, external_id, or "
                                     "client_ip_address with client_user_agent.",
                                 2804050));
        return false;
    }

    const std::int64_t days = source == "physical_store" ? 62 : 7;
    if (*event_time < now_s - days * day_seconds) {
        fail(v, 400, param_error("Invalid parameter", "Event Timestamp Too Old",
                                 "The timestamp for this event is too far in the past. Events need "
                                 "to be sent from your server within " + std::to_string(days) +
                                     " days of when they occurred. Enter a timestamp that has "
                                     "occurred within the last " + std::to_string(days) + " days.",
                                 2804003));
        return false;
    }
    return true;
}

thread_local std::mt19937_64 rng{std::random_device{}()};

} // namespace

std::string json_escape(std::string_view s) {
    std::string out;
    out.reserve(s.size() + 8);
    for (char c : s) {
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
            if (static_cast<unsigned char>(c) < 0x20) {
                char buf[8];
                std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
                out += buf;
            } else {
                out += c;
            }
        }
    }
    return out;
}

std::string random_fbtrace_id() {
    static constexpr char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
    std::string id(23, 'A');
    std::uint64_t bits = rng();
    int left = 10;  // 6-bit draws per 64-bit value
    for (char& c : id) {
        if (left-- == 0) {
            bits = rng();
            left = 9;
        }
        c = alphabet[bits & 63];
        bits >>= 6;
    }
    return id;
}

std::string error_body(const ErrorFields& f) {
    std::string out = "{\"error\":{\"message\":\"" + json_escape(f.message) + "\",\"type\":\"" +
                      json_escape(f.type) + "\",\"code\":" + std::to_string(f.code);
    if (f.subcode != 0) out += ",\"error_subcode\":" + std::to_string(f.subcode);
    if (f.is_transient) out += std::string(",\"is_transient\":") + (*f.is_transient ? "true" : "false");
    if (!f.user_title.empty()) out += ",\"error_user_title\":\"" + json_escape(f.user_title) + "\"";
    if (!f.user_msg.empty()) out += ",\"error_user_msg\":\"" + json_escape(f.user_msg) + "\"";
    out += ",\"fbtrace_id\":\"" + (f.fbtrace_id.empty() ? random_fbtrace_id() : json_escape(f.fbtrace_id)) +
           "\"}}";
    return out;
}

std::string success_body(std::size_t events, std::string_view fbtrace_id) {
    return "{\"events_received\":" + std::to_string(events) + ",\"messages\":[],\"fbtrace_id\":\"" +
           json_escape(fbtrace_id) + "\"}";
}

std::string url_decode(std::string_view s, bool plus_is_space) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        if (c == '+' && plus_is_space) {
            out += ' ';
        } else if (c == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
            out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
            i += 2;
        } else {
            out += c;
        }
    }
    return out;
}

Fields parse_urlencoded(std::string_view s) {
    Fields out;
    while (!s.empty()) {
        std::size_t amp = s.find('&');
        std::string_view item = s.substr(0, amp);
        s = amp == std::string_view::npos ? std::string_view{} : s.substr(amp + 1);
        if (item.empty()) continue;
        std::size_t eq = item.find('=');
        std::string key = url_decode(item.substr(0, eq));
        std::string value = eq == std::string_view::npos ? std::string() : url_decode(item.substr(eq + 1));
        out.emplace(std::move(key), std::move(value));  // first wins
    }
    return out;
}

std::string media_type(std::string_view content_type) {
    std::string out(trim(content_type.substr(0, content_type.find(';'))));
    for (char& c : out) c = to_lower(c);
    return out;
}

std::optional<Fields> parse_multipart(std::string_view content_type, std::string_view body) {
    const std::string boundary = header_param(content_type, "boundary");
    if (boundary.empty()) return std::nullopt;
    const std::string delimiter = "--" + boundary;
    Fields out;
    std::size_t pos = body.find(delimiter);
    if (pos == std::string_view::npos) return std::nullopt;
    pos += delimiter.size();
    for (;;) {
        if (body.substr(pos, 2) == "--") return out;  // the closing delimiter
        // Transport padding, then CRLF, ends the delimiter line.
        std::size_t eol = body.find("\r\n", pos);
        if (eol == std::string_view::npos) return std::nullopt;
        std::size_t headers_end = body.find("\r\n\r\n", eol);
        std::string_view headers;
        std::size_t content_begin = 0;
        if (headers_end == eol) {  // a part without headers
            content_begin = eol + 4;
        } else {
            if (headers_end == std::string_view::npos) return std::nullopt;
            headers = body.substr(eol + 2, headers_end - (eol + 2));
            content_begin = headers_end + 4;
        }
        std::size_t next = body.find("\r\n" + delimiter, content_begin);
        if (next == std::string_view::npos) return std::nullopt;
        std::string_view content = body.substr(content_begin, next - content_begin);

        std::string name;
        while (!headers.empty()) {
            std::size_t end = headers.find("\r\n");
            std::string_view line = headers.substr(0, end);
            headers = end == std::string_view::npos ? std::string_view{} : headers.substr(end + 2);
            std::size_t colon = line.find(':');
            if (colon == std::string_view::npos) continue;
            if (iequals(trim(line.substr(0, colon)), "content-disposition"))
                name = header_param(line.substr(colon + 1), "name");
        }
        if (!name.empty()) out.emplace(std::move(name), std::string(content));
        pos = next + 2 + delimiter.size();
    }
}

std::string redact_target(std::string_view target) {
    std::size_t q = target.find('?');
    if (q == std::string_view::npos) return std::string(target);
    std::string out(target.substr(0, q + 1));
    std::string_view query = target.substr(q + 1);
    bool first = true;
    while (!query.empty() || first) {
        std::size_t amp = query.find('&');
        std::string_view item = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        if (!first) out += '&';
        first = false;
        std::size_t eq = item.find('=');
        if (url_decode(item.substr(0, eq)) == "access_token") {
            out += item.substr(0, eq);
            out += "=REDACTED";
        } else {
            out += item;
        }
        if (amp == std::string_view::npos) break;
    }
    return out;
}

KnownKeys known_keys() noexcept { return {event_keys, hashed_keys, plain_user_keys}; }

Verdict evaluate(const Request& req, const Config& cfg) {
    Verdict v;
    v.fbtrace_id = random_fbtrace_id();
    const std::int64_t now_s =
        std::chrono::duration_cast<std::chrono::seconds>(cfg.now.time_since_epoch()).count();

    // ---- read everything first, so the log has event ids whatever the answer ----
    const std::size_t qmark = req.target.find('?');
    const std::string_view path = req.target.substr(0, qmark);
    const Fields query =
        qmark == std::string_view::npos ? Fields{} : parse_urlencoded(req.target.substr(qmark + 1));

    // Path: /{version}/{pixel_id}/events, a trailing slash tolerated.
    std::string_view version, pixel;
    bool path_ok = false;
    {
        std::string_view p = path;
        if (!p.empty() && p.back() == '/') p.remove_suffix(1);
        std::array<std::string_view, 3> parts{};
        std::size_t n = 0;
        bool too_many = false;
        while (!p.empty() && p.front() == '/') {
            p.remove_prefix(1);
            std::size_t slash = p.find('/');
            if (n == parts.size()) {
                too_many = true;
                break;
            }
            parts[n++] = p.substr(0, slash);
            p = slash == std::string_view::npos ? std::string_view{} : p.substr(slash);
        }
        if (!too_many && n == 3 && is_version(parts[0]) && !parts[1].empty() && parts[2] == "events") {
            path_ok = true;
            version = parts[0];
            pixel = parts[1];
        }
    }

    Fields fields;  // body fields other than `data` (form, multipart) or string members (JSON)
    std::optional<std::string> data_text;  // `data` as text (form, multipart, JSON string)
    bool body_malformed = false;
    const std::string type = media_type(req.content_type);

    thread_local dom::parser body_parser;
    thread_local dom::parser data_parser;
    dom::element data;  // `data` once parsed
    bool have_data = false;
    bool data_parse_error = false;

    if (type == "application/x-www-form-urlencoded") {
        fields = parse_urlencoded(req.body);
    } else if (type == "multipart/form-data") {
        if (auto parts = parse_multipart(req.content_type, req.body)) fields = std::move(*parts);
        else body_malformed = true;
    } else if (type == "application/json" || (type.empty() && trim(req.body).starts_with('{'))) {
        dom::object obj;
        const bool copy = req.body_padding < simdjson::SIMDJSON_PADDING;
        if (body_parser.parse(req.body.data(), req.body.size(), copy).get_object().get(obj) != simdjson::SUCCESS) {
            body_malformed = true;
        } else {
            for (dom::key_value_pair kv : obj) {
                std::string_view s;
                if (kv.key == "data") {
                    if (kv.value.get_string().get(s) == simdjson::SUCCESS) {
                        data_text = std::string(s);  // list<JSON-encoded string>, as documented
                    } else {
                        data = kv.value;
                        have_data = true;
                    }
                } else if (kv.value.get_string().get(s) == simdjson::SUCCESS) {
                    fields.emplace(std::string(kv.key), std::string(s));
                } else {
                    fields.emplace(std::string(kv.key), simdjson::to_string(kv.value));
                }
            }
        }
    } else if (!trim(req.body).empty()) {
        body_malformed = true;  // Graph reads form, multipart and JSON bodies only
    }
    if (auto it = fields.find("data"); it != fields.end()) {
        data_text = std::move(it->second);
        fields.erase(it);
    }
    if (data_text) {
        if (data_parser.parse(data_text->data(), data_text->size()).get(data) == simdjson::SUCCESS)
            have_data = true;
        else
            data_parse_error = true;
    }
    dom::array events;
    const bool data_is_array = have_data && data.get_array().get(events) == simdjson::SUCCESS;
    if (data_is_array) {
        v.events = events.size();
        v.event_ids.reserve(v.events);
        for (dom::element e : events) {
            dom::object o;
            v.event_ids.push_back(e.get_object().get(o) == simdjson::SUCCESS ? event_id_of(o) : std::string());
        }
    }

    // Token: the query string, then the body, then an Authorization header.
    std::optional<std::string> token;
    if (auto it = query.find("access_token"); it != query.end()) token = it->second;
    else if (auto jt = fields.find("access_token"); jt != fields.end()) token = jt->second;
    else {
        std::string_view auth = trim(req.authorization);
        for (std::string_view scheme : {"Bearer ", "OAuth "}) {
            if (auth.size() > scheme.size() && iequals(auth.substr(0, scheme.size()), scheme)) {
                token = std::string(trim(auth.substr(scheme.size())));
                break;
            }
        }
    }
    v.access_token_ok = token && !token->empty() && (cfg.access_token.empty() || *token == cfg.access_token);
    if (auto it = fields.find("test_event_code"); it != fields.end()) v.test_event_code = it->second;
    else if (auto qt = query.find("test_event_code"); qt != query.end()) v.test_event_code = qt->second;

    std::optional<std::string> proof;
    if (auto it = query.find("appsecret_proof"); it != query.end()) proof = it->second;
    else if (auto jt = fields.find("appsecret_proof"); jt != fields.end()) proof = jt->second;
    v.appsecret_proof_ok = cfg.app_secret.empty() ||
                           (proof && token && *proof == capi::appsecret_proof(*token, cfg.app_secret));

    // ---- the rules, in Graph's order ----
    if (!path_ok) {
        ErrorFields f;
        f.message = "Unknown path components: " + std::string(path);
        f.code = 2500;
        fail(v, 404, f);
        return v;
    }
    v.api_version = std::string(version);
    v.pixel_id = std::string(pixel);
    if (!v.access_token_ok) {
        ErrorFields f;
        f.message = "Invalid OAuth access token - Cannot parse access token";
        f.code = 190;
        fail(v, 401, f);
        return v;
    }
    if (!v.appsecret_proof_ok) {
        ErrorFields f;
        f.type = "GraphMethodException";
        f.message = proof ? "Invalid appsecret_proof provided in the API argument"
                          : "API calls from the server require an appsecret_proof argument";
        fail(v, 400, f);
        return v;
    }
    if (req.method != "POST") {
        std::string m(req.method);
        for (char& c : m) c = to_lower(c);
        ErrorFields f;
        f.type = "GraphMethodException";
        f.message = "Unsupported " + m + " request. Object with ID '" + std::string(pixel) +
                    "' does not exist, cannot be loaded due to missing permissions, or does not "
                    "support this operation. Please read the Graph API documentation at "
                    "https://developers.facebook.com/docs/graph-api";
        f.subcode = 33;
        fail(v, 400, f);
        return v;
    }
    if (!all_digits(pixel)) {
        ErrorFields f;
        f.type = "GraphMethodException";
        f.message = "Unsupported post request. Object with ID '" + std::string(pixel) +
                    "' does not exist, cannot be loaded due to missing permissions, or does not "
                    "support this operation. Please read the Graph API documentation at "
                    "https://developers.facebook.com/docs/graph-api";
        f.subcode = 33;
        fail(v, 400, f);
        return v;
    }
    if (body_malformed) {
        fail(v, 400, param_error("(#100) The request body could not be parsed as " +
                                 (type.empty() ? std::string("form data") : type)));
        return v;
    }
    if (!have_data && !data_parse_error) {
        fail(v, 400, param_error("(#100) The parameter data is required"));
        return v;
    }
    if (!data_is_array) {
        fail(v, 400, param_error("(#100) param data must be an array."));
        return v;
    }
    if (v.events == 0) {
        fail(v, 400, param_error("(#100) param data must be a non-empty array."));
        return v;
    }
    if (v.events > max_events) {
        fail(v, 400, param_error("(#100) param data must be an array with at most 1000 elements.",
                                 "Too Many Events",
                                 "You can send up to 1,000 events in data; this request has " +
                                     std::to_string(v.events) + "."));
        return v;
    }
    std::size_t i = 0;
    for (dom::element e : events) {
        if (!check_event(v, e, i++, now_s)) return v;
    }
    v.status = 200;
    v.success = true;
    if (cfg.collect_events) {
        const std::optional<std::string_view> text =
            data_text ? std::optional<std::string_view>(*data_text) : json_member(req.body, "data");
        if (text) {
            if (auto elements = json_array_elements(*text)) {
                v.event_json.reserve(elements->size());
                for (std::string_view e : *elements) v.event_json.emplace_back(e);
            }
        }
    }
    v.body = success_body(v.events, v.fbtrace_id);
    return v;
}

} // namespace capi::testing::rules
