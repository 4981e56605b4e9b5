// The request context: who the client is (Cidr, client_address) and what only a
// server sees of it (apply_context: address, user agent, cookies).
//
// Choices:
//  - an IPv4-mapped IPv6 address (::ffff:192.0.2.7, what a dual-stack socket
//    reports for an IPv4 client) is reported as the IPv4 address, and matches
//    IPv4 networks: it is the same client either way, and Meta matches IPv4
//    addresses as IPv4;
//  - when the peer is a trusted proxy, RFC 7239 `Forwarded` is read when it
//    names any `for=`, else `X-Forwarded-For`; hops are walked from the right
//    (the nearest proxy appends last), skipping trusted proxies; the first
//    untrusted one is the client. Anything unreadable on the way (garbage,
//    `for=unknown`, an obfuscated `_name`) stops the walk at the peer: an
//    address that cannot be vouched for is not believed;
//  - a `_fbp` / `_fbc` cookie not shaped like fb.<n>.<ms>.<x> is treated as
//    absent (a new _fbp replaces it): sending it would get the event refused;
//  - the fbclid is taken from event_source_url's query as the URL spells it:
//    not percent-decoded, not case-changed (Meta matches it byte for byte, and a
//    browser's location.href already carries it as the ad link did);
//  - a `_fbc` cookie whose click id differs from the page URL's fbclid is
//    replaced (a new ad click), as the pixel does.
#include <capi/pixel.hpp>

#include "pixel/internal.hpp"
#include "pixel/url.hpp"
#include "util/ascii.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>
#include <random>

