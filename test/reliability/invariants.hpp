// The reliability matrix's invariants (reference/reliability.md §7), as checks a
// test calls after every case. Each check reports through Catch2: on failure it
// prints the client's counters and a summary of the mock's request log.
//
//   I1 counters balance: accepted = delivered + failed + expired + dropped + queued
//      + in_flight; once settled (after flush/shutdown) queued = in_flight = 0; the
//      events the mock answered 2xx = delivered; the outcomes the recorders saw match
//      the counters.
//   I2 exactly one completion per event: a CompletionRecorder keyed by event_id, fed
//      by async_send completions or by Options::on_delivery.
//   I3 no silent duplicates: an event_id in more than one logged request only when
//      its batch was retried (attempts > 1), split after a code 100, or the test
//      sent that id twice on purpose; accepted twice at most Stats::possibly_delivered.
//   I4 bounded resources: connections the mock saw <= the pool cap (a case shorter
//      than idle_timeout, nothing closing connections); RSS and open sockets of this
//      process sampled from /proc/self (flat over a soak).
//
// Usage:
//   reliability::CompletionRecorder reports;
//   opts.on_delivery = reports.callback();
//   ... run the case, flush ...
//   const auto summary = reliability::summarize(mock);
//   reliability::check_i1(client.stats(), summary, {.accepted = n});
//   reliability::check_i2(reports, ids);
//   reliability::check_i3(summary, reports, client.stats());
//   reliability::check_i4(summary, opts.transport.max_connections);
//
// Thread safety: CompletionRecorder may be fed from any thread; the checks run on
// the test's thread (Catch2 assertions are not thread-safe).
#pragma once

#include <capi/client.hpp>
#include <capi/testing/mock_graph.hpp>

#include "support/client_checks.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <unistd.h>
#include <unordered_map>
#include <vector>

namespace reliability {

// ------------------------------------------------------------------ descriptions

inline std::string describe(const capi::Stats& s) {
    std::ostringstream o;
    o << "stats: accepted=" << s.accepted << " delivered=" << s.delivered
      << " rejected=" << s.rejected << " rejected_full=" << s.rejected_full
      << " failed=" << s.failed << " expired=" << s.expired << " dropped=" << s.dropped
      << " queued=" << s.queued << " in_flight=" << s.in_flight << " retries=" << s.retries
      << " batches=" << s.batches << " bytes=" << s.bytes << " splits=" << s.splits
      << " possibly_delivered=" << s.possibly_delivered << " throttled=" << s.throttled
      << " receipt_mismatch=" << s.receipt_mismatch << " duplicate_ids=" << s.duplicate_ids;
    return o.str();
}

/// What the mock's request log says, reduced to the figures the invariants need.
struct MockSummary {
    std::size_t requests = 0;          ///< logged requests
    std::size_t answered_2xx = 0;      ///< requests answered 2xx
    std::size_t faulted = 0;           ///< requests answered by a scripted fault
    std::size_t unanswered = 0;        ///< status 0: closed, reset, hung
    std::size_t events = 0;            ///< events in all requests
    std::size_t events_2xx = 0;        ///< events in requests answered 2xx
    std::size_t events_accepted = 0;   ///< MockGraphServer::events_accepted()
    std::size_t connections = 0;       ///< TCP connections accepted
    std::size_t distinct_connections_used = 0;  ///< connections that carried a request
    std::size_t max_batch_events = 0;  ///< largest request, in events
    std::size_t max_body_bytes = 0;    ///< largest request body
    std::size_t token_failures = 0;    ///< requests whose access_token was wrong
    /// event_id -> requests carrying it (any status), and answered 2xx ("" skipped).
    std::unordered_map<std::string, unsigned> seen, seen_2xx;
    /// Ids carried by more than one request, and by more than one 2xx request.
    std::size_t duplicate_ids = 0, duplicate_ids_2xx = 0;
    /// Ids repeated inside one request (the user sent the same event_id twice).
    std::size_t repeated_in_request = 0;
};

inline bool is_2xx(int status) noexcept { return status >= 200 && status < 300; }

inline MockSummary summarize(const capi::testing::MockGraphServer& mock) {
    MockSummary m;
    const auto log = mock.requests();
    std::set<std::uint64_t> conns;
    std::unordered_map<std::string, unsigned> in_request;
    for (const auto& r : log) {
        ++m.requests;
        const bool ok = is_2xx(r.status);
        if (ok) {
            ++m.answered_2xx;
            m.events_2xx += r.events;
        }
        if (r.fault) ++m.faulted;
        if (r.status == 0) ++m.unanswered;
        if (!r.access_token_ok) ++m.token_failures;
        m.events += r.events;
        m.max_batch_events = std::max(m.max_batch_events, r.events);
        m.max_body_bytes = std::max(m.max_body_bytes, r.body_bytes);
        conns.insert(r.connection);
        in_request.clear();
        for (const auto& id : r.event_ids) {
            if (id.empty()) continue;
            if (++in_request[id] == 2) ++m.repeated_in_request;
        }
        for (const auto& [id, n] : in_request) {
            (void)n;
            if (++m.seen[id] == 2) ++m.duplicate_ids;
            if (ok && ++m.seen_2xx[id] == 2) ++m.duplicate_ids_2xx;
        }
    }
    m.events_accepted = mock.events_accepted();
    m.connections = mock.connections();
    m.distinct_connections_used = conns.size();
    return m;
}

inline std::string describe(const MockSummary& m) {
    std::ostringstream o;
    o << "mock: requests=" << m.requests << " answered_2xx=" << m.answered_2xx
      << " faulted=" << m.faulted << " unanswered=" << m.unanswered << " events=" << m.events
      << " events_2xx=" << m.events_2xx << " events_accepted=" << m.events_accepted
      << " distinct_ids=" << m.seen.size() << " duplicate_ids=" << m.duplicate_ids
      << " duplicate_ids_2xx=" << m.duplicate_ids_2xx
      << " repeated_in_request=" << m.repeated_in_request << " connections=" << m.connections
      << " max_batch_events=" << m.max_batch_events << " max_body_bytes=" << m.max_body_bytes
      << " token_failures=" << m.token_failures;
    return o.str();
}

// ------------------------------------------------------------------ I2: completions

/// Counts completions per event_id. Feed it from async_send completion handlers
/// (record) or as Options::on_delivery (callback). Thread-safe.
class CompletionRecorder {
public:
    struct Entry {
        unsigned completions = 0;
        capi::SendResult last;  ///< the latest completion
        unsigned max_attempts = 0;
    };

