// Dispatcher (dispatcher.hpp): sealed batches through the Sender, the replies,
// splits and resends.
#include "client/impl.hpp"

#include <capi/retry.hpp>

#include <boost/asio/post.hpp>

#include <algorithm>
#include <utility>

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
    bound_ = opts_.max_batches_in_flight != 0
                 ? opts_.max_batches_in_flight
                 : std::min<std::size_t>(opts_.transport.max_in_flight,
                                         2 * std::max<std::size_t>(opts_.transport.max_connections, 1));
    batchers_ = batchers;
    adaptive_ = opts_.concurrency.adaptive;
    std::lock_guard lock(mu_);
    if (!adaptive_) {
        auto& f = flows_[nullptr].second;
        f.fixed = bound_;
        first_ = &f;
    } else if (const auto& d = c_.dests.default_dest()) {
        // Made now, so stats() shows the default destination's limit from the start.
        first_ = &flow_of_dest(d);
    }
    update_backpressure();
}

namespace {

/// The transport as the Sender sees it, each attempt's answer shown to the
/// dispatcher first (the destination's limiter) with the time it was sent.
class ObservedTransport final : public Transport {
public:
    ObservedTransport(std::shared_ptr<Transport> inner, std::weak_ptr<Pipeline> pipe)
        : inner_(std::move(inner)), pipe_(std::move(pipe)) {}

    void post(PostRequest request, handler done) override { inner_->post(std::move(request), std::move(done)); }

    void post_shared(const PostRequest& request, detail::SharedBody body, handler done) override {
        auto owner = body.owner;  // the batch (Dispatcher::start_batch): the limiter's key
        inner_->post_shared(request, std::move(body),
                            [pipe = pipe_, owner = std::move(owner), sent = steady::now(),
                             done = std::move(done)](std::error_code ec, PostResult r) mutable {
                                if (auto p = pipe.lock()) {
                                    try {
                                        p->dispatcher.on_attempt(owner.get(), sent, ec, r);
                                    } catch (...) {
                                        // Out of memory starting batches: they settle there.
                                    }
                                }
                                done(ec, std::move(r));
                            });
    }

    void close() override { inner_->close(); }

private:
    const std::shared_ptr<Transport> inner_;
    const std::weak_ptr<Pipeline> pipe_;
};

} // namespace

std::shared_ptr<Transport> Dispatcher::observe(std::shared_ptr<Transport> t) {
    if (!opts_.concurrency.adaptive) return t;
    return std::make_shared<ObservedTransport>(std::move(t), c_.weak_from_this());
}

Dispatcher::Flow& Dispatcher::flow_of_dest(const std::shared_ptr<const DestState>& d) {
    auto [it, made] = flows_.try_emplace(d.get());
    auto& [keep, f] = it->second;
    if (made) {
        keep = d;
        const auto& c = opts_.concurrency;
        Limiter::Config lc;
        lc.initial = c.initial;
        lc.min = c.min;
        lc.bound = bound_;
        lc.backoff = c.backoff;
        lc.rtt_tolerance = c.rtt_tolerance;
        f.limiter.emplace(lc, steady::now());
        if (!first_) first_ = &f;
        update_backpressure();  // a new destination's limit counts
    }
    return f;
}

Dispatcher::Flow& Dispatcher::flow_of(const Batch& b) {
    if (!adaptive_) return flows_.find(nullptr)->second.second;
    return flow_of_dest(b.dest);
}

/// Batches that may start now: round robin over the flows with batches
/// waiting, each while under its own limit, all while under the bound.
std::vector<BatchPtr> Dispatcher::take_startable() {
    std::vector<BatchPtr> out;
    while (inflight_ < bound_ && !turns_.empty()) {
        Flow* pick = nullptr;
        for (std::size_t n = turns_.size(); n != 0 && !turns_.empty(); --n) {
            Flow* f = turns_.front();
            turns_.pop_front();
            if (f->waiting.empty()) {
                f->in_turn = false;
                continue;
            }
            turns_.push_back(f);
            if (f->inflight < f->cap()) {
                pick = f;
                break;
            }
        }
        if (!pick) break;
        out.push_back(std::move(pick->waiting.front()));
        pick->waiting.pop_front();
        ++pick->inflight;
        ++inflight_;
    }
    return out;
}

/// The batchers stop popping once this many batches are live: the limits in
/// force (at most the bound), plus what the batchers may seal meanwhile.
void Dispatcher::update_backpressure() {
    std::size_t limits = 0;
    for (const auto& [_, kf] : flows_) limits += kf.second.cap();
    if (flows_.empty()) limits = adaptive_ ? opts_.concurrency.initial : bound_;
    backpressure_at_.store(std::min(limits, bound_) + batchers_ + 1, std::memory_order_relaxed);
}

