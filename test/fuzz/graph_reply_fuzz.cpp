// libFuzzer target: the Graph API reply parser (lib/transport/graph_reply.*),
// with what the sender does next: usage_wait() on the usage headers, then
// classify() and backoff_delay(). Beyond "no crash, no throw":
//  - a body that is not a JSON object (checked with a separate simdjson
//    parser) is never accepted; an accepted body has an "error" object exactly
//    when the result carries a GraphError, and a success has events_received >= 0;
//  - parsing is repeatable: the same body parsed again, after another body went
//    through the same thread-local parser, gives the same result;
//  - usage_wait() is nothing or 1 s .. 1 day; backoff_delay() is never negative
//    and honours Retry-After as a lower bound.
//
// Input: byte 0 picks the HTTP status from a table, byte 1 the Retry-After
// (0: none); the rest is cut at NUL bytes into the body, the
// X-Business-Use-Case-Usage header and the X-Ad-Account-Usage header.
#include "transport/graph_reply.hpp"

#include <capi/errors.hpp>
#include <capi/transport.hpp>
#include <capi/retry.hpp>

#include <simdjson.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace {

void check(bool ok) {
    if (!ok) __builtin_trap();
}

bool same(const capi::PostResult& a, const capi::PostResult& b) {
    if (a.events_received != b.events_received || a.messages != b.messages || a.fbtrace_id != b.fbtrace_id ||
        a.error.has_value() != b.error.has_value())
        return false;
    if (!a.error) return true;
    const auto& x = *a.error;
    const auto& y = *b.error;
    return x.code == y.code && x.error_subcode == y.error_subcode && x.is_transient == y.is_transient &&
           x.type == y.type && x.message == y.message && x.error_user_title == y.error_user_title &&
           x.error_user_msg == y.error_user_msg && x.fbtrace_id == y.fbtrace_id;
}

std::string_view next_part(std::string_view& rest) {
    const auto nul = rest.find('\0');
    const std::string_view part = rest.substr(0, nul);
    rest = nul == std::string_view::npos ? std::string_view{} : rest.substr(nul + 1);
    return part;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static constexpr std::array<int, 8> statuses = {200, 400, 403, 429, 500, 503, 302, 0};
    if (size < 2) return 0;
    std::string_view rest(reinterpret_cast<const char*>(data) + 2, size - 2);
    const std::string_view body = next_part(rest);
    const std::string_view buc = next_part(rest);
    const std::string_view acc = next_part(rest);

    capi::PostResult r;
    r.http_status = statuses[data[0] % statuses.size()];
    const bool accepted = capi::detail::parse_graph_reply(body, r);

    simdjson::dom::parser independent;
    simdjson::dom::object root;
    const bool is_object = independent.parse(simdjson::padded_string(body)).get_object().get(root) == simdjson::SUCCESS;
    if (!is_object) check(!accepted);
    if (accepted) {
        simdjson::dom::object err;
        const bool has_error = root.at_key("error").get_object().get(err) == simdjson::SUCCESS;
        check(r.error.has_value() == has_error);
        if (!has_error) check(r.events_received >= 0);
    } else {
        check(!r.error);
    }

    // Another body through the same thread-local parser, then this one again.
    capi::PostResult other;
    (void)capi::detail::parse_graph_reply(R"({"events_received":3,"messages":["x",1],"fbtrace_id":"T"})", other);
    check(other.events_received == 3 && other.messages.size() == 2);
    capi::PostResult again;
    again.http_status = r.http_status;
    check(capi::detail::parse_graph_reply(body, again) == accepted && same(r, again));

    r.business_use_case_usage.assign(buc);
    r.ad_account_usage.assign(acc);
    const auto wait = capi::detail::usage_wait(r);
    if (wait) check(wait->count() >= 1 && wait->count() <= 24 * 3600);

    if (data[1] != 0) r.retry_after = std::chrono::seconds{data[1]};
    const std::error_code ec =
        r.error ? make_error_code(capi::errc::graph_error)
                : (accepted || r.http_status < 200 || r.http_status > 299 ? std::error_code{}
                                                                           : make_error_code(capi::errc::bad_response));
    const capi::Disposition d = capi::classify(ec, r);
    const capi::RetryPolicy policy;
    for (unsigned attempt : {1u, 2u, 7u, 64u, 1000u}) {
        const auto delay = capi::backoff_delay(policy, d, attempt, r.retry_after, 0x9e3779b97f4a7c15ull * attempt);
        check(delay.count() >= 0);
        if ((d == capi::Disposition::retry || d == capi::Disposition::throttle) && r.retry_after)
            check(delay >= *r.retry_after);
    }
    return 0;
}
