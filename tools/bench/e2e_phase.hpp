// The end-to-end benchmark's phase results (tools/bench/e2e.cpp) and how they
// are measured and printed (e2e_phase.cpp): what a phase measured and counted,
// its check, the progress bar while it runs.
#pragma once

#include "mock_process.hpp"

#include <capi/client.hpp>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace capi_bench {

struct PhaseResult {
    std::size_t events = 0;
    std::size_t warmup_events = 0;   // sent first through the same client and threads, not timed
    double warmup_cpu_seconds = 0;   // the client's CPU for them (the harness's work subtracted)
    std::optional<double> floor_ns, tls_floor_ns;  // measured just before the timed events
    double seconds = 0, cpu_seconds = 0;
    double batch_cpu_seconds = 0, io_cpu_seconds = 0;  // of the client's own threads
    double making_seconds = 0;  // the harness generating the events' data: subtracted from cpu_seconds
    double caller_path_seconds = 0;  // refilling events from that data (the caller's path): subtracted too
    double caller_cpu_seconds = 0;  // producer threads in enqueue() (phase 1)
    std::uint64_t page_faults = 0;  // the process's, during the timed events
    std::optional<std::uint64_t> null_events;  // counted by the null transport
    std::vector<std::uint64_t> enqueue_ns;  // sampled enqueue() call durations
    std::uint64_t refused = 0;              // enqueue() calls not accepted
    std::uint64_t pauses = 0;               // producer waits for the window
    std::uint64_t not_delivered = 0;        // completions that were not "delivered"
    std::string first_error;
    capi::Stats stats;
    std::optional<MockCounts> mock;  // what the mock counted during the phase
    bool timed_out = false;
};

/// A progress bar on stderr while a phase runs, only when stderr is a terminal,
/// ~10 updates a second: acknowledged events of `total`, read from the client's stats.
class Progress {
public:
    Progress(const char* label, std::size_t total, const capi::Client& client);
    Progress(const Progress&) = delete;
    Progress& operator=(const Progress&) = delete;
    ~Progress() { stop(); }
    void stop();

private:
    void loop();

    const char* label_;
    std::size_t total_;
    const capi::Client& client_;
    std::chrono::steady_clock::time_point start_;
    std::mutex mutex_;
    std::condition_variable cv_;
    bool stopping_ = false;
    std::thread thread_;
};

/// CPU seconds of this process's live threads, summed per thread name
/// (/proc/self/task/*/schedstat, to the nanosecond; the client names its
/// threads capi-batch and capi-io).
std::map<std::string, double> thread_cpu_by_name();

/// The batcher and io threads' CPU between two thread_cpu_by_name() readings, into `r`.
void record_split(PhaseResult& r, const std::map<std::string, double>& before,
                  const std::map<std::string, double>& after);

/// What the client counted since `b`: its counters and histograms less b's
/// (queued, in_flight and the concurrency limits are levels, kept as they are).
capi::Stats since(const capi::Stats& a, const capi::Stats& b);

/// A target phase's client CPU per event and the floors measured just before it.
struct TargetLine {
    const char* name;
    double ns, floor_ns;
    std::optional<double> tls_floor_ns;
};

/// Issue 14's goal for phases 1 and 2: client CPU per event at most this times
/// (compute floor + transport floor).
inline constexpr double both_floors_goal = 1.25;

/// The closing `targets` lines: each phase against its own floors, and for a
/// phase run in several rounds (--rounds) the medians (none: nothing).
void print_targets(const std::vector<TargetLine>& targets);

/// Prints one phase against the compute floor `floor_ns`; false when its check
/// failed (events not delivered, or not what the mock or null transport counted).
bool print_phase(const char* title, PhaseResult& r, double floor_ns);

} // namespace capi_bench
