// Flush (flush.hpp): markers, seal requests and epochs.
#include "client/impl.hpp"

#include <boost/asio/steady_timer.hpp>

#include <condition_variable>

namespace capi::pipeline {

namespace asio = boost::asio;

void Flush::on_marker(std::uint64_t gen) {
    {
        std::lock_guard lock(mu_);
        const auto r = seal_req_.load(std::memory_order_relaxed) + 1;
        seal_req_.store(r, std::memory_order_release);
        if (auto it = flushes_.find(gen); it != flushes_.end()) it->second.req = r;
    }
    c_.batchers.wake_all();
}

void Flush::ready_flushes(std::vector<std::function<void()>>& out) {
    std::uint64_t min_acked = never;
    if (!batchers_gone_)
        for (const auto a : acked_) min_acked = std::min(min_acked, a);
    const std::uint64_t min_open = outstanding_.empty() ? never : outstanding_.begin()->first;
    for (auto it = flushes_.begin(); it != flushes_.end();) {
        const auto r = it->second.req;
        if (batchers_gone_ || (r != 0 && min_acked >= r && min_open >= r)) {
            out.push_back(std::move(it->second.done));
            it = flushes_.erase(it);
        } else {
            ++it;
        }
    }
}

void Flush::epoch_open(std::uint64_t epoch, std::size_t n) {
    std::lock_guard lock(mu_);
    outstanding_[epoch] += n;
}
void Flush::epoch_done(std::uint64_t epoch) {
    std::vector<std::function<void()>> done;
    {
        std::lock_guard lock(mu_);
        auto it = outstanding_.find(epoch);
        if (it != outstanding_.end() && --it->second == 0) outstanding_.erase(it);
        ready_flushes(done);
    }
    run_all(done);
}

void Flush::flush(std::function<void()> done) {
    std::uint64_t gen;
    {
        std::lock_guard lock(mu_);
        if (batchers_gone_) {
            // Shut down: everything accepted has its outcome already.
            gen = 0;
        } else {
            gen = ++next_gen_;
            flushes_[gen].done = std::move(done);
        }
    }
    if (gen == 0) {
        done();
        return;
    }
    auto env = c_.intake.take_envelope();
    env->marker = true;
    env->flush_gen = gen;
    push_marker(std::move(env), std::chrono::microseconds(100));
}

/// The marker must get in even when the queue is full: retried on a timer.
void Flush::push_marker(EnvelopePtr env, std::chrono::microseconds delay) {
    if (c_.batchers.stopping()) return;  // shutdown completes the flush
    if (c_.intake.try_push(std::move(env))) {
        c_.batchers.wake_one();
        return;
    }
    auto timer = std::make_shared<asio::steady_timer>(c_.ex, delay);
    auto next = std::min<std::chrono::microseconds>(delay * 2, std::chrono::milliseconds(5));
    timer->async_wait([self = c_.shared_from_this(), timer, env = std::move(env), next](
                          const boost::system::error_code&) mutable {
        self->flush.push_marker(std::move(env), next);
    });
}

bool Flush::flush_until(steady::time_point deadline) {
    struct W {
        std::mutex m;
        std::condition_variable cv;
        bool done = false;
    };
    auto w = std::make_shared<W>();
    flush([w] {
        std::lock_guard lock(w->m);
        w->done = true;
        w->cv.notify_all();
    });
    std::unique_lock lock(w->m);
    return w->cv.wait_until(lock, deadline, [&] { return w->done; });
}

void Flush::ack(std::size_t idx, std::uint64_t req) {
    std::vector<std::function<void()>> done;
    {
        std::lock_guard lock(mu_);
        acked_[idx] = req;
        ready_flushes(done);
    }
    run_all(done);
}

void Flush::batchers_gone() {
    std::vector<std::function<void()>> done;
    {
        std::lock_guard lock(mu_);
        batchers_gone_ = true;
        ready_flushes(done);
    }
    run_all(done);
}

} // namespace capi::pipeline
