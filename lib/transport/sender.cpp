// capi: the retry loop over a Transport.
//
// One `operation` per async_post, shared by the transport's callback, the
// backoff timer's handler, the cancel trigger and the Sender's registry, so
// whichever comes last frees it, and a Sender destroyed with work pending
// leaves nothing dangling. Every path to the caller goes through
// operation::finish, which delivers exactly once.
#include "transport/body.hpp"
#include "transport/graph_reply.hpp"

#include <capi/retry.hpp>
#include <capi/sender.hpp>
#include <capi/transport.hpp>

#include <boost/asio/steady_timer.hpp>

#include <memory>
#include <mutex>
#include <random>
#include <shared_mutex>
#include <string>
#include <unordered_map>

namespace capi {

namespace asio = boost::asio;
using sys_time = std::chrono::system_clock::time_point;

namespace {

/// `now + delay < not_after`, with no overflow whatever the values (not_after
/// is often time_point::max(), "no window").
bool before(sys_time now, std::chrono::milliseconds delay, sys_time not_after) noexcept {
    if (now >= not_after) return false;
    std::chrono::system_clock::rep remaining = 0;
    if (__builtin_sub_overflow(not_after.time_since_epoch().count(), now.time_since_epoch().count(),
                               &remaining)) {
        return true;  // further away than any representable delay
    }
    // backoff_delay keeps delays convertible to nanoseconds without overflow.
    return std::chrono::duration_cast<std::chrono::system_clock::duration>(delay) <
           std::chrono::system_clock::duration(remaining);
}

/// The error an unsuccessful final attempt completes with.
std::error_code final_error(std::error_code ec, const PostResult& r) {
    if (ec) return ec;
    if (r.error) return make_error_code(errc::graph_error);
    if (r.http_status < 200 || r.http_status > 299) return make_error_code(errc::http_error);
    // 2xx, no error object, decided final anyway: cannot happen with decide().
    return make_error_code(errc::bad_response);
}

} // namespace

void Transport::post_shared(const PostRequest& request, detail::SharedBody body, handler done) {
    PostRequest copy;
    try {
        copy.pixel_id = request.pixel_id;
        copy.body = body.bytes;
        copy.format = request.format;
        copy.appsecret_proof = request.appsecret_proof;
    } catch (...) {
        // Out of memory copying the body: refused like an overflow, as post() would.
        if (done) done(make_error_code(errc::queue_full), {});
        return;
    }
    post(std::move(copy), std::move(done));
}

struct Sender::impl : std::enable_shared_from_this<Sender::impl> {
    struct operation;

    impl(asio::any_io_executor ex, Transport& t, RetryPolicy p, Clock c)
        : executor(std::move(ex)), transport(&t), policy(p), clock(std::move(c)) {
        std::random_device rd;
        std::seed_seq seq{rd(), rd(), rd(), rd()};
        rng.seed(seq);
    }

    const asio::any_io_executor executor;
    Transport* const transport;
    const RetryPolicy policy;
    const Clock clock;

    /// Held shared around every call of transport->post and exclusively by
    /// close() to set `closed`: once close() returns, the transport is never
    /// called again, so it may be destroyed right after the Sender.
    std::shared_mutex gate;
    std::mutex mutex;
    std::mt19937_64 rng;                                   // guarded by mutex
    bool closed = false;                                   // written under gate and mutex
    // Not yet finished, for close(); guarded by mutex. Weak: an operation is kept
    // alive by whatever waits to call it back (the transport, a backoff timer),
    // so one whose callback is destroyed uncalled (its io_context gone) dies
    // with it instead of keeping this, and its completion's captures, forever.
    std::unordered_map<operation*, std::weak_ptr<operation>> ops;

    std::uint64_t random() {
        std::lock_guard lock(mutex);
        return rng();
    }
    bool is_closed() {
        std::lock_guard lock(mutex);
        return closed;
    }
};

struct Sender::impl::operation : std::enable_shared_from_this<operation> {
    enum class phase : std::uint8_t { idle, on_wire, waiting, done };

