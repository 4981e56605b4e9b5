// libFuzzer target: capi::pixel, the part of capi that reads the internet
// directly. For every input:
//  - parse_hit never throws; a failure names a reason (and leaves the Hit
//    empty); a success has a digit pixel id and an event name;
//  - Endpoint::handle never throws, for GET /tr with the input as the query,
//    POST /tr and POST /events with it as the body, with the input's first line
//    as the Cookie and X-Forwarded-For (the peer a trusted proxy); its status is
//    one of the documented ones, and events come only with 200 or 204;
//  - an accepted hit's event renders (render_fbq) to a script with no "</",
//    no '<' and no line terminator, and its noscript URL parses back (parse_hit)
//    to the same event name, event id and custom_data values.
// A broken invariant is __builtin_trap().
#include <capi/pixel.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

void check(bool ok) {
    if (!ok) __builtin_trap();
}

const std::chrono::system_clock::time_point t0{std::chrono::seconds{1780000000}};

const capi::pixel::Endpoint& endpoint() {
    static const capi::pixel::Endpoint e = [] {
        capi::pixel::Options o;
        o.pixels = {"1", "1234567890"};
        o.trusted_proxies = {*capi::pixel::Cidr::parse("10.0.0.0/8")};
        o.allow_origins = {"https://shop.example"};
        o.clock = [] { return t0; };
        return capi::pixel::Endpoint(std::move(o));
    }();
    return e;
}

bool documented(int status) {
    switch (status) {
    case 200: case 204: case 400: case 403: case 404: case 405: case 413: case 415: return true;
    default: return false;
    }
}

void round_trip(const capi::Event& ev, std::string_view pixel) {
    const std::string js = capi::pixel::render_fbq(ev);
    check(js.find("</") == std::string::npos && js.find('<') == std::string::npos);
    check(js.find('\n') == std::string::npos && js.find("\xE2\x80\xA8") == std::string::npos);
    const std::string u = capi::pixel::render_noscript_url(ev, pixel);
    capi::pixel::Hit back;
    capi::pixel::HitError error;
    // Escapes grow values (a '<' in a content title is six bytes of \u003c):
    // the bound that the hit met is not the one its rendering must meet.
    capi::pixel::HitOptions unbounded;
    unbounded.max_value_bytes = std::size_t(1) << 30;
    check(capi::pixel::parse_hit(u.substr(u.find('?') + 1), back, error, t0, unbounded));
    check(back.event.event_name == ev.event_name);
    check(back.event.event_id == ev.event_id);
    if (ev.custom_data) {
        check(back.event.custom_data.has_value());
        check(back.event.custom_data->value == ev.custom_data->value);
        check(back.event.custom_data->currency == ev.custom_data->currency);
        check(back.event.custom_data->content_ids == ev.custom_data->content_ids);
        check(back.event.custom_data->contents.size() == ev.custom_data->contents.size());
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);

    capi::pixel::Hit hit;
    capi::pixel::HitError error;
    if (capi::pixel::parse_hit(input, hit, error, t0)) {
        check(!hit.pixel_id.empty() && !hit.event.event_name.empty());
        check(hit.pixel_id.find_first_not_of("0123456789") == std::string::npos);
        round_trip(hit.event, hit.pixel_id);
    } else {
        check(!error.reason.empty());
        check(hit.pixel_id.empty() && hit.event.event_name.empty());
    }

    const std::string_view line = input.substr(0, input.find('\n'));
    const std::string get = "/tr?" + std::string(input);
    capi::pixel::Request req;
    req.peer_address = "10.0.0.1";
    req.user_agent = "fuzz";
    req.cookie = line;
    req.x_forwarded_for = line;
    req.forwarded = line;
    for (int route = 0; route < 3; ++route) {
        req.method = route == 0 ? "GET" : "POST";
        req.target = route == 0 ? std::string_view(get) : route == 1 ? "/tr?id=1" : "/events?id=1";
        req.body = route == 0 ? std::string_view{} : input;
        const capi::pixel::Response r = endpoint().handle(req);
        check(documented(r.status));
        check(r.events.empty() || r.status == 200 || r.status == 204);
        for (const auto& routed : r.events) check(capi::validate(routed.event, t0).empty());
    }
    return 0;
}
