// Core benchmark: events/s on one core through validate + normalize + hash +
// serialize, capi's BatchEncoder against the straightforward way (the same
// validation and normalization rules, then OpenSSL SHA256() per value and a
// Boost.JSON document serialized per 1000-event body), in the same run.
//
//   bench_core [--events N] [--seconds S] [--rounds R]
//              [--split | --profile-prepare | --enhanced | --bodies | --lane | --gaps | --profile]
//   (one mode at a time; --profile runs only capi's path, for perf record;
//   --profile-prepare only BatchEncoder::prepare() on 64 events at a time, hot
//   in cache as a producer has them, also for perf record; --split times capi's
//   steps apart in thread CPU time, as capi::Client splits them: validate(),
//   prepare() on the producer, add_prepared() + json_body() on the batcher;
//   --enhanced the default rules against enhanced normalization, on the same
//   events and on events written as exports hold them; --bodies the floor with
//   its bodies written into 1, 4, 16 or 64 buffers in turn, as a client's
//   batches wait while it builds the next; --lane prepare() then add_prepared()
//   per event, as a caller's lane, against add(), on 64 hot events; --gaps the
//   floor's 1000-event bodies back to back, as the floor runs, against each body
//   after an idle wait of 3 ms, as a client with one body in flight waits for
//   its answer, and after 4 MB of other memory written)
#include <capi/encode.hpp>
#include <capi/normalize.hpp>
#include <capi/sha256.hpp>
#include <capi/validate.hpp>

#include "args.hpp"
#include "cpu_clock.hpp"
#include "json/prepared.hpp"
#include "purchase_events.hpp"

#include <boost/json/src.hpp>  // header-only Boost.JSON, compiled into this TU only
#include <openssl/sha.h>
#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <random>
#include <string>
#include <string_view>
#include <vector>

using capi::detail::batch_access;

namespace {

using capi_bench::thread_cpu_ns;  // tools/bench/cpu_clock.hpp

using clock_type = std::chrono::steady_clock;


// ---------------------------------------------------------------------------
// The straightforward way.

std::string openssl_hex(std::string_view v) {
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(v.data()), v.size(), md);
    static constexpr char hex[] = "0123456789abcdef";
    std::string s(64, '\0');
    for (int i = 0; i < 32; ++i) {
        s[2 * i] = hex[md[i] >> 4];
        s[2 * i + 1] = hex[md[i] & 15];
    }
    return s;
}

void put_hashed(boost::json::object& o, std::string_view key, const std::vector<std::string>& vs,
                capi::Field f) {
    boost::json::array a;
    for (const auto& v : vs) {
        auto n = capi::normalize(f, v);
        if (!n.ok()) continue;
        if (n.status == capi::NormalizeStatus::already_hashed || !capi::is_hashed_field(f))
            a.emplace_back(n.value);
        else
            a.emplace_back(openssl_hex(n.value));
    }
    if (!a.empty()) o[key] = std::move(a);
}

boost::json::object straightforward_event(const capi::Event& ev) {
    boost::json::object e;
    e["event_name"] = ev.event_name;
    e["event_time"] = ev.event_time;
    if (ev.event_id) e["event_id"] = *ev.event_id;
    if (ev.event_source_url) e["event_source_url"] = *ev.event_source_url;
    e["action_source"] = capi::to_string(ev.action_source);
    boost::json::object u;
    const auto& ud = ev.user_data;
    put_hashed(u, "em", ud.em, capi::Field::em);
    put_hashed(u, "ph", ud.ph, capi::Field::ph);
    put_hashed(u, "fn", ud.fn, capi::Field::fn);
    put_hashed(u, "ln", ud.ln, capi::Field::ln);
    put_hashed(u, "ct", ud.ct, capi::Field::ct);
    put_hashed(u, "st", ud.st, capi::Field::st);
    put_hashed(u, "zp", ud.zp, capi::Field::zp);
    put_hashed(u, "country", ud.country, capi::Field::country);
    put_hashed(u, "external_id", ud.external_id, capi::Field::external_id);
    if (ud.client_ip_address) u["client_ip_address"] = *ud.client_ip_address;
    if (ud.client_user_agent) u["client_user_agent"] = *ud.client_user_agent;
    if (ud.fbc) u["fbc"] = *ud.fbc;
    if (ud.fbp) u["fbp"] = *ud.fbp;
    e["user_data"] = std::move(u);
    if (ev.custom_data) {
        const auto& cd = *ev.custom_data;
        boost::json::object c;
        if (cd.value) c["value"] = *cd.value;
        if (cd.currency) c["currency"] = capi::normalize(capi::Field::currency, *cd.currency).value;
        if (cd.content_type) c["content_type"] = *cd.content_type;
        boost::json::array items;
        for (const auto& it : cd.contents) {
            boost::json::object o;
            if (it.id) o["id"] = *it.id;
            if (it.quantity) o["quantity"] = *it.quantity;
            if (it.item_price) o["item_price"] = *it.item_price;
            items.emplace_back(std::move(o));
        }
        if (!items.empty()) c["contents"] = std::move(items);
        e["custom_data"] = std::move(c);
    }
    return e;
}

