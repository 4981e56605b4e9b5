// Pixel benchmark: CPU per hit of parse_hit and of Endpoint::handle (parse,
// request context, validate, the answer), for the seed's image hit and for a
// Purchase hit with customer data, in one run. The gateway's budget is 2 us of
// CPU per hit over the client's own per-event cost, HTTP included: this is the
// part of it that is not HTTP.
//
//   bench_pixel [--hits N] [--rounds R] [--profile]
//   (--profile runs only Endpoint::handle(req, out) on the gateway's Purchase
//   hit, for perf record or an instruction count)
#include <capi/pixel.hpp>

#include "args.hpp"
#include "cpu_clock.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

namespace {

using capi_bench::thread_cpu_ns;  // tools/bench/cpu_clock.hpp

// The seed's image URL with a real pixel id.
constexpr std::string_view seed_query =
    "id=1234567890&ev=ViewContent&cd[content_type]=product&cd[content_ids]=1234&cd[value]=0.50&cd[currency]=USD&noscript=1";
// What fbevents.js sends for a Purchase with advanced matching (hashed ud[]),
// trimmed of parameters with no server field but a few kept (ignored).
constexpr std::string_view purchase_query =
    "id=1234567890&ev=Purchase&dl=https%3A%2F%2Fshop.example%2Fcheckout%2Fthanks%3Forder%3D1234"
    "&rl=https%3A%2F%2Fshop.example%2Fcart&if=false&ts=1780000000123&sw=1920&sh=1080&v=2.9.140&r=stable"
    "&ec=2&o=4126&fbp=fb.1.1596403881668.1116446470&eid=order-1234"
    "&cd[value]=25.00&cd[currency]=USD&cd[content_type]=product"
    "&cd[content_ids]=%5B%221234%22%2C%224642%22%5D&cd[num_items]=3"
    "&ud[em]=6b9ae2eb1c0e4e4ab6e8d1d5e3d6f8a1f0c2b3a4d5e6f708192a3b4c5d6e7f80"
    "&ud[ph]=5a1f4c2b3d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708"
    "&ud[fn]=2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
    "&ud[external_id]=user-42&it=1780000000000&coo=false&es=automatic&tm=3&rqm=GET";
// scripts/bench_gateway.sh's hit: customer fields in clear (the encoder
// normalizes and hashes them), two contents as JSON, value, currency.
constexpr std::string_view gateway_query =
    "id=1234567890&ev=Purchase&dl=https%3A%2F%2Fshop.example.com%2Fcheckout%2Fthank-you%3Forder%3D1001"
    "&ud[em]=%20Customer.1001%40Example.COM%20&ud[ph]=%2B1%20(650)%20555-1001&ud[fn]=Jos%C3%A9"
    "&ud[ln]=Garc%C3%ADa&ud[ct]=San%20Jos%C3%A9&ud[st]=California&ud[zp]=94025-1234&ud[country]=US"
    "&ud[external_id]=cust-1001&cd[value]=129.95&cd[currency]=USD&cd[content_type]=product"
    "&cd[contents]=%5B%7B%22id%22%3A%22sku-1%22%2C%22quantity%22%3A2%2C%22item_price%22%3A24.95%7D%2C"
    "%7B%22id%22%3A%22sku-2%22%2C%22quantity%22%3A1%2C%22item_price%22%3A80.05%7D%5D&eid=order-0-1";

template <class F>
double per_call_ns(std::size_t n, F&& f) {
    const double start = thread_cpu_ns();
    for (std::size_t i = 0; i < n; ++i) f();
    return (thread_cpu_ns() - start) / double(n);
}

} // namespace

int main(int argc, char** argv) {
    capi_bench::Args args(argc, argv, "[--hits N] [--rounds R] [--profile]");  // tools/bench/args.hpp
    const auto hits = static_cast<std::size_t>(args.integer("--hits", 200000, 1, 1'000'000'000));
    const int rounds = static_cast<int>(args.integer("--rounds", 3, 1, 10'000));
    const bool profile = args.flag("--profile");
    args.finish();

    const auto now = std::chrono::system_clock::time_point(std::chrono::milliseconds(1780000000500));
    capi::pixel::Options options;
    options.pixels = {"1234567890"};
    options.clock = [now] { return now; };
    const capi::pixel::Endpoint endpoint(options);

    struct Case {
        const char* name;
        std::string_view query;
    };
    const Case cases[] = {
        {"seed image hit", seed_query}, {"Purchase + ud[]", purchase_query}, {"gateway Purchase", gateway_query}};

    if (profile) {
        const std::string target = "/tr?" + std::string(gateway_query);
        capi::pixel::Request req;
        req.method = "GET";
        req.target = target;
        req.peer_address = "203.0.113.9";
        req.user_agent = "Mozilla/5.0";
        req.cookie = "_fbp=fb.1.1596403881668.1116446470";
        std::size_t events = 0;
        capi::pixel::Response reused;
        for (std::size_t i = 0; i < hits * std::size_t(rounds); ++i) {
            endpoint.handle(req, reused);
            events += reused.events.size();
        }
        return events == hits * std::size_t(rounds) ? 0 : 1;
    }
    std::printf("%-18s %14s %14s %20s %20s\n", "hit", "parse_hit ns", "validate ns", "Endpoint::handle ns",
                "handle(req, out) ns");
    for (int round = 0; round < rounds; ++round) {
        for (const Case& c : cases) {
            const std::string target = "/tr?" + std::string(c.query);
            capi::pixel::Request req;
            req.method = "GET";
            req.target = target;
            req.peer_address = "203.0.113.9";
            req.user_agent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
            req.referer = "https://shop.example/product/1234";
            req.cookie = "_fbp=fb.1.1596403881668.1116446470; _ga=GA1.2.3.4";

            capi::pixel::Hit hit;
            capi::pixel::HitError error;
            std::size_t ok = 0;
            const double parse = per_call_ns(hits, [&] {
                ok += capi::pixel::parse_hit(c.query, hit, error, now);
            });
            // validate() alone, on the event handle() builds (with its context), as
            // the part of handle() that any front end pays.
            const capi::Event ctx = endpoint.handle(req).events.at(0).event;
            std::size_t errors = 0;
            const double check = per_call_ns(hits, [&] { errors += capi::validate(ctx, now).size(); });
            std::size_t events = 0;
            const double handle = per_call_ns(hits, [&] {
                const capi::pixel::Response r = endpoint.handle(req);
                events += r.events.size();
            });
            // The overload a server calls with one Response per connection.
            capi::pixel::Response reused;
            const double handle_into = per_call_ns(hits, [&] {
                endpoint.handle(req, reused);
                events += reused.events.size();
            });
            if (ok != hits || events != 2 * hits || errors != 0) {
                std::fprintf(stderr, "%s: refused (%s: %s)\n", c.name, error.parameter.c_str(), error.reason.c_str());
                return 1;
            }
            std::printf("%-18s %14.0f %14.0f %20.0f %20.0f\n", c.name, parse, check, handle, handle_into);
        }
    }
    return 0;
}