    void record(const capi::SendResult& r) {
        {
            std::lock_guard lock(mu_);
            auto& e = by_id_[r.event_id];
            ++e.completions;
            e.last = r;
            e.max_attempts = std::max(e.max_attempts, r.attempts);
            ++total_;
            ++by_outcome_[static_cast<std::size_t>(r.outcome)];
            if (r.error) ++by_error_[r.error.message()];
        }
        cv_.notify_all();
    }

    /// An Options::on_delivery that records; `this` must outlive the client.
    capi::DeliveryCallback callback() {
        return [this](const capi::SendResult& r) { record(r); };
    }

    std::size_t total() const {
        std::lock_guard lock(mu_);
        return total_;
    }
    std::size_t count(capi::Outcome o) const {
        std::lock_guard lock(mu_);
        return by_outcome_[static_cast<std::size_t>(o)];
    }
    std::size_t distinct() const {
        std::lock_guard lock(mu_);
        return by_id_.size();
    }
    std::optional<Entry> find(const std::string& id) const {
        std::lock_guard lock(mu_);
        const auto it = by_id_.find(id);
        if (it == by_id_.end()) return std::nullopt;
        return it->second;
    }
    /// Ids completed more than once.
    std::vector<std::string> repeated() const {
        std::lock_guard lock(mu_);
        std::vector<std::string> out;
        for (const auto& [id, e] : by_id_)
            if (e.completions > 1) out.push_back(id);
        return out;
    }
    /// Waits until `n` completions were recorded; false when `limit` passed first.
    bool wait_for(std::size_t n, std::chrono::milliseconds limit) const {
        std::unique_lock lock(mu_);
        return cv_.wait_for(lock, limit, [&] { return total_ >= n; });
    }