namespace capi::pixel {

namespace {

using namespace std::chrono;
using capi::detail::ascii::all_digits;
using capi::detail::ascii::trim;

struct Address {
    std::array<std::uint8_t, 16> bytes{};
    bool v4 = false;  // bytes[0..3]
};

/// Parses a textual IPv4 or IPv6 address; an IPv4-mapped IPv6 one becomes IPv4.
bool parse_address(std::string_view text, Address& out) noexcept {
    char buf[64];
    if (text.empty() || text.size() >= sizeof buf) return false;
    std::memcpy(buf, text.data(), text.size());
    buf[text.size()] = '\0';  // inet_pton stops at a NUL: copy, never read past the view
    out = Address{};
    if (inet_pton(AF_INET, buf, out.bytes.data()) == 1) {
        out.v4 = true;
        return true;
    }
    if (inet_pton(AF_INET6, buf, out.bytes.data()) != 1) return false;
    static constexpr std::uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(out.bytes.data(), mapped, 12) == 0) {
        std::memmove(out.bytes.data(), out.bytes.data() + 12, 4);
        std::memset(out.bytes.data() + 4, 0, 12);
        out.v4 = true;
    }
    return true;
}

std::string to_text(const Address& a) {
    char buf[INET6_ADDRSTRLEN];
    if (inet_ntop(a.v4 ? AF_INET : AF_INET6, a.bytes.data(), buf, sizeof buf) == nullptr) return {};
    return buf;
}

bool prefix_equal(const std::uint8_t* a, const std::uint8_t* b, unsigned bits) noexcept {
    const unsigned whole = bits / 8;
    if (std::memcmp(a, b, whole) != 0) return false;
    const unsigned rest = bits % 8;
    if (rest == 0) return true;
    const auto mask = static_cast<std::uint8_t>(0xFF << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

/// One hop of X-Forwarded-For or a Forwarded `for=` value, without its port:
/// "192.0.2.7", "192.0.2.7:4711", "2001:db8::1", "[2001:db8::1]", "[2001:db8::1]:4711".
bool parse_hop(std::string_view hop, Address& out) noexcept {
    hop = trim(hop);
    if (!hop.empty() && hop.front() == '[') {
        const std::size_t close = hop.find(']');
        if (close == std::string_view::npos) return false;
        const std::string_view after = hop.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':' || after.size() < 2) return false;
            for (const char c : after.substr(1)) {
                if (c < '0' || c > '9') return false;
            }
        }
        return parse_address(hop.substr(1, close - 1), out) && !out.v4;
    }
    if (parse_address(hop, out)) return true;
    // IPv4 with a port: exactly one ':'.
    const std::size_t colon = hop.find(':');
    if (colon == std::string_view::npos || hop.find(':', colon + 1) != std::string_view::npos) return false;
    const std::string_view port = hop.substr(colon + 1);
    if (!all_digits(port)) return false;
    return parse_address(hop.substr(0, colon), out) && out.v4;
}

bool trusted(const Address& a, const std::vector<Cidr>& proxies) noexcept;

/// The `for=` values of a Forwarded header, in order; false when it has none.
/// An unreadable element yields an empty value (the walk then stops there).
bool forwarded_hops(std::string_view header, std::vector<std::string_view>& hops) {
    // Elements are separated by ',', pairs by ';'; a quoted value may hold either.
    std::size_t i = 0;
    bool any = false;
    while (i <= header.size()) {
        std::string_view element_for;
        bool element_has_for = false;
        // One element.
        while (i < header.size() && header[i] != ',') {
            while (i < header.size() && (header[i] == ' ' || header[i] == '\t' || header[i] == ';')) ++i;
            const std::size_t key_start = i;
            while (i < header.size() && header[i] != '=' && header[i] != ';' && header[i] != ',') ++i;
            std::string_view key = trim(header.substr(key_start, i - key_start));
            std::string_view value;
            if (i < header.size() && header[i] == '=') {
                ++i;
                if (i < header.size() && header[i] == '"') {
                    const std::size_t close = header.find('"', i + 1);
                    if (close == std::string_view::npos) {
                        hops.emplace_back();  // unreadable: stops the walk at the peer
                        return true;
                    }
                    value = header.substr(i + 1, close - i - 1);
                    i = close + 1;
                } else {
                    const std::size_t start = i;
                    while (i < header.size() && header[i] != ';' && header[i] != ',') ++i;
                    value = trim(header.substr(start, i - start));
                }
            }
            if (key.size() == 3 && (key[0] | 0x20) == 'f' && (key[1] | 0x20) == 'o' && (key[2] | 0x20) == 'r') {
                element_for = value;
                element_has_for = true;
            }
            while (i < header.size() && header[i] != ';' && header[i] != ',') ++i;
        }
        if (element_has_for) {
            hops.push_back(element_for);
            any = true;
        }
        if (i >= header.size()) break;
        ++i;  // the ','
    }
    return any;
}

bool cookie_octets(std::string_view v) noexcept {
    // RFC 6265 cookie-octet: printable ASCII but space, '"', ',', ';' and '\\'.
    for (const char ch : v) {
        const auto c = static_cast<unsigned char>(ch);
        if (c <= 0x20 || c >= 0x7f || c == '"' || c == ',' || c == ';' || c == '\\') return false;
    }
    return true;
}

/// fb.<subdomain index>.<creation time ms>.<rest>, the shape of _fbp and _fbc.
bool fb_cookie_shape(std::string_view v, std::string_view* rest = nullptr) noexcept {
    if (v.substr(0, 3) != "fb.") return false;
    v.remove_prefix(3);
    for (int part = 0; part < 2; ++part) {
        const std::size_t dot = v.find('.');
        if (dot == 0 || dot == std::string_view::npos) return false;
        for (const char c : v.substr(0, dot)) {
            if (c < '0' || c > '9') return false;
        }
        v.remove_prefix(dot + 1);
    }
    if (v.empty() || !cookie_octets(v)) return false;
    if (rest) *rest = v;
    return true;
}

/// The value of cookie `name` in a Cookie header ("a=1; b=2"); the first wins.
std::string_view cookie_value(std::string_view header, std::string_view name) noexcept {
    while (!header.empty()) {
        const std::size_t semi = header.find(';');
        const std::string_view pair = trim(header.substr(0, semi));
        header = semi == std::string_view::npos ? std::string_view{} : header.substr(semi + 1);
        const std::size_t eq = pair.find('=');
        if (eq == std::string_view::npos || trim(pair.substr(0, eq)) != name) continue;
        std::string_view v = trim(pair.substr(eq + 1));
        if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
        return v;
    }
    return {};
}

/// The visitor's connection is TLS: this one, or, behind a trusted proxy that
/// terminated TLS, what its X-Forwarded-Proto says (from anyone else the header
/// is ignored, like X-Forwarded-For).
bool visitor_tls(const Request& request, const Options& options) noexcept {
    if (request.tls) return true;
    std::string_view proto = request.x_forwarded_proto;
    // Several proxies append: "https, http"; the first is the visitor's side.
    proto = trim(proto.substr(0, proto.find(',')));
    if (proto.size() != 5 || (proto[0] | 0x20) != 'h' || (proto[1] | 0x20) != 't' || (proto[2] | 0x20) != 't' ||
        (proto[3] | 0x20) != 'p' || (proto[4] | 0x20) != 's')
        return false;
    Address peer;
    return !options.trusted_proxies.empty() && parse_address(request.peer_address, peer) &&
           trusted(peer, options.trusted_proxies);
}

std::string set_cookie(std::string_view name, std::string_view value, const Request& request,
                       const Options& options) {
    std::string c;
    c.reserve(96 + options.cookie_domain.size());
    c.append(name).append("=").append(value);
    c.append("; Max-Age=").append(std::to_string(options.cookie_max_age.count()));
    c.append("; Path=/; SameSite=Lax");
    if (!options.cookie_domain.empty()) c.append("; Domain=").append(options.cookie_domain);
    if (visitor_tls(request, options)) c.append("; Secure");
    return c;
}

/// fb.1.<now ms>.<10 random digits>: subdomain index 1, as the pixel writes it.
std::string new_fbp(std::int64_t now_ms) {
    // A per-thread generator seeded from the system's entropy: browser ids must
    // not be guessable from one another, and getrandom per cookie is not needed.
    thread_local std::mt19937_64 rng = [] {
        std::random_device rd;
        std::seed_seq seed{rd(), rd(), rd(), rd(), rd(), rd(), rd(), rd()};
        return std::mt19937_64(seed);
    }();
    std::uniform_int_distribution<std::uint64_t> digits(1000000000ULL, 9999999999ULL);
    return "fb.1." + std::to_string(now_ms) + "." + std::to_string(digits(rng));
}

} // namespace

