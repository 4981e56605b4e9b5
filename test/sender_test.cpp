// Sender: the retry loop over a scripted fake Transport, on a real io_context
// with small delays; every run is bounded in time.
#include <capi/transport.hpp>
#include <capi/sender.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

namespace asio = boost::asio;
using capi::errc;
using capi::PostRequest;
using capi::PostResult;
using capi::RetryPolicy;
using steady = std::chrono::steady_clock;
using sys_time = std::chrono::system_clock::time_point;
using namespace std::chrono_literals;

namespace {

constexpr sys_time no_window = sys_time::max();

struct step {
    std::error_code ec;
    PostResult result;
    std::function<void()> hook;  ///< runs when the attempt is made
    bool hold = false;           ///< keep the completion until release()
};

step ok(std::int64_t n = 1) {
    step s;
    s.result.http_status = 200;
    s.result.events_received = n;
    s.result.fbtrace_id = "ok";
    return s;
}

step http(int status) {
    step s;
    s.ec = capi::make_error_code(errc::http_error);
    s.result.http_status = status;
    return s;
}

step graph(int status, std::int64_t code, std::optional<std::chrono::seconds> retry_after = std::nullopt) {
    step s;
    s.ec = capi::make_error_code(errc::graph_error);
    s.result.http_status = status;
    capi::GraphError g;
    g.code = code;
    g.fbtrace_id = "trace";
    s.result.error = g;
    s.result.retry_after = retry_after;
    return s;
}

/// A Transport answering from a script (then success), recording when each
/// attempt was made. Completions are posted to `ctx` when given, else inline.
class FakeTransport final : public capi::Transport {
public:
    explicit FakeTransport(asio::io_context* ctx = nullptr) : ctx_(ctx) {}

    void push(step s) {
        std::lock_guard lock(mutex_);
        script_.push_back(std::move(s));
    }

    void post(PostRequest request, handler done) override {
        step s;
        {
            std::lock_guard lock(mutex_);
            times_.push_back(steady::now());
            bodies_.push_back(request.body);
            if (!script_.empty()) {
                s = std::move(script_.front());
                script_.pop_front();
            } else {
                s = ok();
            }
            if (s.hold) {
                held_.push_back([done, s] { done(s.ec, s.result); });
                if (s.hook) s.hook();
                return;
            }
        }
        if (s.hook) s.hook();
        if (ctx_) {
            asio::post(*ctx_, [done, s] { done(s.ec, s.result); });
        } else {
            done(s.ec, s.result);
        }
    }
    void close() override {}

    /// Completes the held attempts.
    void release() {
        std::vector<std::function<void()>> held;
        {
            std::lock_guard lock(mutex_);
            held.swap(held_);
        }
        for (auto& h : held) h();
    }

    std::size_t posts() const {
        std::lock_guard lock(mutex_);
        return times_.size();
    }
    std::vector<steady::time_point> times() const {
        std::lock_guard lock(mutex_);
        return times_;
    }
    std::vector<std::string> bodies() const {
        std::lock_guard lock(mutex_);
        return bodies_;
    }

private:
    asio::io_context* ctx_;
    mutable std::mutex mutex_;
    std::deque<step> script_;
    std::vector<steady::time_point> times_;
    std::vector<std::string> bodies_;
    std::vector<std::function<void()>> held_;
};

/// A throttle's Retry-After that keeps a Sender in its backoff for longer than
/// any of these tests waits, yet inside fast_policy's max_total with room to
/// spare: at 10 s (= max_total) a first attempt that took a millisecond (a slow
/// sanitizer build) made the policy give up at once (retries_exhausted).
constexpr auto long_retry_after = std::chrono::seconds(8);

RetryPolicy fast_policy() {
    RetryPolicy p;
    p.max_attempts = 6;
    p.max_total = 10s;
    p.initial_backoff = 5ms;
    p.max_backoff = 20ms;
    p.throttle_initial_backoff = 10ms;
    p.throttle_max_backoff = 40ms;
    return p;
}

PostRequest request(std::string body = R"({"data":[{"event_name":"Purchase","event_id":"e1"}]})") {
    PostRequest r;
    r.pixel_id = "123";
    r.body = std::move(body);
    return r;
}

struct outcome {
    int calls = 0;
    std::error_code ec;
    PostResult result;
    std::thread::id thread;
};

auto capture(outcome& o) {
    return [&o](std::error_code ec, PostResult r) {
        ++o.calls;
        o.ec = ec;
        o.result = std::move(r);
        o.thread = std::this_thread::get_id();
    };
}

std::chrono::milliseconds ms_between(steady::time_point a, steady::time_point b) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(b - a);
}

