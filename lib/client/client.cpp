// capi::Client: the public methods, and the pipeline's stages wired together
// (Pipeline, the state behind Client::impl, impl.hpp): start and shutdown.
//
// Pipeline (a stage per file)
//   intake      intake.cpp      producers prepare the event on their own thread
//                               (validate, normalize, serialize with digests
//                               pending: BatchEncoder::prepare, so the Event is
//                               freed where it was made), wrap it in an Envelope,
//                               append it to the calling thread's lane (below), or
//                               push it into the bounded lock-free MpmcQueue
//                               (overflow policy when full).
//   batchers    batcher.cpp     N threads; each bulk-pops envelopes and appends
//                               them to its own partial batches (one BatchEncoder
//                               per destination, from the encoder pool); seals at
//                               max_batch_events, before max_batch_bytes, or
//                               `linger` after a batch's first event. Sealed
//                               batches go to the dispatcher. When the dispatcher
//                               holds too many batches the batchers stop popping,
//                               so the queue fills and the overflow policy applies
//                               (back pressure, like librdkafka's
//                               queue.buffering.max.messages).
//               lanes           (batcher.cpp) Options::caller_batches: a caller
//                               thread's own partial batches, appended to and
//                               sealed (when full) on that thread under the lane's
//                               lock; the batchers seal what lingers and, at a seal
//                               request, every lane before acknowledging it. Past
//                               the back pressure plus queue_capacity events'
//                               worth of batches, callers take the queue.
//   flush       flush.cpp       flush markers through the queue, the seal
//                               requests the batchers acknowledge, the epochs of
//                               outstanding batches (STYLE rule 4).
//   dispatcher  dispatcher.cpp  on the io executor: at most the bound
//                               (max_batches_in_flight or its default) batches in
//                               the Sender at once, and per destination at most its
//                               adaptive limit (limiter.cpp); the rest wait, FIFO
//                               per destination. Code 100 on a
//                               batch of more than one event splits it into halves
//                               rebuilt from the events' serialized JSON (no
//                               second hashing), recursively.
//   outcomes    outcomes.cpp    every accepted event is settled exactly once
//                               (counters, histogram, its completion, the delivery
//                               report); stats(). A batch is settled once: its
//                               `settled` flag decides between the Sender's
//                               completion and shutdown's forced settlement.
//   Types that travel between the stages (Envelope, Pending, Batch): pipeline.hpp.
//
// Locks: which one guards what
//   Destinations::mu_     (pipeline.hpp)    the destinations events named
//   Batchers::wake_mu_    (batcher.hpp)     the batchers' sleep and wake-up (with
//                                           the atomics sleepers_, wake_on_next_);
//                                           a batcher's partial batches are its
//                                           thread's alone, no lock
//   Lane::mu              (batcher.hpp)     a lane's partial batches: its caller
//                                           per event, a batcher sealing it, shutdown
//   EncoderPool::mu       (batcher.hpp)     the spare encoders and event lists
//   Intake::Spares::mu_   (intake.hpp)      the spare envelopes
//   Flush::mu_            (flush.hpp)       pending flushes, outstanding batches
//                                           per epoch, the batchers'
//                                           acknowledgements, seal_req_'s writes
//   Dispatcher::mu_       (dispatcher.hpp)  waiting and live batches, the
//                                           in-flight counts, the limiters, closing_
//   RefusedTokens::mu_    (dispatcher.hpp)  the tokens Meta refused
//   Pipeline::shutdown_mu (impl.hpp)        shut, shut_result; held through shutdown()
//   MatchRegistry::mu_    (outcomes.hpp)    the staging encoders' match-quality totals
//   The queue, the intake gate and the outcome counters are lock-free.
//
// Lock order
//   shutdown_mu -> Lane::mu -> { Destinations::mu_, Flush::mu_, Dispatcher::mu_,
//                                RefusedTokens::mu_ } -> EncoderPool::mu
//   shutdown_mu -> { Destinations::mu_, Batchers::wake_mu_, Flush::mu_,
//                    Dispatcher::mu_, RefusedTokens::mu_ } -> EncoderPool::mu
//   Batchers::wake_mu_ is never taken under a Lane::mu (a caller wakes a
//   batcher after it let its lane go), nor a Lane::mu under another.
//   Intake::Spares::mu_ and MatchRegistry::mu_ are leaves too: nothing else is
//   taken while either is held.
//   No two of the locks in braces are ever held together: a stage releases its
//   lock before it calls into another stage. EncoderPool::mu is a leaf (a batch
//   freed under a lock gives its encoder back). No user code (completion handler,
//   delivery report, flush callback) runs under a lock other than shutdown_mu;
//   completions are always posted.
#include "client/impl.hpp"
#include "errors/invalid_option.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#if defined(__linux__)
#include <pthread.h>
#endif

