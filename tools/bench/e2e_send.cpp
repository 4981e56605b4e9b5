// The end-to-end benchmark's phase 2 (declared in e2e_internal.hpp; e2e.cpp runs
// it once per completion token, and through the null transport as phase 4): C
// coroutines on one io_context thread co_await async_send() their share of the
// events; the client runs its network I/O on that io_context. With
// --send-threads N, N such threads, each with its own io_context, C coroutines
// and share of the events (an io_context per core, as a server on N cores runs);
// the client's I/O runs on the first.
#include "e2e_internal.hpp"
#include "caller_path.hpp"
#include "cpu_clock.hpp"
#include "e2e_phase.hpp"
#include "mock_process.hpp"

#include <capi/client.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace capi_bench::e2e {
namespace {

namespace net = boost::asio;
using steady = std::chrono::steady_clock;

struct SendTally {
    std::atomic<std::uint64_t> not_delivered{0};
    std::atomic<std::size_t> remaining{0};
    std::mutex error_mutex;
    std::string first_error;
    std::mutex done_mutex;  // the last coroutine to end wakes wait_senders
    std::condition_variable done_cv;

    void coroutine_ended() {
        if (remaining.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
        std::lock_guard lock(done_mutex);
        done_cv.notify_all();
    }

    void error(std::string what) {
        std::lock_guard lock(error_mutex);
        if (first_error.empty()) first_error = std::move(what);
    }
};

// One coroutine: sends events from the shared source one after another, each
// awaited with `token` (as_tuple(use_awaitable) or deferred), which gives the
// outcome as a tuple, never an exception. One co_await per function, as a
// server writes it: a frame holding both tokens' awaits (a run-time choice
// between them) took 880 bytes instead of 384 (GCC keeps every awaited result
// in a slot of its own). Phase 2's CPU did not move with it (docs/performance.md,
// "The benchmark's own frame").
template <class CompletionToken>
net::awaitable<void> send_share(capi::Client& client, HotEvents& source, SendTally& tally, CompletionToken token) {
    while (auto ev = source.next()) {
        auto [ec, result] = co_await client.async_send(*ev, token);
        if (ec || result.outcome != capi::Outcome::delivered) {
            tally.not_delivered.fetch_add(1, std::memory_order_relaxed);
            tally.error(describe(result));
        }
    }
}

net::awaitable<void> send_share(capi::Client& client, HotEvents& source, SendTally& tally, Token token) {
    return token == Token::deferred ? send_share(client, source, tally, net::deferred)
                                    : send_share(client, source, tally, net::as_tuple(net::use_awaitable));
}

// Spawns n coroutines on `io` sending `source`'s events, counted in `tally`
// (whose `remaining` the caller set for every coroutine of the phase first).
void spawn_senders(net::io_context& io, capi::Client& client, HotEvents& source, SendTally& tally, unsigned n,
                   Token token) {
    for (unsigned c = 0; c < n; ++c) {
        net::co_spawn(io, send_share(client, source, tally, token), [&tally](std::exception_ptr e) {
            if (e) {
                try {
                    std::rethrow_exception(e);
                } catch (const std::exception& x) {
                    tally.error(std::string("coroutine threw: ") + x.what());
                } catch (...) {
                    tally.error("coroutine threw");
                }
            }
            tally.coroutine_ended();
        });
    }
}

// Waits for `tally`'s coroutines; false after a minute without progress. Woken
// by the last one to end, so the wait costs no CPU: this thread's time counts in
// the client's figure (polling the client's stats every millisecond did, about
// 0.1 us per event of a 1.5 s phase).
bool wait_senders(const capi::Client& client, SendTally& tally) {
    std::uint64_t last_done = 0;
    auto last_change = steady::now();
    std::unique_lock lock(tally.done_mutex);
    while (!tally.done_cv.wait_for(lock, std::chrono::seconds(1),
                                   [&] { return tally.remaining.load(std::memory_order_acquire) == 0; })) {
        const auto s = client.stats();
        const std::uint64_t done = s.delivered + s.failed + s.expired + s.dropped;
        if (done != last_done) {
            last_done = done;
            last_change = steady::now();
        } else if (steady::now() - last_change > std::chrono::minutes(1)) {
            return false;
        }
    }
    return true;
}

// The events [first, first + n) split into `parts` consecutive shares, one
// source each (a HotEvents is read by one thread only).
std::vector<std::unique_ptr<HotEvents>> shares(std::size_t first, std::size_t n, unsigned parts) {
    std::vector<std::unique_ptr<HotEvents>> out;
    for (unsigned t = 0; t < parts; ++t)
        out.push_back(std::make_unique<HotEvents>(first + n * t / parts, first + n * (t + 1) / parts));
    return out;
}

// One of the harness's CPU figures (HotEvents::making_seconds: generating the
// data; ::caller_seconds: refilling the events) summed over `sources`.
double sum_of(const std::vector<std::unique_ptr<HotEvents>>& sources, double (HotEvents::*seconds)() const noexcept) {
    double s = 0;
    for (const auto& h : sources) s += ((*h).*seconds)();
    return s;
}

} // namespace

// C coroutines on each of cfg.send_threads io_context threads; the first also
// runs the client's network I/O.
PhaseResult run_send_phase(const Config& cfg, const Target& real_target, std::size_t first, std::size_t warm_first,
                           const std::function<void(PhaseResult&)>& before_timing, Token token,
                           bool null_transport) {
    capi_bench::thread_clock_read_seconds();  // measured now, before anything is timed
    PhaseResult r;
    r.events = cfg.events;
    const unsigned n_threads = std::max(1u, cfg.send_threads);
    auto sources = shares(first, cfg.events, n_threads);  // each read on its own thread only
    auto warm_sources = shares(warm_first, cfg.warmup, n_threads);
    std::vector<std::unique_ptr<net::io_context>> ios;
    std::vector<net::executor_work_guard<net::io_context::executor_type>> guards;
    for (unsigned t = 0; t < n_threads; ++t) {
        ios.push_back(std::make_unique<net::io_context>(1));
        guards.push_back(net::make_work_guard(*ios.back()));
    }
    net::io_context& io = *ios.front();  // the client's I/O runs here
    Target target = real_target;
    // The null transport answers on the coroutines' io_context, as the client's
    // own I/O would run there.
    std::shared_ptr<NullTransport> null;
    if (null_transport) {
        target.mock = nullptr;
        null = std::make_shared<NullTransport>(io.get_executor(), std::chrono::milliseconds(cfg.null_delay_ms));
    }
    auto opts = client_options(cfg, target);
    if (null) opts.custom_transport = null;
    // --client-io own (phase 2 only): the client's I/O on its own thread.
    auto client = cfg.own_io && !null ? std::make_unique<capi::Client>(std::move(opts))
                                      : std::make_unique<capi::Client>(io.get_executor(), std::move(opts));

    SendTally tally, warm_tally;
    const unsigned n_coroutines = cfg.coroutines;
    // Every coroutine of the phase counted before any starts (one could end first).
    auto spawn_all = [&](std::vector<std::unique_ptr<HotEvents>>& from, SendTally& t) {
        t.remaining = std::size_t{n_coroutines} * n_threads;
        for (unsigned i = 0; i < n_threads; ++i) spawn_senders(*ios[i], *client, *from[i], t, n_coroutines, token);
    };
    Progress progress("send", cfg.warmup + cfg.events, *client);
    // The warm-up (as in run_enqueue_phase): the same coroutines' threads and
    // client send cfg.warmup events first, reported apart.
    const double warm_cpu0 = process_cpu_seconds();
    std::vector<std::thread> runners;
    for (auto& c : ios)
        runners.emplace_back([&c = *c] {
            pthread_setname_np(pthread_self(), "coroutines");
            c.run();
        });
    if (cfg.warmup != 0) {
        spawn_all(warm_sources, warm_tally);
        r.timed_out = !wait_senders(*client, warm_tally);
    }
    r.warmup_events = cfg.warmup;
    r.warmup_cpu_seconds =
        process_cpu_seconds() - warm_cpu0 - sum_of(warm_sources, &HotEvents::making_seconds) -
        sum_of(warm_sources, &HotEvents::caller_seconds);
    // The coroutines' threads are idle now (every warm-up event has its outcome).
    before_timing(r);
    const capi::Stats stats0 = client->stats();
    const auto before = mock_counts(target);

    const double counting0 = null ? null->counting_seconds() : 0.0;
    const std::uint64_t null_events0 = null ? null->events() : 0;
    const auto split0 = thread_cpu_by_name();
    const std::uint64_t faults0 = capi_bench::process_page_faults();
    const double cpu0 = process_cpu_seconds();
    const auto t0 = steady::now();
    if (!r.timed_out) {
        spawn_all(sources, tally);
        r.timed_out = !wait_senders(*client, tally);
    }
    const auto t1 = steady::now();
    const double cpu1 = process_cpu_seconds();
    r.page_faults = capi_bench::process_page_faults() - faults0;
    record_split(r, split0, thread_cpu_by_name());
    progress.stop();

    r.seconds = std::chrono::duration<double>(t1 - t0).count();
    // The coroutines are done (tally.remaining, acquire): the sources are ours to read.
    r.making_seconds = sum_of(sources, &HotEvents::making_seconds);
    r.caller_path_seconds = sum_of(sources, &HotEvents::caller_seconds);
    r.cpu_seconds = cpu1 - cpu0 - r.making_seconds - r.caller_path_seconds - (null ? null->counting_seconds() - counting0 : 0.0);
    r.stats = since(client->stats(), stats0);
    if (null) r.null_events = null->events() - null_events0;
    r.mock = mock_counts(target);
    subtract_mock(r, before);
    r.not_delivered = tally.not_delivered.load() + warm_tally.not_delivered.load();
    r.first_error = warm_tally.first_error.empty() ? tally.first_error : warm_tally.first_error;
    // Shut down while the io_context still runs, so the client can close cleanly.
    client->shutdown(std::chrono::seconds(5));
    // After a timeout, coroutines still hold the client: shutdown failed their
    // events, so they run to the end at once; the client must outlive them.
    auto pending = [&] {
        return tally.remaining.load(std::memory_order_acquire) + warm_tally.remaining.load(std::memory_order_acquire);
    };
    for (int i = 0; i < 10'000 && pending() != 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    if (pending() != 0) {
        std::fprintf(stderr, "bench: async_send operations still pending 10 s after shutdown; giving up\n");
        std::fflush(stdout);
        std::_Exit(1);
    }
    client.reset();
    guards.clear();
    for (auto& c : ios) c->stop();
    for (auto& t : runners) t.join();
    if (r.timed_out) r.not_delivered = r.events - std::min<std::uint64_t>(r.events, r.stats.delivered);
    return r;
}

} // namespace capi_bench::e2e