// Deep equality of two JSON values; object members compared by key, any order.
bool same_json(simdjson::dom::element a, simdjson::dom::element b) {
    using simdjson::dom::element_type;
    // JSON has one number type: 60.0 may be written "60" by one writer, "6E1" by another.
    if (a.is_number() && b.is_number()) return double(a) == double(b);
    if (a.type() != b.type()) return false;
    switch (a.type()) {
        case element_type::ARRAY: {
            auto x = a.get_array().value_unsafe(), y = b.get_array().value_unsafe();
            if (x.size() != y.size()) return false;
            for (auto i = x.begin(), j = y.begin(); i != x.end(); ++i, ++j)
                if (!same_json(*i, *j)) return false;
            return true;
        }
        case element_type::OBJECT: {
            auto x = a.get_object().value_unsafe(), y = b.get_object().value_unsafe();
            if (x.size() != y.size()) return false;
            for (auto field : x) {
                simdjson::dom::element other;
                if (y[field.key].get(other) || !same_json(field.value, other)) return false;
            }
            return true;
        }
        case element_type::STRING: return a.get_string().value_unsafe() == b.get_string().value_unsafe();
        case element_type::INT64: return a.get_int64().value_unsafe() == b.get_int64().value_unsafe();
        case element_type::UINT64: return a.get_uint64().value_unsafe() == b.get_uint64().value_unsafe();
        case element_type::DOUBLE: return a.get_double().value_unsafe() == b.get_double().value_unsafe();
        case element_type::BOOL: return a.get_bool().value_unsafe() == b.get_bool().value_unsafe();
        case element_type::NULL_VALUE: return true;
    }
    return false;
}

// ---------------------------------------------------------------------------

struct Run {
    double events_per_s = 0;
    std::size_t bytes = 0;  // body bytes produced, so the work cannot be optimized away
};

template <class Body>
Run measure(double seconds, std::size_t n_events, Body&& one_pass) {
    std::size_t events = 0, bytes = 0;
    auto start = clock_type::now();
    auto deadline = start + std::chrono::duration<double>(seconds);
    clock_type::time_point end;
    do {
        bytes += one_pass();
        events += n_events;
        end = clock_type::now();
    } while (end < deadline);
    double s = std::chrono::duration<double>(end - start).count();
    return {static_cast<double>(events) / s, bytes};
}

} // namespace

