// capi::pixel: the browser half of the Conversions API.
//
// Meta Pixel hits (`GET /tr?id=..&ev=..&cd[..]=..`, or the same parameters as a
// form-encoded `POST /tr` body) become server events, with what only a server
// sees added: the client's IP address and user agent, the first-party `_fbp` and
// `_fbc` cookies. In the other direction, a server event renders as the page's
// `fbq('track', ...)` call and noscript image, so that the browser event and the
// server event carry one event_id and Meta keeps one. docs/pixel.md has the
// table of hit parameters and the deduplication and cookie rules.
//
// No HTTP library here: a server (Boost.Beast, or any other) fills a
// pixel::Request from its own request, calls Endpoint::handle, writes the
// Response back, and sends Response::events with its capi::Client.
// `capi gateway` is such a server; docs/examples/pixel_server.cpp is another.
//
// Thread safety: Endpoint is immutable after construction; handle() is safe from
// any number of threads at once. The free functions are pure.
#pragma once

#include <capi/clock.hpp>
#include <capi/event.hpp>
#include <capi/validate.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#pragma GCC visibility push(default)  // exported: docs/install.md#symbol-visibility
namespace capi::pixel {

// ---- hits -----------------------------------------------------------------------

/// Why a hit (or one of its parameters) was refused: the parameter as the hit
/// spells it (`cd[value]`, `ud[em]`, `ts`, `id`; empty for the hit as a whole)
/// and the reason.
struct HitError {
    std::string parameter;
    std::string reason;
};

/// A parsed hit: its pixel and the server event it becomes (without the request
/// context: see Endpoint, or apply_context).
struct Hit {
    std::string pixel_id;
    Event event;
    bool noscript = false;
};

struct HitOptions {
    /// A `ts` further ahead of the server's clock than this is refused; one less
    /// far ahead is taken as the server's now (browsers' clocks drift).
    std::chrono::seconds max_clock_skew{300};
    /// Bounds on one hit.
    std::size_t max_parameters = 256;
    std::size_t max_value_bytes = 16 * 1024;
};

/// Parses a hit's parameters: a query string (without the '?') or an
/// application/x-www-form-urlencoded body, percent-decoded and '+' as a space as
/// browsers encode them. `out` is reset first. `ev` is event_name, `eid` event_id,
/// `dl` event_source_url, `rl` referrer_url, `ts` (ms) event_time (absent: `now`),
/// `cd[KEY]` custom_data, `ud[KEY]` user_data, by the wire schema's rows; other
/// `cd` keys become custom properties; unknown top-level parameters are ignored
/// (the pixel sends many that have no server field). action_source is website.
/// A parameter given twice is refused; an empty `cd[..]`, `ud[..]`, `eid`, `dl`
/// or `rl` is absent; every value must be UTF-8; `ud[client_ip_address]` and
/// `ud[client_user_agent]` are refused (the request context sets them).
/// Returns false with `error` naming the parameter and the reason.
bool parse_hit(std::string_view params, Hit& out, HitError& error,
               std::chrono::system_clock::time_point now, const HitOptions& options = {});

// ---- the request context ----------------------------------------------------------

/// A network given as "10.0.0.0/8", "2001:db8::/32", or one address ("192.0.2.7").
class Cidr {
public:
    /// nullopt when `text` is not an IPv4 or IPv6 network or address.
    static std::optional<Cidr> parse(std::string_view text);
    /// True when the textual address `address` (IPv4, IPv6, or an IPv4-mapped
    /// IPv6 address for an IPv4 network) is inside.
    bool contains(std::string_view address) const noexcept;

private:
    friend struct CidrAccess;  // lib/ only: matches parsed addresses without reparsing
    std::array<std::uint8_t, 16> net_{};
    std::uint8_t prefix_ = 0;
    bool v4_ = false;
    bool parsed_ = false;  // a default-constructed Cidr contains nothing
};

/// What the HTTP layer saw of one request. Views into the caller's request,
/// valid during the call; an absent header is empty.
struct Request {
    std::string_view method;        ///< "GET", "POST", "OPTIONS", ...
    std::string_view target;        ///< path and query: "/tr?id=1&ev=PageView"
    std::string_view body;
    std::string_view content_type;
    std::string_view peer_address;  ///< the TCP peer, textual, without the port
    std::string_view user_agent;
    std::string_view referer;
    std::string_view cookie;        ///< the Cookie header
    std::string_view origin;        ///< the Origin header (CORS)
    std::string_view x_forwarded_for;
    /// X-Forwarded-Proto, believed only from a trusted proxy: "https" there
    /// means the visitor's connection is TLS, so cookies get Secure.
    std::string_view x_forwarded_proto;
    std::string_view forwarded;     ///< RFC 7239
    bool tls = false;               ///< served over TLS: cookies get Secure
};

struct Options {
    /// Pixels served; a hit for another pixel is refused (403) and sent nowhere.
    std::vector<std::string> pixels;
    /// Peers whose X-Forwarded-For / Forwarded headers are believed; from anyone
    /// else the headers are ignored and the TCP peer is the client.
    std::vector<Cidr> trusted_proxies;
    /// Origins allowed to POST /events from a browser (exact match, CORS with
    /// credentials); empty: none.
    std::vector<std::string> allow_origins;
    /// Domain attribute of the cookies set; empty: host-only cookies.
    std::string cookie_domain;
    /// Lifetime of the cookies set (the pixel's: 90 days).
    std::chrono::seconds cookie_max_age{90 * 24 * 3600};
    HitOptions hit;
    /// Checked before an event is handed over, so the answer says why it was refused.
    ValidationOptions validation;
    /// Bodies larger than this are refused (413).
    std::size_t max_body_bytes = 1024 * 1024;
    /// For event_time, cookie creation times and the window checks; empty: the system clock.
    Clock clock;
};

/// The client address the request context gives: the peer, or, when the peer is
/// a trusted proxy, the first address in X-Forwarded-For / Forwarded (walking
/// from the right) that is not itself a trusted proxy.
std::string client_address(const Request& request, const std::vector<Cidr>& trusted_proxies);

/// Adds the request context to `ev` where the event lacks it: client_ip_address,
/// client_user_agent, fbp from `_fbp`, fbc from `_fbc` or else from an `fbclid`
/// in event_source_url (`fb.1.<now ms>.<fbclid>`, the click id byte-exact),
/// event_source_url from the Referer. Appends to `set_cookies` the Set-Cookie
/// values to answer with: a new `_fbp` when the request had none (also put in
/// ev.user_data.fbp), `_fbc` when built from fbclid.
void apply_context(const Request& request, const Options& options, Event& ev,
                   std::vector<std::string>& set_cookies);

// ---- the endpoint -------------------------------------------------------------------

/// An event to send, and the pixel it goes to.
struct Routed {
    std::string pixel_id;
    Event event;
};

/// One refused event of a request: its index in the request (0 for a hit) and why.
struct Rejected {
    std::size_t index = 0;
    std::vector<FieldError> errors;  ///< paths name the hit parameter for hits
};

/// What the request came to, for counting (a bounded set: metrics labels).
enum class Outcome : std::uint8_t {
    accepted,           ///< every event accepted
    partial,            ///< POST /events: some accepted, some rejected
    rejected,           ///< no event accepted: malformed hit or invalid events (400)
    foreign_pixel,      ///< a pixel not served (403)
    too_large,          ///< body over Options::max_body_bytes (413)
    not_found,          ///< no such route (404)
    method_not_allowed, ///< (405)
    preflight,          ///< CORS OPTIONS answered
    // Added after the first release of this header (new values go last):
    forbidden_origin,       ///< POST /events from an Origin not in allow_origins (403)
    unsupported_media_type, ///< a POST body of another Content-Type (415)
};
std::string_view to_string(Outcome) noexcept;

/// The HTTP answer, and the events to send.
struct Response {
    int status = 200;
    std::string content_type;
    std::string body;
    /// Extra headers: Set-Cookie, CORS, Cache-Control.
    std::vector<std::pair<std::string, std::string>> headers;
    Outcome outcome = Outcome::accepted;
    std::vector<Routed> events;
    std::vector<Rejected> rejected;
};

/// The pixel routes: `GET /tr` (answers a 1x1 GIF) and `POST /tr` (204) in the
/// pixel's own format, `POST /events` (JSON in Meta's wire names: one event or
/// {"data": [...]}; the pixel from `?id=`, or the only one served) and its CORS
/// preflight. Other paths: not_found, so a server can route them itself.
///
/// Answers: GET /tr 200 image/gif (43 bytes, Cache-Control: no-store); POST /tr
/// 204 (body application/x-www-form-urlencoded or text/plain, after the query's
/// parameters); POST /events 200 application/json `{"accepted":N,"rejected":
/// [{"index":i,"errors":[{"field":..,"reason":..}]}]}`, 400 with the same body
/// when N is 0; OPTIONS /events 204. Refused: 400 text/plain "PARAM: reason"
/// lines for hits, 403 foreign pixel, 403 forbidden_origin (POST /events with
/// an Origin not allowed), 413, 415, 405 with Allow, 404. Set-Cookie only on
/// answers that accepted an event. Throws only std::bad_alloc.
class Endpoint {
public:
    /// Throws std::invalid_argument naming the bad option (no pixels, a pixel
    /// id that is not digits, a cookie domain with spaces, ...).
    explicit Endpoint(Options options);
    ~Endpoint();
    Endpoint(Endpoint&&) noexcept;
    Endpoint& operator=(Endpoint&&) noexcept;

