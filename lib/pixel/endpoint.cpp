// Endpoint::handle: the pixel's routes, as a function from a request to an
// answer and the events to send. No I/O: the server around it does that.
//
// Routes and answers (docs/pixel.md):
//   GET  /tr      a hit in the query             200 image/gif (1x1), Cache-Control: no-store
//   POST /tr      query + form or text/plain body 204 (sendBeacon sends a string as text/plain)
//   POST /events  JSON in Meta's wire names       200 {"accepted":N,"rejected":[...]} when N > 0,
//                                                  400 with the same body when N == 0
//   OPTIONS /events  CORS preflight                204
//   /tr/ is /tr (the pixel's own script posts to /tr/).
// Refusals: a malformed or invalid hit 400 text/plain "PARAM: reason" (one line
// per error); a pixel not served 403; a POST /events from an Origin not allowed
// 403 (another site must not inject events with the visitor's cookies); a body
// over max_body_bytes 413; an unsupported Content-Type 415; another method 405
// with Allow; another path 404 (not_found: the server may route it itself).
// Set-Cookie only on answers that accepted an event.
#include <capi/ndjson.hpp>
#include <capi/pixel.hpp>

#include "json/writer.hpp"
#include "pixel/internal.hpp"
#include "util/ascii.hpp"

#include <simdjson.h>

#include <algorithm>
#include <stdexcept>

namespace capi::pixel {

namespace {

using namespace std::chrono;
using capi::detail::ascii::all_digits;

// The smallest transparent 1x1 GIF (GIF89a, 2-colour table, transparency
// extension, one LZW-coded pixel).
constexpr char gif_bytes[] =
    "GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff"
    "\x21\xf9\x04\x01\x00\x00\x00\x00"
    "\x2c\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02\x44\x01\x00\x3b";
static_assert(sizeof gif_bytes - 1 == 43);
constexpr std::string_view gif{gif_bytes, sizeof gif_bytes - 1};

/// The media type of a Content-Type, lowercase, without parameters.
std::string_view media_type(std::string_view content_type, char (&buf)[64]) noexcept {
    const std::size_t semi = content_type.find(';');
    const std::string_view t = capi::detail::ascii::trim(content_type.substr(0, semi));
    if (t.size() > sizeof buf) return "?";
    for (std::size_t i = 0; i < t.size(); ++i) buf[i] = capi::detail::ascii::to_lower(t[i]);
    return {buf, t.size()};
}

Response text(int status, Outcome outcome, std::string body) {
    Response r;
    r.status = status;
    r.outcome = outcome;
    r.content_type = "text/plain; charset=utf-8";
    r.body = std::move(body);
    return r;
}

void rejected_json(json::Writer& w, const std::vector<Rejected>& rejected) {
    w.lit_key("rejected");
    w.begin_array();
    for (const Rejected& r : rejected) {
        w.begin_object();
        w.member_int("index", static_cast<std::int64_t>(r.index));
        w.lit_key("errors");
        w.begin_array();
        for (const FieldError& e : r.errors) {
            w.begin_object();
            w.lit_key("field");
            w.string(e.path);
            w.lit_key("reason");
            w.string(e.reason);
            w.end_object();
        }
        w.end_array();
        w.end_object();
    }
    w.end_array();
}

} // namespace

std::string_view to_string(Outcome o) noexcept {
    switch (o) {
    case Outcome::accepted: return "accepted";
    case Outcome::partial: return "partial";
    case Outcome::rejected: return "rejected";
    case Outcome::foreign_pixel: return "foreign_pixel";
    case Outcome::too_large: return "too_large";
    case Outcome::not_found: return "not_found";
    case Outcome::method_not_allowed: return "method_not_allowed";
    case Outcome::preflight: return "preflight";
    case Outcome::forbidden_origin: return "forbidden_origin";
    case Outcome::unsupported_media_type: return "unsupported_media_type";
    }
    return "unknown";
}

struct Endpoint::impl {
    Options options;