    std::string describe() const {
        std::lock_guard lock(mu_);
        std::ostringstream o;
        o << "completions: total=" << total_ << " distinct_ids=" << by_id_.size();
        for (std::size_t i = 0; i < by_outcome_.size(); ++i)
            if (by_outcome_[i])
                o << ' ' << capi::to_string(static_cast<capi::Outcome>(i)) << '=' << by_outcome_[i];
        for (const auto& [msg, n] : by_error_) o << " [" << msg << "]=" << n;
        return o.str();
    }

private:
    mutable std::mutex mu_;
    mutable std::condition_variable cv_;
    std::unordered_map<std::string, Entry> by_id_;
    std::size_t total_ = 0;
    std::array<std::size_t, 5> by_outcome_{};
    std::map<std::string, std::size_t> by_error_;
};

// ------------------------------------------------------------------ I1

struct I1Expect {
    /// Events the test saw accepted (enqueue returned accepted / async_send not
    /// rejected); unset: not compared.
    std::optional<std::uint64_t> accepted;
    /// After flush()/shutdown(): nothing queued or in flight.
    bool settled = true;
    /// The mock's 2xx events equal `delivered` (false only for faults that make the
    /// mock answer 2xx to a client that never reads it, e.g. truncate).
    bool server_matches = true;
};

/// I1 from the counters, the mock's log and (optionally) the delivery reports,
/// whose per-outcome tallies must match the counters.
inline void check_i1(const capi::Stats& s, const MockSummary& m, I1Expect expect = {},
                     const CompletionRecorder* reports = nullptr) {
    INFO(describe(s));
    INFO(describe(m));
    INFO("delivery reports: " << (reports ? reports->describe() : std::string("not recorded")));
    CHECK(s.accepted == s.delivered + s.failed + s.expired + s.dropped + s.queued + s.in_flight);
    if (expect.accepted) CHECK(s.accepted == *expect.accepted);
    if (expect.settled) {
        CHECK(s.queued == 0);
        CHECK(s.in_flight == 0);
    }
    if (expect.server_matches) {
        CHECK(m.events_2xx == s.delivered);
        CHECK(m.events_accepted == s.delivered);
    } else {
        CHECK(m.events_2xx >= s.delivered);
    }
    if (reports && expect.settled) {
        CHECK(reports->count(capi::Outcome::delivered) == s.delivered);
        CHECK(reports->count(capi::Outcome::expired) == s.expired);
        CHECK(reports->count(capi::Outcome::dropped) == s.dropped);
        CHECK(reports->count(capi::Outcome::failed) == s.failed);
        CHECK(reports->count(capi::Outcome::rejected) == 0);  // never reported: never accepted
        CHECK(reports->total() == s.accepted);
    }
}

/// I1 for a sample taken while the client runs (a soak): only the balance.
inline void check_i1_sample(const capi::Stats& s) {
    INFO(describe(s));
    CHECK(s.accepted == s.delivered + s.failed + s.expired + s.dropped + s.queued + s.in_flight);
}

// ------------------------------------------------------------------ I2

/// I2: each id in `ids` completed exactly once, and nothing else completed.
/// `ids` must be distinct (events sent with the same id on purpose are checked by
/// the test itself).
inline void check_i2(const CompletionRecorder& rec, const std::vector<std::string>& ids) {
    INFO(rec.describe());
    std::size_t missing = 0, repeated = 0;
    std::string first_missing, first_repeated;
    for (const auto& id : ids) {
        const auto e = rec.find(id);
        if (!e) {
            if (missing++ == 0) first_missing = id;
        } else if (e->completions != 1) {
            if (repeated++ == 0) first_repeated = id;
        }
    }
    INFO("first missing: '" << first_missing << "', first completed twice: '" << first_repeated
                            << "'");
    CHECK(missing == 0);
    CHECK(repeated == 0);
    CHECK(rec.total() == ids.size());
    CHECK(rec.distinct() == ids.size());
}

/// I2 when the ids are not listed: `expected` completions, none repeated.
inline void check_i2(const CompletionRecorder& rec, std::size_t expected) {
    INFO(rec.describe());
    const auto rep = rec.repeated();
    INFO("ids completed more than once: " << rep.size()
                                          << (rep.empty() ? std::string() : " e.g. " + rep.front()));
    CHECK(rec.total() == expected);
    CHECK(rep.empty());
}

// ------------------------------------------------------------------ I3

/// I3: an id carried by several requests must belong to an event whose batch was
/// retried (the recorder saw attempts > 1, so the first try was possibly
/// delivered) or split (stats.splits > 0 re-sends a code-100 batch's events), or be
/// in `intended` (the test sent it twice). Ids never recorded count as unexplained.
inline void check_i3(const MockSummary& m, const CompletionRecorder& rec, const capi::Stats& s,
                     const std::set<std::string>& intended = {}) {
    INFO(describe(s));
    INFO(describe(m));
    INFO(rec.describe());
    std::size_t unexplained = 0, unexplained_2xx = 0;
    std::string example;
    for (const auto& [id, n] : m.seen) {
        if (n < 2 || intended.count(id)) continue;
        const auto e = rec.find(id);
        const bool retried = e && e->max_attempts > 1;
        const auto ok = m.seen_2xx.find(id);
        const unsigned n2 = ok == m.seen_2xx.end() ? 0 : ok->second;
        // Delivered twice: only a retry after a possibly-delivered attempt explains it.
        if (n2 > 1 && !retried) {
            if (unexplained_2xx++ == 0 && example.empty()) example = id;
        }
        if (!retried && s.splits == 0) {
            if (unexplained++ == 0 && example.empty()) example = id;
        }
        // A retried batch is sent at most `attempts` times (plus split re-sends).
        if (retried && s.splits == 0 && n > e->max_attempts) {
            if (unexplained++ == 0 && example.empty()) example = id;
        }
    }
    INFO("example: '" << example << "'");
    CHECK(unexplained == 0);
    CHECK(unexplained_2xx == 0);
    // Accepted twice only after an attempt that was possibly delivered.
    std::size_t twice_2xx = 0;
    for (const auto& [id, n] : m.seen_2xx)
        if (n > 1 && !intended.count(id)) ++twice_2xx;
    CHECK(twice_2xx <= s.possibly_delivered);
}

// ------------------------------------------------------------------ I4

/// This process's resident set and open sockets, from /proc/self.
struct ResourceSample {
    std::chrono::steady_clock::time_point at = std::chrono::steady_clock::now();
    std::size_t rss_bytes = 0;  ///< 0 when /proc is unavailable
    std::size_t sockets = 0;    ///< fds that are sockets (client and in-process mock alike)
    std::size_t fds = 0;
};

inline ResourceSample sample_resources() {
    ResourceSample r;
    if (std::FILE* f = std::fopen("/proc/self/statm", "r")) {
        unsigned long size = 0, resident = 0;
        if (std::fscanf(f, "%lu %lu", &size, &resident) == 2)
            r.rss_bytes = resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
        std::fclose(f);
    }
    std::error_code ec;
    for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end;
         it.increment(ec)) {
        ++r.fds;
        std::error_code lec;
        const auto target = std::filesystem::read_symlink(it->path(), lec);
        if (!lec && target.native().rfind("socket:", 0) == 0) ++r.sockets;
    }
    return r;
}