    Response handle(const Request& request) const;
    /// The same answer, into `out` (every member replaced): a server that keeps
    /// one Response per connection and passes it to every call reuses its
    /// vectors' and strings' storage, so an accepted hit allocates no event
    /// storage and no answer buffers once they have grown. The events' own
    /// strings are made anew each call.
    // Added after the first release of this header.
    void handle(const Request& request, Response& out) const;
    const Options& options() const noexcept;

private:
    struct [[gnu::visibility("hidden")]] impl;  // lib/ only: not exported
    std::unique_ptr<impl> impl_;
};

// ---- the other direction: a server event rendered for the page ------------------

/// Which fbq call renders the event.
enum class Call : std::uint8_t {
    automatic,            ///< track for the 17 standard names, trackCustom otherwise
    track,
    track_custom,
    track_single,         ///< to one pixel of several on the page
    track_single_custom,
};

/// The page's call for `ev`: `fbq('track', 'Purchase', {value: 25, currency: 'USD',
/// ...}, {eventID: 'order-1234'});` with custom_data as the object properties
/// (user_data is never rendered into a page). Every value is escaped so that it
/// cannot leave its JavaScript string or the enclosing <script> element (quotes,
/// backslashes, `</script>`, `<!--`, U+2028/2029). The single variants need
/// `pixel_id`.
std::string render_fbq(const Event& ev, std::string_view pixel_id = {}, Call call = Call::automatic);

/// The noscript image URL: `https://www.facebook.com/tr?id=..&ev=..&eid=..&cd[..]=..&noscript=1`,
/// every component percent-encoded. `base` replaces Meta's URL (a first-party gateway).
std::string render_noscript_url(const Event& ev, std::string_view pixel_id,
                                std::string_view base = "https://www.facebook.com/tr");

/// `<img height="1" width="1" style="display:none" src="..." alt=""/>`, the URL
/// escaped for a double-quoted HTML attribute.
std::string render_noscript_img(const Event& ev, std::string_view pixel_id,
                                std::string_view base = "https://www.facebook.com/tr");

} // namespace capi::pixel
#pragma GCC visibility pop
