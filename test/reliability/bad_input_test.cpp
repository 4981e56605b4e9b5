// The reliability matrix, bad-input rows B1-B9 (reference/reliability.md §7):
// the real Client (enqueue and async_send) over real TLS to MockGraphServer on
// 127.0.0.1. Each bad event must be refused at intake with its field path and the
// reason, never reach the wire (neither the mock's log nor the bodies a recording
// Transport saw), and leave its good neighbours to batch and deliver normally;
// the invariants I1-I4 (invariants.hpp) close every case.
//
// The bodies are captured by a Transport decorator around make_https_transport
// and parsed with simdjson, so B7/B8 compare the values that went over the wire;
// the mock parses the same bodies and logs each event_id, which B7 compares too.
#include "invariants.hpp"
#include "support/fixtures.hpp"

#include <capi/client.hpp>
#include <capi/normalize.hpp>
#include <capi/testing/mock_graph.hpp>
#include <capi/transport.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <openssl/sha.h>
#include <simdjson.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace asio = boost::asio;
using namespace std::chrono_literals;
using capi::Outcome;
using capi::testing::Fault;
using capi::testing::MockGraphServer;
using capi::testing::MockOptions;
using capi_test::numbered;
using steady = std::chrono::steady_clock;

namespace {

/// One attempt in, recorded, then handed to the real HTTPS transport.
class RecordingTransport final : public capi::Transport {
public:
    explicit RecordingTransport(std::unique_ptr<capi::Transport> inner) : inner_(std::move(inner)) {}
    void post(capi::PostRequest request, handler done) override {
        {
            std::lock_guard lock(mu_);
            bodies_.push_back(request.body);
        }
        inner_->post(std::move(request), std::move(done));
    }
    void close() override { inner_->close(); }
    std::vector<std::string> bodies() const {
        std::lock_guard lock(mu_);
        return bodies_;
    }

private:
    std::unique_ptr<capi::Transport> inner_;
    mutable std::mutex mu_;
    std::vector<std::string> bodies_;
};

/// Mock, user io thread, recording transport, delivery reports and a Client, torn
/// down in the right order (client first, io thread last).
struct Rig {
    asio::io_context io{1};
    asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
    std::thread thread{[this] { io.run(); }};
    std::unique_ptr<MockGraphServer> mock;
    std::shared_ptr<RecordingTransport> wire;
    reliability::CompletionRecorder reports;
    capi::Options opts;
    std::unique_ptr<capi::Client> client;

    explicit Rig(MockOptions mo = {}, const std::function<void(capi::Options&)>& tweak = {}) {
        mock = std::make_unique<MockGraphServer>(std::move(mo));
        opts = capi_test::client_options(*mock);
        opts.linger = 2s;  // good neighbours share a batch; flush() seals it
        opts.on_delivery = reports.callback();
        if (tweak) tweak(opts);
        wire = std::make_shared<RecordingTransport>(capi::make_https_transport(io.get_executor(), opts.transport));
        opts.custom_transport = wire;
        client = std::make_unique<capi::Client>(io.get_executor(), opts);
    }
    ~Rig() {
        client.reset();
        wire.reset();
        work.reset();
        io.stop();
        thread.join();
    }

    /// Every event of every body that went over the wire, parsed.
    std::vector<std::string> sent_events_json() const {
        std::vector<std::string> out;
        simdjson::dom::parser parser;
        for (const auto& body : wire->bodies()) {
            simdjson::dom::element doc;
            if (parser.parse(body).get(doc) != simdjson::SUCCESS) {
                out.push_back("<unparsable body>");
                continue;
            }
            simdjson::dom::array data;
            if (doc["data"].get_array().get(data) != simdjson::SUCCESS) continue;
            for (auto ev : data) out.push_back(simdjson::to_string(ev));
        }
        return out;
    }
};

std::string hex_sha256(std::string_view s) {
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), d);
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : d) {
        out += hex[c >> 4];
        out += hex[c & 15];
    }
    return out;
}

bool has_error(const std::vector<capi::FieldError>& errors, const std::string& path,
               const std::string& reason_part) {
    return std::any_of(errors.begin(), errors.end(), [&](const capi::FieldError& e) {
        return e.path == path && e.reason.find(reason_part) != std::string::npos;
    });
}

std::string describe(const std::vector<capi::FieldError>& errors) {
    std::string s;
    for (const auto& e : errors) s += "[" + e.path + ": " + e.reason + "] ";
    return s.empty() ? "(no errors)" : s;
}

/// One bad event and the error it must be refused with.
struct Bad {
    std::string name;
    std::function<void(capi::Event&)> spoil;
    std::string path;
    std::string reason;  ///< a part of the reason
};

