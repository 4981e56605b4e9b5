// capi sending the peers' benchmark events to the mock Graph server: run by
// bench/peers/run.sh beside Meta's Node SDK (sdk_peer.js), same events, same
// mock.
//
//   bench_peer_capi URL CA_FILE PIXEL EVENTS WARMUP
//   (the access token comes from $CAPI_ACCESS_TOKEN)
//
// Event i is the same on both sides (sdk_peer.js builds it from the same
// formulas): a Purchase from the website with em, ph, fn, ln, client IP, user
// agent, value, currency, event_id and event_source_url. Its strings are
// generated before the measurement (the data a server already holds); building
// the events from them (one kept capi::Event refilled with capi::assign, the
// caller's path), enqueue(), and everything the client's threads do until every
// event is acknowledged is measured: the process's CPU time (getrusage: user +
// system, every thread) from the first event to the last acknowledgement, with
// the client made before (as the SDK's setup is). Before that run, on this
// thread: the construction alone, and the compute floor of these events
// (BatchEncoder alone). Prints one JSON line.
#include <capi/client.hpp>
#include <capi/encode.hpp>
#include <capi/event.hpp>

#include "cpu_clock.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

constexpr std::string_view first_names[] = {"Mary", "Jose", "Ana", "John", "Emile", "Zoe", "Wei", "Olga"};
constexpr std::string_view last_names[] = {"Smith", "Garcia", "Muller", "Jones", "Nguyen", "Kowalski"};
constexpr std::string_view user_agent =
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Safari/537.36";

struct PurchaseData {
    std::int64_t event_time = 0;
    std::string event_id, url, em, ph, ip;
    std::string_view fn, ln;
    double value = 0;
};

// The data of event i (as sdk_peer.js's purchaseData).
PurchaseData purchase_data(std::size_t i, std::int64_t now_s) {
    PurchaseData d;
    d.event_time = now_s - static_cast<std::int64_t>(i % 3600);
    d.event_id = "order-" + std::to_string(i);
    d.url = "https://shop.example.com/checkout/thank-you?order=" + std::to_string(i);
    d.em = "  Customer." + std::to_string(i) + "@Example.COM ";
    d.ph = "+1 (650) 555-" + std::to_string(1000 + i % 9000);
    d.fn = first_names[i % 8];
    d.ln = last_names[i % 6];
    d.ip = "203.0." + std::to_string(i / 250 % 250) + "." + std::to_string(i % 250 + 1);
    d.value = 10.0 + static_cast<double>(i % 100000) / 100.0;
    return d;
}

// The caller's construction of one event: the kept `ev` refilled from `d`.
void fill(capi::Event& ev, const PurchaseData& d) {
    capi::assign(ev.event_name, capi::event_names::purchase);
    ev.event_time = d.event_time;
    capi::assign(ev.event_id, d.event_id);
    capi::assign(ev.event_source_url, d.url);
    ev.action_source = capi::ActionSource::website;
    auto& u = ev.user_data;
    capi::assign(u.em, {d.em});
    capi::assign(u.ph, {d.ph});
    capi::assign(u.fn, {d.fn});
    capi::assign(u.ln, {d.ln});
    capi::assign(u.client_ip_address, d.ip);
    capi::assign(u.client_user_agent, user_agent);
    auto& cd = capi::refill(ev.custom_data);
    cd.value = d.value;
    capi::assign(cd.currency, "USD");
}

using capi_bench::process_page_faults;  // tools/bench/cpu_clock.hpp
using capi_bench::thread_cpu_seconds;

double process_cpu_seconds() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

// Sends every event of `data` through `client`, at most `window` unacknowledged
// (a server's producer slows down rather than overflow the queue); false when
// one was refused or not delivered.
bool send_all(capi::Client& client, const std::vector<PurchaseData>& data, std::atomic<std::uint64_t>& acked,
              std::uint64_t window) {
    capi::Event ev;  // kept: refilled for each event
    const std::uint64_t base = acked.load();
    std::uint64_t sent = 0;
    for (const auto& d : data) {
        while (sent - (acked.load(std::memory_order_acquire) - base) >= window)
            std::this_thread::sleep_for(std::chrono::microseconds(200));
        fill(ev, d);
        if (!client.enqueue(ev)) return false;
        ++sent;
    }
    if (!client.flush(std::chrono::minutes(2))) return false;
    for (int i = 0; i < 5000 && acked.load(std::memory_order_acquire) - base < sent; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return acked.load() - base == sent;
}

} // namespace