// ---- Cidr ---------------------------------------------------------------------

struct CidrAccess {
    static bool contains(const Cidr& c, const Address& a) noexcept {
        return c.parsed_ && a.v4 == c.v4_ && prefix_equal(a.bytes.data(), c.net_.data(), c.prefix_);
    }
};

namespace {
bool trusted(const Address& a, const std::vector<Cidr>& proxies) noexcept {
    for (const Cidr& c : proxies) {
        if (CidrAccess::contains(c, a)) return true;
    }
    return false;
}
} // namespace

std::optional<Cidr> Cidr::parse(std::string_view text) {
    const std::size_t slash = text.find('/');
    const std::string_view address = text.substr(0, slash);
    Address a;
    if (!parse_address(address, a)) return std::nullopt;
    // "::ffff:10.0.0.0/104" is an IPv4 network written in IPv6: its prefix
    // counts the 96 bits of the mapping.
    const bool written_v6 = address.find(':') != std::string_view::npos;
    const unsigned max = written_v6 ? 128 : 32;
    unsigned prefix = max;
    if (slash != std::string_view::npos) {
        const std::string_view p = text.substr(slash + 1);
        if (p.empty() || p.size() > 3) return std::nullopt;
        for (const char c : p) {
            if (c < '0' || c > '9') return std::nullopt;
        }
        std::from_chars(p.data(), p.data() + p.size(), prefix);
        if (prefix > max) return std::nullopt;
    }
    if (a.v4 && written_v6) {
        if (prefix < 96) return std::nullopt;  // would reach beyond the mapped range
        prefix -= 96;
    }
    Cidr c;
    c.parsed_ = true;
    c.v4_ = a.v4;
    c.prefix_ = static_cast<std::uint8_t>(prefix);
    c.net_ = a.bytes;
    return c;
}

bool Cidr::contains(std::string_view address) const noexcept {
    Address a;
    return parse_address(address, a) && CidrAccess::contains(*this, a);
}

// ---- client_address -----------------------------------------------------------