/// Sends good, bad, good for each case through enqueue, and the bad one again
/// through async_send; checks refusals, that nothing bad reached the wire, that
/// the good ones batched and were delivered, and I1-I4.
void run_bad_cases(const std::vector<Bad>& cases, const char* tag) {
    reliability::CompletionRecorder refused;  // async_send completions of bad events
    std::atomic<int> mismatched{0};
    Rig rig;  // after what its callbacks touch: torn down first
    std::vector<std::string> good, bad;
    for (std::size_t i = 0; i < cases.size(); ++i) {
        const auto& c = cases[i];
        INFO(tag << " case '" << c.name << "'");
        good.push_back(numbered(tag, static_cast<long>(i)) + "-good-a");
        REQUIRE(rig.client->enqueue(capi_test::purchase_event(good.back())));

        bad.push_back(numbered(tag, static_cast<long>(i)) + "-bad");
        auto ev = capi_test::purchase_event(bad.back());
        c.spoil(ev);
        const auto r = rig.client->enqueue(ev);
        INFO("errors: " << describe(r.errors));
        CHECK(r.status == capi::EnqueueResult::Status::invalid);
        CHECK(has_error(r.errors, c.path, c.reason));
        for (const auto& e : r.errors) {  // every error names its field and says why
            CHECK_FALSE(e.path.empty());
            CHECK_FALSE(e.reason.empty());
        }
        // async_send refuses alike: rejected, invalid_event, the same errors.
        rig.client->async_send(ev, [&refused, &mismatched, expect = r.errors](std::error_code ec,
                                                                              capi::SendResult res) {
            if (ec != capi::errc::invalid_event || res.error != ec || res.outcome != Outcome::rejected ||
                res.invalid != expect)
                mismatched.fetch_add(1);
            refused.record(res);
        });

        good.push_back(numbered(tag, static_cast<long>(i)) + "-good-b");
        REQUIRE(rig.client->enqueue(capi_test::purchase_event(good.back())));
    }
    REQUIRE(refused.wait_for(bad.size(), 10s));
    REQUIRE(rig.client->flush(30s));
    REQUIRE(rig.reports.wait_for(good.size(), 10s));

    const auto s = rig.client->stats();
    const auto m = reliability::summarize(*rig.mock);
    INFO(reliability::describe(s));
    INFO(reliability::describe(m));
    CHECK(refused.count(Outcome::rejected) == bad.size());
    CHECK(mismatched.load() == 0);
    reliability::check_i2(refused, bad);
    CHECK(s.rejected == 2 * bad.size());
    CHECK(s.delivered == good.size());
    // Never sent: not in the mock's log, not in any body on the wire.
    std::size_t leaked = 0;
    for (const auto& id : bad) leaked += m.seen.count(id);
    for (const auto& body : rig.wire->bodies())
        for (const auto& id : bad) leaked += body.find("\"" + id + "\"") != std::string::npos;
    CHECK(leaked == 0);
    // The good neighbours shared batches: fewer requests than events.
    CHECK(m.requests < good.size());
    reliability::check_i1(s, m, {.accepted = good.size()}, &rig.reports);
    reliability::check_i2(rig.reports, good);
    reliability::check_i3(m, rig.reports, s);
    reliability::check_i4(m, rig.opts.transport.max_connections);
}

} // namespace

// ---------------------------------------------------------------------------- B1

TEST_CASE("B1 malformed UTF-8 is refused at intake with the field path", "[bad-input][B1]") {
    run_bad_cases(
        {
            {"em: lone continuation", [](capi::Event& e) { e.user_data.em = {"ok@example.com", "\xC3\x28@example.com"}; },
             "user_data.em[1]", "invalid UTF-8"},
            {"custom_data.content_name: 0xFF", [](capi::Event& e) { e.custom_data->content_name = "abc\xFF"; },
             "custom_data.content_name", "invalid UTF-8"},
            {"event_source_url: truncated sequence",
             [](capi::Event& e) { e.event_source_url = "https://shop.example.com/\xE2\x82"; }, "event_source_url",
             "invalid UTF-8"},
            {"contents[0].title: overlong '/'",
             [](capi::Event& e) {
                 e.custom_data->contents.resize(1);
                 e.custom_data->contents[0].title = "a\xC0\xAF";
             },
             "custom_data.contents[0].title", "invalid UTF-8"},
            {"client_user_agent: surrogate", [](capi::Event& e) { e.user_data.client_user_agent = "Mozilla \xED\xA0\x80"; },
             "user_data.client_user_agent", "invalid UTF-8"},
            {"ph: above U+10FFFF", [](capi::Event& e) { e.user_data.ph = {"\xF4\x90\x80\x80"}; }, "user_data.ph[0]",
             "invalid UTF-8"},
            {"custom_properties value: 0xFF inside the raw JSON string",
             [](capi::Event& e) { e.custom_data->custom_properties = {{"note", "\"\xFF\""}}; }, "custom_data.note",
             "not well-formed JSON"},
            {"custom_properties key: invalid UTF-8",
             [](capi::Event& e) { e.custom_data->custom_properties = {{"k\xFF", "1"}}; },
             "custom_data.custom_properties[0]", "invalid UTF-8"},
        },
        "B1-");
}

