// Graph reply parsing, the classification table of reference/graph-api.md §2,
// backoff bounds, appsecret_proof and the error category.
#include "transport/graph_reply.hpp"

#include <capi/retry.hpp>
#include <capi/transport.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

using capi::Disposition;
using capi::errc;
using capi::GraphError;
using capi::PostResult;
using capi::RetryPolicy;
using namespace std::chrono_literals;

namespace Catch {
template <>
struct StringMaker<Disposition> {
    static std::string convert(Disposition d) {
        switch (d) {
        case Disposition::success: return "success";
        case Disposition::retry: return "retry";
        case Disposition::throttle: return "throttle";
        case Disposition::fail: return "fail";
        }
        return "?";
    }
};
template <>
struct StringMaker<capi::Action> {
    static std::string convert(capi::Action a) {
        switch (a) {
        case capi::Action::success: return "success";
        case capi::Action::retry: return "retry";
        case capi::Action::throttle: return "throttle";
        case capi::Action::split: return "split";
        case capi::Action::refuse_destination: return "refuse_destination";
        case capi::Action::fail: return "fail";
        }
        return "?";
    }
};
} // namespace Catch

namespace {

PostResult parsed(std::string_view body, bool expect_ok = true) {
    PostResult r;
    CHECK(capi::detail::parse_graph_reply(body, r) == expect_ok);
    return r;
}

PostResult graph(int status, std::int64_t code, bool transient = false, std::int64_t subcode = 0) {
    PostResult r;
    r.http_status = status;
    GraphError g;
    g.code = code;
    g.error_subcode = subcode;
    g.is_transient = transient;
    r.error = g;
    return r;
}

PostResult http(int status) {
    PostResult r;
    r.http_status = status;
    return r;
}

std::error_code ec(errc e) { return capi::make_error_code(e); }

} // namespace

// ---------------------------------------------------------------- replies

TEST_CASE("parse_graph_reply: success body", "[reply]") {
    auto r = parsed(R"({"events_received":1,"messages":[],"fbtrace_id":"ATHEd8F7ddsITPV0fE5TWjY"})");
    CHECK(r.events_received == 1);
    CHECK(r.messages.empty());
    CHECK(r.fbtrace_id == "ATHEd8F7ddsITPV0fE5TWjY");
    CHECK_FALSE(r.error);

    r = parsed(R"({"events_received":"1000","messages":["a","b"]})");
    CHECK(r.events_received == 1000);
    CHECK(r.messages == std::vector<std::string>{"a", "b"});
    CHECK(r.fbtrace_id.empty());

    r = parsed("  {\"events_received\":3}\n");
    CHECK(r.events_received == 3);
}

TEST_CASE("parse_graph_reply: 2804003 event_time too old", "[reply]") {
    auto r = parsed(R"({"error":{"message":"Invalid parameter","type":"OAuthException","code":100,
        "error_subcode":2804003,"is_transient":false,"error_user_title":"Event Timestamp Too Old",
        "error_user_msg":"The timestamp for this event is too far in the past. Events need to be sent from your server within 7 days of when they occurred.",
        "fbtrace_id":"A1b2C3d4"}})");
    REQUIRE(r.error);
    CHECK(r.error->code == 100);
    CHECK(r.error->error_subcode == 2804003);
    CHECK_FALSE(r.error->is_transient);
    CHECK(r.error->type == "OAuthException");
    CHECK(r.error->message == "Invalid parameter");
    CHECK(r.error->error_user_title == "Event Timestamp Too Old");
    CHECK(r.error->error_user_msg.rfind("The timestamp for this event", 0) == 0);
    CHECK(r.error->fbtrace_id == "A1b2C3d4");
    CHECK(r.fbtrace_id == "A1b2C3d4");
    r.http_status = 400;
    CHECK(capi::classify(ec(errc::graph_error), r) == Disposition::fail);
}