// Scheduling slack on a loaded two-core CI machine.
constexpr auto slack = 250ms;

} // namespace

TEST_CASE("Sender: success on the first attempt", "[sender]") {
    asio::io_context ctx;
    FakeTransport t(&ctx);
    capi::Sender sender(ctx.get_executor(), t, fast_policy());
    outcome o;
    sender.async_post(request(), no_window, capture(o));
    CHECK(o.calls == 0);  // never inside async_post
    ctx.run_for(5s);
    CHECK(o.calls == 1);
    CHECK_FALSE(o.ec);
    CHECK(o.result.attempts == 1);
    CHECK(o.result.events_received == 1);
    CHECK(o.result.fbtrace_id == "ok");
    CHECK(t.posts() == 1);
}

TEST_CASE("Sender: an inline-completing transport never completes inside async_post", "[sender]") {
    asio::io_context ctx;
    FakeTransport t;  // done() called from within post()
    t.push(http(503));
    capi::Sender sender(ctx.get_executor(), t, fast_policy());
    outcome o;
    sender.async_post(request(), no_window, capture(o));
    CHECK(o.calls == 0);
    ctx.run_for(5s);
    CHECK(o.calls == 1);
    CHECK_FALSE(o.ec);
    CHECK(o.result.attempts == 2);
}

TEST_CASE("Sender: 503 twice, then success, with backoff within bounds", "[sender]") {
    asio::io_context ctx;
    FakeTransport t(&ctx);
    t.push(http(503));
    t.push(http(503));
    capi::Sender sender(ctx.get_executor(), t, fast_policy());
    outcome o;
    sender.async_post(request(), no_window, capture(o));
    ctx.run_for(5s);
    REQUIRE(o.calls == 1);
    CHECK_FALSE(o.ec);
    CHECK(o.result.attempts == 3);
    CHECK(o.result.http_status == 200);
    const auto times = t.times();
    REQUIRE(times.size() == 3);
    // Full jitter: [0, 5 ms] then [0, 10 ms].
    CHECK(ms_between(times[0], times[1]) <= 5ms + slack);
    CHECK(ms_between(times[1], times[2]) <= 10ms + slack);
    // The same body every time (stable event_ids).
    const auto bodies = t.bodies();
    CHECK(bodies[0] == bodies[1]);
    CHECK(bodies[1] == bodies[2]);
}