// ---------------------------------------------------------------------------- B2

TEST_CASE("B2 huge values: refused with too large; hashed PII of any size is fine", "[bad-input][B2]") {
    SECTION("refused at intake") {
        run_bad_cases(
            {
                {"1 MB content_name", [](capi::Event& e) { e.custom_data->content_name = std::string(1 << 20, 'x'); },
                 "custom_data.content_name", "too large"},
                {"10 x 7 KB content_ids (none over the cap alone)",
                 [](capi::Event& e) {
                     for (int i = 0; i < 10; ++i) e.custom_data->content_ids.push_back(std::string(7000, 'a' + i));
                 },
                 "custom_data.content_ids", "too large"},
                {"12 K control characters, 6 bytes each escaped",
                 [](capi::Event& e) { e.custom_data->search_string = std::string(12'000, '\x01'); },
                 "custom_data.search_string", "too large"},
                {"1 MB raw member",
                 [](capi::Event& e) {
                     e.custom_data->custom_properties = {{"blob", "\"" + std::string(1 << 20, 'b') + "\""}};
                 },
                 "custom_data.blob", "too large"},
            },
            "B2-");
    }
    SECTION("just over the cap by JSON structure: refused at intake by the exact check, unsent") {
        // Verbatim text 64,000 bytes (under the 65,536 cap) but ~66 KB serialized:
        // validate() alone passes it; the caller's thread serializes the event at
        // intake (BatchEncoder::prepare), so the exact size check refuses it there.
        Rig rig;
        auto ev = capi_test::purchase_event("B2-structure");
        ev.custom_data->contents.resize(40);
        for (auto& c : ev.custom_data->contents) {
            c.title = std::string(1600, 't');
            c.quantity = 1;
            c.item_price = 1.25;
        }
        REQUIRE(capi::validate(ev, std::chrono::system_clock::now()).empty());
        REQUIRE(rig.client->enqueue(capi_test::purchase_event("B2-before")));
        const auto refused = rig.client->enqueue(ev);
        CHECK(refused.status == capi::EnqueueResult::Status::invalid);
        REQUIRE(refused.errors.size() == 1);
        CHECK(refused.errors[0].reason.find("-byte event cap") != std::string::npos);
        CHECK(refused.errors[0].path == "custom_data.contents");  // what weighs most, named
        REQUIRE(rig.client->enqueue(capi_test::purchase_event("B2-after")));
        REQUIRE(rig.client->flush(30s));
        REQUIRE(rig.reports.wait_for(2, 10s));
        CHECK(!rig.reports.find("B2-structure"));  // never accepted: no delivery report
        const auto s = rig.client->stats();
        CHECK(s.rejected == 1);
        const auto m = reliability::summarize(*rig.mock);
        CHECK(m.seen.count("B2-structure") == 0);
        CHECK(m.seen_2xx.count("B2-before") == 1);
        CHECK(m.seen_2xx.count("B2-after") == 1);
        CHECK(m.requests == 1);  // the neighbours still share one batch
        reliability::check_i1(s, m, {.accepted = 2}, &rig.reports);
        reliability::check_i2(rig.reports, std::vector<std::string>{"B2-before", "B2-after"});
        reliability::check_i4(m, rig.opts.transport.max_connections);
    }
    SECTION("a 1 MB email is hashed to 64 hex digits and delivered") {
        Rig rig;
        std::string email(1 << 20, 'a');
        email += "@Example.com";
        auto ev = capi_test::purchase_event("B2-big-email");
        ev.user_data.em = {email};
        REQUIRE(rig.client->enqueue(ev));
        REQUIRE(rig.client->flush(30s));
        REQUIRE(rig.reports.wait_for(1, 10s));
        const auto sent = rig.sent_events_json();
        REQUIRE(sent.size() == 1);
        std::string lower = email;
        std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
        CHECK(sent[0].find(hex_sha256(lower)) != std::string::npos);
        CHECK(sent[0].size() < 2000);
        CHECK(rig.client->stats().delivered == 1);
    }
}

// ---------------------------------------------------------------------------- B3

TEST_CASE("B3 NaN and infinities are refused: JSON cannot carry them", "[bad-input][B3]") {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const double inf = std::numeric_limits<double>::infinity();
    run_bad_cases(
        {
            {"value NaN", [=](capi::Event& e) { e.custom_data->value = nan; }, "custom_data.value", "finite"},
            {"value +Inf", [=](capi::Event& e) { e.custom_data->value = inf; }, "custom_data.value", "finite"},
            {"value -Inf", [=](capi::Event& e) { e.custom_data->value = -inf; }, "custom_data.value", "finite"},
            {"predicted_ltv NaN", [=](capi::Event& e) { e.custom_data->predicted_ltv = nan; },
             "custom_data.predicted_ltv", "finite"},
            {"contents[1].item_price -Inf",
             [=](capi::Event& e) {
                 e.custom_data->contents.resize(2);
                 e.custom_data->contents[1].item_price = -inf;
             },
             "custom_data.contents[1].item_price", "finite"},
            {"attribution_share NaN",
             [=](capi::Event& e) { e.attribution_data.emplace().attribution_share = nan; },
             "attribution_data.attribution_share", "finite"},
        },
        "B3-");
}

// ---------------------------------------------------------------------------- B4

TEST_CASE("B4 2500 events through one async_send: requests of 1000, 1000 and 500", "[bad-input][B4]") {
    std::atomic<bool> done{false};
    std::error_code got_ec = capi::errc::shutdown;
    std::vector<capi::SendResult> results;
    Rig rig;  // after what its callbacks touch: torn down first
    std::vector<capi::Event> events;
    std::vector<std::string> ids;
    for (int i = 0; i < 2500; ++i) {
        ids.push_back(numbered("B4-", i));
        events.push_back(capi_test::purchase_event(ids.back()));
    }
    rig.client->async_send(std::move(events), [&](std::error_code ec, std::vector<capi::SendResult> r) {
        got_ec = ec;
        results = std::move(r);
        done = true;
    });
    REQUIRE(rig.client->flush(30s));  // seals the last 500 (linger is 2 s)
    REQUIRE(reliability::wait_until([&] { return done.load(); }, 30s));
    CHECK(!got_ec);
    REQUIRE(results.size() == ids.size());
    std::size_t in_order = 0;
    for (std::size_t i = 0; i < ids.size(); ++i)
        in_order += results[i].event_id == ids[i] && results[i].outcome == Outcome::delivered;
    CHECK(in_order == ids.size());
    REQUIRE(rig.reports.wait_for(ids.size(), 10s));
    std::multiset<std::size_t> sizes;
    for (const auto& r : rig.mock->requests()) sizes.insert(r.events);
    CHECK(sizes == std::multiset<std::size_t>{500, 1000, 1000});
    const auto m = reliability::summarize(*rig.mock);
    CHECK(m.max_batch_events <= 1000);
    reliability::check_i1(rig.client->stats(), m, {.accepted = ids.size()}, &rig.reports);
    reliability::check_i2(rig.reports, ids);
    reliability::check_i3(m, rig.reports, rig.client->stats());
    reliability::check_i4(m, rig.opts.transport.max_connections);
}

// ---------------------------------------------------------------------------- B5

namespace {
constexpr auto day = std::chrono::hours(24);
}

TEST_CASE("B5 event_time window on the injected clock: 7 d and 62 d boundaries, skew", "[bad-input][B5]") {
    capi::ManualClock clock(std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()));
    MockOptions mo;
    mo.clock = clock.as_clock();
    Rig rig(mo, [&](capi::Options& o) { o.clock = clock.as_clock(); });
    const auto now = clock.now();
    struct Case {
        std::string id;
        std::chrono::seconds age;  // negative: in the future
        capi::ActionSource source;
        bool ok;
    };
    const std::vector<Case> cases = {
        {"B5-7d-minus-1s", 7 * day - 1s, capi::ActionSource::website, true},
        {"B5-7d-exact", 7 * day, capi::ActionSource::website, true},
        {"B5-7d-plus-1s", 7 * day + 1s, capi::ActionSource::website, false},
        {"B5-future-300s", -300s, capi::ActionSource::website, true},
        {"B5-future-301s", -301s, capi::ActionSource::website, false},
        {"B5-store-8d", 8 * day, capi::ActionSource::physical_store, true},
        {"B5-store-62d-exact", 62 * day, capi::ActionSource::physical_store, true},
        {"B5-store-62d-plus-1s", 62 * day + 1s, capi::ActionSource::physical_store, false},
    };
    std::vector<std::string> good, bad;
    for (const auto& c : cases) {
        INFO(c.id);
        auto ev = capi_test::purchase_event(c.id, now, c.age);
        ev.action_source = c.source;
        const auto r = rig.client->enqueue(ev);
        if (c.ok) {
            CHECK(r.status == capi::EnqueueResult::Status::accepted);
            good.push_back(c.id);
        } else {
            INFO("errors: " << describe(r.errors));
            CHECK(r.status == capi::EnqueueResult::Status::invalid);
            CHECK(has_error(r.errors, "event_time", c.age.count() > 0 ? "older than" : "in the future"));
            bad.push_back(c.id);
        }
    }
    REQUIRE(rig.client->flush(30s));
    REQUIRE(rig.reports.wait_for(good.size(), 10s));
    const auto s = rig.client->stats();
    const auto m = reliability::summarize(*rig.mock);
    CHECK(s.delivered == good.size());  // the mock, on the same clock, accepted the boundary events
    CHECK(m.requests == 1);             // the stale ones never poisoned the batch
    for (const auto& id : bad) CHECK(m.seen.count(id) == 0);
    reliability::check_i1(s, m, {.accepted = good.size()}, &rig.reports);
    reliability::check_i2(rig.reports, good);
    reliability::check_i4(m, rig.opts.transport.max_connections);
}

TEST_CASE("B5 an event that ages out while retrying fails expired; its fresh batch-mate is delivered",
          "[bad-input][B5]") {
    capi::ManualClock clock(std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()));
    MockOptions mo;
    mo.clock = clock.as_clock();
    Rig rig(mo, [&](capi::Options& o) {
        o.clock = clock.as_clock();
        o.retry.max_attempts = 1000;
        o.retry.max_total = 60s;
    });
    for (int i = 0; i < 200; ++i) rig.mock->push_fault(Fault::graph_error(503, 2, 0, true, "transient"));
    const auto now = clock.now();
    REQUIRE(rig.client->enqueue(capi_test::purchase_event("B5-aging", now, 7 * day - 30s)));
    REQUIRE(rig.client->enqueue(capi_test::purchase_event("B5-fresh", now, 60s)));
    (void)rig.client->flush(0ms);  // seals the batch now (its marker travels on); the 503s keep it retrying
    // Two requests: the batch is retrying (advancing after the first alone races
    // the first 503, and the batch would expire before any retry).
    REQUIRE(reliability::wait_until([&] { return rig.mock->requests().size() >= 2; }, 20s));
    clock.advance(60s);  // B5-aging is now past 7 days
    REQUIRE(reliability::wait_until([&] { return rig.reports.total() >= 1; }, 20s));
    rig.mock->clear_faults();
    REQUIRE(rig.client->flush(30s));
    REQUIRE(rig.reports.wait_for(2, 10s));
    const auto aging = rig.reports.find("B5-aging");
    const auto fresh = rig.reports.find("B5-fresh");
    REQUIRE(aging);
    REQUIRE(fresh);
    CHECK(aging->last.outcome == Outcome::expired);
    CHECK(aging->last.error == capi::errc::expired);
    CHECK(fresh->last.outcome == Outcome::delivered);
    const auto s = rig.client->stats();
    const auto m = reliability::summarize(*rig.mock);
    CHECK(m.seen_2xx.count("B5-aging") == 0);  // never delivered once stale
    CHECK(s.expired == 1);
    CHECK(s.retries >= 1);
    reliability::check_i1(s, m, {.accepted = 2}, &rig.reports);
    reliability::check_i2(rig.reports, std::vector<std::string>{"B5-aging", "B5-fresh"});
    reliability::check_i4(m, rig.opts.transport.max_connections);
}

