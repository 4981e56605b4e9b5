// `capi send` in process against MockGraphServer over real TLS: the scripted faults
// the `capi mock-server` command cannot play (retries, subcodes, exhausted retries,
// timeouts) and the in-flight bound. test/cli_test.sh covers the program itself.
#include "send_cmd.hpp"  // tools/, on the path through capi_send_cmd_dep

#include <capi/testing/mock_graph.hpp>
#include <capi/sender.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

using capi::testing::Fault;
using capi::testing::MockGraphServer;
namespace fs = std::filesystem;

namespace {

struct TempDir {
    fs::path path;
    TempDir() {
        std::string tmpl = (fs::temp_directory_path() / "capi-send-XXXXXX").string();
        path = ::mkdtemp(tmpl.data());
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    std::string file(const std::string& name, const std::string& content) const {
        auto p = (path / name).string();
        std::ofstream(p, std::ios::binary) << content;
        return p;
    }
};

std::string read_all(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string events(int n, const char* prefix = "e") {
    const auto t = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch()).count() - 60;
    std::string s;
    for (int i = 1; i <= n; ++i) {
        s += "{\"event_name\":\"Lead\",\"event_time\":" + std::to_string(t) + ",\"event_id\":\"";
        s += prefix;
        s += std::to_string(i) + "\",\"action_source\":\"email\",\"user_data\":{\"em\":\"u" + std::to_string(i) +
             "@example.com\"}}\n";
    }
    return s;
}

struct Run {
    int rc = -1;
    std::string out, err;
    /// The number in the summary row `name`; -1 when absent.
    long long row(const std::string& name) const {
        std::istringstream in(out);
        std::string line;
        while (std::getline(in, line)) {
            std::istringstream words(line);
            std::string first;
            long long n = -1;
            if (words >> first && first == name && words >> n) return n;
        }
        return -1;
    }
};

/// Runs `capi send` with the mock's endpoint, CA and token, then `args`.
Run send(const MockGraphServer& mock, const TempDir& dir, std::vector<std::string> args) {
    std::vector<std::string> argv = {"capi", "send", "--endpoint", mock.url(), "--ca",
                                     dir.file("ca.pem", mock.ca_pem()), "--pixel", "1234567890",
                                     "--token-file", dir.file("token", "mock-token\n"), "--linger-ms", "5"};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> ptrs;
    for (auto& a : argv) ptrs.push_back(a.data());
    std::ostringstream out, err;
    SendStreams io;
    io.out = &out;
    io.err = &err;
    io.err_is_tty = 0;
    Run r;
    r.rc = run_send(static_cast<int>(ptrs.size()), ptrs.data(), io);
    r.out = out.str();
    r.err = err.str();
    return r;
}

} // namespace

TEST_CASE("send: a 503 and a 429 are retried, every event delivered", "[send_cmd]") {
    MockGraphServer mock;
    TempDir dir;
    Fault f;
    f.status = 503;
    f.body = "upstream busy";
    mock.push_fault(f);
    f.status = 429;
    mock.push_fault(f);
    auto r = send(mock, dir, {"--max-batch", "10", dir.file("in.ndjson", events(30))});
    INFO(r.out << r.err);
    CHECK(r.rc == send_ok);
    CHECK(r.row("accepted") == 30);
    CHECK(r.row("delivered") == 30);
    CHECK(r.row("failed") == 0);
    CHECK(mock.events_accepted() == 30);
    std::size_t faulted = 0;
    for (const auto& q : mock.requests()) faulted += q.fault ? 1 : 0;
    CHECK(faulted == 2);  // both answered, both retried: every event made it
}

TEST_CASE("send: failures grouped by code and subcode with an fbtrace_id", "[send_cmd]") {
    MockGraphServer mock;
    TempDir dir;
    for (int i = 0; i < 2; ++i)
        mock.push_fault(Fault::graph_error(400, 100, 2804019, false, "Invalid parameter"));
    mock.push_fault(Fault::graph_error(403, 10, 0, false, "Application does not have permission"));
    const auto in = dir.file("in.ndjson", events(5));
    const auto failed = (dir.path / "failed.tsv").string();
    // One event per request, so each fault settles exactly one event.
    auto r = send(mock, dir, {"--max-batch", "1", "--connections", "1", "--failed", failed, in});
    INFO(r.out << r.err);
    CHECK(r.rc == send_some_failed);
    CHECK(r.row("delivered") == 2);
    CHECK(r.row("failed") == 3);
    // count, code, subcode, fbtrace_id, message
    CHECK(r.row("2") == 100);
    CHECK(r.out.find("  2804019  ") != std::string::npos);
    CHECK(r.out.find("Invalid parameter") != std::string::npos);
    CHECK(r.row("1") == 10);
    CHECK(r.out.find("Application does not have permission") != std::string::npos);
    // The largest group comes first.
    CHECK(r.out.find("Invalid parameter") < r.out.find("Application does not"));

    const auto lines = read_all(failed);
    std::istringstream ls(lines);
    std::string line;
    int n = 0, with_trace = 0;
    while (std::getline(ls, line)) {
        ++n;
        std::vector<std::string> f;
        std::istringstream fs(line);
        for (std::string x; std::getline(fs, x, '\t');) f.push_back(x);
        REQUIRE(f.size() == 7);
        CHECK(f[1] == "failed");
        CHECK((f[2] == "100" || f[2] == "10"));
        if (f[4] != "-" && f[4].size() >= 8) ++with_trace;
        // The original input line, verbatim.
        CHECK(f[6].rfind("{\"event_name\":\"Lead\"", 0) == 0);
    }
    CHECK(n == 3);
    CHECK(with_trace == 3);
}

TEST_CASE("send: a transient Graph error past max attempts fails as retries exhausted", "[send_cmd]") {
    MockGraphServer mock;
    TempDir dir;
    for (int i = 0; i < 2; ++i) mock.push_fault(Fault::graph_error(500, 2, 0, true, "Service temporarily unavailable"));
    auto r = send(mock, dir, {"--max-attempts", "2", dir.file("in.ndjson", events(3))});
    INFO(r.out << r.err);
    CHECK(r.rc == send_some_failed);
    CHECK(r.row("failed") == 3);
    CHECK(r.row("3") == 2);  // 3 events, Graph code 2
    CHECK(r.out.find("Service temporarily unavailable") != std::string::npos);
    CHECK(r.out.find("retries exhausted") != std::string::npos);
}

TEST_CASE("send: a server that never answers fails the events within the request deadline", "[send_cmd]") {
    MockGraphServer mock;
    TempDir dir;
    Fault hang;
    hang.action = Fault::Action::hang;
    mock.push_fault(hang);
    const auto start = std::chrono::steady_clock::now();
    auto r = send(mock, dir, {"--max-attempts", "1", "--request-timeout-ms", "300", dir.file("in.ndjson", events(4))});
    INFO(r.out << r.err);
    CHECK(r.rc == send_some_failed);
    CHECK(r.row("failed") == 4);
    // The Sender reports the policy's verdict, not the last attempt's error.
    CHECK(r.out.find("retries exhausted") != std::string::npos);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(10));
}

