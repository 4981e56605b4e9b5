// One async_send operation's cost outside the pipeline: what Client::async_send
// adds per event for its completion (include/capi/detail/client_impl.hpp), against
// the straightforward adapter, in one run.
//
//   bench_async_op [--ops N] [--rounds R]   (defaults: 1000 operations, 300 rounds)
//
// A round is one batch's life: N operations are made (a handler bound to an
// io_context, as use_awaitable's and deferred's are), completed with a
// SendResult each, then run by io_context::run on this thread.
//   capi:   make_send_op, completion_chain (one post for the batch), the
//           handlers run from that one call.
//   simple: a shared std::function per operation, completed by one asio::post
//           per operation carrying its result (what an adapter written the
//           obvious way does).
// Contenders alternate within each round and the best round of each is
// reported (the machine is shared: a slow spell hits both).
#include <capi/client.hpp>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace {

namespace asio = boost::asio;
using clock_type = std::chrono::steady_clock;

capi::SendResult delivered(std::size_t i) {
    capi::SendResult r;
    r.outcome = capi::Outcome::delivered;
    r.attempts = 1;
    r.event_id = "event-" + std::to_string(i);  // in the small-string buffer, as most ids
    return r;
}

double ns_per_op(clock_type::time_point t0, std::size_t n) {
    return std::chrono::duration<double, std::nano>(clock_type::now() - t0).count() / static_cast<double>(n);
}

double capi_round(asio::io_context& io, std::size_t n, unsigned long& sum) {
    const asio::any_io_executor ex = io.get_executor();
    std::vector<std::shared_ptr<capi::detail::send_op>> ops(n);
    const auto t0 = clock_type::now();
    for (std::size_t i = 0; i < n; ++i)
        ops[i] = capi::detail::make_send_op(
            asio::bind_executor(ex, [&sum](std::error_code, capi::SendResult r) { sum += r.attempts; }), ex);
    {
        capi::detail::completion_chain chain;
        for (std::size_t i = 0; i < n; ++i) chain.complete(std::move(ops[i]), delivered(i));
    }
    io.restart();
    io.run();
    return ns_per_op(t0, n);
}

double simple_round(asio::io_context& io, std::size_t n, unsigned long& sum) {
    using handler = std::function<void(std::error_code, capi::SendResult)>;
    const asio::any_io_executor ex = io.get_executor();
    std::vector<std::shared_ptr<handler>> ops(n);
    const auto t0 = clock_type::now();
    for (std::size_t i = 0; i < n; ++i)
        ops[i] = std::make_shared<handler>([&sum](std::error_code, capi::SendResult r) { sum += r.attempts; });
    for (std::size_t i = 0; i < n; ++i)
        asio::post(ex, [h = std::move(ops[i]), r = delivered(i)]() mutable { (*h)(std::error_code{}, std::move(r)); });
    io.restart();
    io.run();
    return ns_per_op(t0, n);
}

} // namespace

int main(int argc, char** argv) {
    std::size_t n = 1000;
    int rounds = 300;
    for (int i = 1; i < argc; ++i) {
        const bool has_value = i + 1 < argc;
        if (std::strcmp(argv[i], "--ops") == 0 && has_value) {
            n = std::strtoul(argv[++i], nullptr, 10);
        } else if (std::strcmp(argv[i], "--rounds") == 0 && has_value) {
            rounds = std::atoi(argv[++i]);
        } else {
            std::fprintf(stderr, "usage: bench_async_op [--ops N] [--rounds R]\n");
            return 2;
        }
    }
    if (n == 0 || rounds <= 0) {
        std::fprintf(stderr, "bench_async_op: --ops and --rounds must be positive\n");
        return 2;
    }
    asio::io_context io(1);
    unsigned long capi_sum = 0, simple_sum = 0;
    double capi_best = 1e30, simple_best = 1e30;
    for (int r = 0; r < rounds; ++r) {
        capi_best = std::min(capi_best, capi_round(io, n, capi_sum));
        simple_best = std::min(simple_best, simple_round(io, n, simple_sum));
    }
    const unsigned long expected = static_cast<unsigned long>(n) * static_cast<unsigned long>(rounds);
    if (capi_sum != expected || simple_sum != expected) {
        std::fprintf(stderr, "bench_async_op: handlers ran %lu and %lu times, expected %lu each\n", capi_sum,
                     simple_sum, expected);
        return 1;
    }
    std::printf("one async_send operation's completion, %zu per batch, best of %d rounds:\n", n, rounds);
    std::printf("  capi   (send_one_op, one post per batch): %7.1f ns/op\n", capi_best);
    std::printf("  simple (std::function, one post per op) : %7.1f ns/op\n", simple_best);
    std::printf("  capi is %.2fx faster\n", simple_best / capi_best);
    return 0;
}