TEST_CASE("B5 re-checked at dispatch: an event that ages while its batch waits is never sent",
          "[bad-input][B5]") {
    capi::ManualClock clock(std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()));
    MockOptions mo;
    mo.clock = clock.as_clock();
    Rig rig(mo, [&](capi::Options& o) {
        o.clock = clock.as_clock();
        o.linger = 10ms;
        o.transport.max_in_flight = 1;  // one batch on the wire, the next waits
        o.transport.request_timeout = 60s;
    });
    rig.mock->push_fault(capi_test::hang_fault());
    const auto now = clock.now();
    REQUIRE(rig.client->enqueue(capi_test::purchase_event("B5-first", now, 60s)));
    REQUIRE(reliability::wait_until([&] { return !rig.mock->requests().empty(); }, 20s));
    // The second batch waits behind the hanging one.
    REQUIRE(rig.client->enqueue(capi_test::purchase_event("B5-waiting-aging", now, 7 * day - 30s)));
    REQUIRE(rig.client->enqueue(capi_test::purchase_event("B5-waiting-fresh", now, 60s)));
    REQUIRE(reliability::wait_until([&] { return rig.client->stats().in_flight == 3; }, 20s));
    clock.advance(60s);
    rig.mock->drop_connections();  // the first batch is retried and delivered
    REQUIRE(rig.client->flush(30s));
    REQUIRE(rig.reports.wait_for(3, 10s));
    const auto s = rig.client->stats();
    const auto m = reliability::summarize(*rig.mock);
    CHECK(rig.reports.find("B5-first")->last.outcome == Outcome::delivered);
    CHECK(rig.reports.find("B5-waiting-aging")->last.outcome == Outcome::expired);
    CHECK(rig.reports.find("B5-waiting-fresh")->last.outcome == Outcome::delivered);
    CHECK(m.seen.count("B5-waiting-aging") == 0);
    reliability::check_i1(s, m, {.accepted = 3}, &rig.reports);
    reliability::check_i2(rig.reports, std::vector<std::string>{"B5-first", "B5-waiting-aging", "B5-waiting-fresh"});
    reliability::check_i3(m, rig.reports, s);
    reliability::check_i4(m, 2);  // the dropped connection and its replacement
}