TEST_CASE("Sender: every attempt shares one copy of the body (post_shared)", "[sender]") {
    // A transport that takes the shared body: the Sender must hand it the same
    // string each time, never a copy, and keep it alive across retries.
    class SharedTransport final : public capi::Transport {
    public:
        explicit SharedTransport(asio::io_context& ctx) : ctx_(ctx) {}
        void post(PostRequest, handler done) override {
            ++plain_posts;
            asio::post(ctx_, [done] { done(capi::make_error_code(errc::connection_lost), {}); });
        }
        void post_shared(const PostRequest& request, capi::SharedBody body, handler done) override {
            bodies.push_back(body);
            request_bodies.push_back(request.body);
            pixel_ids.push_back(request.pixel_id);
            const bool last = bodies.size() == 3;
            asio::post(ctx_, [done, last] {
                PostResult r;
                if (!last) {
                    r.http_status = 503;
                    done(capi::make_error_code(errc::http_error), r);
                    return;
                }
                r.http_status = 200;
                r.events_received = 1;
                done({}, r);
            });
        }
        void close() override {}

        std::vector<capi::SharedBody> bodies;
        std::vector<std::string> request_bodies, pixel_ids;
        int plain_posts = 0;

    private:
        asio::io_context& ctx_;
    };

    asio::io_context ctx;
    SharedTransport t(ctx);
    capi::Sender sender(ctx.get_executor(), t, fast_policy());
    outcome o;
    const auto req = request(std::string(100'000, 'x'));
    sender.async_post(req, no_window, capture(o));
    ctx.run_for(5s);
    REQUIRE(o.calls == 1);
    CHECK_FALSE(o.ec);
    CHECK(o.result.attempts == 3);
    CHECK(t.plain_posts == 0);
    REQUIRE(t.bodies.size() == 3);
    REQUIRE(t.bodies[0].owner);
    CHECK(t.bodies[0].bytes == req.body);
    CHECK(t.bodies[1].bytes.data() == t.bodies[0].bytes.data());  // the same bytes, not a copy
    CHECK(t.bodies[2].bytes.data() == t.bodies[0].bytes.data());
    CHECK(t.bodies[2].owner == t.bodies[0].owner);
    for (const auto& b : t.request_bodies) CHECK(b.empty());  // not carried twice
    for (const auto& p : t.pixel_ids) CHECK(p == req.pixel_id);

    SECTION("a body the caller holds (PostRequest::shared_body) is sent from where it is") {
        // A buffer of the caller's, the body a slice of it, kept alive by `owner`:
        // every attempt gets those very bytes, and the Sender lets go when done.
        auto storage = std::make_shared<std::string>("[prefix]" + req.body + "[tail]");
        const std::string_view slice = std::string_view(*storage).substr(8, req.body.size());
        auto shared = req;
        shared.body = "ignored";
        shared.shared_body = {slice, storage};
        t.bodies.clear();
        outcome o2;
        sender.async_post(std::move(shared), no_window, capture(o2));
        ctx.restart();
        ctx.run_for(5s);
        REQUIRE(o2.calls == 1);
        CHECK_FALSE(o2.ec);
        REQUIRE(t.bodies.size() == 3);
        for (const auto& b : t.bodies) {
            CHECK(b.bytes.data() == slice.data());
            CHECK(b.bytes.size() == slice.size());
            CHECK(b.owner == storage);
        }
        t.bodies.clear();
        CHECK(storage.use_count() == 1);  // the Sender kept no reference once done
    }
}

TEST_CASE("Sender: code 100 fails at once", "[sender]") {
    asio::io_context ctx;
    FakeTransport t(&ctx);
    auto s = graph(400, 100);
    s.result.error->error_subcode = 2804003;
    t.push(s);
    capi::Sender sender(ctx.get_executor(), t, fast_policy());
    outcome o;
    sender.async_post(request(), no_window, capture(o));
    ctx.run_for(5s);
    REQUIRE(o.calls == 1);
    CHECK(o.ec == capi::make_error_code(errc::graph_error));
    REQUIRE(o.result.error);
    CHECK(o.result.error->code == 100);
    CHECK(o.result.error->error_subcode == 2804003);
    CHECK(o.result.attempts == 1);
    CHECK(t.posts() == 1);
}

TEST_CASE("Sender: 190 stops without a retry storm", "[sender]") {
    asio::io_context ctx;
    FakeTransport t(&ctx);
    for (int i = 0; i < 10; ++i) t.push(graph(401, 190));
    capi::Sender sender(ctx.get_executor(), t, fast_policy());
    outcome o;
    sender.async_post(request(), no_window, capture(o));
    ctx.run_for(5s);
    REQUIRE(o.calls == 1);
    CHECK(o.ec == capi::make_error_code(errc::graph_error));
    CHECK(o.result.http_status == 401);
    CHECK(o.result.attempts == 1);
    CHECK(t.posts() == 1);
}

TEST_CASE("Sender: other final errors complete with their own error", "[sender]") {
    asio::io_context ctx;
    FakeTransport t(&ctx);
    step s;
    s.ec = capi::make_error_code(errc::certificate_verify_failed);
    t.push(s);
    t.push(http(404));
    capi::Sender sender(ctx.get_executor(), t, fast_policy());
    outcome a, b;
    sender.async_post(request(), no_window, capture(a));
    ctx.run_for(5s);
    sender.async_post(request(), no_window, capture(b));
    ctx.restart();
    ctx.run_for(5s);
    CHECK(a.ec == capi::make_error_code(errc::certificate_verify_failed));
    CHECK(a.result.attempts == 1);
    CHECK(b.ec == capi::make_error_code(errc::http_error));
    CHECK(b.result.http_status == 404);
    CHECK(t.posts() == 2);
}

TEST_CASE("Sender: throttle honours Retry-After", "[sender][slow]") {
    asio::io_context ctx;
    FakeTransport t(&ctx);
    t.push(graph(400, 4, 1s));
    capi::Sender sender(ctx.get_executor(), t, fast_policy());
    outcome o;
    sender.async_post(request(), no_window, capture(o));
    ctx.run_for(10s);
    REQUIRE(o.calls == 1);
    CHECK_FALSE(o.ec);
    CHECK(o.result.attempts == 2);
    const auto times = t.times();
    REQUIRE(times.size() == 2);
    CHECK(ms_between(times[0], times[1]) >= 1000ms);
    CHECK(ms_between(times[0], times[1]) <= 1000ms + slack);
}

TEST_CASE("Sender: the throttle lane uses its own backoff", "[sender]") {
    asio::io_context ctx;
    FakeTransport t(&ctx);
    t.push(graph(403, 80004, 0s));
    t.push(graph(400, 17));
    t.push(graph(400, 613));
    capi::Sender sender(ctx.get_executor(), t, fast_policy());
    outcome o;
    sender.async_post(request(), no_window, capture(o));
    ctx.run_for(5s);
    REQUIRE(o.calls == 1);
    CHECK_FALSE(o.ec);
    CHECK(o.result.attempts == 4);
    const auto times = t.times();
    REQUIRE(times.size() == 4);
    CHECK(ms_between(times[0], times[1]) <= 10ms + slack);
    CHECK(ms_between(times[1], times[2]) <= 20ms + slack);
    CHECK(ms_between(times[2], times[3]) <= 40ms + slack);
}

TEST_CASE("Sender: max_attempts exhausted carries the last result", "[sender]") {
    asio::io_context ctx;
    FakeTransport t(&ctx);
    auto policy = fast_policy();
    policy.max_attempts = 3;
    t.push(http(500));
    t.push(graph(500, 2));
    auto last = http(503);
    last.result.fbtrace_id = "last";
    t.push(last);
    t.push(ok());
    capi::Sender sender(ctx.get_executor(), t, policy);
    outcome o;
    sender.async_post(request(), no_window, capture(o));
    ctx.run_for(5s);
    REQUIRE(o.calls == 1);
    CHECK(o.ec == capi::make_error_code(errc::retries_exhausted));
    CHECK(o.result.attempts == 3);
    CHECK(o.result.http_status == 503);
    CHECK(o.result.fbtrace_id == "last");
    REQUIRE(last.ec);
    CHECK(o.result.last_error == last.ec);  // why the attempts failed
    CHECK(t.posts() == 3);
}

TEST_CASE("Sender: max_total stops a wait that would end past it", "[sender]") {
    asio::io_context ctx;
    FakeTransport t(&ctx);
    auto policy = fast_policy();
    policy.max_total = 500ms;
    t.push(graph(400, 4, 1s));  // Retry-After beyond max_total
    capi::Sender sender(ctx.get_executor(), t, policy);
    outcome o;
    const auto start = steady::now();
    sender.async_post(request(), no_window, capture(o));
    ctx.run_for(5s);
    REQUIRE(o.calls == 1);
    CHECK(o.ec == capi::make_error_code(errc::retries_exhausted));
    CHECK(o.result.attempts == 1);
    REQUIRE(o.result.error);
    CHECK(o.result.error->code == 4);
    CHECK(steady::now() - start < 500ms);  // gave up at once, did not wait
}

TEST_CASE("Sender: not_after already passed: expired, nothing sent", "[sender]") {
    asio::io_context ctx;
    FakeTransport t(&ctx);
    capi::ManualClock clock(sys_time{} + 1'000'000h);
    capi::Sender sender(ctx.get_executor(), t, fast_policy(), clock.as_clock());
    outcome a, b;
    sender.async_post(request(), clock.now() - 1s, capture(a));
    sender.async_post(request(), clock.now(), capture(b));  // the boundary counts as passed
    ctx.run_for(5s);
    CHECK(a.calls == 1);
    CHECK(a.ec == capi::make_error_code(errc::expired));
    CHECK(a.result.attempts == 0);
    CHECK(b.calls == 1);
    CHECK(b.ec == capi::make_error_code(errc::expired));
    CHECK(t.posts() == 0);
}

TEST_CASE("Sender: not_after reached during backoff", "[sender]") {
    asio::io_context ctx;
    FakeTransport t(&ctx);
    capi::ManualClock clock(sys_time{} + 1'000'000h);
    const auto not_after = clock.now() + 1h;

    SECTION("the clock passes the window while the attempt is on the wire") {
        auto s = http(503);
        s.hook = [&clock] { clock.advance(2h); };
        t.push(s);
        capi::Sender sender(ctx.get_executor(), t, fast_policy(), clock.as_clock());
        outcome o;
        sender.async_post(request(), not_after, capture(o));
        ctx.run_for(5s);
        REQUIRE(o.calls == 1);
        CHECK(o.ec == capi::make_error_code(errc::expired));
        CHECK(o.result.attempts == 1);
        CHECK(o.result.http_status == 503);
        CHECK(t.posts() == 1);
    }
    SECTION("the delay itself would end past the window") {
        t.push(graph(400, 4, 1s));
        capi::ManualClock near(not_after - 500ms);
        capi::Sender sender(ctx.get_executor(), t, fast_policy(), near.as_clock());
        outcome o;
        sender.async_post(request(), not_after, capture(o));
        ctx.run_for(5s);
        REQUIRE(o.calls == 1);
        CHECK(o.ec == capi::make_error_code(errc::expired));
        CHECK(t.posts() == 1);
    }
    SECTION("the clock passes the window while the timer runs") {
        t.push(http(503));
        capi::Sender sender(ctx.get_executor(), t, fast_policy(), clock.as_clock());
        outcome o;
        sender.async_post(request(), not_after, capture(o));
        // The reply arrives through ctx; the clock jumps before the timer fires
        // (the first backoff is at most 5 ms, this runs first).
        asio::post(ctx, [&] { asio::post(ctx, [&] { clock.advance(2h); }); });
        ctx.run_for(5s);
        REQUIRE(o.calls == 1);
        CHECK(o.ec == capi::make_error_code(errc::expired));
        CHECK(o.result.attempts == 1);
        CHECK(t.posts() == 1);
    }
}

TEST_CASE("Sender: cancellation during a backoff", "[sender]") {
    asio::io_context ctx;
    FakeTransport t(&ctx);
    t.push(graph(400, 4, long_retry_after));
    capi::Sender sender(ctx.get_executor(), t, fast_policy());
    asio::cancellation_signal signal;
    outcome o;
    const auto start = steady::now();
    sender.async_post(request(), no_window, asio::bind_cancellation_slot(signal.slot(), capture(o)));
    asio::steady_timer later(ctx, 50ms);
    later.async_wait([&](auto) { signal.emit(asio::cancellation_type::terminal); });
    ctx.run_for(5s);
    CHECK(o.calls == 1);
    CHECK(o.ec == capi::make_error_code(errc::cancelled));
    CHECK(o.result.attempts == 1);
    CHECK(steady::now() - start < 5s);
    CHECK(t.posts() == 1);
    // A second emit after completion is harmless (the slot was cleared).
    signal.emit(asio::cancellation_type::terminal);
    ctx.restart();
    ctx.run_for(50ms);
    CHECK(o.calls == 1);
}

TEST_CASE("Sender: cancellation while on the wire drops the late result", "[sender]") {
    asio::io_context ctx;
    FakeTransport t(&ctx);
    auto s = ok();
    s.hold = true;
    t.push(s);
    capi::Sender sender(ctx.get_executor(), t, fast_policy());
    asio::cancellation_signal signal;
    outcome o;
    sender.async_post(request(), no_window, asio::bind_cancellation_slot(signal.slot(), capture(o)));
    asio::post(ctx, [&] { signal.emit(asio::cancellation_type::partial); });
    ctx.run_for(200ms);
    CHECK(o.calls == 1);
    CHECK(o.ec == capi::make_error_code(errc::cancelled));
    CHECK(o.result.attempts == 1);
    t.release();
    ctx.restart();
    ctx.run_for(50ms);
    CHECK(o.calls == 1);
    CHECK(o.ec == capi::make_error_code(errc::cancelled));
}

TEST_CASE("Sender: total cancellation alone is not honoured mid-retry", "[sender]") {
    // Only terminal and partial stop the loop: "total" promises no side
    // effects, which a request already sent cannot give.
    asio::io_context ctx;
    FakeTransport t(&ctx);
    t.push(http(503));
    capi::Sender sender(ctx.get_executor(), t, fast_policy());
    asio::cancellation_signal signal;
    outcome o;
    sender.async_post(request(), no_window, asio::bind_cancellation_slot(signal.slot(), capture(o)));
    asio::post(ctx, [&] { signal.emit(asio::cancellation_type::total); });
    ctx.run_for(5s);
    CHECK(o.calls == 1);
    CHECK_FALSE(o.ec);
    CHECK(o.result.attempts == 2);
}

TEST_CASE("Sender: use_awaitable", "[sender]") {
    asio::io_context ctx;
    FakeTransport t(&ctx);
    t.push(http(503));
    t.push(graph(500, 1));
    capi::Sender sender(ctx.get_executor(), t, fast_policy());
    bool finished = false;
    std::error_code ec;
    PostResult result;
    asio::co_spawn(
        ctx,
        [&]() -> asio::awaitable<void> {
            // std::error_code is not asio's error type: the coroutine gets a tuple
            // rather than an exception.
            std::tie(ec, result) = co_await sender.async_post(request(), no_window, asio::use_awaitable);
            finished = true;
        },
        asio::detached);
    ctx.run_for(5s);
    CHECK(finished);
    CHECK_FALSE(ec);
    CHECK(result.attempts == 3);
}

TEST_CASE("Sender: use_awaitable, cancellation through co_spawn", "[sender]") {
    asio::io_context ctx;
    FakeTransport t(&ctx);
    t.push(graph(400, 4, long_retry_after));
    capi::Sender sender(ctx.get_executor(), t, fast_policy());

    // The coroutine's cancellation slot reaches the Sender; after completion the
    // coroutine goes on to another operation on the same slot.
    asio::cancellation_signal signal;
    std::error_code first;
    unsigned attempts = 0;
    bool second_done = false;
    asio::co_spawn(
        ctx,
        [&]() -> asio::awaitable<void> {
            auto [ec, r] = co_await sender.async_post(request(), no_window, asio::use_awaitable);
            first = ec;
            attempts = r.attempts;
            co_await asio::this_coro::reset_cancellation_state();
            asio::steady_timer timer(co_await asio::this_coro::executor, 10ms);
            co_await timer.async_wait(asio::use_awaitable);
            second_done = true;
        },
        asio::bind_cancellation_slot(signal.slot(), asio::detached));
    asio::steady_timer later(ctx, 50ms);
    later.async_wait([&](auto) { signal.emit(asio::cancellation_type::terminal); });
    ctx.run_for(5s);
    CHECK(first == capi::make_error_code(errc::cancelled));
    CHECK(attempts == 1);
    CHECK(second_done);
}

TEST_CASE("Sender: use_future", "[sender]") {
    asio::io_context ctx;
    FakeTransport t(&ctx);
    t.push(http(502));
    capi::Sender sender(ctx.get_executor(), t, fast_policy());
    auto work = asio::make_work_guard(ctx);
    std::thread runner([&] { ctx.run_for(10s); });
    auto fut = sender.async_post(request(), no_window, asio::use_future);
    REQUIRE(fut.wait_for(5s) == std::future_status::ready);
    // A tuple: std::error_code is not asio's error type, so no exception either.
    const auto [ec, r] = fut.get();
    CHECK_FALSE(ec);
    CHECK(r.attempts == 2);
    CHECK(r.http_status == 200);

    t.push(graph(400, 100));
    auto failing = sender.async_post(request(), no_window, asio::use_future);
    REQUIRE(failing.wait_for(5s) == std::future_status::ready);
    const auto [fail_ec, fail_r] = failing.get();
    CHECK(fail_ec == capi::make_error_code(errc::graph_error));
    CHECK(fail_r.attempts == 1);
    work.reset();
    ctx.stop();
    runner.join();
}

TEST_CASE("Sender: completion on the handler's associated executor", "[sender]") {
    asio::io_context ctx;
    FakeTransport t(&ctx);
    t.push(http(503));
    capi::Sender sender(ctx.get_executor(), t, fast_policy());
    CHECK(sender.get_executor() == ctx.get_executor());
    auto strand = asio::make_strand(ctx);
    bool in_strand = false;
    int calls = 0;
    sender.async_post(request(), no_window, asio::bind_executor(strand, [&](std::error_code, PostResult) {
                          ++calls;
                          in_strand = strand.running_in_this_thread();
                      }));
    ctx.run_for(5s);
    CHECK(calls == 1);
    CHECK(in_strand);

    // A handler bound to another io_context completes there only.
    asio::io_context other;
    outcome o;
    sender.async_post(request(), no_window, asio::bind_executor(other, capture(o)));
    ctx.restart();
    ctx.run_for(100ms);
    CHECK(o.calls == 0);
    other.run_for(5s);
    CHECK(o.calls == 1);
}

TEST_CASE("Sender: close() during backoff completes with shutdown", "[sender]") {
    asio::io_context ctx;
    FakeTransport t(&ctx);
    t.push(graph(400, 4, long_retry_after));
    capi::Sender sender(ctx.get_executor(), t, fast_policy());
    outcome a, b;
    const auto start = steady::now();
    sender.async_post(request(), no_window, capture(a));
    asio::steady_timer later(ctx, 50ms);
    later.async_wait([&](auto) {
        sender.close();
        sender.close();  // idempotent
        sender.async_post(request(), no_window, capture(b));
    });
    ctx.run_for(5s);
    CHECK(steady::now() - start < 5s);
    CHECK(a.calls == 1);
    CHECK(a.ec == capi::make_error_code(errc::shutdown));
    CHECK(a.result.attempts == 1);
    CHECK(b.calls == 1);
    CHECK(b.ec == capi::make_error_code(errc::shutdown));
    CHECK(b.result.attempts == 0);
    CHECK(t.posts() == 1);
}

TEST_CASE("Sender: close() with an attempt on the wire", "[sender]") {
    asio::io_context ctx;
    FakeTransport t(&ctx);
    auto good = ok();
    good.hold = true;
    auto bad = http(503);
    bad.hold = true;
    t.push(good);
    t.push(bad);
    capi::Sender sender(ctx.get_executor(), t, fast_policy());
    outcome a, b;
    sender.async_post(request("a"), no_window, capture(a));
    sender.async_post(request("b"), no_window, capture(b));
    ctx.run_for(50ms);
    REQUIRE(t.posts() == 2);
    sender.close();
    ctx.restart();
    ctx.run_for(50ms);
    CHECK(a.calls == 0);  // still on the wire: its outcome decides
    CHECK(b.calls == 0);
    t.release();
    ctx.restart();
    ctx.run_for(5s);
    CHECK(a.calls == 1);
    CHECK_FALSE(a.ec);  // a final outcome is delivered as is
    CHECK(b.calls == 1);
    CHECK(b.ec == capi::make_error_code(errc::shutdown));  // no retry after close
    CHECK(b.result.http_status == 503);
    CHECK(t.posts() == 2);
}

TEST_CASE("Sender: destroyed with work pending", "[sender]") {
    asio::io_context ctx;
    FakeTransport t(&ctx);
    t.push(graph(400, 4, long_retry_after));
    auto held = ok();
    held.hold = true;
    t.push(held);
    outcome a, b;
    {
        auto sender = std::make_unique<capi::Sender>(ctx.get_executor(), t, fast_policy());
        sender->async_post(request("a"), no_window, capture(a));
        ctx.run_for(50ms);  // a is waiting on its backoff
        sender->async_post(request("b"), no_window, capture(b));  // b is on the wire
        REQUIRE(t.posts() == 2);
    }
    ctx.restart();
    ctx.run_for(100ms);
    CHECK(a.calls == 1);
    CHECK(a.ec == capi::make_error_code(errc::shutdown));
    CHECK(b.calls == 0);
    t.release();
    ctx.restart();
    ctx.run_for(5s);
    CHECK(b.calls == 1);
    CHECK_FALSE(b.ec);
}

TEST_CASE("Sender: 100 concurrent posts on 4 threads each complete once", "[sender]") {
    asio::io_context ctx(4);

    // Per body: 503 on the first attempt, code 2 on the second, then success;
    // every fourth body fails with code 100.
    class ByBody final : public capi::Transport {
    public:
        explicit ByBody(asio::io_context& c) : ctx_(c) {}
        void post(PostRequest r, handler done) override {
            int n = 0;
            {
                std::lock_guard lock(mutex_);
                n = ++seen_[r.body];
            }
            const int id = std::stoi(r.body);
            step s = id % 4 == 0 ? graph(400, 100) : n == 1 ? http(503) : n == 2 ? graph(500, 2) : ok();
            asio::post(ctx_, [done, s] { done(s.ec, s.result); });
        }
        void close() override {}
        std::mutex mutex_;
        std::map<std::string, int> seen_;

    private:
        asio::io_context& ctx_;
    } t(ctx);

    capi::Sender sender(ctx.get_executor(), t, fast_policy());
    constexpr int n = 100;
    std::vector<std::atomic<int>> calls(n);
    std::vector<std::error_code> errors(n);
    std::vector<unsigned> attempts(n);
    std::atomic<int> total{0};
    auto work = asio::make_work_guard(ctx);  // until the posters have posted
    std::vector<std::thread> threads;
    for (int k = 0; k < 4; ++k) threads.emplace_back([&] { ctx.run_for(10s); });
    // Posted from several threads while the io_context runs.
    std::vector<std::thread> posters;
    for (int k = 0; k < 4; ++k) {
        posters.emplace_back([&, k] {
            for (int i = k; i < n; i += 4) {
                sender.async_post(request(std::to_string(i)), no_window, [&, i](std::error_code ec, PostResult r) {
                    errors[static_cast<std::size_t>(i)] = ec;
                    attempts[static_cast<std::size_t>(i)] = r.attempts;
                    calls[static_cast<std::size_t>(i)].fetch_add(1);
                    total.fetch_add(1);
                });
            }
        });
    }
    for (auto& p : posters) p.join();
    work.reset();
    for (auto& th : threads) th.join();
    CHECK(total.load() == n);
    for (int i = 0; i < n; ++i) {
        INFO(i);
        const auto u = static_cast<std::size_t>(i);
        CHECK(calls[u].load() == 1);
        if (i % 4 == 0) {
            CHECK(errors[u] == capi::make_error_code(errc::graph_error));
            CHECK(attempts[u] == 1);
        } else {
            CHECK_FALSE(errors[u]);
            CHECK(attempts[u] == 3);
        }
    }
}

TEST_CASE("Sender: concurrent close and cancel race to one completion", "[sender]") {
    for (int round = 0; round < 20; ++round) {
        asio::io_context ctx(2);
        FakeTransport t(&ctx);
        for (int i = 0; i < 50; ++i) t.push(http(503));
        RetryPolicy p = fast_policy();
        p.initial_backoff = 1ms;
        p.max_backoff = 2ms;
        p.max_attempts = 1000;
        auto sender = std::make_unique<capi::Sender>(ctx.get_executor(), t, p);
        constexpr int n = 20;
        std::vector<asio::cancellation_signal> signals(n);
        std::vector<std::atomic<int>> calls(n);
        auto strand = asio::make_strand(ctx);
        for (int i = 0; i < n; ++i) {
            sender->async_post(request(std::to_string(i)), no_window,
                               asio::bind_cancellation_slot(
                                   signals[static_cast<std::size_t>(i)].slot(),
                                   asio::bind_executor(strand, [&calls, i](std::error_code, PostResult) {
                                       calls[static_cast<std::size_t>(i)].fetch_add(1);
                                   })));
        }
        std::thread a([&] { ctx.run_for(5s); });
        std::thread b([&] { ctx.run_for(5s); });
        std::this_thread::sleep_for(std::chrono::milliseconds(round % 5));
        // Cancel the even ones on the strand (where their handlers run), close the rest.
        asio::post(strand, [&] {
            for (int i = 0; i < n; i += 2) signals[static_cast<std::size_t>(i)].emit(asio::cancellation_type::terminal);
        });
        sender->close();
        a.join();
        b.join();
        for (int i = 0; i < n; ++i) {
            INFO("round " << round << " op " << i);
            CHECK(calls[static_cast<std::size_t>(i)].load() == 1);
        }
    }
}

TEST_CASE("Sender: throttled with usage headers naming a wait", "[sender]") {
    asio::io_context ctx;
    FakeTransport t(&ctx);
    auto policy = fast_policy();
    policy.max_total = 5s;
    auto s = graph(400, 80004);
    s.result.business_use_case_usage =
        R"({"1":[{"type":"ads_management","call_count":100,"estimated_time_to_regain_access":1}]})";
    t.push(s);
    auto plain = http(503);  // the usage header counts only for throttling
    plain.result.business_use_case_usage = s.result.business_use_case_usage;
    t.push(plain);
    capi::Sender sender(ctx.get_executor(), t, policy);
    outcome a, b;
    sender.async_post(request(), no_window, capture(a));
    ctx.run_for(5s);
    // One minute is past max_total: gave up at once rather than retry early.
    CHECK(a.calls == 1);
    CHECK(a.ec == capi::make_error_code(errc::retries_exhausted));
    CHECK(a.result.attempts == 1);
    sender.async_post(request(), no_window, capture(b));
    ctx.restart();
    ctx.run_for(5s);
    CHECK(b.calls == 1);
    CHECK_FALSE(b.ec);
    CHECK(b.result.attempts == 2);
}