    bool serves(std::string_view pixel) const noexcept {
        return std::find(options.pixels.begin(), options.pixels.end(), pixel) != options.pixels.end();
    }
    bool origin_allowed(std::string_view origin) const noexcept {
        return std::find(options.allow_origins.begin(), options.allow_origins.end(), origin) !=
               options.allow_origins.end();
    }

    void hit(const Request& request, std::string_view query, bool post, Response& r) const;
    Response events(const Request& request, std::string_view query) const;
    Response preflight(const Request& request) const;
    void cors(const Request& request, Response& r) const {
        if (request.origin.empty()) return;
        r.headers.emplace_back("Vary", "Origin");
        if (!origin_allowed(request.origin)) return;
        r.headers.emplace_back("Access-Control-Allow-Origin", std::string(request.origin));
        r.headers.emplace_back("Access-Control-Allow-Credentials", "true");
    }
};

/// Fills `r`, which is empty (reset() or default-constructed): an accepted hit
/// allocates nothing for the answer once r's buffers have grown.
void Endpoint::impl::hit(const Request& request, std::string_view query, bool post, Response& r) const {
    std::string_view body;
    if (post) {
        char buf[64];
        const std::string_view type = media_type(request.content_type, buf);
        if (!type.empty() && type != "application/x-www-form-urlencoded" && type != "text/plain") {
            r = text(415, Outcome::unsupported_media_type,
                     "Content-Type: expected application/x-www-form-urlencoded or text/plain\n");
            return;
        }
        body = request.body;
    }
    const auto now = capi::now(options.clock);
    // Parsed in place: the event is built where it is handed over (in r.events'
    // storage, kept from the previous call when r is reused).
    // A Response reused for the previous hit keeps that event's vectors.
    if (r.events.empty()) r.events.emplace_back();
    else detail::reset_for_reuse(r.events.front());  // handle() left at most one
    Routed& routed = r.events.front();
    bool noscript = false;
    HitError err;
    if (!detail::parse_hit(query, body, {routed.pixel_id, routed.event, noscript}, err, now, options.hit)) {
        std::string line;
        line.reserve(err.parameter.size() + err.reason.size() + 3);
        line.append(err.parameter.empty() ? "hit" : err.parameter).append(": ").append(err.reason) += '\n';
        r = text(400, Outcome::rejected, std::move(line));
        r.rejected.push_back({0, {FieldError{std::move(err.parameter), std::move(err.reason)}}});
        return;
    }
    if (!serves(routed.pixel_id)) {
        r = text(403, Outcome::foreign_pixel, "id: pixel not served here\n");
        return;
    }

    std::vector<std::string> cookies;
    detail::CookieState state;
    detail::apply_context(request, options, routed.event, cookies, state, now);
    std::vector<FieldError> errors = validate(routed.event, now, options.validation);
    if (!errors.empty()) {
        std::string body_text;
        for (FieldError& e : errors) {
            detail::HitPath p = detail::hit_path(e.path);
            if (!p.rest.empty()) e.reason.insert(0, std::string(p.rest) + ": ");
            e.path = std::move(p.parameter);
            body_text.append(e.path).append(": ").append(e.reason) += '\n';
        }
        r = text(400, Outcome::rejected, std::move(body_text));
        r.rejected.push_back({0, std::move(errors)});
        return;
    }
    if (post) {
        r.status = 204;
    } else {
        r.status = 200;
        r.content_type = "image/gif";
        r.body.assign(gif);
    }
    r.outcome = Outcome::accepted;
    r.headers.reserve(1 + cookies.size());
    r.headers.emplace_back("Cache-Control", "no-store");
    for (std::string& c : cookies) r.headers.emplace_back("Set-Cookie", std::move(c));
}

Response Endpoint::impl::preflight(const Request& request) const {
    Response r;
    r.status = 204;
    r.outcome = Outcome::preflight;
    r.headers.emplace_back("Vary", "Origin");
    // No Allow-Origin for an origin not allowed: the browser then refuses to send.
    if (!request.origin.empty() && origin_allowed(request.origin)) {
        r.headers.emplace_back("Access-Control-Allow-Origin", std::string(request.origin));
        r.headers.emplace_back("Access-Control-Allow-Credentials", "true");
        r.headers.emplace_back("Access-Control-Allow-Methods", "POST");
        r.headers.emplace_back("Access-Control-Allow-Headers", "Content-Type");
        r.headers.emplace_back("Access-Control-Max-Age", "600");
    }
    return r;
}

Response Endpoint::impl::events(const Request& request, std::string_view query) const {
    // Checked before anything is read: a page of another site must not be able
    // to send events in the name of this one's visitors (their cookies ride along).
    if (!request.origin.empty() && !origin_allowed(request.origin)) {
        Response r = text(403, Outcome::forbidden_origin, "Origin: not allowed\n");
        r.headers.emplace_back("Vary", "Origin");
        return r;
    }
    std::string pixel;
    {
        std::string_view id;
        bool found = false;
        // The same '&' pairs as a hit; the id is digits, so no decoding matters.
        std::string_view rest = query;
        while (!rest.empty()) {
            const std::size_t amp = rest.find('&');
            const std::string_view pair = rest.substr(0, amp);
            rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
            if (pair.substr(0, 3) == "id=") {
                id = pair.substr(3);
                found = true;
                break;
            }
        }
        if (found) {
            if (!all_digits(id)) {
                Response r = text(400, Outcome::rejected, "id: expected a pixel id (digits)\n");
                cors(request, r);
                return r;
            }
            pixel.assign(id);
        } else if (options.pixels.size() == 1) {
            pixel = options.pixels.front();
        } else {
            Response r = text(400, Outcome::rejected, "id: required when several pixels are served\n");
            cors(request, r);
            return r;
        }
    }
    if (!serves(pixel)) {
        Response r = text(403, Outcome::foreign_pixel, "id: pixel not served here\n");
        cors(request, r);
        return r;
    }
    {
        char buf[64];
        const std::string_view type = media_type(request.content_type, buf);
        // text/plain: a fetch() without a preflight sends it so.
        if (!type.empty() && type != "application/json" && type != "text/plain") {
            Response r = text(415, Outcome::unsupported_media_type, "Content-Type: expected application/json\n");
            cors(request, r);
            return r;
        }
    }

    const auto now = capi::now(options.clock);
    const auto now_s = duration_cast<seconds>(now.time_since_epoch()).count();
    thread_local EventReader reader;
    thread_local simdjson::dom::parser parser;

    Response r;
    std::vector<std::string> cookies;
    detail::CookieState state;
    std::size_t accepted = 0;

    auto take = [&](std::size_t index, std::string_view json) {
        Event ev;
        FieldError err;
        if (!reader.parse(json, ev, err)) {
            r.rejected.push_back({index, {std::move(err)}});
            return;
        }
        if (ev.event_time == 0) ev.event_time = now_s;
        if (ev.action_source == ActionSource::unset) ev.action_source = ActionSource::website;
        detail::apply_context(request, options, ev, cookies, state, now);
        std::vector<FieldError> errors = validate(ev, now, options.validation);
        if (!errors.empty()) {
            r.rejected.push_back({index, std::move(errors)});
            return;
        }
        ++accepted;
        r.events.push_back({pixel, std::move(ev)});
    };

    // One event, or {"data": [...]}: an event has no "data" key.
    simdjson::dom::element root;
    if (const auto e = parser.parse(request.body.data(), request.body.size(), true).get(root)) {
        r.rejected.push_back({0, {FieldError{"", std::string("invalid JSON: ") + simdjson::error_message(e)}}});
    } else if (root.type() == simdjson::dom::element_type::OBJECT && root["data"].error() == simdjson::SUCCESS) {
        simdjson::dom::array data;
        if (root["data"].get_array().get(data)) {
            r.rejected.push_back({0, {FieldError{"data", "expected an array of events"}}});
        } else {
            std::size_t i = 0;
            std::string one;
            for (simdjson::dom::element item : data) {
                one = simdjson::minify(item);
                take(i++, one);
            }
        }
    } else {
        take(0, request.body);
    }

    r.status = accepted > 0 ? 200 : 400;
    r.outcome = accepted == 0 ? Outcome::rejected : r.rejected.empty() ? Outcome::accepted : Outcome::partial;
    r.content_type = "application/json";
    json::Writer w(r.body);
    w.begin_object();
    w.member_int("accepted", static_cast<std::int64_t>(accepted));
    rejected_json(w, r.rejected);
    w.end_object();
    cors(request, r);
    r.headers.emplace_back("Cache-Control", "no-store");
    if (accepted > 0) {
        for (std::string& c : cookies) r.headers.emplace_back("Set-Cookie", std::move(c));
    }
    return r;
}

Endpoint::Endpoint(Options options) : impl_(std::make_unique<impl>()) {
    if (options.pixels.empty()) throw std::invalid_argument("Options::pixels: no pixel to serve");
    for (const std::string& p : options.pixels) {
        if (!all_digits(p)) throw std::invalid_argument("Options::pixels: '" + p + "' is not a pixel id (digits)");
    }
    for (const char c : options.cookie_domain) {
        const auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u >= 0x7f || c == ';' || c == ',' || c == '"' || c == '\\')
            throw std::invalid_argument("Options::cookie_domain: not a domain name");
    }
    for (const std::string& o : options.allow_origins) {
        if (o.empty() || o == "*" || o.find_first_of(" \t\r\n,") != std::string::npos)
            throw std::invalid_argument("Options::allow_origins: '" + o +
                                        "' is not an origin (scheme://host[:port]; '*' cannot carry cookies)");
    }
    if (options.cookie_max_age.count() <= 0) throw std::invalid_argument("Options::cookie_max_age: must be positive");
    if (options.max_body_bytes == 0) throw std::invalid_argument("Options::max_body_bytes: must be positive");
    if (options.hit.max_parameters == 0) throw std::invalid_argument("Options::hit.max_parameters: must be positive");
    if (options.hit.max_clock_skew.count() < 0)
        throw std::invalid_argument("Options::hit.max_clock_skew: must not be negative");
    impl_->options = std::move(options);
}