// ---------------------------------------------------------------------------- B6

TEST_CASE("B6 missing required fields: refused naming the field, nothing sent", "[bad-input][B6]") {
    run_bad_cases(
        {
            {"no event_name", [](capi::Event& e) { e.event_name.clear(); }, "event_name", "required"},
            {"no event_time", [](capi::Event& e) { e.event_time = 0; }, "event_time", "required"},
            {"no action_source", [](capi::Event& e) { e.action_source = capi::ActionSource::unset; },
             "action_source", "required"},
            {"no user_data (email event)",
             [](capi::Event& e) {
                 e.action_source = capi::ActionSource::email;
                 e.user_data = {};
             },
             "user_data", "customer information"},
            {"website event without client_user_agent", [](capi::Event& e) { e.user_data.client_user_agent.reset(); },
             "user_data.client_user_agent", "required (website events)"},
            {"website event without event_source_url", [](capi::Event& e) { e.event_source_url.reset(); },
             "event_source_url", "required (website events)"},
            {"Purchase without currency", [](capi::Event& e) { e.custom_data->currency.reset(); },
             "custom_data.currency", "required (Purchase events)"},
            {"app event without app_data",
             [](capi::Event& e) {
                 e.action_source = capi::ActionSource::app;
                 e.event_source_url.reset();
             },
             "app_data", "required (app events)"},
        },
        "B6-");
}

