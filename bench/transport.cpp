// Transport benchmark: 1000-event batches POSTed over TLS to the embedded
// MockGraphServer on 127.0.0.1, through capi's keep-alive pool and, in the same
// run, the straightforward way (a new connection, hence a new TLS handshake, per
// request). Reports requests/s and the client's CPU time per batch (the CPU time
// of the thread running the client's io_context; the mock runs on its own threads).
//
//   bench_transport [--requests N] [--concurrency C] [--rounds R]
#include <capi/encode.hpp>
#include <capi/testing/mock_graph.hpp>
#include <capi/transport.hpp>

#include "args.hpp"
#include "cpu_clock.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace net = boost::asio;
using steady = std::chrono::steady_clock;

using capi_bench::thread_cpu_seconds;  // tools/bench/cpu_clock.hpp

std::string make_body(std::string_view token) {
    capi::BatchEncoder enc;
    const auto now = std::chrono::system_clock::now();
    const auto now_s = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
    for (int i = 0; i < 1000; ++i) {
        capi::Event ev;
        ev.event_name = "Purchase";
        ev.event_time = now_s - 60;
        ev.event_id = "bench-" + std::to_string(i);
        ev.action_source = capi::ActionSource::website;
        ev.event_source_url = "https://shop.example.com/thanks";
        ev.user_data.em = {"customer" + std::to_string(i) + "@example.com"};
        ev.user_data.ph = {"1650555" + std::to_string(1000 + i)};
        ev.user_data.client_user_agent = "Mozilla/5.0 (X11; Linux x86_64) bench";
        ev.user_data.client_ip_address = "203.0.113.7";
        ev.custom_data.emplace();
        ev.custom_data->currency = "usd";
        ev.custom_data->value = 19.99 + i;
        if (enc.add(ev, now).status != capi::EncodeStatus::added) std::abort();
    }
    return std::string(enc.json_body({}, token));
}

struct Result {
    double requests_per_s = 0;
    double cpu_us_per_request = 0;
    std::size_t failures = 0;
};

// Posts `n` requests keeping `concurrency` in flight; `fresh` turns keep-alive
// off, so every request opens a new connection and does a full TLS handshake (the
// same TLS context and CA store, so only the connection cost differs).
Result run(const capi::testing::MockGraphServer& mock, const std::string& body, int n,
           int concurrency, bool fresh) {
    net::io_context io(1);
    capi::TransportOptions opt;
    opt.endpoint = mock.url();
    opt.ca_pem = mock.ca_pem();
    opt.max_connections = static_cast<std::size_t>(concurrency);
    opt.keep_alive = !fresh;
    std::shared_ptr<capi::Transport> shared = capi::make_https_transport(io.get_executor(), opt);

    int started = 0, done = 0;
    std::size_t failures = 0;
    std::function<void()> start_one = [&] {
        if (started == n) return;
        ++started;
        capi::PostRequest req;
        req.pixel_id = "1234567890";
        req.body = body;
        shared->post(std::move(req), [&](std::error_code ec, capi::PostResult r) {
            if (ec || r.events_received != 1000) ++failures;
            ++done;
            net::post(io, [&] { start_one(); });
        });
    };

    const double cpu0 = thread_cpu_seconds();
    const auto t0 = steady::now();
    for (int i = 0; i < concurrency; ++i) start_one();
    while (done < n) {
        if (io.run_one_for(std::chrono::seconds(30)) == 0) break;  // bounded: a stuck run ends
    }
    const double secs = std::chrono::duration<double>(steady::now() - t0).count();
    const double cpu = thread_cpu_seconds() - cpu0;
    shared->close();
    io.run_for(std::chrono::milliseconds(200));
    if (done < n) failures += static_cast<std::size_t>(n - done);
    return {done / secs, cpu / std::max(done, 1) * 1e6, failures};
}

} // namespace

int main(int argc, char** argv) {
    capi_bench::Args args(argc, argv, "[--requests N] [--concurrency C] [--rounds R]");  // tools/bench/args.hpp
    const int n = static_cast<int>(args.integer("--requests", 200, 10, 1'000'000));
    const int concurrency = static_cast<int>(args.integer("--concurrency", 4, 1, 64));
    const int rounds = static_cast<int>(args.integer("--rounds", 3, 1, 10'000));
    args.finish();

    capi::testing::MockOptions mo;
    mo.access_token = "bench-token";
    mo.threads = 1;
    capi::testing::MockGraphServer mock(mo);
    const std::string body = make_body(mo.access_token);

    std::printf("capi transport benchmark: 1000-event batches (%zu bytes) over TLS to the mock on 127.0.0.1\n",
                body.size());
    std::printf("%d requests per run, %d in flight, best of %d rounds\n", n, concurrency, rounds);

    Result pool, fresh;
    for (int r = 0; r < rounds; ++r) {  // alternate, so drift on a shared machine hits both
        auto a = run(mock, body, n, concurrency, false);
        auto b = run(mock, body, n, concurrency, true);
        if (a.failures || b.failures) {
            std::fprintf(stderr, "bench_transport: %zu pooled and %zu fresh requests failed\n",
                         a.failures, b.failures);
            return 1;
        }
        if (a.requests_per_s > pool.requests_per_s) pool = a;
        if (b.requests_per_s > fresh.requests_per_s) fresh = b;
    }
    std::printf("capi keep-alive pool          : %8.1f requests/s  (%8.0f events/s)  client CPU %7.1f us/batch\n",
                pool.requests_per_s, pool.requests_per_s * 1000, pool.cpu_us_per_request);
    std::printf("new connection per request    : %8.1f requests/s  (%8.0f events/s)  client CPU %7.1f us/batch\n",
                fresh.requests_per_s, fresh.requests_per_s * 1000, fresh.cpu_us_per_request);
    std::printf("ratio pool / new connection: %.2fx throughput, %.2fx less client CPU\n",
                pool.requests_per_s / fresh.requests_per_s, fresh.cpu_us_per_request / pool.cpu_us_per_request);
    std::printf("mock: %zu connections accepted in all, %zu events accepted\n", mock.connections(),
                mock.events_accepted());
    return 0;
}