Endpoint::~Endpoint() = default;
Endpoint::Endpoint(Endpoint&&) noexcept = default;
Endpoint& Endpoint::operator=(Endpoint&&) noexcept = default;

const Options& Endpoint::options() const noexcept { return impl_->options; }

Response Endpoint::handle(const Request& request) const {
    Response r;
    handle(request, r);
    return r;
}

void Endpoint::handle(const Request& request, Response& out) const {
    out.status = 200;
    out.content_type.clear();
    out.body.clear();
    out.headers.clear();
    out.outcome = Outcome::accepted;
    // At most one event kept, for hit() to reuse its storage: every other route
    // assigns `out` whole.
    if (out.events.size() > 1) out.events.erase(out.events.begin() + 1, out.events.end());
    out.rejected.clear();

    const std::size_t q = request.target.find('?');
    const std::string_view path = request.target.substr(0, q);
    const std::string_view query = q == std::string_view::npos ? std::string_view{} : request.target.substr(q + 1);
    const bool tr = path == "/tr" || path == "/tr/";
    if (!tr && path != "/events") {
        out = text(404, Outcome::not_found, "not found\n");
        return;
    }

    const std::string_view m = request.method;
    if (tr && m != "GET" && m != "POST") {
        out = text(405, Outcome::method_not_allowed, "method not allowed\n");
        out.headers.emplace_back("Allow", "GET, POST");
        return;
    }
    if (!tr && m != "POST" && m != "OPTIONS") {
        out = text(405, Outcome::method_not_allowed, "method not allowed\n");
        out.headers.emplace_back("Allow", "POST, OPTIONS");
        return;
    }
    if (request.body.size() > impl_->options.max_body_bytes) {
        out = text(413, Outcome::too_large, "body too large\n");
        return;
    }
    if (tr) return impl_->hit(request, query, m == "POST", out);
    if (m == "OPTIONS") {
        out = impl_->preflight(request);
        return;
    }
    out = impl_->events(request, query);
}

} // namespace capi::pixel