// ---------------------------------------------------------------------------- B7

TEST_CASE("B7 JSON injection: escaped on the wire, every value round-trips exactly", "[bad-input][B7]") {
    std::string controls;
    for (char c = 0; c < 0x20; ++c) controls += c;
    const std::vector<std::string> nasty = {
        "quote \" inside",
        "backslash \\ and \\\" and \\u0041",
        std::string("nul \0 inside", 12),
        "controls " + controls + " end",
        "line separators \xE2\x80\xA8 and \xE2\x80\xA9",
        "\"},{\"event_name\":\"x",
        "\"}],\"access_token\":\"stolen",
        "</script><script>alert(1)</script>",
        "emoji \xF0\x9F\x98\x80 and \xC3\xA9",
    };
    Rig rig;
    std::vector<std::string> ids;
    for (std::size_t i = 0; i < nasty.size(); ++i) {
        // The nasty string is the event_id itself (the mock logs what it parsed), a
        // custom_data string, the user agent, and a hashed name.
        ids.push_back(numbered("B7-", static_cast<long>(i)) + "|" + nasty[i]);
        auto ev = capi_test::purchase_event(ids.back());
        ev.custom_data->content_name = nasty[i];
        ev.custom_data->order_id = nasty[i];
        ev.user_data.client_user_agent = "UA " + nasty[i];
        ev.user_data.fn = {"N " + nasty[i]};
        const auto r = rig.client->enqueue(ev);
        INFO("string " << i << ": " << describe(r.errors));
        REQUIRE(r);
    }
    REQUIRE(rig.client->flush(30s));
    REQUIRE(rig.reports.wait_for(ids.size(), 10s));

    // The mock parsed one event per event sent, with the exact event_id.
    const auto m = reliability::summarize(*rig.mock);
    CHECK(m.events == ids.size());
    CHECK(m.events_2xx == ids.size());
    std::set<std::string> logged;
    for (const auto& r : rig.mock->requests()) logged.insert(r.event_ids.begin(), r.event_ids.end());
    CHECK(logged == std::set<std::string>(ids.begin(), ids.end()));
    CHECK(m.token_failures == 0);  // no injected access_token took over

    // What went over the wire, parsed with simdjson, equals what was given.
    std::size_t checked = 0;
    simdjson::dom::parser parser;
    for (const auto& body : rig.wire->bodies()) {
        simdjson::dom::element doc;
        REQUIRE(parser.parse(body).get(doc) == simdjson::SUCCESS);
        std::string_view token;
        REQUIRE(doc["access_token"].get_string().get(token) == simdjson::SUCCESS);
        CHECK(token == "mock-token");
        simdjson::dom::array data;
        REQUIRE(doc["data"].get_array().get(data) == simdjson::SUCCESS);
        for (auto ev : data) {
            std::string_view id, name, order, ua, fn, event_name;
            REQUIRE(ev["event_id"].get_string().get(id) == simdjson::SUCCESS);
            const auto bar = id.find('|');
            REQUIRE(bar != std::string_view::npos);
            const std::string original(id.substr(bar + 1));
            REQUIRE(ev["event_name"].get_string().get(event_name) == simdjson::SUCCESS);
            REQUIRE(ev["custom_data"]["content_name"].get_string().get(name) == simdjson::SUCCESS);
            REQUIRE(ev["custom_data"]["order_id"].get_string().get(order) == simdjson::SUCCESS);
            REQUIRE(ev["user_data"]["client_user_agent"].get_string().get(ua) == simdjson::SUCCESS);
            REQUIRE(ev["user_data"]["fn"].at(0).get_string().get(fn) == simdjson::SUCCESS);
            INFO("original: " << original);
            CHECK(event_name == "Purchase");
            CHECK(name == original);
            CHECK(order == original);
            CHECK(ua == "UA " + original);
            // Hashed: SHA-256 (OpenSSL) of the name as normalize() leaves it.
            const auto norm = capi::normalize(capi::Field::fn, "N " + original);
            REQUIRE(norm.status == capi::NormalizeStatus::ok);
            CHECK(fn == hex_sha256(norm.value));
            ++checked;
        }
        // Raw U+2028/U+2029 and control bytes never appear unescaped in a body.
        CHECK(body.find("\xE2\x80\xA8") == std::string::npos);
        CHECK(std::none_of(body.begin(), body.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; }));
    }
    CHECK(checked == ids.size());
    reliability::check_i1(rig.client->stats(), m, {.accepted = ids.size()}, &rig.reports);
    reliability::check_i2(rig.reports, ids);
    reliability::check_i4(m, rig.opts.transport.max_connections);
}

