// worker: a background job that reports in-store sales to Meta, fire-and-forget.
//
// Several producer threads (standing in for your job consumers: a message queue,
// a database poller, a POS feed) call capi::Client::enqueue, which validates the
// event and queues it without ever blocking. The client batches, hashes and sends
// on its own threads; each event's outcome arrives in Options::on_delivery.
// SIGINT/SIGTERM (e.g. `kill`, `docker stop`, systemd) stops the producers, then
// flush() waits until every accepted event has its outcome, shutdown() stops the
// client, and the final counters are printed.
//
// Usage (the token comes from the environment: command lines show in `ps`):
//   CAPI_ACCESS_TOKEN=... worker --pixel ID [--threads 4] [--rate 100] [--events 0]
//       [--test-event-code CODE] [--endpoint https://127.0.0.1:8443 --ca ca.pem]
// --rate: events per second per producer thread; --events: stop by itself after
// that many in all (0: run until a signal).
#include <capi/client.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace net = boost::asio;
using namespace std::chrono_literals;

namespace {

/// One sale from the (simulated) point-of-sale feed.
capi::Event sale_event(unsigned producer, std::uint64_t n) {
    const std::string id = std::to_string(producer) + "-" + std::to_string(n);
    capi::Event ev;
    ev.event_name = std::string(capi::event_names::purchase);
    ev.event_time = std::chrono::duration_cast<std::chrono::seconds>(
                        std::chrono::system_clock::now().time_since_epoch()).count();
    ev.event_id = "sale-" + id;  // stable per sale: a resend is deduplicated by Meta
    ev.action_source = capi::ActionSource::physical_store;  // 62-day window
    ev.user_data.em = {"customer" + id + "@example.com"};   // normalized and hashed by capi
    ev.user_data.ph = {"+1 650 555 " + std::to_string(1000 + n % 9000)};
    auto& custom = ev.custom_data.emplace();
    custom.value = 10.0 + static_cast<double>(n % 90);
    custom.currency = "EUR";
    return ev;
}

int usage(const char* why) {
    std::cerr << "worker: " << why << "\n"
              << "usage: CAPI_ACCESS_TOKEN=... worker --pixel ID [--threads N] [--rate R] [--events N]\n"
                 "           [--test-event-code CODE] [--endpoint https://host:port] [--ca FILE]\n";
    return 2;
}

} // namespace

int main(int argc, char** argv) {
    capi::Options opt;
    unsigned threads = 4;
    unsigned rate = 100;
    std::uint64_t total = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string_view arg = argv[i];
        const char* value = argv[i + 1];
        if (arg == "--pixel") opt.destination.pixel_id = value;
        else if (arg == "--threads") threads = static_cast<unsigned>(std::atoi(value));
        else if (arg == "--rate") rate = static_cast<unsigned>(std::atoi(value));
        else if (arg == "--events") total = std::strtoull(value, nullptr, 10);
        else if (arg == "--test-event-code") opt.destination.test_event_code = value;
        else if (arg == "--endpoint") opt.transport.endpoint = value;
        else if (arg == "--ca") opt.transport.ca_file = value;
        else return usage("unknown option");
    }
    if (argc % 2 == 0) return usage("every option takes a value");
    if (threads == 0 || rate == 0) return usage("--threads and --rate must be at least 1");
    const char* token = std::getenv("CAPI_ACCESS_TOKEN");
    if (token == nullptr || *token == '\0') return usage("set CAPI_ACCESS_TOKEN");
    opt.destination.access_token = token;

    // The delivery report: one call per accepted event, on the client's I/O thread.
    // Keep it short and non-blocking; here it only prints failures.
    std::mutex print_mu;
    opt.on_delivery = [&print_mu](const capi::SendResult& r) {
        if (r.outcome == capi::Outcome::delivered) return;
        std::lock_guard lock(print_mu);
        std::cerr << "worker: " << r.event_id << " " << capi::to_string(r.outcome) << ": " << r.error.message();
        if (r.graph) std::cerr << " (Graph code " << r.graph->code << ", fbtrace_id " << r.graph->fbtrace_id << ")";
        if (r.cause) std::cerr << " (last attempt: " << r.cause.message() << ")";
        std::cerr << "\n";
    };

    try {
        capi::Client client(std::move(opt));  // owns its I/O thread; a bad option throws, naming it

        // The signal waits on a small io_context of its own, run by this thread.
        net::io_context signal_io;
        net::signal_set signals(signal_io, SIGINT, SIGTERM);
        signals.async_wait([](boost::system::error_code ec, int signo) {
            if (!ec) std::cerr << "worker: signal " << signo << ": flushing\n";
        });

        // Producers: enqueue never blocks; a full queue is refused and counted.
        std::atomic<std::uint64_t> produced{0};
        std::atomic<unsigned> running{threads};
        std::vector<std::jthread> producers;
        for (unsigned p = 0; p < threads; ++p) {
            producers.emplace_back([&, p](std::stop_token stop) {
                for (std::uint64_t n = 0; !stop.stop_requested(); ++n) {
                    if (total != 0 && produced.fetch_add(1) >= total) break;
                    auto st = client.enqueue(sale_event(p, n));
                    if (st.status == capi::EnqueueResult::Status::invalid)
                        std::cerr << "worker: invalid event: " << st.errors.front().path << ": "
                                  << st.errors.front().reason << "\n";
                    std::this_thread::sleep_for(std::chrono::microseconds(1'000'000 / rate));
                }
                // The last producer to finish ends the wait for a signal.
                if (running.fetch_sub(1) == 1) net::post(signal_io, [&signals] { signals.cancel(); });
            });
        }

        signal_io.run();  // until SIGINT/SIGTERM, or until --events are produced
        for (auto& t : producers) t.request_stop();
        producers.clear();  // joins

        const bool flushed = client.flush(30s);   // every accepted event has its outcome
        client.shutdown(5s);                      // stops the batchers and the I/O thread
        const capi::Stats s = client.stats();
        std::cout << "worker stats" << (flushed ? "" : " (flush timed out)") << "\n"
                  << "  accepted    " << s.accepted << "\n"
                  << "  delivered   " << s.delivered << "\n"
                  << "  failed      " << s.failed << "\n"
                  << "  expired     " << s.expired << "\n"
                  << "  dropped     " << s.dropped << "\n"
                  << "  rejected    " << s.rejected << " invalid, " << s.rejected_full << " queue full\n"
                  << "  batches     " << s.batches << " (" << s.retries << " retries)\n"
                  << "  latency     p50 " << s.latency_us.percentile(0.5) << " us, p99 "
                  << s.latency_us.percentile(0.99) << " us\n";
        return s.delivered == s.accepted ? 0 : 1;
    } catch (const std::exception& e) {
        std::cerr << "worker: " << e.what() << "\n";
        return 1;
    }
}