namespace capi {

namespace asio = boost::asio;
using pipeline::steady;
using detail::invalid_option;

namespace pipeline {

void name_thread(const char* name) noexcept {
#if defined(__linux__)
    pthread_setname_np(pthread_self(), name);
#else
    (void)name;
#endif
}

std::error_code error_of(const std::exception_ptr& e) {
    try {
        std::rethrow_exception(e);
    } catch (const std::bad_alloc&) {
        return std::make_error_code(std::errc::not_enough_memory);
    } catch (const std::system_error& se) {
        return se.code();
    } catch (...) {
        return std::make_error_code(std::errc::state_not_recoverable);
    }
}

void run_all(std::vector<std::function<void()>>& fns) {
    for (auto& f : fns) {
        try {
            f();
        } catch (...) {
        }
    }
}

} // namespace pipeline

namespace {

/// An all-empty Options::destination means none: every event names its own.
bool no_default(const Destination& d) { return d == Destination{}; }

void check_options(const Options& o, bool owns_io) {
    if (!no_default(o.destination)) {
        if (!pipeline::all_digits(o.destination.pixel_id))
            invalid_option("destination.pixel_id: must be a non-empty string of digits");
        if (o.destination.access_token.empty()) invalid_option("destination.access_token: must not be empty");
    }
    if (o.queue_capacity < 2) invalid_option("queue_capacity: must be at least 2");
    if (o.queue_capacity > (std::size_t{1} << 30)) invalid_option("queue_capacity: must be at most 2^30");
    if (o.encode.max_batch_events < 1 || o.encode.max_batch_events > 1000)
        invalid_option("encode.max_batch_events: must be 1..1000 (Meta's limit)");
    if (o.linger.count() <= 0) invalid_option("linger: must be positive");
    if (o.max_batch_bytes < 64 * 1024) invalid_option("max_batch_bytes: must be at least 64 KiB");
    if (o.encode.validation.max_event_bytes > o.max_batch_bytes)
        invalid_option("encode.validation.max_event_bytes: must not exceed max_batch_bytes");
    if (owns_io && o.io_threads < 1) invalid_option("io_threads: must be at least 1");
    if (o.io_threads > 256) invalid_option("io_threads: must be at most 256");
    if (o.batchers > 256) invalid_option("batchers: must be at most 256");
    if (o.retry.max_attempts < 1) invalid_option("retry.max_attempts: must be at least 1");
    if (o.transport.max_in_flight < 1) invalid_option("transport.max_in_flight: must be at least 1");
    if (o.max_batches_in_flight > 65536) invalid_option("max_batches_in_flight: must be at most 65536");
    const auto& cc = o.concurrency;
    if (cc.min < 1) invalid_option("concurrency.min: must be at least 1");
    if (cc.initial < cc.min) invalid_option("concurrency.initial: must be at least concurrency.min");
    // Written as negations so that NaN fails too.
    if (!(cc.backoff > 0 && cc.backoff < 1)) invalid_option("concurrency.backoff: must be between 0 and 1 (exclusive)");
    if (!(cc.rtt_tolerance >= 1)) invalid_option("concurrency.rtt_tolerance: must be at least 1");
}

} // namespace

void pipeline::Pipeline::start(std::optional<asio::any_io_executor> user_ex) {
    if (user_ex) {
        ex = *user_ex;
    } else {
        owned_io = std::make_unique<asio::io_context>(static_cast<int>(opts.io_threads));
        ex = owned_io->get_executor();
        io_work.emplace(owned_io->get_executor());
    }
    transport = opts.custom_transport ? opts.custom_transport
                                      : std::shared_ptr<Transport>(make_https_transport(ex, opts.transport));
    transport = dispatcher.observe(std::move(transport));  // adaptive concurrency sees every attempt
    sender = std::make_unique<Sender>(ex, *transport, opts.retry, opts.clock);
    if (!no_default(opts.destination)) dests.set_default(opts.destination);
    unsigned n = opts.batchers;
    if (n == 0) {
        const unsigned hc = std::thread::hardware_concurrency();
        n = hc > 1 ? hc - 1 : 1;
    }
    dispatcher.start(n);
    flush.start(n);
    batchers.start(n);
    if (owned_io) {
        for (unsigned i = 0; i < opts.io_threads; ++i)
            io_threads.emplace_back([io = owned_io.get()] {
                pipeline::name_thread("capi-io");
                for (;;) {
                    try {
                        io->run();
                        return;
                    } catch (...) {
                        // A user handler threw: keep the loop alive (rule 9).
                    }
                }
            });
    }
}

bool pipeline::Pipeline::on_own_io_thread() const {
    const auto me = std::this_thread::get_id();
    return std::any_of(io_threads.begin(), io_threads.end(),
                       [&](const std::thread& t) { return t.get_id() == me; });
}

bool pipeline::Pipeline::shutdown(std::chrono::milliseconds timeout) {
    std::lock_guard guard(shutdown_mu);
    if (shut) return shut_result;
    const auto deadline = steady::now() + timeout;
    intake.close();

    // Drain within the bound (not from our own io thread: it would wait on itself).
    bool drained = !on_own_io_thread() && flush.flush_until(deadline);

    // Stop the batchers; what they and the queue still hold fails as shutdown.
    batchers.stop_and_join();
    const auto down = pipeline::make_result(Outcome::failed, make_error_code(errc::shutdown));
    pipeline::EnvelopePtr env;
    while (intake.try_pop(env)) {
        if (env->marker) continue;
        auto p = outcomes.pending_of(*env);
        outcomes.settle(p, down, false, true);
        drained = false;
    }
    if (!batchers.settle_held(down)) drained = false;
    // Batches waiting or in the Sender (backoff or on the wire).
    const auto left = dispatcher.close();
    sender->close();
    transport->close();
    for (auto& b : left) {
        if (!b->settled.load()) drained = false;
        dispatcher.settle_batch(*b, down, true);
    }
    // Every accepted event has its outcome: complete the remaining flushes.
    flush.batchers_gone();

    if (owned_io) {
        // Let posted reports and completions run, then stop the threads (a
        // request hanging on the wire would otherwise keep run() going).
        const auto report_deadline = std::max(deadline, steady::now() + std::chrono::milliseconds(500));
        while (outcomes.pending_reports() != 0 && steady::now() < report_deadline && !on_own_io_thread())
            std::this_thread::sleep_for(std::chrono::microseconds(200));
        io_work.reset();
        owned_io->stop();
        const auto me = std::this_thread::get_id();
        for (auto& t : io_threads) {
            if (!t.joinable()) continue;
            if (t.get_id() == me) t.detach();  // shutdown from our own io thread
            else t.join();
        }
        if (!on_own_io_thread()) {
            // Completions already posted run here, on the client's io_context.
            owned_io->restart();
            for (int i = 0; i < 100; ++i) {
                try {
                    if (owned_io->poll() == 0) break;
                } catch (...) {
                }
            }
        }
    }
    shut = true;
    shut_result = drained;
    return drained;
}

Client::Client(Options options) {
    check_options(options, true);
    impl_ = std::make_shared<impl>(std::move(options));
    impl_->start(std::nullopt);
}

Client::Client(boost::asio::any_io_executor executor, Options options) {
    check_options(options, false);
    impl_ = std::make_shared<impl>(std::move(options));
    impl_->start(executor);
}

Client::~Client() {
    if (!impl_) return;
    try {
        impl_->shutdown(std::chrono::seconds(5));
    } catch (...) {
    }
    if (impl_->owned_io) {
        // Destroy the I/O objects while their io_context still exists, then the
        // io_context (which destroys the handlers still queued in it).
        impl_->sender.reset();
        impl_->transport.reset();
        impl_->owned_io.reset();
    }
}

EnqueueResult Client::enqueue(const Event& ev) { return impl_->intake.enqueue(ev, std::nullopt); }
EnqueueResult Client::enqueue(const Event& ev, Destination destination) {
    return impl_->intake.enqueue(ev, std::move(destination));
}

Client::prepared Client::prepare_(const Event& ev, std::optional<Destination> dest) {
    return prepared(impl_->intake.prepare_send(ev, std::move(dest)).release());
}
void Client::discard_(void* env) noexcept { delete static_cast<pipeline::Envelope*>(env); }
void Client::send_(prepared p, std::shared_ptr<detail::send_op> op) {
    pipeline::EnvelopePtr env(static_cast<pipeline::Envelope*>(p.release()));
    impl_->intake.send(std::move(env), std::move(op));
}
void Client::send_many_(std::vector<Event> events, std::function<void(std::vector<SendResult>)> done) {
    impl_->intake.send_many(std::move(events), std::move(done));
}
void Client::flush_(std::function<void()> done) { impl_->flush.flush(std::move(done)); }

bool Client::flush(std::chrono::milliseconds timeout) {
    if (impl_->on_own_io_thread()) return false;  // would wait on itself
    return impl_->flush.flush_until(steady::now() + timeout);
}

bool Client::shutdown(std::chrono::milliseconds timeout) { return impl_->shutdown(timeout); }

Stats Client::stats() const {
    auto s = impl_->outcomes.stats();
    impl_->dispatcher.fill_stats(s);
    return s;
}

boost::asio::any_io_executor Client::get_executor() const noexcept { return impl_->ex; }

} // namespace capi