int main(int argc, char** argv) {
    capi_bench::Args args(argc, argv,  // tools/bench/args.hpp
                          "[--events N] [--seconds S] [--rounds R] [--split | --profile-prepare | --enhanced |"
                          " --bodies | --lane | --gaps | --profile]");
    const auto n = static_cast<std::size_t>(args.integer("--events", 20000, 1000, 10'000'000));
    const double seconds = args.number("--seconds", 2, 0.01, 3600);
    const int rounds = static_cast<int>(args.integer("--rounds", 3, 1, 10'000));
    const std::string_view mode =
        args.one_of({"--split", "--profile-prepare", "--enhanced", "--bodies", "--lane", "--gaps", "--profile"});
    args.finish();

    const auto now = std::chrono::system_clock::now();
    const auto now_s = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
    const auto events = capi_bench::make_purchase_events(0, n, now_s);
    const capi::ValidationOptions vopt{};

    capi::BatchEncoder encoder;
    auto capi_pass = [&] { return capi_bench::encode_all(encoder, events, now); };
    auto plain_pass = [&]() -> std::size_t {
        std::size_t bytes = 0;
        boost::json::array data;
        auto seal = [&] {
            boost::json::object body;
            body["data"] = std::move(data);
            bytes += boost::json::serialize(body).size();
            data = boost::json::array();
        };
        for (const auto& ev : events) {
            if (!capi::validate(ev, now, vopt).empty()) std::abort();
            data.emplace_back(straightforward_event(ev));
            if (data.size() == 1000) seal();
        }
        if (!data.empty()) seal();
        return bytes;
    };

    // Both ways must produce the same events, or the comparison means nothing.
    // Compared after parsing both with simdjson (exact number parsing; Boost.JSON
    // 1.81's default parser rounds some doubles).
    {
        boost::json::object plain_body;
        boost::json::array plain;
        for (std::size_t i = 0; i < 1000; ++i) plain.emplace_back(straightforward_event(events[i]));
        plain_body["data"] = std::move(plain);
        for (std::size_t i = 0; i < 1000; ++i) (void)encoder.add(events[i], now);
        simdjson::dom::parser pa, pb;
        simdjson::padded_string a(encoder.json_body()), b(boost::json::serialize(plain_body));
        encoder.clear();
        simdjson::dom::element ea, eb;
        if (pa.parse(a).get(ea) || pb.parse(b).get(eb) || !same_json(ea, eb)) {
            std::fprintf(stderr, "bench_core: capi and the straightforward way disagree\n");
            return 1;
        }
    }

    std::printf("capi core benchmark: validate + normalize + SHA-256 + serialize, one thread\n");
    std::printf("%zu distinct Purchase events (8 hashed PII values + external_id each), 1000 per body, "
                "best of %d rounds of %g s\n",
                n, rounds, seconds);
    std::printf("sha256 implementation: %s\n", std::string(capi::sha256::implementation_name()).c_str());

    Run best_capi, best_plain;
    if (mode == "--split") {
        // Thread CPU time, best of `rounds` passes over the events: steadier than
        // wall time on a shared machine, and each step on its own.
        std::vector<capi::detail::PreparedEvent> prepared(n);
        // The same events without their event_id, as capi::Client prepares them:
        // given a random id (EventIdMode::random; the draw itself not counted),
        // or the placeholder and then the id derived from the bytes
        // (EventIdMode::deterministic, the default).
        auto no_ids = events;
        for (auto& ev : no_ids) ev.event_id.reset();
        const std::string some_id = "0123456789abcdef0123456789abcdef";
        std::string id;
        double best_ids[2] = {1e300, 1e300};
        double best[4] = {1e300, 1e300, 1e300, 1e300};
        std::size_t sink = 0;
        for (int r = 0; r < std::max(rounds, 5); ++r) {
            const double t0 = thread_cpu_ns();
            for (const auto& ev : events) sink += capi::validate(ev, now, vopt).size();
            const double t1 = thread_cpu_ns();
            for (std::size_t i = 0; i < n; ++i)
                if (batch_access::prepare(encoder, events[i], now, prepared[i]).status != capi::EncodeStatus::added) std::abort();
            const double t2 = thread_cpu_ns();
            for (const auto& pe : prepared) {
                if (batch_access::add_prepared(encoder, pe, now).status == capi::EncodeStatus::batch_full) {
                    sink += encoder.json_body().size();
                    encoder.clear();
                    if (batch_access::add_prepared(encoder, pe, now).status != capi::EncodeStatus::added) std::abort();
                }
            }
            sink += encoder.json_body().size();
            encoder.clear();
            const double t3 = thread_cpu_ns();
            sink += capi_pass();
            const double t4 = thread_cpu_ns();
            const double step[4] = {t1 - t0, t2 - t1, t3 - t2, t4 - t3};
            for (int k = 0; k < 4; ++k) best[k] = std::min(best[k], step[k] / static_cast<double>(n));
            const double u0 = thread_cpu_ns();
            for (std::size_t i = 0; i < n; ++i)
                if (batch_access::prepare(encoder, no_ids[i], now, prepared[i], some_id).status != capi::EncodeStatus::added)
                    std::abort();
            const double u1 = thread_cpu_ns();
            for (std::size_t i = 0; i < n; ++i) {
                if (batch_access::prepare(encoder, no_ids[i], now, prepared[i], capi::detail::derived_id_placeholder)
                        .status != capi::EncodeStatus::added)
                    std::abort();
                if (!batch_access::derive_event_id(prepared[i], "1234567890", id)) std::abort();
            }
            const double u2 = thread_cpu_ns();
            best_ids[0] = std::min(best_ids[0], (u1 - u0) / static_cast<double>(n));
            best_ids[1] = std::min(best_ids[1], (u2 - u1) / static_cast<double>(n));
        }
        std::printf("thread CPU per event, best of %d passes:\n", std::max(rounds, 5));
        std::printf("  validate()                                           : %7.1f ns\n", best[0]);
        std::printf("  prepare() (validate, normalize, serialize with holes): %7.1f ns\n", best[1]);
        std::printf("  add_prepared() + json_body() (copy, hash, fill)      : %7.1f ns\n", best[2]);
        std::printf("  add() + json_body() (all of it: the floor)           : %7.1f ns\n", best[3]);
        std::printf("events without an event_id:\n");
        std::printf("  prepare() with a given id (EventIdMode::random)      : %7.1f ns\n", best_ids[0]);
        std::printf("  prepare() + derive_event_id() (::deterministic)      : %7.1f ns\n", best_ids[1]);
        std::printf("  the derived id's cost                                : %7.1f ns\n", best_ids[1] - best_ids[0]);
        return sink == 0 ? 1 : 0;
    }
    if (mode == "--profile-prepare") {  // only prepare(), for perf record
        batch_access::count_only(encoder);  // as capi::Client's staging encoders
        constexpr std::size_t hot = 64;
        std::vector<capi::detail::PreparedEvent> prepared(hot);
        auto a = measure(seconds, n, [&] {
            std::size_t bytes = 0;
            for (std::size_t i = 0; i < n; ++i) {
                auto& out = prepared[i % hot];
                if (batch_access::prepare(encoder, events[i % hot], now, out).status != capi::EncodeStatus::added) std::abort();
                bytes += out.json_with_holes().size();
            }
            return bytes;
        });
        std::printf("capi prepare(): %.0f events/s (%.1f ns/event)\n", a.events_per_s, 1e9 / a.events_per_s);
        return 0;
    }
    if (mode == "--enhanced") {
        // Enhanced normalization (issue 17), off and on, alternating rounds. The
        // same events first (their st names, ZIP+4 and countries are what the
        // enhanced rules read), then the same events written the way exports
        // hold them: dates with dashes, national phone numbers, country names.
        capi::EncodeOptions eo;
        eo.enhanced.enabled = true;
        eo.enhanced.default_phone_country = "US";
        capi::BatchEncoder enhanced(eo);
        auto messy = events;
        for (std::size_t i = 0; i < messy.size(); ++i) {
            auto& u = messy[i].user_data;
            u.db = {"19" + std::to_string(50 + i % 50) + "-0" + std::to_string(1 + i % 9) + "-1" + std::to_string(i % 10)};
            u.ph = {"(650) 555-" + std::to_string(1000 + i % 9000)};
            u.ge = {i % 2 ? "Female" : "Man"};
            if (u.country[0] == "US" || u.country[0] == "us") u.country = {"United States"};
        }
        Run best[3];
        for (int r = 0; r < rounds; ++r) {
            const Run runs[3] = {measure(seconds, n, capi_pass),
                                 measure(seconds, n, [&] { return capi_bench::encode_all(enhanced, events, now); }),
                                 measure(seconds, n, [&] { return capi_bench::encode_all(enhanced, messy, now); })};
            for (int k = 0; k < 3; ++k) best[k] = runs[k].events_per_s > best[k].events_per_s ? runs[k] : best[k];
        }
        const auto q = enhanced.match_quality();
        std::printf("default rules (the compute floor)                  : %7.1f ns/event\n", 1e9 / best[0].events_per_s);
        std::printf("enhanced on, the same events                       : %7.1f ns/event (%+.1f)\n",
                    1e9 / best[1].events_per_s, 1e9 / best[1].events_per_s - 1e9 / best[0].events_per_s);
        std::printf("enhanced on, dates/phones/countries/genders to convert: %7.1f ns/event\n",
                    1e9 / best[2].events_per_s);
        std::printf("values converted by the enhanced encoder: %llu of %llu\n",
                    static_cast<unsigned long long>(q.total(capi::MatchOutcome::converted)),
                    static_cast<unsigned long long>(q.total(capi::MatchOutcome::converted) +
                                                    q.total(capi::MatchOutcome::as_given) +
                                                    q.total(capi::MatchOutcome::unmatchable)));
        return 0;
    }
    if (mode == "--bodies") {
        // The compute floor with its bodies in 1, 4, 16 and 64 buffers taken in
        // turn, alternating rounds: what a client pays when the batches it has
        // built wait (behind the in-flight limit, on the wire) while it builds
        // the next ones, so the next body goes into memory no cache holds. The
        // floor itself reuses one buffer, hot in the cache.
        constexpr std::size_t ks[] = {1, 4, 16, 64};
        std::vector<capi::BatchEncoder> pools[std::size(ks)];
        for (std::size_t j = 0; j < std::size(ks); ++j) pools[j].resize(ks[j]);
        std::size_t turn[std::size(ks)] = {};
        auto pass = [&](std::size_t j) {
            std::size_t bytes = 0;
            for (std::size_t i = 0; i < events.size(); i += 1000) {
                auto& enc = pools[j][turn[j]++ % ks[j]];
                for (std::size_t e = i; e < std::min(events.size(), i + 1000); ++e)
                    if (enc.add(events[e], now).status != capi::EncodeStatus::added) std::abort();
                bytes += enc.json_body().size();
                enc.clear();
            }
            return bytes;
        };
        for (std::size_t j = 0; j < std::size(ks); ++j) (void)pass(j);  // every buffer grown and touched once
        Run best[std::size(ks)];
        for (int r = 0; r < rounds; ++r)
            for (std::size_t j = 0; j < std::size(ks); ++j) {
                const Run a = measure(seconds, n, [&] { return pass(j); });
                best[j] = a.events_per_s > best[j].events_per_s ? a : best[j];
            }
        for (std::size_t j = 0; j < std::size(ks); ++j)
            std::printf("bodies in %2zu buffer%s taken in turn: %7.1f ns/event (%.2fx the one buffer's)\n", ks[j],
                        ks[j] == 1 ? " " : "s", 1e9 / best[j].events_per_s, best[0].events_per_s / best[j].events_per_s);
        return 0;
    }
    if (mode == "--lane") {
        // What capi::Client's caller-batches path adds to the encoding itself:
        // prepare() on a staging encoder into one PreparedEvent, then
        // add_prepared() into the batch at once (a caller's lane), against add()
        // straight into the batch; 64 events in turn, hot as a caller has them.
        // Alternating rounds.
        constexpr std::size_t hot = 64;
        capi::BatchEncoder staging;
        batch_access::count_only(staging);  // as the client's staging encoders
        capi::detail::PreparedEvent one;
        auto direct = [&] {
            std::size_t bytes = 0;
            for (std::size_t i = 0; i < n; ++i) {
                const auto& ev = events[i % hot];
                if (encoder.add(ev, now).status == capi::EncodeStatus::batch_full) {
                    bytes += encoder.json_body().size();
                    encoder.clear();
                    if (encoder.add(ev, now).status != capi::EncodeStatus::added) std::abort();
                }
            }
            bytes += encoder.json_body().size();
            encoder.clear();
            return bytes;
        };
        auto lane = [&] {
            std::size_t bytes = 0;
            for (std::size_t i = 0; i < n; ++i) {
                if (batch_access::prepare(staging, events[i % hot], now, one).status != capi::EncodeStatus::added)
                    std::abort();
                if (batch_access::add_prepared(encoder, one, now).status == capi::EncodeStatus::batch_full) {
                    bytes += encoder.json_body().size();
                    encoder.clear();
                    if (batch_access::add_prepared(encoder, one, now).status != capi::EncodeStatus::added) std::abort();
                }
            }
            bytes += encoder.json_body().size();
            encoder.clear();
            return bytes;
        };
        double best_direct = 0, best_lane = 0;
        for (int r = 0; r < rounds; ++r) {
            best_direct = std::max(best_direct, measure(seconds, n, direct).events_per_s);
            best_lane = std::max(best_lane, measure(seconds, n, lane).events_per_s);
        }
        std::printf("64 hot events, best of %d alternating rounds:\n", rounds);
        std::printf("  add() + json_body() (the floor's path)                : %7.1f ns/event\n", 1e9 / best_direct);
        std::printf("  prepare() + add_prepared() + json_body() (a lane's)   : %7.1f ns/event (%.2fx)\n",
                    1e9 / best_lane, best_direct / best_lane);
        return 0;
    }
    if (mode == "--gaps") {
        // The floor's work on 1000-event bodies, each body encoded after one of:
        // nothing (back to back, as the floor runs), an idle wait of 3 ms (as a
        // client waits for the server's answer), 4 MB of other memory written
        // (as a TLS pass over the last body), or both. Thread CPU of the encoding
        // only, best of `rounds` alternating passes.
        const std::vector<capi::Event> batch(events.begin(), events.begin() + 1000);
        std::vector<char> other(4u << 20);
        const char* names[] = {"back to back", "after 3 ms idle", "after 4 MB written", "after both"};
        double best[4] = {1e300, 1e300, 1e300, 1e300};
        std::size_t bytes = 0;
        for (int r = 0; r < rounds; ++r) {
            for (int mode = 0; mode < 4; ++mode) {
                double cpu = 0;
                for (int b = 0; b < 100; ++b) {
                    if (mode & 1) {
                        timespec ts{0, 3'000'000};
                        nanosleep(&ts, nullptr);
                    }
                    if (mode & 2) std::memset(other.data(), b, other.size());
                    const double t0 = thread_cpu_ns();
                    bytes += capi_bench::encode_all(encoder, batch, now);
                    cpu += thread_cpu_ns() - t0;
                }
                best[mode] = std::min(best[mode], cpu / 100'000);
            }
        }
        if (bytes == 0) return 1;
        for (int mode = 0; mode < 4; ++mode)
            std::printf("  %-20s: %7.1f ns/event (%.2fx)\n", names[mode], best[mode], best[mode] / best[0]);
        return 0;
    }
    if (mode == "--profile") {  // only capi's path, for perf record
        auto a = measure(seconds, n, capi_pass);
        std::printf("capi BatchEncoder: %.0f events/s\n", a.events_per_s);
        return 0;
    }
    for (int r = 0; r < rounds; ++r) {  // alternate, so drift on a shared machine hits both
        auto a = measure(seconds, n, capi_pass);
        auto b = measure(seconds, n, plain_pass);
        best_capi = a.events_per_s > best_capi.events_per_s ? a : best_capi;
        best_plain = b.events_per_s > best_plain.events_per_s ? b : best_plain;
    }
    std::printf("capi BatchEncoder                           : %12.0f events/s  (%7.1f ns/event)\n",
                best_capi.events_per_s, 1e9 / best_capi.events_per_s);
    std::printf("straightforward (OpenSSL SHA256, Boost.JSON): %12.0f events/s  (%7.1f ns/event)\n",
                best_plain.events_per_s, 1e9 / best_plain.events_per_s);
    std::printf("outputs checked equal on 1000 events\n");
    std::printf("ratio capi / straightforward: %.2fx\n", best_capi.events_per_s / best_plain.events_per_s);
    return 0;
}
