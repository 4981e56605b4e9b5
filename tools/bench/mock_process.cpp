// The mock server's child process: see mock_process.hpp. Protocol on the socket
// pair, one request at a time:
//   child -> parent at start: "ok <port> <pem bytes>\n<pem>" (or "error <what>\n")
//   'q'                   -> "<events accepted> <connections> <requests> <throttled> <cpu ns>\n"
//   't' "<after> <requests> <code>\n" -> "ok\n" (a throttling burst armed)
#include "mock_process.hpp"

#include <sched.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <exception>
#include <string_view>
#include <thread>

namespace capi_bench {

namespace {

bool write_all(int fd, std::string_view s) {
    while (!s.empty()) {
        const auto n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        s.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

bool read_exact(int fd, char* p, std::size_t len) {
    while (len > 0) {
        const auto n = ::read(fd, p, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        p += n;
        len -= static_cast<std::size_t>(n);
    }
    return true;
}

bool read_line(int fd, std::string& line) {
    line.clear();
    char c = 0;
    while (read_exact(fd, &c, 1)) {
        if (c == '\n') return true;
        line.push_back(c);
    }
    return false;
}

[[noreturn]] void mock_child(int fd, pid_t parent, const MockSetup& setup, const std::string& token) {
    // Never outlive the benchmark, even when it is killed.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(1);
    int status = 0;
    try {
        if (std::string error; !setup.cpus.empty() && !pin_to(setup.cpus, error)) {
            (void)write_all(fd, "error " + error + "\n");
            ::_exit(1);
        }
        capi::testing::MockOptions mo;
        mo.access_token = token;
        mo.threads = setup.threads;
        mo.delay = setup.latency;
        capi::testing::MockGraphServer server(mo);
        const std::string pem = server.ca_pem();
        if (!write_all(fd, "ok " + std::to_string(server.port()) + " " + std::to_string(pem.size()) +
                               "\n" + pem))
            ::_exit(1);
        char c = 0;
        std::string line;
        while (read_exact(fd, &c, 1)) {
            if (c == 'q') {
                const auto cpu_ns = static_cast<std::uint64_t>(process_cpu_seconds() * 1e9);
                if (!write_all(fd, std::to_string(server.events_accepted()) + " " +
                                       std::to_string(server.connections()) + " " +
                                       std::to_string(server.request_count()) + " " +
                                       std::to_string(server.requests_throttled()) + " " +
                                       std::to_string(cpu_ns) + "\n"))
                    break;
            } else if (c == 't') {
                unsigned long long after = 0, requests = 0;
                int code = 0;
                if (!read_line(fd, line) || std::sscanf(line.c_str(), "%llu %llu %d", &after, &requests, &code) != 3)
                    break;
                server.throttle_burst({static_cast<std::size_t>(after), static_cast<std::size_t>(requests), code});
                if (!write_all(fd, "ok\n")) break;
            }
        }
        server.stop();
    } catch (const std::exception& e) {
        (void)write_all(fd, std::string("error ") + e.what() + "\n");
        status = 1;
    }
    // _exit: the child must not flush stdio buffers or run handlers it inherited.
    ::_exit(status);
}

} // namespace

std::vector<int> allowed_cpus() {
    cpu_set_t set;
    CPU_ZERO(&set);
    std::vector<int> out;
    if (::sched_getaffinity(0, sizeof set, &set) != 0) return out;
    for (int c = 0; c < CPU_SETSIZE; ++c)
        if (CPU_ISSET(c, &set)) out.push_back(c);
    return out;
}

bool pin_to(const std::vector<int>& cpus, std::string& error) {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (const int c : cpus)
        if (c >= 0 && c < CPU_SETSIZE) CPU_SET(c, &set);
    if (::sched_setaffinity(0, sizeof set, &set) == 0) return true;
    error = "cannot run on CPU " + cpu_list(cpus) + ": sched_setaffinity: " + std::strerror(errno);
    return false;
}

std::string cpu_list(const std::vector<int>& cpus) {
    std::string out;
    for (std::size_t i = 0; i < cpus.size();) {
        std::size_t j = i;
        while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) ++j;
        if (!out.empty()) out += ',';
        out += std::to_string(cpus[i]);
        if (j > i) out += '-' + std::to_string(cpus[j]);
        i = j + 1;
    }
    return out;
}

double process_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

bool MockProcess::start(const MockSetup& setup, const std::string& token, std::string& error) {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
        error = std::string("socketpair: ") + std::strerror(errno);
        return false;
    }
    std::fflush(stdout);
    std::fflush(stderr);
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ < 0) {
        error = std::string("fork: ") + std::strerror(errno);
        ::close(fds[0]);
        ::close(fds[1]);
        return false;
    }
    if (pid_ == 0) {
        ::close(fds[0]);
        mock_child(fds[1], parent, setup, token);
    }
    ::close(fds[1]);
    fd_ = fds[0];
    std::string line;
    if (!read_line(fd_, line) || line.rfind("ok ", 0) != 0) {
        error = line.empty() ? "the mock server process died at start-up" : line;
        stop();
        return false;
    }
    unsigned port = 0;
    std::size_t pem_len = 0;
    if (std::sscanf(line.c_str(), "ok %u %zu", &port, &pem_len) != 2) {
        error = "bad hello from the mock process: " + line;
        stop();
        return false;
    }
    ca_pem_.resize(pem_len);
    if (!read_exact(fd_, ca_pem_.data(), pem_len)) {
        error = "the mock process died while sending its CA";
        stop();
        return false;
    }
    url_ = "https://127.0.0.1:" + std::to_string(port);
    return true;
}

std::optional<MockCounts> MockProcess::counts() {
    std::string line;
    if (fd_ < 0 || !write_all(fd_, "q") || !read_line(fd_, line)) return std::nullopt;
    unsigned long long accepted = 0, connections = 0, requests = 0, throttled = 0, cpu_ns = 0;
    if (std::sscanf(line.c_str(), "%llu %llu %llu %llu %llu", &accepted, &connections, &requests, &throttled,
                    &cpu_ns) != 5)
        return std::nullopt;
    MockCounts c;
    c.events_accepted = accepted;
    c.connections = connections;
    c.requests = requests;
    c.throttled = throttled;
    c.cpu_seconds = static_cast<double>(cpu_ns) * 1e-9;
    return c;
}

bool MockProcess::throttle_burst(const capi::testing::ThrottleBurst& burst) {
    std::string command = "t";
    command += std::to_string(burst.after_requests) + " " + std::to_string(burst.requests) + " " +
               std::to_string(burst.code) + "\n";
    std::string line;
    return fd_ >= 0 && write_all(fd_, command) && read_line(fd_, line) && line == "ok";
}

void MockProcess::stop() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    if (pid_ <= 0) return;
    for (int i = 0; i < 500; ++i) {
        if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
            pid_ = -1;
            return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
}

} // namespace capi_bench