std::string client_address(const Request& request, const std::vector<Cidr>& trusted_proxies) {
    Address peer;
    if (!parse_address(request.peer_address, peer)) return std::string(request.peer_address);
    if (trusted_proxies.empty() || !trusted(peer, trusted_proxies)) {
        // Dotted-quad text inet_pton took is already the canonical form.
        if (peer.v4 && request.peer_address.find(':') == std::string_view::npos)
            return std::string(request.peer_address);
        return to_text(peer);
    }

    std::vector<std::string_view> hops;
    if (!forwarded_hops(request.forwarded, hops)) {
        hops.clear();
        std::string_view xff = request.x_forwarded_for;
        while (!xff.empty()) {
            const std::size_t comma = xff.find(',');
            hops.push_back(trim(xff.substr(0, comma)));
            xff = comma == std::string_view::npos ? std::string_view{} : xff.substr(comma + 1);
        }
    }
    Address hop;
    std::string last;
    for (auto it = hops.rbegin(); it != hops.rend(); ++it) {
        if (!parse_hop(*it, hop)) return to_text(peer);
        if (!trusted(hop, trusted_proxies)) return to_text(hop);
        last = to_text(hop);
    }
    // Every hop a trusted proxy: the farthest one is the client (a proxy's own request).
    return last.empty() ? to_text(peer) : last;
}

// ---- apply_context ------------------------------------------------------------

namespace detail {

void apply_context(const Request& request, const Options& options, Event& ev,
                   std::vector<std::string>& set_cookies, CookieState& state,
                   system_clock::time_point now) {
    UserData& ud = ev.user_data;
    if (!ud.client_ip_address || ud.client_ip_address->empty()) {
        std::string ip = client_address(request, options.trusted_proxies);
        if (!ip.empty()) ud.client_ip_address = std::move(ip);
        else ud.client_ip_address.reset();
    }
    if ((!ud.client_user_agent || ud.client_user_agent->empty()) && !request.user_agent.empty())
        ud.client_user_agent.emplace(request.user_agent);
    if ((!ev.event_source_url || ev.event_source_url->empty()) && !request.referer.empty())
        ev.event_source_url.emplace(request.referer);

    const std::int64_t now_ms = duration_cast<milliseconds>(now.time_since_epoch()).count();

    if (!ud.fbp || ud.fbp->empty()) {
        const std::string_view cookie = cookie_value(request.cookie, "_fbp");
        if (fb_cookie_shape(cookie)) {
            ud.fbp.emplace(cookie);
        } else {
            if (state.new_fbp.empty()) {
                state.new_fbp = new_fbp(now_ms);
                set_cookies.push_back(set_cookie("_fbp", state.new_fbp, request, options));
            }
            ud.fbp = state.new_fbp;
        }
    }

    if (!ud.fbc || ud.fbc->empty()) {
        const std::string_view cookie = cookie_value(request.cookie, "_fbc");
        std::string_view cookie_click;
        const bool have_cookie = fb_cookie_shape(cookie, &cookie_click);
        std::string_view fbclid;
        const bool have_click = ev.event_source_url && url::query_param(*ev.event_source_url, "fbclid", fbclid) &&
                                !fbclid.empty() && cookie_octets(fbclid);
        if (have_click && (!have_cookie || cookie_click != fbclid)) {
            if (state.new_fbc.empty() || state.fbclid != fbclid) {
                const bool first = state.new_fbc.empty();
                state.fbclid.assign(fbclid);
                state.new_fbc = "fb.1." + std::to_string(now_ms) + "." + state.fbclid;
                // One _fbc per answer: the first click id of the request.
                if (first) set_cookies.push_back(set_cookie("_fbc", state.new_fbc, request, options));
            }
            ud.fbc = state.new_fbc;
        } else if (have_cookie) {
            ud.fbc.emplace(cookie);
        } else {
            ud.fbc.reset();
        }
    }
}

} // namespace detail

void apply_context(const Request& request, const Options& options, Event& ev,
                   std::vector<std::string>& set_cookies) {
    detail::CookieState state;
    detail::apply_context(request, options, ev, set_cookies, state, capi::now(options.clock));
}

} // namespace capi::pixel