TEST_CASE("parse_graph_reply: 2804050 insufficient customer information (Danish text)", "[reply]") {
    auto r = parsed(R"({"error":{"message":"Invalid parameter","type":"OAuthException","code":100,
        "error_subcode":2804050,"is_transient":false,
        "error_user_title":"Du har ikke tilf\u00f8jet tilstr\u00e6kkelige data for kundeoplysningsparametre for denne h\u00e6ndelse",
        "error_user_msg":"Denne h\u00e6ndelse har ingen kundeoplysningsparametre.","fbtrace_id":"AxyZ"}})");
    REQUIRE(r.error);
    CHECK(r.error->code == 100);
    CHECK(r.error->error_subcode == 2804050);
    CHECK(r.error->error_user_title.find("tilf\xc3\xb8jet") != std::string::npos);
}

TEST_CASE("parse_graph_reply: 190 invalid token (HTTP 401)", "[reply]") {
    auto r = parsed(R"({"error":{"message":"Invalid OAuth access token - Cannot parse access token","type":"OAuthException","code":190,"fbtrace_id":"Fx9"}})");
    r.http_status = 401;
    REQUIRE(r.error);
    CHECK(r.error->code == 190);
    CHECK(r.error->error_subcode == 0);
    CHECK(r.error->message == "Invalid OAuth access token - Cannot parse access token");
    CHECK(capi::classify(ec(errc::graph_error), r) == Disposition::fail);
}