int main(int argc, char** argv) {
    const char* token = std::getenv("CAPI_ACCESS_TOKEN");
    if (argc != 6 || token == nullptr || *token == '\0') {
        std::fprintf(stderr, "usage: CAPI_ACCESS_TOKEN=... bench_peer_capi URL CA_FILE PIXEL EVENTS WARMUP\n");
        return 2;
    }
    const std::size_t events = std::strtoull(argv[4], nullptr, 10), warmup = std::strtoull(argv[5], nullptr, 10);
    std::atomic<std::uint64_t> acked{0}, failed{0};
    capi::Options o;
    o.transport.endpoint = argv[1];
    o.transport.ca_file = argv[2];
    o.destination.pixel_id = argv[3];
    o.destination.access_token = token;
    o.on_delivery = [&](const capi::SendResult& r) {
        if (r.outcome != capi::Outcome::delivered) failed.fetch_add(1, std::memory_order_relaxed);
        acked.fetch_add(1, std::memory_order_release);
    };
    const std::uint64_t window = o.queue_capacity / 2;
    capi::Client client(std::move(o));

    // One clock reading for both sides (run.sh sets it), so their events are equal.
    const char* now_env = std::getenv("CAPI_PEERS_NOW");
    const std::int64_t now_s =
        now_env != nullptr ? std::strtoll(now_env, nullptr, 10)
                           : std::chrono::duration_cast<std::chrono::seconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
    std::vector<PurchaseData> warm, data;
    for (std::size_t i = 0; i < warmup; ++i) warm.push_back(purchase_data(1'000'000 + i, now_s));
    for (std::size_t i = 0; i < events; ++i) data.push_back(purchase_data(i, now_s));
    if (!send_all(client, warm, acked, window)) {  // connections open, buffers warm, as in a running server
        std::fprintf(stderr, "bench_peer_capi: the warm-up was not delivered\n");
        return 1;
    }

    // Where it goes: the construction alone (the same refills without enqueue,
    // best of 3, this thread), then the run split into this thread (construction
    // and enqueue(), which validates, normalizes and serializes on the caller's
    // thread) and the client's own threads (hashing, batching, TLS, answers).
    double construction = 1e300;
    {
        capi::Event ev;
        std::size_t sink = 0;
        for (int pass = 0; pass < 3; ++pass) {
            const double c0 = thread_cpu_seconds();
            for (const auto& d : data) {
                fill(ev, d);
                sink += ev.event_id->size();
            }
            construction = std::min(construction, thread_cpu_seconds() - c0);
        }
        if (sink == 0) return 1;
    }
    // The compute floor of these events: BatchEncoder alone (validate, normalize,
    // hash, serialize) on this thread, 1000-event bodies, best of 3.
    double floor = 1e300;
    {
        capi::Event ev;
        capi::BatchEncoder encoder;
        const auto now = std::chrono::system_clock::now();
        for (int pass = 0; pass < 3; ++pass) {
            const double c0 = thread_cpu_seconds();
            for (const auto& d : data) {
                fill(ev, d);
                auto r = encoder.add(ev, now);
                if (r.status == capi::EncodeStatus::batch_full) {
                    encoder.clear();
                    r = encoder.add(ev, now);
                }
                if (r.status != capi::EncodeStatus::added) return 1;
            }
            encoder.clear();
            floor = std::min(floor, thread_cpu_seconds() - c0 - construction);
        }
    }

    const std::uint64_t faults0 = process_page_faults();
    const double cpu0 = process_cpu_seconds(), thread0 = thread_cpu_seconds();
    const auto t0 = std::chrono::steady_clock::now();
    const bool ok = send_all(client, data, acked, window);
    const auto t1 = std::chrono::steady_clock::now();
    const double cpu = process_cpu_seconds() - cpu0, caller_thread = thread_cpu_seconds() - thread0;
    const double seconds = std::chrono::duration<double>(t1 - t0).count();
    const std::uint64_t faults = process_page_faults() - faults0;
    const auto stats = client.stats();
    client.shutdown(std::chrono::seconds(5));
    std::printf("{\"peer\":\"capi\",\"events\":%zu,\"delivered\":%llu,\"failed\":%llu,\"seconds\":%.3f,"
                "\"cpu_us_per_event\":%.3f,\"events_per_second\":%.0f,\"construction_us\":%.3f,"
                "\"compute_floor_us\":%.3f,\"caller_thread_us\":%.3f,\"client_threads_us\":%.3f,\"page_faults_per_event\":%.2f}\n",
                events, static_cast<unsigned long long>(stats.delivered - warmup),
                static_cast<unsigned long long>(failed.load()), seconds, cpu / static_cast<double>(events) * 1e6,
                static_cast<double>(events) / seconds, construction / static_cast<double>(events) * 1e6,
                floor / static_cast<double>(events) * 1e6,
                caller_thread / static_cast<double>(events) * 1e6, (cpu - caller_thread) / static_cast<double>(events) * 1e6,
                static_cast<double>(faults) / static_cast<double>(events));
    return ok && failed.load() == 0 ? 0 : 1;
}
