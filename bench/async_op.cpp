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
//
//   bench_async_op --coroutines C [--rounds R] [--evict-mb M]
//
// The same operation awaited from coroutines, against the least such an await
// can cost: C coroutines each loop on `co_await op(as_tuple(use_awaitable))`,
// all completed together in one post per round (one batch's answer), so a
// round is C completions, resumptions and the next C initiations.
//   capi: make_send_op, completion_chain, as async_send does.
//   bare: the handler itself kept in a vector and called from the one post,
//         no operation object, no work counted: what Asio's coroutine
//         machinery costs on its own.
// --evict-mb M writes M MB of other memory between rounds, as phase 2's TLS
// pass over a body does, so frames and operations are cold when resumed.
#include <capi/client.hpp>

#include "args.hpp"
#include "median.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

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

// --- awaited from coroutines ---------------------------------------------------

using signature = void(std::error_code, capi::SendResult);
constexpr auto await_token = asio::as_tuple(asio::use_awaitable);

// The waiting operations of one contender, completed together by complete_all.
struct Waiters {
    std::size_t waiting = 0;
    bool stop = false;     // the coroutines return after their next resumption
    unsigned long sum = 0; // attempts counted by the resumed coroutines
    void (*complete_all)(Waiters&) = nullptr;
};

// bare: the handlers themselves, of the one type use_awaitable gives them.
template <class Handler>
std::vector<Handler>& bare_list() {
    static std::vector<Handler> v;
    return v;
}
template <class Handler>
void bare_complete_all(Waiters&) {
    std::vector<Handler> now;
    now.swap(bare_list<Handler>());
    bare_list<Handler>().reserve(now.size());
    std::size_t i = 0;
    for (auto& h : now) std::move(h)(std::error_code{}, delivered(i++));
}
template <class Token>
auto bare_wait(Waiters& w, Token&& token) {
    return asio::async_initiate<Token, signature>(
        [&w](auto handler) {
            using H = decltype(handler);
            bare_list<H>().push_back(std::move(handler));
            w.complete_all = &bare_complete_all<H>;
            ++w.waiting;
        },
        token);
}

// capi: async_send's operation and completion_chain.
std::vector<std::shared_ptr<capi::detail::send_op>> capi_ops;
void capi_complete_all(Waiters&) {
    std::vector<std::shared_ptr<capi::detail::send_op>> now;
    now.swap(capi_ops);
    capi_ops.reserve(now.size());
    capi::detail::completion_chain chain;
    for (std::size_t i = 0; i < now.size(); ++i) chain.complete(std::move(now[i]), delivered(i));
}
template <class Token>
auto capi_wait(Waiters& w, const asio::any_io_executor& ex, Token&& token) {
    return asio::async_initiate<Token, signature>(
        [&w, &ex](auto handler) {
            capi_ops.push_back(capi::detail::make_send_op(std::move(handler), ex));
            w.complete_all = &capi_complete_all;
            ++w.waiting;
        },
        token);
}

// One coroutine of a contender: awaits `wait(await_token)` until told to stop.
template <class Wait>
asio::awaitable<void> await_loop(Waiters& w, Wait wait) {
    for (;;) {
        auto [ec, r] = co_await wait(await_token);
        w.sum += r.attempts;
        if (w.stop) co_return;
    }
}

// One round: the C waiting operations completed in one post, each coroutine
// resumed and waiting again. Returns ns per await.
double await_round(asio::io_context& io, Waiters& w, std::size_t c) {
    const auto t0 = clock_type::now();
    w.waiting = 0;
    asio::post(io, [&w] { w.complete_all(w); });
    while (w.waiting != c) io.poll_one();
    return ns_per_op(t0, c);
}

// Writes every byte of `buf`, memory kept for the purpose (as a TLS pass over
// a body writes its records).
void evict(std::vector<unsigned char>& buf, unsigned round) {
    if (buf.empty()) return;
    std::memset(buf.data(), static_cast<int>(round), buf.size());
    asm volatile("" : : "r"(buf.data()) : "memory");
}

int await_bench(std::size_t c, int rounds, std::size_t evict_mb) {
    asio::io_context io(1);
    const asio::any_io_executor ex = io.get_executor();
    Waiters bare, capi;
    for (std::size_t i = 0; i < c; ++i) {
        asio::co_spawn(io, await_loop(bare, [&bare](auto token) { return bare_wait(bare, token); }), asio::detached);
        asio::co_spawn(io, await_loop(capi, [&capi, &ex](auto token) { return capi_wait(capi, ex, token); }),
                       asio::detached);
    }
    while (bare.waiting != c || capi.waiting != c) io.poll_one();
    std::vector<unsigned char> other(evict_mb << 20);
    std::vector<double> bare_ns, capi_ns;
    for (int r = 0; r < rounds; ++r) {
        evict(other, static_cast<unsigned>(r));
        capi_ns.push_back(await_round(io, capi, c));
        evict(other, static_cast<unsigned>(r));
        bare_ns.push_back(await_round(io, bare, c));
    }
    bare.stop = capi.stop = true;  // one more resumption each, then every coroutine returns
    for (Waiters* w : {&capi, &bare}) asio::post(io, [w] { w->complete_all(*w); });
    io.run();
    const unsigned long expected = static_cast<unsigned long>(c) * static_cast<unsigned long>(rounds + 1);
    if (bare.sum != expected || capi.sum != expected) {
        std::fprintf(stderr, "bench_async_op: coroutines resumed %lu and %lu times, expected %lu each\n", capi.sum,
                     bare.sum, expected);
        return 1;
    }
    const double cb = *std::min_element(capi_ns.begin(), capi_ns.end()), bb = *std::min_element(bare_ns.begin(), bare_ns.end());
    const double cm = capi_bench::median(capi_ns), bm = capi_bench::median(bare_ns);
    std::printf("one co_await of an operation from %zu coroutines, all completed in one post per round, %d rounds%s:\n", c,
                rounds, evict_mb == 0 ? "" : (", " + std::to_string(evict_mb) + " MB written between rounds").c_str());
    std::printf("  capi (send_one_op, completion_chain)        : best %7.1f, median %7.1f ns/await\n", cb, cm);
    std::printf("  bare (the handler kept and called, no op)   : best %7.1f, median %7.1f ns/await\n", bb, bm);
    std::printf("  capi's operation adds %.1f ns (best), %.1f ns (median) to Asio's own %.1f/%.1f\n", cb - bb, cm - bm,
                bb, bm);
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    capi_bench::Args args(argc, argv, "[--ops N | --coroutines C [--evict-mb M]] [--rounds R]");  // tools/bench/args.hpp
    const bool awaited = args.given("--coroutines");
    const auto coroutines = static_cast<std::size_t>(args.integer("--coroutines", 1000, 1, 1'000'000));
    const auto n = static_cast<std::size_t>(args.integer("--ops", 1000, 1, 10'000'000));
    const auto evict_mb = static_cast<std::size_t>(args.integer("--evict-mb", 0, 0, 4096));
    const int rounds = static_cast<int>(args.integer("--rounds", 300, 1, 10'000));
    args.finish();
    if (awaited && args.given("--ops"))
        args.fail("--ops", "not with --coroutines (each coroutine awaits one operation at a time)");
    if (!awaited && args.given("--evict-mb")) args.fail("--evict-mb", "goes with --coroutines");
    if (awaited) return await_bench(coroutines, rounds, evict_mb);
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
