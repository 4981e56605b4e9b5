// Dispatcher (dispatcher.hpp): sealed batches through the Sender, the replies,
// splits and resends.
#include "client/impl.hpp"

#include <capi/retry.hpp>

#include <boost/asio/post.hpp>

namespace capi::pipeline {

namespace asio = boost::asio;

batch_action batch_decision(std::error_code ec, const PostResult& res, std::size_t batch_events) {
    // Graph codes are read in one place, the transport's policy (retry.hpp).
    switch (capi::decide(ec, res, batch_events)) {
    case Action::refuse_destination: return batch_action::refuse_destination;
    case Action::split: return batch_action::split;
    default: break;
    }
    return ec == errc::expired ? batch_action::resend_unexpired : batch_action::settle;
}

void Dispatcher::start(unsigned batchers) {
    // Sealed batches handed to the Sender at once: more than the connections
    // can carry only hold ~1 MB bodies (and their allocations) while they wait.
    cap_ = opts_.max_batches_in_flight != 0
               ? opts_.max_batches_in_flight
               : std::min<std::size_t>(opts_.transport.max_in_flight,
                                       2 * std::max<std::size_t>(opts_.transport.max_connections, 1));
    backpressure_at_ = cap_ + batchers + 1;
}

std::vector<BatchPtr> Dispatcher::close() {
    std::vector<BatchPtr> left;
    std::lock_guard lock(mu_);
    closing_ = true;
    for (auto& [_, b] : live_) left.push_back(b);
    waiting_.clear();
    return left;
}

void Dispatcher::submit(BatchPtr b, bool on_io) {
    bool start_now = false, refused = false;
    {
        std::lock_guard lock(mu_);
        if (closing_) {
            refused = true;
        } else {
            live_.emplace(b.get(), b);
            live_count_.store(live_.size(), std::memory_order_relaxed);
            if (inflight_ < cap_) {
                ++inflight_;
                start_now = true;
            } else {
                waiting_.push_back(b);
            }
        }
    }
    if (refused) {
        settle_batch(*b, make_result(Outcome::failed, make_error_code(errc::shutdown)), on_io);
        return;
    }
    if (!start_now) return;
    if (on_io) {
        start_batch(std::move(b));
    } else {
        try {
            asio::post(c_.ex, [self = c_.shared_from_this(), b]() mutable {
                self->dispatcher.start_batch(std::move(b));
            });
        } catch (...) {
            finish_slot(*b);
            settle_batch(*b, make_result(Outcome::failed, error_of(std::current_exception())), false);
        }
    }
}

void Dispatcher::settle_batch(Batch& b, const SendResult& r, bool on_io) {
    if (b.settled.exchange(true, std::memory_order_acq_rel)) return;
    forget(b);
    c_.outcomes.settle_all(b.events, r, true, on_io);
    c_.flush.epoch_done(b.epoch);
}

void Dispatcher::forget(Batch& b) {
    bool eased = false;
    {
        std::lock_guard lock(mu_);
        const auto before = live_.size();
        live_.erase(&b);
        live_count_.store(live_.size(), std::memory_order_relaxed);
        eased = before >= backpressure_at_ && live_.size() < backpressure_at_;
    }
    if (eased) c_.batchers.wake_one();  // the batchers may pop again
}

/// A batch left the Sender: its slot goes to the next waiting batch.
void Dispatcher::finish_slot(Batch&) {
    BatchPtr next;
    {
        std::lock_guard lock(mu_);
        if (inflight_ > 0) --inflight_;
        if (!closing_ && !waiting_.empty()) {
            next = std::move(waiting_.front());
            waiting_.pop_front();
            ++inflight_;
        }
    }
    if (c_.batchers.any_asleep()) c_.batchers.wake_all();  // back pressure eased
    if (next) {
        try {
            asio::post(c_.ex, [self = c_.shared_from_this(), next]() mutable {
                self->dispatcher.start_batch(std::move(next));
            });
        } catch (...) {
            finish_slot(*next);
            settle_batch(*next, make_result(Outcome::failed, error_of(std::current_exception())), false);
        }
    }
}

/// @locality io executor.
void Dispatcher::start_batch(BatchPtr b) {
    if (b->settled.load(std::memory_order_acquire)) {
        finish_slot(*b);
        return;
    }
    if (auto refused = refused_.find(b->dest->dest.access_token)) {
        finish_slot(*b);
        auto r = make_result(Outcome::failed, make_error_code(errc::auth_error));
        r.graph = std::move(refused);
        settle_batch(*b, r, true);
        return;
    }
    try {
        PostRequest req;
        req.pixel_id = b->dest->dest.pixel_id;
        // Sent from the encoder's buffer: the batch (and so its encoder) lives
        // as long as the transport holds the body.
        req.shared_body = {b->body, b};
        req.appsecret_proof = b->dest->proof;
        c_.outcomes.batches.fetch_add(1, std::memory_order_relaxed);
        c_.outcomes.bytes.fetch_add(b->body.size(), std::memory_order_relaxed);
        c_.outcomes.batch_events.record(b->events.size());
        const auto not_after = b->not_after;
        c_.sender->async_post(std::move(req), not_after,
                              [self = c_.shared_from_this(), b](std::error_code ec, PostResult res) mutable {
                                  self->dispatcher.on_result(std::move(b), ec, std::move(res));
                              });
    } catch (...) {
        finish_slot(*b);
        settle_batch(*b, make_result(Outcome::failed, error_of(std::current_exception())), true);
    }
}

/// The Sender's completion. @locality io executor.
void Dispatcher::on_result(BatchPtr b, std::error_code ec, PostResult res) {
    finish_slot(*b);
    if (res.attempts > 1) c_.outcomes.retries.fetch_add(res.attempts - 1, std::memory_order_relaxed);
    if (res.possibly_delivered != 0)
        c_.outcomes.possibly_delivered.fetch_add(b->events.size(), std::memory_order_relaxed);
    if (res.throttled != 0) c_.outcomes.throttled.fetch_add(res.throttled, std::memory_order_relaxed);
    if (!ec && res.events_received != static_cast<std::int64_t>(b->events.size()))
        c_.outcomes.receipt_mismatch.fetch_add(1, std::memory_order_relaxed);
    const auto action = batch_decision(ec, res, b->events.size());
    if (action == batch_action::refuse_destination) {
        // The token is dead for this client: its other batches fail in start_batch.
        refused_.add(b->dest->dest.access_token, *res.error);
        ec = make_error_code(errc::auth_error);
    }
    if (b->settled.exchange(true, std::memory_order_acq_rel)) return;  // shutdown settled it
    forget(*b);
    try {
        if (action == batch_action::split) {
            split(*b);
        } else if (action == batch_action::resend_unexpired && resend_fresh(*b)) {
            // The expired events failed; the others went again.
        } else {
            SendResult r;
            r.fbtrace_id = res.fbtrace_id;
            r.attempts = res.attempts;
            r.http_status = res.http_status;
            if (ec && res.last_error != ec) r.cause = res.last_error;
            if (!ec) {
                r.outcome = Outcome::delivered;
            } else {
                r.outcome = ec == errc::expired ? Outcome::expired : Outcome::failed;
                r.error = ec;
                r.graph = res.error;
                if (r.fbtrace_id.empty() && res.error) r.fbtrace_id = res.error->fbtrace_id;
            }
            c_.outcomes.settle_all(b->events, r, true, true);
        }
    } catch (...) {
        // Events not settled yet keep a completion; settle them as failed.
        const auto r = make_result(Outcome::failed, error_of(std::current_exception()));
        c_.outcomes.settle_all(b->events, r, true, true);  // skips the settled ones
    }
    c_.flush.epoch_done(b->epoch);
}

/// The batch reached its earliest expiry: the events that expire then fail
/// `expired`, the later ones go again in a batch of their own, so one stale
/// event never takes its batch-mates down. False when none is left. @locality io executor.
bool Dispatcher::resend_fresh(Batch& b) {
    auto c = std::make_shared<Batch>(c_.batchers.encoders());
    c->dest = b.dest;
    c->epoch = b.epoch;
    for (std::size_t i = 0; i < b.events.size(); ++i) {
        if (b.events[i].not_after <= b.not_after) continue;
        batch_access::add_json(c->enc, batch_access::event_json(b.enc, i));
        c->not_after = std::min(c->not_after, b.events[i].not_after);
    }
    if (c->enc.empty()) return false;
    const auto r = make_result(Outcome::expired, make_error_code(errc::expired));
    c->events.reserve(c->enc.size());
    for (auto& p : b.events) {
        if (p.not_after <= b.not_after) c_.outcomes.settle(p, r, true, true);
        else c->events.push_back(std::move(p));
    }
    b.events.clear();
    c->finish_body();
    c_.flush.epoch_open(b.epoch, 1);
    submit(std::move(c), true);
    return true;
}

/// Splits a batch Meta refused with code 100 into two halves rebuilt from
/// the events' serialized JSON and resends both. @locality io executor.
void Dispatcher::split(Batch& b) {
    const auto n = b.events.size();
    const auto half = n / 2;
    BatchPtr parts[2];
    for (int k = 0; k < 2; ++k) {
        const auto from = k == 0 ? 0 : half, to = k == 0 ? half : n;
        auto c = std::make_shared<Batch>(c_.batchers.encoders());
        c->dest = b.dest;
        c->not_after = b.not_after;
        c->epoch = b.epoch;
        for (auto i = from; i < to; ++i) batch_access::add_json(c->enc, batch_access::event_json(b.enc, i));
        c->events.reserve(to - from);
        c->finish_body();
        parts[k] = std::move(c);
    }
    for (int k = 0; k < 2; ++k) {
        const auto from = k == 0 ? 0 : half, to = k == 0 ? half : n;
        for (auto i = from; i < to; ++i) parts[k]->events.push_back(std::move(b.events[i]));
    }
    b.events.clear();
    c_.outcomes.splits.fetch_add(1, std::memory_order_relaxed);
    c_.flush.epoch_open(b.epoch, 2);
    submit(std::move(parts[0]), true);
    submit(std::move(parts[1]), true);
}

} // namespace capi::pipeline