/// Starts `batches` on the io executor (their slots already taken).
void Dispatcher::launch(std::vector<BatchPtr> batches) {
    for (auto& b : batches) {
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

void Dispatcher::on_attempt(const void* owner, steady::time_point sent, std::error_code ec, const PostResult& r) {
    const auto signal = attempt_signal(ec, r);
    if (signal == Signal::neutral) return;
    const auto now = steady::now();
    std::vector<BatchPtr> start;
    bool raised = false;
    {
        std::lock_guard lock(mu_);
        // The batch is live while the Sender holds it; a batch shutdown settled is not.
        auto it = live_.find(static_cast<Batch*>(const_cast<void*>(owner)));
        if (it == live_.end()) return;
        Flow& f = flow_of(*it->second);
        if (!f.limiter) return;
        const auto before = backpressure_at_.load(std::memory_order_relaxed);
        if (signal == Signal::healthy) {
            const bool limited = !f.waiting.empty() || std::exchange(f.blocked, false);
            if (f.limiter->on_healthy(sent, now, limited) && !closing_) start = take_startable();
        } else {
            f.limiter->on_congested(sent, now);
        }
        update_backpressure();
        raised = backpressure_at_.load(std::memory_order_relaxed) > before;
    }
    if (raised && c_.batchers.any_asleep()) c_.batchers.wake_all();
    launch(std::move(start));
}

void Dispatcher::fill_stats(Stats& s) {
    std::lock_guard lock(mu_);
    s.concurrency_bound = bound_;
    const Flow* f = first_;
    if (adaptive_) {
        if (const auto& d = c_.dests.default_dest()) {
            auto it = flows_.find(d.get());
            if (it != flows_.end()) f = &it->second.second;
        }
        for (const auto& [_, kf] : flows_) {
            s.concurrency_cuts += kf.second.limiter->cuts();
            s.concurrency_holds += kf.second.limiter->plateaus();
        }
    }
    if (!f) {
        // No event yet, no default destination: what a first destination starts with.
        const auto& c = opts_.concurrency;
        s.concurrency_limit = s.concurrency_limit_min = std::clamp(c.initial, std::max<std::size_t>(c.min, 1), bound_);
        return;
    }
    s.concurrency_limit = f->cap();
    s.concurrency_limit_min = f->limiter ? f->limiter->least() : f->fixed;
}

std::vector<BatchPtr> Dispatcher::close() {
    std::vector<BatchPtr> left;
    std::lock_guard lock(mu_);
    closing_ = true;
    for (auto& [_, b] : live_) left.push_back(b);
    for (auto& [_, kf] : flows_) kf.second.waiting.clear();
    turns_.clear();
    return left;
}

void Dispatcher::submit(BatchPtr b, bool on_io) {
    bool start_now = false, refused = false;
    std::exception_ptr failed;
    {
        std::lock_guard lock(mu_);
        if (closing_) {
            refused = true;
        } else {
            Flow* f = nullptr;
            try {
                live_.emplace(b.get(), b);
                live_count_.store(live_.size(), std::memory_order_relaxed);
                f = &flow_of(*b);
                const bool room = f->inflight < f->cap();
                if (room && inflight_ < bound_ && f->waiting.empty()) {
                    ++f->inflight;
                    ++inflight_;
                    start_now = true;
                } else {
                    if (!room) f->blocked = true;  // demand beyond this limit
                    f->waiting.push_back(b);
                    if (!f->in_turn) {
                        turns_.push_back(f);  // first: a flow in turn is always in turns_
                        f->in_turn = true;
                    }
                }
            } catch (...) {
                // Out of memory taking it in: the flow keeps none of it (settle_batch
                // below takes it out of live_), and the batch fails as a whole.
                if (f && !f->waiting.empty() && f->waiting.back() == b) f->waiting.pop_back();
                failed = std::current_exception();
            }
        }
    }
    if (refused || failed) {
        settle_batch(*b,
                     make_result(Outcome::failed, refused ? make_error_code(errc::shutdown) : error_of(failed)),
                     on_io);
        return;
    }
    if (!start_now) return;
    if (on_io) {
        start_batch(std::move(b));
        return;
    }
    try {
        launch({b});
    } catch (...) {  // the list for launch(): launch settles what it cannot post itself
        finish_slot(*b);
        settle_batch(*b, make_result(Outcome::failed, error_of(std::current_exception())), false);
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
        const auto at = backpressure_at_.load(std::memory_order_relaxed);
        eased = before >= at && live_.size() < at;
    }
    if (eased) c_.batchers.wake_one();  // the batchers may pop again
}

/// A batch left the Sender: its slot goes to the next waiting batch (of the
/// next flow under its limit).
void Dispatcher::finish_slot(Batch& b) {
    std::vector<BatchPtr> next;
    {
        std::lock_guard lock(mu_);
        Flow& f = flow_of(b);
        if (f.inflight > 0) --f.inflight;
        if (inflight_ > 0) --inflight_;
        if (!closing_) next = take_startable();
    }
    if (c_.batchers.any_asleep()) c_.batchers.wake_all();  // back pressure eased
    launch(std::move(next));
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
    // Meta's error object, one copy for every result of the batch.
    std::shared_ptr<const GraphError> graph;
    try {
        if (res.error) graph = std::make_shared<const GraphError>(std::move(*res.error));
        // The token is dead for this client: its other batches fail in start_batch.
        if (action == batch_action::refuse_destination && graph) refused_.add(b->dest->dest.access_token, graph);
    } catch (...) {
        // Out of memory: the batch fails without Meta's error object (and a
        // refused token is not remembered: its next batch asks again).
    }
    if (action == batch_action::refuse_destination) ec = make_error_code(errc::auth_error);
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
                if (r.fbtrace_id.empty() && graph) r.fbtrace_id = graph->fbtrace_id;
                r.graph = std::move(graph);
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
