// capi kafka-mock: option parsing, the cluster, and the control lines on stdin.
// One thread of ours: it polls stdin and a signalfd, so a line and a signal never
// race, and the end of stdin only stops the reading (tests start it with stdin
// closed or from a pipe they keep open).
#include "kafka_mock_cmd.hpp"

#include "cli/cli.hpp"

#include <CLI/CLI.hpp>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <poll.h>
#include <pthread.h>
#include <string>
#include <string_view>
#include <sys/signalfd.h>
#include <unistd.h>
#include <utility>
#include <vector>

namespace {

constexpr const char* description =
    "Runs librdkafka's mock Kafka cluster on 127.0.0.1 (N brokers, default 3) and\n"
    "creates the topics (replication factor min(3, N)); other topics are created on\n"
    "first use. Prints the bootstrap servers (host:port,host:port...) as the first\n"
    "line of stdout, then reads control lines on stdin, answering each with one line\n"
    "on stdout, 'ok' or 'error: WHY':\n"
    "  broker-down ID                      disconnect broker ID (1..N), refuse connections\n"
    "  broker-up ID                        accept connections again\n"
    "  broker-rtt ID MS                    delay broker ID's answers by MS milliseconds\n"
    "  request-errors APIKEY ERR [COUNT]   fail the next COUNT (default 1) requests of\n"
    "                                      APIKEY (a number, or Produce, Fetch, Metadata,\n"
    "                                      OffsetCommit, OffsetFetch, FindCoordinator,\n"
    "                                      JoinGroup, Heartbeat, SyncGroup...) with ERR\n"
    "                                      (a Kafka error code or name: 6 or\n"
    "                                      NOT_LEADER_FOR_PARTITION; _TRANSPORT disconnects)\n"
    "  clear-request-errors APIKEY         forget the errors not yet used\n"
    "  topic NAME:PARTITIONS               create a topic\n"
    "The end of stdin does not stop it: it runs until SIGINT or SIGTERM (exit 0).\n"
    "--verbose passes librdkafka's log to stderr. Exit status 2: usage error, or the\n"
    "cluster or a topic could not be created.\n";

int usage_error(std::string_view why) { return capi_cli::fail("kafka-mock", why); }

bool parse_int(std::string_view s, long long lo, long long hi, long long& out) {
    auto r = std::from_chars(s.data(), s.data() + s.size(), out);
    return r.ec == std::errc() && r.ptr == s.data() + s.size() && out >= lo && out <= hi;
}

// Kafka's topic name rule: 1 to 249 of [a-zA-Z0-9._-].
bool valid_topic(std::string_view name) {
    return !name.empty() && name.size() <= 249 && name != "." && name != ".." &&
           std::all_of(name.begin(), name.end(),
                       [](unsigned char c) { return std::isalnum(c) || c == '.' || c == '_' || c == '-'; });
}

// "NAME:PARTITIONS"; an empty string or the reason.
std::string parse_topic(std::string_view spec, std::pair<std::string, int>& out) {
    const auto colon = spec.rfind(':');
    long long n = 0;
    if (colon == std::string_view::npos || !parse_int(spec.substr(colon + 1), 1, 100'000, n))
        return "a topic is NAME:PARTITIONS (partitions from 1 to 100000), not '" + std::string(spec) + "'";
    if (!valid_topic(spec.substr(0, colon)))
        return std::string(spec.substr(0, colon)).insert(0, 1, '\'') + "' is not a topic name (1 to 249 of a-z A-Z 0-9 . _ -)";
    out = {std::string(spec.substr(0, colon)), static_cast<int>(n)};
    return {};
}

bool iequal(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](unsigned char x, unsigned char y) {
               return std::tolower(x) == std::tolower(y);
           });
}

// Kafka protocol request types by name (the ones a consumer group and a producer use).
bool parse_api_key(std::string_view s, long long& key) {
    static constexpr std::pair<std::string_view, int> names[] = {
        {"Produce", 0},        {"Fetch", 1},        {"ListOffsets", 2},  {"Metadata", 3},
        {"OffsetCommit", 8},   {"OffsetFetch", 9},  {"FindCoordinator", 10}, {"JoinGroup", 11},
        {"Heartbeat", 12},     {"LeaveGroup", 13},  {"SyncGroup", 14},   {"ApiVersions", 18},
        {"InitProducerId", 22},
    };
    for (auto [name, k] : names)
        if (iequal(s, name)) return key = k, true;
    return parse_int(s, 0, 32767, key);
}

// A Kafka error: its code, or librdkafka's name for it (with or without the
// RD_KAFKA_RESP_ERR_ prefix).
bool parse_error(std::string_view s, rd_kafka_resp_err_t& err) {
    long long n = 0;
    if (parse_int(s, -200, 1000, n)) return err = static_cast<rd_kafka_resp_err_t>(n), true;
    if (s.size() > 18 && iequal(s.substr(0, 18), "RD_KAFKA_RESP_ERR_")) s.remove_prefix(18);
    const rd_kafka_err_desc* descs = nullptr;
    std::size_t count = 0;
    rd_kafka_get_err_descs(&descs, &count);
    for (std::size_t i = 0; i < count; ++i)
        if (descs[i].name != nullptr && iequal(s, descs[i].name)) return err = descs[i].code, true;
    return false;
}

std::vector<std::string_view> words(std::string_view line) {
    std::vector<std::string_view> w;
    std::size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
        const std::size_t start = i;
        while (i < line.size() && !std::isspace(static_cast<unsigned char>(line[i]))) ++i;
        if (i > start) w.push_back(line.substr(start, i - start));
    }
    return w;
}