TEST_CASE("send: a small in-flight bound still delivers everything in input order of lines", "[send_cmd]") {
    MockGraphServer mock;
    TempDir dir;
    const auto rejects = (dir.path / "rejects.tsv").string();
    std::string in = events(300);
    std::size_t at = 0;
    for (int i = 0; i < 150; ++i) at = in.find('\n', at) + 1;
    in.insert(at, "{\"event_name\":\"Lead\"}\n");  // line 151: rejected
    auto r = send(mock, dir, {"--max-in-flight", "7", "--max-batch", "5", "--rejects", rejects,
                              dir.file("in.ndjson", in)});
    INFO(r.out << r.err);
    CHECK(r.rc == send_some_failed);
    CHECK(r.row("delivered") == 300);
    CHECK(r.row("rejected") == 1);
    CHECK(mock.events_accepted() == 300);
    const auto rej = read_all(rejects);
    CHECK(rej.rfind("151\t", 0) == 0);  // line 151 is the inserted one
    CHECK(rej.find("event_time") != std::string::npos);
    CHECK(rej.find("action_source") != std::string::npos);
    std::size_t most = 0;
    for (const auto& q : mock.requests()) most = std::max(most, q.events);
    CHECK(most <= 5);
}

TEST_CASE("send: options that would put a secret on the command line are refused", "[send_cmd]") {
    MockGraphServer mock;
    TempDir dir;
    for (const char* opt : {"--token", "--access-token", "--app-secret"}) {
        auto r = send(mock, dir, {opt, "value-that-must-not-print", dir.file("in.ndjson", events(1))});
        CHECK(r.rc == send_usage);
        CHECK(r.err.find("process list") != std::string::npos);
        CHECK(r.err.find("value-that-must-not-print") == std::string::npos);
    }
    CHECK(mock.requests().empty());
}

TEST_CASE("send: a line over 16 MiB is skipped and reported, the lines around it sent", "[send_cmd]") {
    MockGraphServer mock;
    TempDir dir;
    const auto rejects = (dir.path / "rejects.tsv").string();
    const auto good = events(2);
    const auto first = good.substr(0, good.find('\n') + 1);
    const auto second = good.substr(first.size());
    auto r = send(mock, dir, {"--rejects", rejects,
                              dir.file("in.ndjson", first + std::string((16 << 20) + 1, 'x') + "\n" + second)});
    INFO(r.out << r.err);
    CHECK(r.rc == send_some_failed);
    CHECK(r.row("delivered") == 2);
    CHECK(r.row("rejected") == 1);
    CHECK(read_all(rejects) == "2\t-\tline longer than 16 MiB, skipped\t-\n");
}