    operation(std::shared_ptr<impl> o, PostRequest r, sys_time na, std::function<bool()> c,
              std::function<void(std::error_code, PostResult)> d)
        : owner(std::move(o)), body(detail::take_body(r)), request(std::move(r)), not_after(na),
          cancelled(std::move(c)), done(std::move(d)), timer(owner->executor) {}
    ~operation() {
        // Destroyed unfinished (its callback destroyed uncalled): unlisted, so the
        // address can be listed again by a later operation.
        std::lock_guard lock(owner->mutex);
        owner->ops.erase(this);
    }
    operation(const operation&) = delete;
    operation& operator=(const operation&) = delete;

    const std::shared_ptr<impl> owner;
    /// The request body, sent by every attempt without a copy (Transport::post_shared).
    const SharedBody body;
    const PostRequest request;  ///< without its body
    const sys_time not_after;
    const std::function<bool()> cancelled;

    std::mutex mutex;
    std::function<void(std::error_code, PostResult)> done;  // guarded; emptied by finish
    phase state = phase::idle;                              // guarded
    unsigned attempts = 0;                                  // guarded
    unsigned possibly_delivered = 0, throttled = 0;         // guarded: summed over attempts
    std::chrono::steady_clock::time_point first_attempt;    // guarded
    PostResult last;                                        // guarded
    std::error_code last_error;                             // guarded: of the last attempt
    asio::steady_timer timer;                               // guarded (cancel vs async_wait)

    /// Delivers the outcome once; later calls do nothing. Any thread; takes
    /// no lock of the caller's.
    void finish(std::error_code ec, std::optional<PostResult> result = std::nullopt) {
        std::function<void(std::error_code, PostResult)> d;
        PostResult r;
        {
            std::lock_guard lock(mutex);
            if (state == phase::done) return;
            if (state == phase::waiting) timer.cancel();
            state = phase::done;
            d = std::move(done);
            r = result ? std::move(*result) : last;
            r.attempts = attempts;
            r.possibly_delivered = possibly_delivered;
            r.throttled = throttled;
            r.last_error = last_error;
        }
        {
            std::lock_guard lock(owner->mutex);
            owner->ops.erase(this);
        }
        d(ec, std::move(r));
    }

    /// Starts the next attempt. Any thread. Holds `gate` shared around
    /// transport->post; a transport completing inline re-enters on_reply,
    /// which never takes the gate.
    void attempt() {
        std::shared_lock gate(owner->gate);
        if (owner->is_closed()) {
            gate.unlock();
            return finish(make_error_code(errc::shutdown));
        }
        {
            std::lock_guard lock(mutex);
            if (state == phase::done) return;
            state = phase::on_wire;
            if (attempts++ == 0) first_attempt = std::chrono::steady_clock::now();
        }
        owner->transport->post_shared(request, body,
                                      [self = shared_from_this()](std::error_code ec, PostResult r) {
                                          self->on_reply(ec, std::move(r));
                                      });
    }

    /// The transport's completion: any thread.
    void on_reply(std::error_code ec, PostResult r) {
        unsigned n = 0;
        std::chrono::steady_clock::time_point first;
        {
            std::lock_guard lock(mutex);
            if (state == phase::done) return;  // cancelled or shut down meanwhile: the late result is dropped
            // Stays on_wire until the timer is armed, so close() leaves the
            // decision to this function.
            n = attempts;
            first = first_attempt;
            last = r;
            last.attempts = n;
            last_error = ec;
        }
        // The one policy (retry.cpp). The batch's size is the caller's business:
        // split and refuse_destination end the request here like fail, and the
        // caller decides on them again with its batch (capi::decide).
        const Action action = decide(ec, r);
        {
            std::lock_guard lock(mutex);
            possibly_delivered += r.possibly_delivered != 0 ? 1 : 0;
            if (action == Action::throttle || r.http_status == 429) ++throttled;
        }
        if (action == Action::success) return finish({}, std::move(r));
        if (action != Action::retry && action != Action::throttle) return finish(final_error(ec, r), std::move(r));
        const Disposition d = action == Action::throttle ? Disposition::throttle : Disposition::retry;

        if (cancelled()) return finish(make_error_code(errc::cancelled));
        if (owner->is_closed()) return finish(make_error_code(errc::shutdown));
        const auto& policy = owner->policy;
        if (n >= policy.max_attempts) return finish(make_error_code(errc::retries_exhausted));

        // Throttled: Meta's usage headers, when they name a time to regain
        // access, are a lower bound like Retry-After.
        auto floor = r.retry_after;
        if (d == Disposition::throttle) {
            if (const auto wait = detail::usage_wait(r); wait && (!floor || *wait > *floor)) floor = wait;
        }
        const auto delay = backoff_delay(policy, d, n, floor, owner->random());
        const auto elapsed =
            std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - first);
        if (elapsed.count() + delay.count() > policy.max_total.count()) {
            return finish(make_error_code(errc::retries_exhausted));
        }
        if (!before(capi::now(owner->clock), delay, not_after)) return finish(make_error_code(errc::expired));