struct Cluster {
    rd_kafka_t* rk = nullptr;
    rd_kafka_mock_cluster_t* mock = nullptr;
    int brokers = 3;

    ~Cluster() {
        if (mock != nullptr) rd_kafka_mock_cluster_destroy(mock);
        if (rk != nullptr) rd_kafka_destroy(rk);
    }

    std::string create_topic(const std::string& name, int partitions) const {
        const auto err = rd_kafka_mock_topic_create(mock, name.c_str(), partitions, std::min(3, brokers));
        return err ? "topic " + name + ": " + rd_kafka_err2str(err) : std::string();
    }

    // One control line; the answer ("ok" or "error: ...").
    std::string control(std::string_view line) const {
        const auto w = words(line);
        if (w.empty()) return "error: empty line";
        long long id = 0, n = 0;
        auto broker = [&](std::string_view s) { return parse_int(s, 1, brokers, id); };
        auto result = [](rd_kafka_resp_err_t err) {
            return err ? std::string("error: ") + rd_kafka_err2str(err) : std::string("ok");
        };
        const std::string_view cmd = w[0];
        if ((cmd == "broker-down" || cmd == "broker-up") && w.size() == 2) {
            if (!broker(w[1])) return "error: " + cmd_arg_error("a broker id", 1, brokers, w[1]);
            const auto id32 = static_cast<std::int32_t>(id);
            return result(cmd == "broker-down" ? rd_kafka_mock_broker_set_down(mock, id32)
                                               : rd_kafka_mock_broker_set_up(mock, id32));
        }
        if (cmd == "broker-rtt" && w.size() == 3) {
            if (!broker(w[1])) return "error: " + cmd_arg_error("a broker id", 1, brokers, w[1]);
            if (!parse_int(w[2], 0, 600'000, n)) return "error: MS is a number from 0 to 600000";
            return result(rd_kafka_mock_broker_set_rtt(mock, static_cast<std::int32_t>(id), static_cast<int>(n)));
        }
        if (cmd == "request-errors" && (w.size() == 3 || w.size() == 4)) {
            long long key = 0, count = 1;
            rd_kafka_resp_err_t err{};
            if (!parse_api_key(w[1], key)) return "error: unknown API key '" + std::string(w[1]) + "'";
            if (!parse_error(w[2], err)) return "error: unknown error '" + std::string(w[2]) + "'";
            if (w.size() == 4 && !parse_int(w[3], 1, 1'000'000, count))
                return "error: COUNT is a number from 1 to 1000000";
            const std::vector<rd_kafka_resp_err_t> errors(static_cast<std::size_t>(count), err);
            rd_kafka_mock_push_request_errors_array(mock, static_cast<std::int16_t>(key), errors.size(), errors.data());
            return "ok";
        }
        if (cmd == "clear-request-errors" && w.size() == 2) {
            long long key = 0;
            if (!parse_api_key(w[1], key)) return "error: unknown API key '" + std::string(w[1]) + "'";
            rd_kafka_mock_clear_request_errors(mock, static_cast<std::int16_t>(key));
            return "ok";
        }
        if (cmd == "topic" && w.size() == 2) {
            std::pair<std::string, int> t;
            if (auto why = parse_topic(w[1], t); !why.empty()) return "error: " + why;
            const auto why = create_topic(t.first, t.second);
            return why.empty() ? "ok" : "error: " + why;
        }
        return "error: unknown command or wrong number of arguments: '" + std::string(line) +
               "' (broker-down ID, broker-up ID, broker-rtt ID MS, request-errors APIKEY ERR [COUNT], "
               "clear-request-errors APIKEY, topic NAME:PARTITIONS)";
    }

    static std::string cmd_arg_error(std::string_view what, long long lo, long long hi, std::string_view got) {
        return std::string(what) + " is from " + std::to_string(lo) + " to " + std::to_string(hi) + ", not '" +
               std::string(got) + "'";
    }
};

extern "C" void log_to_stderr(const rd_kafka_t*, int level, const char* fac, const char* buf) {
    std::fprintf(stderr, "capi kafka-mock: librdkafka %d %s: %s\n", level, fac, buf);
}
extern "C" void log_nowhere(const rd_kafka_t*, int, const char*, const char*) {}

} // namespace

int run_kafka_mock(int argc, char** argv) {
    Cluster c;
    bool verbose = false;
    std::vector<std::pair<std::string, int>> topics;
    CLI::App app{description, "capi kafka-mock"};
    std::vector<std::string> topic_args;
    app.add_option("--brokers", c.brokers, "brokers of the cluster")->type_name("N")->capture_default_str()
        ->check(CLI::Range(1, 64));
    app.add_option("--topic", topic_args, "a topic to create; repeat for several")
        ->type_name("NAME:PARTITIONS")
        ->allow_extra_args(false);
    app.add_flag("--verbose", verbose, "librdkafka's log on stderr");
    if (auto rc = capi_cli::parse(app, "kafka-mock", argc - 1, argv + 1)) return *rc;
    for (const auto& v : topic_args) {
        std::pair<std::string, int> t;
        if (auto why = parse_topic(v, t); !why.empty()) return usage_error("--topic: " + why);
        topics.push_back(std::move(t));
    }

    // Blocked before librdkafka starts its threads, so they inherit the mask and the
    // signals reach the signalfd only.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    const int sig_fd = signalfd(-1, &signals, SFD_CLOEXEC);
    if (sig_fd < 0) return usage_error(std::string("signalfd: ") + std::strerror(errno));

    char errstr[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, verbose ? log_to_stderr : log_nowhere);
    c.rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (c.rk == nullptr) {
        rd_kafka_conf_destroy(conf);
        return usage_error(std::string("librdkafka: ") + errstr);
    }
    c.mock = rd_kafka_mock_cluster_new(c.rk, c.brokers);
    if (c.mock == nullptr) return usage_error("librdkafka could not start its mock cluster");
    for (const auto& [name, partitions] : topics)
        if (auto why = c.create_topic(name, partitions); !why.empty()) return usage_error(why);
    std::cout << rd_kafka_mock_cluster_bootstraps(c.mock) << std::endl;  // flushed: scripts read it

    pollfd fds[2] = {{sig_fd, POLLIN, 0}, {STDIN_FILENO, POLLIN, 0}};
    nfds_t nfds = 2;
    std::string pending;
    char buf[4096];
    for (;;) {
        if (poll(fds, nfds, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (fds[0].revents != 0) break;  // SIGINT or SIGTERM
        if (nfds == 2 && fds[1].revents != 0) {
            const ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {  // the end of stdin (or an error on it): keep serving
                nfds = 1;
                continue;
            }
            pending.append(buf, static_cast<std::size_t>(n));
            for (std::size_t nl; (nl = pending.find('\n')) != std::string::npos; pending.erase(0, nl + 1)) {
                std::string_view line(pending.data(), nl);
                if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
                if (words(line).empty() || line.front() == '#') continue;
                std::cout << c.control(line) << std::endl;
            }
        }
    }
    close(sig_fd);
    return kafka_mock_ok;
}
