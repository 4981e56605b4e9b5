// The mock Graph server in a child process, for the benchmarks (bench_e2e,
// bench_latency): forked before the benchmark starts any thread, so the
// benchmark's CPU time is its process's CPU time and the mock's is the child's.
// The child reports its port and CA over a socket and answers queries on it (its
// counts, arming a throttling burst); it exits when the socket closes (or when
// the parent dies).
#pragma once

#include <capi/testing/mock_graph.hpp>

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace capi_bench {

struct MockSetup {
    unsigned threads = 1;
    /// MockOptions::delay: every answer this long after its request arrived.
    std::chrono::milliseconds latency{0};
    /// The CPUs the child runs on (sched_setaffinity); empty: the parent's.
    std::vector<int> cpus;
};

/// The CPUs the calling thread may run on, in order.
std::vector<int> allowed_cpus();

/// Confines the calling thread (and the threads it starts later) to `cpus`;
/// false with `error` set when the kernel refuses.
bool pin_to(const std::vector<int>& cpus, std::string& error);

/// "0", "0,1", "2-3": `cpus` for a message.
std::string cpu_list(const std::vector<int>& cpus);

/// What the mock counted since it started.
struct MockCounts {
    std::uint64_t events_accepted = 0, connections = 0, requests = 0, throttled = 0;
    double cpu_seconds = 0;  ///< the child's process CPU time
};

class MockProcess {
public:
    MockProcess() = default;
    MockProcess(const MockProcess&) = delete;
    MockProcess& operator=(const MockProcess&) = delete;
    ~MockProcess() { stop(); }

    /// Forks the child; must run before this process starts any thread (a forked
    /// child of a threaded process may only call async-signal-safe functions).
    bool start(const MockSetup& setup, const std::string& token, std::string& error);
    bool start(unsigned threads, const std::string& token, std::string& error) {
        MockSetup s;
        s.threads = threads;
        return start(s, token, error);
    }

    std::optional<MockCounts> counts();
    /// MockGraphServer::throttle_burst in the child; false when it did not answer.
    bool throttle_burst(const capi::testing::ThrottleBurst& burst);

    /// Closing the socket tells the child to stop; it gets 5 s before SIGKILL.
    void stop();

    const std::string& url() const { return url_; }
    const std::string& ca_pem() const { return ca_pem_; }

private:
    pid_t pid_ = -1;
    int fd_ = -1;
    std::string url_, ca_pem_;
};

/// This process's CPU time (all threads), seconds.
double process_cpu_seconds();

} // namespace capi_bench