        {
            std::lock_guard lock(mutex);
            if (state == phase::done) return;  // cancelled while deciding
            // Checked under this lock: close() either finds the timer armed (and
            // ends the wait) or has set `closed` before this check.
            if (!owner->is_closed()) {
                state = phase::waiting;
                timer.expires_after(delay);
                timer.async_wait(
                    [self = shared_from_this()](const boost::system::error_code&) { self->on_timer(); });
                return;
            }
        }
        finish(make_error_code(errc::shutdown));
    }

    /// The backoff timer's handler, cancelled or not: on the Sender's executor.
    void on_timer() {
        {
            std::lock_guard lock(mutex);
            if (state != phase::waiting) return;
            state = phase::idle;
        }
        if (cancelled()) return finish(make_error_code(errc::cancelled));
        if (owner->is_closed()) return finish(make_error_code(errc::shutdown));
        // The wall clock may have moved further than the timer did.
        if (capi::now(owner->clock) >= not_after) return finish(make_error_code(errc::expired));
        attempt();
    }

    /// close(): a backoff ends now; an attempt on the wire decides in on_reply.
    void shutdown() {
        bool waiting = false;
        {
            std::lock_guard lock(mutex);
            waiting = state == phase::waiting || state == phase::idle;
        }
        if (waiting) finish(make_error_code(errc::shutdown));
    }
};

Sender::Sender(asio::any_io_executor executor, Transport& transport, RetryPolicy policy, Clock clock)
    : impl_(std::make_shared<impl>(std::move(executor), transport, policy, std::move(clock))) {}

Sender::~Sender() { close(); }

Sender::executor_type Sender::get_executor() const noexcept { return impl_->executor; }

void Sender::close() {
    std::vector<std::shared_ptr<impl::operation>> pending;
    {
        // Waits for transport->post calls in progress (they do not block).
        std::unique_lock gate(impl_->gate);
        std::lock_guard lock(impl_->mutex);
        impl_->closed = true;
        pending.reserve(impl_->ops.size());
        for (const auto& [raw, weak] : impl_->ops)
            if (auto op = weak.lock()) pending.push_back(std::move(op));
    }
    for (auto& op : pending) op->shutdown();
}

std::function<void()> Sender::post_(PostRequest req, sys_time not_after, std::function<bool()> cancelled,
                                    std::function<void(std::error_code, PostResult)> done) {
    auto op = std::make_shared<impl::operation>(impl_, std::move(req), not_after, std::move(cancelled),
                                                std::move(done));
    bool closed = false;
    {
        std::lock_guard lock(impl_->mutex);
        closed = impl_->closed;
        if (!closed) impl_->ops.emplace(op.get(), op);
    }
    std::weak_ptr<impl::operation> weak = op;
    auto trigger = [weak] {
        if (auto o = weak.lock()) o->finish(make_error_code(errc::cancelled));
    };
    if (closed) {
        op->finish(make_error_code(errc::shutdown));
    } else if (op->cancelled()) {
        op->finish(make_error_code(errc::cancelled));
    } else if (capi::now(impl_->clock) >= not_after) {
        op->finish(make_error_code(errc::expired));
    } else {
        op->attempt();
    }
    return trigger;
}

} // namespace capi