inline std::string describe(const ResourceSample& r) {
    std::ostringstream o;
    o << "rss=" << r.rss_bytes / 1024 << " KiB sockets=" << r.sockets << " fds=" << r.fds;
    return o.str();
}

/// I4 against the mock: connections it accepted <= the client's pool cap (for cases
/// without faults that close connections; pass a larger cap for those).
inline void check_i4(const MockSummary& m, std::size_t pool_cap) {
    INFO(describe(m));
    INFO("pool cap " << pool_cap);
    CHECK(m.connections <= pool_cap);
    CHECK(m.distinct_connections_used <= pool_cap);
}

/// I4 over time: RSS grew at most `max_rss_growth` and sockets at most
/// `max_socket_growth` from `baseline` (taken once warmed up) to `now`. RSS is
/// skipped where /proc gives none.
inline void check_i4_flat(const ResourceSample& baseline, const ResourceSample& now,
                          std::size_t max_rss_growth, std::size_t max_socket_growth) {
    INFO("baseline " << describe(baseline) << " / now " << describe(now));
    if (baseline.rss_bytes && now.rss_bytes)
        CHECK(now.rss_bytes <= baseline.rss_bytes + max_rss_growth);
    CHECK(now.sockets <= baseline.sockets + max_socket_growth);
}

// ------------------------------------------------------------------ fixtures

// The Purchase event, the client's options and numbered ids are test/support's
// (support/fixtures.hpp), shared with the other suites.

/// Adds one value to a log2 histogram like capi::Stats' (bucket i: [2^i, 2^(i+1))).
inline void record(capi::Histogram& h, std::uint64_t v) noexcept {
    std::size_t i = 0;
    while (v > 1 && i < 63) {
        v >>= 1;
        ++i;
    }
    ++h.buckets[i];
    ++h.count;
}
inline void merge(capi::Histogram& into, const capi::Histogram& from) noexcept {
    for (std::size_t i = 0; i < into.buckets.size(); ++i) into.buckets[i] += from.buckets[i];
    into.count += from.count;
}

// ------------------------------------------------------------------ helpers

/// Polls `pred` every millisecond until it holds or `limit` passes: the client
/// suites' capi_test::wait_for, under the name this suite's cases use.
template <class Pred>
bool wait_until(Pred pred, std::chrono::milliseconds limit) {
    return capi_test::wait_for(std::move(pred), limit);
}

} // namespace reliability