// ---------------------------------------------------------------------------- B8

TEST_CASE("B8 PII normalisation and hashing on the wire match known digests", "[bad-input][B8]") {
    // Digests computed independently (Python hashlib over the normalized text).
    const std::string john = "836f82db99121b3481011f16b49dfa5fbc714a0d1b1b9f784a1ebbbf5b39577f";   // john.doe@example.com
    const std::string phone = "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176";  // 16505551212
    const std::string valery = "08e1996b5dd49e62a4b4c010d44e4345592a863bb9f8e3976219bac29417149c"; // valéry
    const std::string male = "62c66a7a5dd70c3146618063c344e531e6d4b59e379808443ce962b3abd63c5a";   // m
    const std::string uk = "8d5f937f3a5590634cbe975951a6aa1543170671ce6e73cce4062f4e8c288417";     // 442071838750
    const std::string test = "973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b";   // test@example.com
    std::string test_upper = test;
    std::transform(test_upper.begin(), test_upper.end(), test_upper.begin(),
                   [](unsigned char c) { return std::toupper(c); });

    Rig rig;
    auto ev = capi_test::purchase_event("B8-1");
    ev.user_data.em = {"  John.Doe@Example.COM ", "john.doe@example.com", "  " + test_upper + "\t"};
    ev.user_data.ph = {"+1 (650) 555-1212", "0044 20 7183 8750"};
    ev.user_data.fn = {"  Valéry "};
    ev.user_data.ge = {" Male "};
    ev.user_data.ct = {"12345"};    // nothing left: omitted, not an error
    ev.user_data.ln = {"   "};      // blank: omitted
    ev.user_data.zp = {"A"};        // too short: omitted
    REQUIRE(rig.client->enqueue(ev));
    REQUIRE(rig.client->flush(30s));
    REQUIRE(rig.reports.wait_for(1, 10s));
    REQUIRE(rig.reports.find("B8-1")->last.outcome == Outcome::delivered);

    const auto bodies = rig.wire->bodies();
    REQUIRE(bodies.size() == 1);
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    REQUIRE(parser.parse(bodies[0]).get(doc) == simdjson::SUCCESS);
    const auto ud = doc["data"].at(0)["user_data"];
    auto strings = [&](const char* key) {
        std::vector<std::string> out;
        simdjson::dom::array a;
        if (ud[key].get_array().get(a) != simdjson::SUCCESS) return out;
        for (auto v : a) out.emplace_back(std::string_view(v.get_string().value_unsafe()));
        return out;
    };
    // Normalized, deduplicated in first-seen order; the uppercase digest passed
    // through lowercased, never hashed again.
    CHECK(strings("em") == std::vector<std::string>{john, test});
    CHECK(strings("ph") == std::vector<std::string>{phone, uk});
    CHECK(strings("fn") == std::vector<std::string>{valery});
    CHECK(strings("ge") == std::vector<std::string>{male});
    CHECK(ud["ct"].error() == simdjson::NO_SUCH_FIELD);
    CHECK(ud["ln"].error() == simdjson::NO_SUCH_FIELD);
    CHECK(ud["zp"].error() == simdjson::NO_SUCH_FIELD);
    // Each digest is SHA-256 of the normalized text as OpenSSL computes it.
    CHECK(hex_sha256("john.doe@example.com") == john);
    CHECK(hex_sha256("16505551212") == phone);
    const auto m = reliability::summarize(*rig.mock);
    reliability::check_i1(rig.client->stats(), m, {.accepted = 1}, &rig.reports);
    reliability::check_i2(rig.reports, std::vector<std::string>{"B8-1"});
}