TEST_CASE("parse_graph_reply: code 4 throttle with is_transient (HTTP 403)", "[reply]") {
    auto r = parsed(R"({"error":{"message":"(#4) Application request limit reached","type":"OAuthException","is_transient":true,"code":4,"fbtrace_id":"T4"}})");
    r.http_status = 403;
    REQUIRE(r.error);
    CHECK(r.error->code == 4);
    CHECK(r.error->is_transient);
    CHECK(capi::classify(ec(errc::graph_error), r) == Disposition::throttle);
}

TEST_CASE("parse_graph_reply: code 2 transient", "[reply]") {
    auto r = parsed(R"({"error":{"message":"An unexpected error has occurred. Please retry your request later.","type":"OAuthException","is_transient":true,"code":2}})");
    r.http_status = 500;
    REQUIRE(r.error);
    CHECK(r.error->code == 2);
    CHECK(r.error->is_transient);
    CHECK(capi::classify(ec(errc::graph_error), r) == Disposition::retry);
}

TEST_CASE("parse_graph_reply: tolerant types", "[reply]") {
    auto r = parsed(R"({"error":{"code":"100","error_subcode":"33","is_transient":"false","type":"GraphMethodException"}})");
    REQUIRE(r.error);
    CHECK(r.error->code == 100);
    CHECK(r.error->error_subcode == 33);
    CHECK_FALSE(r.error->is_transient);

    r = parsed(R"({"error":{"code":4.0,"is_transient":1,"error_subcode":null,"message":42}})");
    REQUIRE(r.error);
    CHECK(r.error->code == 4);
    CHECK(r.error->is_transient);
    CHECK(r.error->error_subcode == 0);
    CHECK(r.error->message.empty());

    r = parsed(R"({"error":{"code":" 17 "}})");
    REQUIRE(r.error);
    CHECK(r.error->code == 17);
}

TEST_CASE("parse_graph_reply: not Meta's JSON", "[reply]") {
    const char* bodies[] = {
        "",
        "   ",
        "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>",
        R"({"events_received":1,"messages":[],"fbtr)",
        R"({"error":{"message":"x","code":100)",
        "[]",
        "\"error\"",
        "null",
        "42",
        "{}",
        R"({"error":"nope"})",
        R"({"error":{"message":"no code"}})",
        R"({"error":{"code":"abc"}})",
        R"({"error":{"code":1.5}})",
        R"({"error":{"code":true}})",
        R"({"events_received":"many"})",
        R"({"events_received":-1})",
    };
    for (const char* b : bodies) {
        INFO(b);
        PostResult r;
        CHECK_FALSE(capi::detail::parse_graph_reply(b, r));
    }
    // A NUL inside the view, not only after it.
    PostResult r;
    CHECK_FALSE(capi::detail::parse_graph_reply(std::string_view("{\"events_received\":1}\0", 22), r));

    // An HTML 502 reaches classify as bad_response: transient.
    r = http(502);
    CHECK(capi::classify(ec(errc::bad_response), r) == Disposition::retry);
    r = http(200);
    CHECK(capi::classify(ec(errc::bad_response), r) == Disposition::retry);
}

TEST_CASE("parse_graph_reply: the parser is reused across sizes", "[reply]") {
    std::string big = R"({"events_received":1000,"messages":[)";
    for (int i = 0; i < 2000; ++i) big += (i ? ",\"" : "\"") + std::string(50, 'm') + "\"";
    big += R"(],"fbtrace_id":"big"})";
    auto r = parsed(big);
    CHECK(r.messages.size() == 2000);
    r = parsed(R"({"events_received":2})");
    CHECK(r.events_received == 2);
    CHECK(r.messages.empty());
}

// ---------------------------------------------------------------- classification

TEST_CASE("classify: success", "[classify]") {
    CHECK(capi::classify({}, http(200)) == Disposition::success);
    CHECK(capi::classify({}, http(201)) == Disposition::success);
    CHECK(capi::classify({}, http(299)) == Disposition::success);
    CHECK(capi::classify({}, http(300)) == Disposition::fail);
    CHECK(capi::classify({}, http(0)) == Disposition::fail);
    CHECK(capi::classify(ec(errc::connection_lost), http(200)) == Disposition::retry);
}

TEST_CASE("classify: Graph codes, the table", "[classify]") {
    struct row {
        std::int64_t code;
        Disposition want;
    };
    const std::vector<row> rows = {
        {1, Disposition::retry},        {2, Disposition::retry},        {341, Disposition::retry},
        {368, Disposition::retry},      {4, Disposition::throttle},     {17, Disposition::throttle},
        {32, Disposition::throttle},    {613, Disposition::throttle},   {80000, Disposition::throttle},
        {80001, Disposition::throttle}, {80003, Disposition::throttle}, {80004, Disposition::throttle},
        {80014, Disposition::throttle}, {100, Disposition::fail},       {190, Disposition::fail},
        {10, Disposition::fail},        {200, Disposition::fail},       {250, Disposition::fail},
        {299, Disposition::fail},       {3, Disposition::fail},         {2635, Disposition::fail},
    };
    for (int code = 80000; code <= 80014; ++code) {
        INFO(code);
        CHECK(capi::classify(ec(errc::graph_error), graph(400, code)) == Disposition::throttle);
    }
    for (int code = 200; code <= 299; ++code) {
        INFO(code);
        CHECK(capi::classify(ec(errc::graph_error), graph(403, code)) == Disposition::fail);
    }
    // The Graph code decides whatever the status (throttles come as 400/403, a
    // 500 can carry a final code) and whatever is_transient says.
    for (const auto& r : rows) {
        for (int status : {200, 400, 401, 403, 429, 500, 503}) {
            for (bool transient : {false, true}) {
                INFO("code " << r.code << " status " << status << " transient " << transient);
                CHECK(capi::classify(ec(errc::graph_error), graph(status, r.code, transient)) == r.want);
                CHECK(capi::classify({}, graph(status, r.code, transient)) == r.want);
            }
        }
    }
    // Code 100 with any subcode.
    for (std::int64_t sub : {0, 33, 2804001, 2804003, 2804007, 2804014, 2804016, 2804017, 2804019, 2804048, 2804050}) {
        CHECK(capi::classify(ec(errc::graph_error), graph(400, 100, false, sub)) == Disposition::fail);
        CHECK(capi::classify(ec(errc::graph_error), graph(500, 100, true, sub)) == Disposition::fail);
    }
}

TEST_CASE("classify: boundaries and unknown codes", "[classify]") {
    // Unknown codes: is_transient, then the status.
    for (std::int64_t code : {79999, 80015, 199, 300, 5, 0, 5000, -1}) {
        INFO(code);
        CHECK(capi::classify(ec(errc::graph_error), graph(400, code)) == Disposition::fail);
        CHECK(capi::classify(ec(errc::graph_error), graph(400, code, true)) == Disposition::retry);
        CHECK(capi::classify(ec(errc::graph_error), graph(500, code)) == Disposition::retry);
        CHECK(capi::classify(ec(errc::graph_error), graph(503, code)) == Disposition::retry);
        CHECK(capi::classify(ec(errc::graph_error), graph(429, code)) == Disposition::retry);
        CHECK(capi::classify(ec(errc::graph_error), graph(200, code)) == Disposition::fail);
    }
    CHECK(capi::classify(ec(errc::graph_error), graph(400, 9)) == Disposition::fail);
    CHECK(capi::classify(ec(errc::graph_error), graph(400, 11)) == Disposition::fail);
}

TEST_CASE("classify: HTTP status without a Graph body", "[classify]") {
    for (int status : {429, 500, 502, 503, 504, 599}) {
        INFO(status);
        CHECK(capi::classify(ec(errc::http_error), http(status)) == Disposition::retry);
        CHECK(capi::classify(ec(errc::bad_response), http(status)) == Disposition::retry);
        CHECK(capi::classify({}, http(status)) == Disposition::retry);
    }
    for (int status : {400, 401, 403, 404, 405, 413, 499}) {
        INFO(status);
        CHECK(capi::classify(ec(errc::http_error), http(status)) == Disposition::fail);
        CHECK(capi::classify(ec(errc::bad_response), http(status)) == Disposition::fail);
    }
    CHECK(capi::classify(ec(errc::http_error), http(600)) == Disposition::fail);
    CHECK(capi::classify(ec(errc::http_error), http(302)) == Disposition::fail);
}

TEST_CASE("classify: every errc, no reply", "[classify]") {
    struct row {
        errc e;
        Disposition want;
    };
    const row rows[] = {
        {errc::invalid_event, Disposition::fail},
        {errc::queue_full, Disposition::fail},
        {errc::graph_error, Disposition::fail},
        {errc::http_error, Disposition::fail},
        {errc::bad_response, Disposition::retry},
        {errc::resolve_failed, Disposition::retry},
        {errc::connect_failed, Disposition::retry},
        {errc::tls_handshake_failed, Disposition::fail},
        {errc::certificate_verify_failed, Disposition::fail},
        {errc::connect_timeout, Disposition::retry},
        {errc::handshake_timeout, Disposition::retry},
        {errc::request_timeout, Disposition::retry},
        {errc::connection_lost, Disposition::retry},
        {errc::retries_exhausted, Disposition::fail},
        {errc::expired, Disposition::fail},
        {errc::shutdown, Disposition::fail},
        {errc::cancelled, Disposition::fail},
        {errc::invalid_option, Disposition::fail},
    };
    STATIC_REQUIRE(static_cast<int>(errc::invalid_option) == 18);
    CHECK(std::size(rows) == 18);
    for (const auto& r : rows) {
        INFO(capi::make_error_code(r.e).message());
        CHECK(capi::classify(ec(r.e), http(0)) == r.want);
    }
    // Local decisions stay final even next to a retryable reply.
    for (errc e : {errc::shutdown, errc::cancelled, errc::expired, errc::queue_full, errc::invalid_option}) {
        CHECK(capi::classify(ec(e), http(503)) == Disposition::fail);
        CHECK(capi::classify(ec(e), graph(400, 2, true)) == Disposition::fail);
    }
    // Errors of a user Transport's own stack count as network failures.
    CHECK(capi::classify(std::make_error_code(std::errc::connection_reset), http(0)) == Disposition::retry);
    CHECK(capi::classify(std::make_error_code(std::errc::timed_out), http(0)) == Disposition::retry);
    CHECK(capi::classify(std::make_error_code(std::errc::operation_canceled), http(0)) == Disposition::fail);
}

// ---------------------------------------------------------------- backoff

// ---------------------------------------------------------------- the policy

TEST_CASE("graph_code: the names are Meta's numbers", "[policy]") {
    namespace gc = capi::graph_code;
    STATIC_REQUIRE(gc::api_unknown == 1);
    STATIC_REQUIRE(gc::api_service == 2);
    STATIC_REQUIRE(gc::api_method == 3);
    STATIC_REQUIRE(gc::api_too_many_calls == 4);
    STATIC_REQUIRE(gc::api_permission_denied == 10);
    STATIC_REQUIRE(gc::api_user_too_many_calls == 17);
    STATIC_REQUIRE(gc::page_too_many_calls == 32);
    STATIC_REQUIRE(gc::invalid_parameter == 100);
    STATIC_REQUIRE(gc::api_session == 102);
    STATIC_REQUIRE(gc::access_token == 190);
    STATIC_REQUIRE(gc::permission_first == 200);
    STATIC_REQUIRE(gc::permission_last == 299);
    STATIC_REQUIRE(gc::application_limit == 341);
    STATIC_REQUIRE(gc::temporarily_blocked == 368);
    STATIC_REQUIRE(gc::rate_limit == 613);
    STATIC_REQUIRE(gc::deprecated_version == 2635);
    STATIC_REQUIRE(gc::business_use_case_first == 80000);
    STATIC_REQUIRE(gc::ads_management_too_many_calls == 80004);
    STATIC_REQUIRE(gc::business_use_case_last == 80014);
}

TEST_CASE("decide: split, refuse the destination, throttle, retry, fail", "[policy]") {
    using capi::Action;
    namespace gc = capi::graph_code;
    const auto graph_ec = ec(errc::graph_error);
    // The client's two decisions, on what the Sender completes with.
    CHECK(capi::decide(graph_ec, graph(401, gc::access_token), 1) == Action::refuse_destination);
    CHECK(capi::decide(graph_ec, graph(401, gc::access_token), 1000) == Action::refuse_destination);
    CHECK(capi::decide(graph_ec, graph(400, gc::invalid_parameter), 2) == Action::split);
    CHECK(capi::decide(graph_ec, graph(500, gc::invalid_parameter), 1000) == Action::split);
    // One bad event: nothing to isolate.
    CHECK(capi::decide(graph_ec, graph(400, gc::invalid_parameter), 1) == Action::fail);
    CHECK(capi::decide(graph_ec, graph(400, gc::invalid_parameter), 0) == Action::fail);
    // One attempt's reply before the Sender finished it (no error code yet).
    CHECK(capi::decide({}, graph(401, gc::access_token)) == Action::refuse_destination);
    // Decided on this side of the wire: the stale reply does not count.
    for (auto local : {errc::retries_exhausted, errc::expired, errc::shutdown, errc::cancelled, errc::auth_error}) {
        CAPTURE(static_cast<int>(local));
        CHECK(capi::decide(ec(local), graph(401, gc::access_token), 5) == Action::fail);
        CHECK(capi::decide(ec(local), graph(400, gc::invalid_parameter), 5) == Action::fail);
    }
    // Another error the reply came with: final, not the Graph object's decision.
    CHECK(capi::decide(ec(errc::http_error), graph(400, gc::invalid_parameter), 5) == Action::fail);
    CHECK(capi::decide(ec(errc::http_error), graph(401, gc::access_token), 5) == Action::fail);

    for (std::int64_t c : {gc::api_too_many_calls, gc::api_user_too_many_calls, gc::page_too_many_calls,
                           gc::rate_limit, gc::business_use_case_first, gc::ads_management_too_many_calls,
                           gc::business_use_case_last}) {
        CAPTURE(c);
        CHECK(capi::decide(graph_ec, graph(400, c), 10) == Action::throttle);
    }
    for (std::int64_t c : {gc::api_unknown, gc::api_service, gc::application_limit, gc::temporarily_blocked}) {
        CAPTURE(c);
        CHECK(capi::decide(graph_ec, graph(400, c), 10) == Action::retry);
    }
    for (std::int64_t c : {gc::api_method, gc::api_permission_denied, gc::permission_first, std::int64_t{250},
                           gc::permission_last, gc::deprecated_version}) {
        CAPTURE(c);
        CHECK(capi::decide(graph_ec, graph(403, c), 10) == Action::fail);
    }
    // 102 is not a token refusal: an unknown code, the status decides.
    CHECK(capi::decide(graph_ec, graph(400, gc::api_session), 10) == Action::fail);
    CHECK(capi::decide(graph_ec, graph(500, gc::api_session), 10) == Action::retry);
    PostResult ok;
    ok.http_status = 200;
    CHECK(capi::decide({}, ok, 10) == Action::success);
}

TEST_CASE("decide: exactly the dispatcher's former inline rules for 190 and 100", "[policy]") {
    using capi::Action;
    // lib/client/client.cpp decided on the Sender's completion (ec, res) with
    //   refuse: ec == graph_error && res.error && res.error->code == 190
    //   split:  ec == graph_error && res.error && res.error->code == 100 && events > 1
    // The Sender never completes with an empty error and an error object, so
    // every error it can complete with is tried, with every kind of reply.
    std::vector<std::error_code> errors{ec(errc::graph_error), ec(errc::http_error)};
    for (int e = 1; e <= static_cast<int>(errc::auth_error); ++e) errors.push_back(ec(static_cast<errc>(e)));
    errors.push_back(std::make_error_code(std::errc::connection_refused));
    std::vector<PostResult> replies{http(0), http(200), http(400), http(500)};
    for (std::int64_t code : {1, 2, 3, 4, 10, 17, 32, 100, 102, 190, 200, 299, 341, 368, 613, 2635, 80004, 12345})
        for (int status : {200, 400, 401, 403, 500})
            for (bool transient : {false, true}) replies.push_back(graph(status, code, transient));
    for (const auto& e : errors) {
        for (const auto& r : replies) {
            for (std::size_t events : {std::size_t{1}, std::size_t{2}, std::size_t{1000}}) {
                const bool refuse = e == errc::graph_error && r.error && r.error->code == 190;
                const bool split = e == errc::graph_error && r.error && r.error->code == 100 && events > 1;
                const Action a = capi::decide(e, r, events);
                CAPTURE(e.message(), r.http_status, r.error ? r.error->code : -1, events);
                CHECK((a == Action::refuse_destination) == refuse);
                CHECK((a == Action::split) == split);
            }
        }
    }
}

TEST_CASE("classify is decide() as a retry loop sees it", "[policy]") {
    std::vector<PostResult> replies{http(0), http(200), http(429), http(400), http(503)};
    for (std::int64_t code : {1, 4, 100, 190, 200, 2635, 80004, 12345}) replies.push_back(graph(400, code));
    for (auto e : {std::error_code{}, ec(errc::graph_error), ec(errc::connection_lost), ec(errc::shutdown)}) {
        for (const auto& r : replies) {
            const auto a = capi::decide(e, r, 1000);
            Disposition want = Disposition::fail;
            if (a == capi::Action::success) want = Disposition::success;
            if (a == capi::Action::retry) want = Disposition::retry;
            if (a == capi::Action::throttle) want = Disposition::throttle;
            CAPTURE(e.message(), r.http_status, r.error ? r.error->code : -1);
            CHECK(capi::classify(e, r) == want);
        }
    }
}

TEST_CASE("backoff_delay: full jitter within the cap for attempts 1..40", "[backoff]") {
    RetryPolicy p;
    p.initial_backoff = 200ms;
    p.max_backoff = 10'000ms;
    p.throttle_initial_backoff = 60'000ms;
    p.throttle_max_backoff = 900'000ms;
    std::mt19937_64 rng(12345);

    for (Disposition d : {Disposition::retry, Disposition::throttle}) {
        const bool slow = d == Disposition::throttle;
        const std::int64_t initial = slow ? 60'000 : 200;
        const std::int64_t max = slow ? 900'000 : 10'000;
        for (unsigned attempt = 1; attempt <= 40; ++attempt) {
            const std::int64_t cap = attempt - 1 >= 40 || (initial << (attempt - 1)) > max ? max : initial << (attempt - 1);
            std::int64_t lo = cap, hi = 0;
            int out_of_range = 0;
            for (int i = 0; i < 4000; ++i) {
                const auto v = capi::backoff_delay(p, d, attempt, std::nullopt, rng()).count();
                out_of_range += v < 0 || v > cap;
                lo = std::min(lo, v);
                hi = std::max(hi, v);
            }
            INFO("attempt " << attempt << " cap " << cap << " lo " << lo << " hi " << hi);
            CHECK(out_of_range == 0);
            // Full jitter: the draws cover the range, not a band near the cap.
            CHECK(lo <= cap / 50);
            CHECK(hi >= cap - cap / 50);
        }
    }
    // The extremes of the random value map to the ends of the range.
    CHECK(capi::backoff_delay(p, Disposition::retry, 1, std::nullopt, 0).count() == 0);
    CHECK(capi::backoff_delay(p, Disposition::retry, 1, std::nullopt, 200).count() == 200);
    CHECK(capi::backoff_delay(p, Disposition::retry, 3, std::nullopt, 800).count() == 800);
    CHECK(capi::backoff_delay(p, Disposition::retry, 3, std::nullopt, 801).count() == 0);
}

TEST_CASE("backoff_delay: Retry-After is a lower bound", "[backoff]") {
    RetryPolicy p;
    p.initial_backoff = 5ms;
    p.max_backoff = 20ms;
    p.throttle_initial_backoff = 10ms;
    p.throttle_max_backoff = 40ms;
    std::mt19937_64 rng(7);
    for (unsigned attempt = 1; attempt <= 40; ++attempt) {
        for (int i = 0; i < 200; ++i) {
            CHECK(capi::backoff_delay(p, Disposition::throttle, attempt, 1s, rng()) == 1000ms);
            CHECK(capi::backoff_delay(p, Disposition::retry, attempt, 3s, rng()) == 3000ms);
            const auto z = capi::backoff_delay(p, Disposition::throttle, attempt, 0s, rng());
            CHECK(z >= 0ms);
            CHECK(z <= 40ms);
        }
    }
    // Retry-After below the jittered delay does not shorten it.
    p.throttle_initial_backoff = 60'000ms;
    p.throttle_max_backoff = 900'000ms;
    CHECK(capi::backoff_delay(p, Disposition::throttle, 1, 1s, 59'999).count() == 59'999);
    // Absurd or negative values: never negative, no overflow.
    CHECK(capi::backoff_delay(p, Disposition::throttle, 1, std::chrono::seconds::max(), 0) > 24h * 365 * 100);
    CHECK(capi::backoff_delay(p, Disposition::throttle, 1, -5s, 0) == 0ms);
}

TEST_CASE("backoff_delay: degenerate policies and dispositions", "[backoff]") {
    RetryPolicy p;
    CHECK(capi::backoff_delay(p, Disposition::success, 3, 5s, ~0ull) == 0ms);
    CHECK(capi::backoff_delay(p, Disposition::fail, 3, 5s, ~0ull) == 0ms);
    // attempt 0 behaves as attempt 1.
    CHECK(capi::backoff_delay(p, Disposition::retry, 0, std::nullopt, ~0ull) <= p.initial_backoff);
    // Huge attempts: capped, no shift overflow.
    for (unsigned attempt : {62u, 63u, 64u, 65u, 1000u, ~0u}) {
        const auto v = capi::backoff_delay(p, Disposition::retry, attempt, std::nullopt, ~0ull - 3);
        CHECK(v >= 0ms);
        CHECK(v <= p.max_backoff);
    }
    p.initial_backoff = 0ms;
    CHECK(capi::backoff_delay(p, Disposition::retry, 5, std::nullopt, 12345) == 0ms);
    p.initial_backoff = -10ms;
    p.max_backoff = -1ms;
    CHECK(capi::backoff_delay(p, Disposition::retry, 5, std::nullopt, 12345) == 0ms);
    p.initial_backoff = std::chrono::milliseconds::max();
    p.max_backoff = std::chrono::milliseconds::max();
    const auto v = capi::backoff_delay(p, Disposition::retry, 40, std::nullopt, ~0ull);
    CHECK(v > 0ms);
    // Convertible to nanoseconds without overflow.
    CHECK(std::chrono::duration_cast<std::chrono::nanoseconds>(v).count() > 0);
}

// ---------------------------------------------------------------- appsecret_proof, errors

TEST_CASE("appsecret_proof: HMAC-SHA256, lowercase hex", "[appsecret]") {
    // echo -n "EAAtoken123" | openssl dgst -sha256 -hmac "appsecret456"
    CHECK(capi::appsecret_proof("EAAtoken123", "appsecret456") ==
          "49325074a75f6a9e05746225ee9c199fb9e9422c696a9f35dd320823445ece26");
    // echo -n "" | openssl dgst -sha256 -hmac ""
    CHECK(capi::appsecret_proof("", "") == "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
    // RFC 4231 test case 2: key "Jefe".
    CHECK(capi::appsecret_proof("what do ya want for nothing?", "Jefe") ==
          "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    const auto p = capi::appsecret_proof("token", "secret");
    CHECK(p.size() == 64);
    CHECK(p.find_first_not_of("0123456789abcdef") == std::string::npos);
}

TEST_CASE("error category: name and a message for every errc", "[errors]") {
    CHECK(std::string(capi::category().name()) == "capi");
    std::vector<std::string> seen;
    for (int i = 1; i <= static_cast<int>(errc::invalid_option); ++i) {
        const std::error_code e = capi::make_error_code(static_cast<errc>(i));
        INFO(i);
        CHECK(&e.category() == &capi::category());
        CHECK(e.value() == i);
        CHECK_FALSE(e.message().empty());
        CHECK(std::find(seen.begin(), seen.end(), e.message()) == seen.end());
        seen.push_back(e.message());
    }
    // Implicit conversion through is_error_code_enum.
    const std::error_code e = errc::expired;
    CHECK(e == capi::make_error_code(errc::expired));
    CHECK_FALSE(capi::category().message(999).empty());
}

TEST_CASE("usage_wait: Meta's usage headers", "[reply]") {
    using capi::detail::usage_wait;
    PostResult r;
    CHECK_FALSE(usage_wait(r));
    r.business_use_case_usage =
        R"({"1234":[{"type":"ads_management","call_count":100,"total_cputime":30,"total_time":40,"estimated_time_to_regain_access":5},)"
        R"({"type":"custom_audience","call_count":9,"estimated_time_to_regain_access":0}],"5678":[{"type":"ads_insights","estimated_time_to_regain_access":"12"}]})";
    REQUIRE(usage_wait(r));
    CHECK(*usage_wait(r) == std::chrono::minutes(12));

    r.business_use_case_usage = R"({"1234":[{"type":"ads_management","call_count":10,"estimated_time_to_regain_access":0}]})";
    CHECK_FALSE(usage_wait(r));
    r.business_use_case_usage = "not json";
    CHECK_FALSE(usage_wait(r));

    r.ad_account_usage = R"({"acc_id_util_pct":9.67,"reset_time_duration":120,"ads_api_access_tier":"standard_access"})";
    CHECK_FALSE(usage_wait(r));  // not at the limit: the reset time is no reason to wait
    r.ad_account_usage = R"({"acc_id_util_pct":100,"reset_time_duration":120,"ads_api_access_tier":"standard_access"})";
    REQUIRE(usage_wait(r));
    CHECK(*usage_wait(r) == 120s);

    // A header asking for more than a day is held to a day.
    r.ad_account_usage.clear();
    r.business_use_case_usage = R"({"1":[{"estimated_time_to_regain_access":99999999999}]})";
    REQUIRE(usage_wait(r));
    CHECK(*usage_wait(r) == 24h);
}