// ---------------------------------------------------------------------------- B9

TEST_CASE("B9 config errors name the field at construction", "[bad-input][B9]") {
    MockGraphServer mock;
    struct Case {
        const char* field;
        std::function<void(capi::Options&)> spoil;
    };
    const std::vector<Case> cases = {
        {"destination.pixel_id", [](capi::Options& o) { o.destination.pixel_id.clear(); }},
        {"destination.pixel_id", [](capi::Options& o) { o.destination.pixel_id = "12a4"; }},
        {"destination.access_token", [](capi::Options& o) { o.destination.access_token.clear(); }},
        {"queue_capacity", [](capi::Options& o) { o.queue_capacity = 1; }},
        {"encode.max_batch_events", [](capi::Options& o) { o.encode.max_batch_events = 1001; }},
        {"encode.max_batch_events", [](capi::Options& o) { o.encode.max_batch_events = 0; }},
        {"linger", [](capi::Options& o) { o.linger = 0ms; }},
        {"max_batch_bytes", [](capi::Options& o) { o.max_batch_bytes = 1000; }},
        {"retry.max_attempts", [](capi::Options& o) { o.retry.max_attempts = 0; }},
        {"transport.max_in_flight", [](capi::Options& o) { o.transport.max_in_flight = 0; }},
        {"endpoint", [](capi::Options& o) { o.transport.endpoint = "http://127.0.0.1:1"; }},  // the transport says "endpoint: ..."
    };
    for (const auto& c : cases) {
        auto o = capi_test::client_options(mock);
        c.spoil(o);
        INFO("field " << c.field);
        try {
            capi::Client client(o);
            FAIL("constructed with a bad " << c.field);
        } catch (const std::system_error& e) {
            CHECK(e.code() == capi::errc::invalid_option);
            CHECK(std::string(e.what()).find(c.field) != std::string::npos);
            CHECK(std::string(e.what()).find("mock-token") == std::string::npos);  // never the token
        }
    }
    CHECK(mock.requests().empty());
}

TEST_CASE("B9 duplicate event_id in one batch: both kept and delivered (Meta deduplicates)", "[bad-input][B9]") {
    Rig rig;
    auto a = capi_test::purchase_event("B9-dup");
    auto b = capi_test::purchase_event("B9-dup");
    b.custom_data->value = 99.0;
    REQUIRE(rig.client->enqueue(a));
    REQUIRE(rig.client->enqueue(b));
    REQUIRE(rig.client->enqueue(capi_test::purchase_event("B9-other")));
    REQUIRE(rig.client->flush(30s));
    REQUIRE(rig.reports.wait_for(3, 10s));
    const auto s = rig.client->stats();
    const auto m = reliability::summarize(*rig.mock);
    CHECK(m.requests == 1);
    CHECK(m.events == 3);
    CHECK(m.repeated_in_request == 1);  // the id twice in the one body
    CHECK(s.delivered == 3);
    CHECK(s.duplicate_ids == 1);  // kept, and counted
    const auto dup = rig.reports.find("B9-dup");
    REQUIRE(dup);
    CHECK(dup->completions == 2);  // one report per accepted event, not per id
    reliability::check_i1(s, m, {.accepted = 3}, &rig.reports);
    reliability::check_i3(m, rig.reports, s, {"B9-dup"});
}

TEST_CASE("B9 flush on an empty queue returns at once and sends nothing", "[bad-input][B9]") {
    std::atomic<bool> done{false};
    std::error_code got = capi::errc::shutdown;
    Rig rig;
    const auto t0 = steady::now();
    CHECK(rig.client->flush(30s));
    rig.client->async_flush([&](std::error_code ec) {
        got = ec;
        done = true;
    });
    REQUIRE(reliability::wait_until([&] { return done.load(); }, 10s));
    CHECK(!got);
    const auto took = steady::now() - t0;
    WARN("B9: two flushes of an empty client took "
         << std::chrono::duration_cast<std::chrono::microseconds>(took).count() << " us");
    CHECK(took < 2s);  // far under linger (2 s) and the flush timeout: it did not wait for either
    const auto s = rig.client->stats();
    CHECK(s.accepted == 0);
    CHECK(s.batches == 0);
    CHECK(rig.mock->requests().empty());
    CHECK(rig.client->shutdown(5s));
    CHECK(rig.client->flush(1s));  // after shutdown: completes at once too
}
