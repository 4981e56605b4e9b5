// capi forward: the option table, secrets and signals around
// capi::kafka::Forwarder; what it prints is forward_report.cpp.
//
// Threads: run() forwards on its own thread (the forwarder's on_log,
// on_problem and on_kafka_stats run there); the main thread waits for
// SIGINT/SIGTERM with a timeout, draws the progress line and prints the
// counters. Console::mu guards stderr between the two.
#include "forward_cmd.hpp"

#include "forward_report.hpp"
#include "cli/cli.hpp"  // secret_option_refusal, the option files, the error style of every command

#include <capi/kafka.hpp>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <exception>
#include <iostream>
#include <mutex>
#include <pthread.h>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

using steady = std::chrono::steady_clock;

struct Args {
    capi::kafka::ForwarderOptions o;
    std::string token_file, app_secret_file, ca_file, kafka_config;
    double stats_interval = 0;  // seconds; 0: off
    bool progress = true;
};

bool parse_number(std::string_view s, double lo, double hi, double& out) {
    auto r = std::from_chars(s.data(), s.data() + s.size(), out);
    return r.ec == std::errc() && r.ptr == s.data() + s.size() && out >= lo && out <= hi;
}

std::chrono::milliseconds seconds_ms(double s) { return std::chrono::milliseconds(static_cast<long long>(s * 1000)); }

bool digits(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// A librdkafka property whose value is a secret (sasl.password,
// ssl.key.password, sasl.oauthbearer.client.secret...): never echoed.
bool secret_property(std::string_view key) {
    std::string k(key);
    std::transform(k.begin(), k.end(), k.begin(), [](unsigned char c) { return std::tolower(c); });
    return k.find("password") != std::string::npos || k.find("secret") != std::string::npos;
}

std::string add_property(Args& a, std::string_view kv, std::string_view from) {
    const auto eq = kv.find('=');
    if (eq == std::string_view::npos || eq == 0)
        return std::string(from) + " takes KEY=VALUE (a librdkafka property)" +
               (secret_property(kv) ? std::string() : ", not '" + std::string(kv) + "'");
    a.o.kafka_properties.emplace_back(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
    return {};
}

// The option table: name, value (empty: a switch), help (continuation lines
// after '\n'), and what it sets (an error message, or empty).
struct Flag {
    std::string_view name, value, help;
    std::string (*apply)(Args&, std::string_view);
};

const Flag flags[] = {
    {"--brokers", "LIST", "bootstrap servers, host:port[,host:port...] (required)",
     [](Args& a, std::string_view v) { a.o.brokers = v; return std::string(v.empty() ? "--brokers takes host:port[,...]" : ""); }},
    {"--topic", "T", "a topic to consume; repeat for several (at least one)",
     [](Args& a, std::string_view v) { a.o.topics.emplace_back(v); return std::string(v.empty() ? "--topic takes a topic name" : ""); }},
    {"--group", "G", "the consumer group, group.id (required)",
     [](Args& a, std::string_view v) { a.o.group = v; return std::string(v.empty() ? "--group takes a group id" : ""); }},
    {"--pixel", "ID", "pixel of records without the pixel header; default $CAPI_PIXEL_ID",
     [](Args& a, std::string_view v) {
         a.o.client.destination.pixel_id = v;
         return digits(v) ? std::string() : "--pixel: a pixel id is a string of digits, not '" + std::string(v) + "'";
     }},
    {"--pixel-header", "NAME", "record header naming a record's pixel; default capi-pixel",
     [](Args& a, std::string_view v) { a.o.pixel_header = v; return std::string(); }},
    {"--endpoint", "URL", "Graph API base; default https://graph.facebook.com",
     [](Args& a, std::string_view v) { a.o.client.transport.endpoint = v; return std::string(); }},
    {"--ca", "FILE", "extra CA certificates (PEM) for --endpoint",
     [](Args& a, std::string_view v) { a.ca_file = v; return std::string(); }},
    {"--api-version", "V", "default v24.0",
     [](Args& a, std::string_view v) { a.o.client.transport.api_version = v; return std::string(); }},
    {"--token-file", "FILE", "access token file; default $CAPI_ACCESS_TOKEN",
     [](Args& a, std::string_view v) { a.token_file = v; return std::string(); }},
    {"--app-secret-file", "FILE", "appsecret_proof key; default $CAPI_APP_SECRET (optional)",
     [](Args& a, std::string_view v) { a.app_secret_file = v; return std::string(); }},
    {"--test-event-code", "CODE", "send to Events Manager's Test Events",
     [](Args& a, std::string_view v) { a.o.client.destination.test_event_code = v; return std::string(); }},
    {"--dead-letter-topic", "D", "invalid, failed and expired records go there, the reason in\n"
                                 "capi-problem* headers; without it they are printed on stderr",
     [](Args& a, std::string_view v) { a.o.dead_letter_topic = v; return std::string(); }},
    {"--kafka-prop", "KEY=VALUE", "a librdkafka property for the consumer and the dead-letter\n"
                                  "producer (wins over capi's); repeatable. Values of keys with\n"
                                  "'password' or 'secret' are never printed",
     [](Args& a, std::string_view v) { return add_property(a, v, "--kafka-prop"); }},
    {"--kafka-config", "FILE", "librdkafka properties, KEY=VALUE lines (# comments): keeps\n"
                               "sasl.password out of the command line",
     [](Args& a, std::string_view v) { a.kafka_config = v; return std::string(); }},
    {"--event-ids", "position|content|random", "id of a record without event_id; default position (the\n"
                                       "same id when the record is read again); content: from the pixel\n"
                                       "and the event, as capi send derives it",
     [](Args& a, std::string_view v) {
         if (v == "position") a.o.event_ids = capi::kafka::EventIds::from_position;
         else if (v == "content") a.o.event_ids = capi::kafka::EventIds::from_content;
         else if (v == "random") a.o.event_ids = capi::kafka::EventIds::random;
         else return "--event-ids takes position, content or random, not '" + std::string(v) + "'";
         return std::string();
     }},
    {"--max-pending", "N", "records read and not settled before pausing; default 50000",
     [](Args& a, std::string_view v) {
         double n = 0;
         if (!parse_number(v, 1, 1e8, n)) return std::string("--max-pending takes a number from 1 to 100000000");
         a.o.max_pending = static_cast<std::size_t>(n);
         return std::string();
     }},
    {"--commit-interval", "SEC", "commit what settled this often; default 1",
     [](Args& a, std::string_view v) {
         double s = 0;
         if (!parse_number(v, 0.01, 3600, s)) return std::string("--commit-interval takes seconds from 0.01 to 3600");
         a.o.commit_interval = seconds_ms(s);
         return std::string();
     }},
    {"--revoke-timeout", "SEC", "on a rebalance, wait this long for revoked records; default 10",
     [](Args& a, std::string_view v) {
         double s = 0;
         if (!parse_number(v, 0, 3600, s)) return std::string("--revoke-timeout takes seconds from 0 to 3600");
         a.o.revoke_timeout = seconds_ms(s);
         return std::string();
     }},
    {"--drain-timeout", "SEC", "on SIGTERM, wait this long for outcomes; default 30",
     [](Args& a, std::string_view v) {
         double s = 0;
         if (!parse_number(v, 0, 3600, s)) return std::string("--drain-timeout takes seconds from 0 to 3600");
         a.o.drain_timeout = seconds_ms(s);
         return std::string();
     }},
    {"--linger-ms", "MS", "how long a partial batch waits for more events; default 50",
     [](Args& a, std::string_view v) {
         double n = 0;
         if (!parse_number(v, 1, 60'000, n)) return std::string("--linger-ms takes milliseconds from 1 to 60000");
         a.o.client.linger = std::chrono::milliseconds(static_cast<long long>(n));
         return std::string();
     }},
    {"--max-batch", "N", "events per request (Meta's maximum is 1000); default 1000",
     [](Args& a, std::string_view v) {
         double n = 0;
         if (!parse_number(v, 1, 1000, n)) return std::string("--max-batch takes a number from 1 to 1000");
         a.o.client.encode.max_batch_events = static_cast<std::size_t>(n);
         return std::string();
     }},
    {"--stats-interval", "SEC", "print the forwarder's, the client's and librdkafka's counters\n"
                                "on stderr this often; default 0 (never)",
     [](Args& a, std::string_view v) {
         return parse_number(v, 0, 86'400, a.stats_interval) ? std::string()
                                                              : std::string("--stats-interval takes seconds from 0 to 86400");
     }},
    {"--no-progress", "", "no progress line, even on a terminal",
     [](Args& a, std::string_view) { a.progress = false; return std::string(); }},
};

constexpr const char* description =
    "Reads Kafka records as a member of consumer group G, one event per record in Meta's\n"
    "wire names (the NDJSON line format of capi send), and sends them through capi's\n"
    "client. An offset is committed only when every record up to it was delivered, or\n"
    "failed / expired / invalid and dead-lettered (or reported). The access token comes\n"
    "from $CAPI_ACCESS_TOKEN or --token-file, never the command line.";

constexpr const char* footer =
    "SIGINT/SIGTERM: stop fetching, wait for outcomes (--drain-timeout), commit, leave the\n"
    "group, print a summary on stdout. Exit status: 0 every record read was delivered and\n"
    "committed, 1 some were invalid, failed or expired, or left uncommitted (the next owner\n"
    "reads them again), 2 usage or configuration error.";

/// The option table as a CLI11 app: each option's `apply` runs once per
/// occurrence, in order; its error becomes the parse error.
void add_flags(CLI::App& app, Args& a) {
    for (const Flag& f : flags) {
        const std::string name(f.name), help(f.help);
        if (f.value.empty()) {
            app.add_flag_callback(name, [&a, &f] {
                if (auto why = f.apply(a, {}); !why.empty()) throw CLI::ValidationError(why);
            }, help);
        } else {
            app.add_option_function<std::vector<std::string>>(
                   name,
                   [&a, &f](const std::vector<std::string>& values) {
                       for (const auto& v : values)
                           if (auto why = f.apply(a, v); !why.empty()) throw CLI::ValidationError(why);
                   },
                   help)
                ->type_name(std::string(f.value))
                ->allow_extra_args(false);
        }
    }
}

int usage_error(std::string_view why) { return capi_cli::fail("forward", why); }

// Reads a file named by `option` with the reader every command shares: a
// secret's file name is never echoed (people pass the token itself where the
// file belongs), a directory or an empty file is an error, never an abort.
std::string read_option_file(std::string_view option, const std::string& path, bool secret, std::string& why) {
    std::string content;
    auto e = secret ? capi_cli::read_secret_file(path, option, content) : capi_cli::read_file(path, option, content);
    if (e) why = *e;
    return content;
}

// What never reaches stderr: the token, the app secret, secret librdkafka values.
// The library never logs them; this is the second line. Values shorter than 6
// characters are left alone: replacing every "t" would garble every message.
struct Scrubber {
    std::vector<std::string> secrets;
    std::string operator()(std::string s) const {
        for (const auto& secret : secrets)
            for (std::size_t at; secret.size() >= 6 && (at = s.find(secret)) != std::string::npos;)
                s.replace(at, secret.size(), "(hidden)");
        return s;
    }
};

// stderr, shared by the run() thread (logs, problems) and the main thread
// (progress line, counters).
struct Console {
    std::mutex mu;
    bool tty = false, bar_shown = false;
    std::uint64_t problems_printed = 0;
    static constexpr std::uint64_t max_problems_printed = 100;

    void line(const std::string& s) {  // takes mu
        std::lock_guard lock(mu);
        clear_bar();
        std::cerr << s << '\n' << std::flush;
    }
    void clear_bar() {  // holds mu
        if (bar_shown) std::cerr << "\r\033[K";
        bar_shown = false;
    }
};

// The startup line: what this process joins, secret property values hidden.
std::string startup_line(const Args& a) {
    std::string s = "capi forward: joining group " + a.o.group + " on " + a.o.brokers + ", topics ";
    for (std::size_t i = 0; i < a.o.topics.size(); ++i) s += (i ? "," : "") + a.o.topics[i];
    s += a.o.client.destination.pixel_id.empty() ? ", pixel from header " + a.o.pixel_header
                                                 : ", pixel " + a.o.client.destination.pixel_id + " (header " +
                                                       a.o.pixel_header + " overrides)";
    s += a.o.dead_letter_topic.empty() ? ", problems on stderr" : ", dead letters to " + a.o.dead_letter_topic;
    if (const auto& e = a.o.client.encode.enhanced; e.enabled) {
        std::string details;
        if (!e.default_phone_country.empty()) details = "phone country " + e.default_phone_country;
        if (e.date_order != capi::DateOrder::unspecified)
            details += (details.empty() ? "" : ", ") + std::string("date order ") + std::string(capi::to_string(e.date_order));
        s += ", enhanced normalization" + (details.empty() ? std::string() : " (" + details + ")");
    }
    for (const auto& [k, v] : a.o.kafka_properties) s += ", " + k + "=" + (secret_property(k) ? "(hidden)" : v);
    return s;
}

// Token, app secret, CA, --kafka-config: an error message or empty.
std::string resolve_files(Args& a, Scrubber& scrub) {
    std::string why;
    auto& d = a.o.client.destination;
    if (!a.token_file.empty()) {
        d.access_token = read_option_file("--token-file", a.token_file, true, why);
        if (!why.empty()) return why;
    } else if (const char* t = std::getenv("CAPI_ACCESS_TOKEN"); t != nullptr && *t != '\0') {
        d.access_token = t;
    } else {
        return "no access token: set CAPI_ACCESS_TOKEN or use --token-file FILE "
               "(never the command line, where the process list shows it)";
    }
    if (!a.app_secret_file.empty()) {
        d.app_secret = read_option_file("--app-secret-file", a.app_secret_file, true, why);
        if (!why.empty()) return why;
    } else if (const char* s = std::getenv("CAPI_APP_SECRET"); s != nullptr && *s != '\0') {
        d.app_secret = s;
    }
    scrub.secrets = {d.access_token, d.app_secret};
    if (!a.ca_file.empty()) {
        read_option_file("--ca", a.ca_file, false, why);
        if (!why.empty()) return why;
        a.o.client.transport.ca_file = a.ca_file;
    }
    if (!a.kafka_config.empty()) {
        const std::string text = read_option_file("--kafka-config", a.kafka_config, false, why);
        if (!why.empty()) return why;
        std::istringstream lines(text);
        std::size_t n = 0;
        for (std::string line; std::getline(lines, line);) {
            ++n;
            while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
            if (line.empty() || line.front() == '#') continue;
            if (auto e = add_property(a, line, "--kafka-config " + a.kafka_config + " line " + std::to_string(n));
                !e.empty())
                return e;
        }
    }
    for (const auto& [k, v] : a.o.kafka_properties)
        if (secret_property(k) && !v.empty()) scrub.secrets.push_back(v);
    return {};
}

} // namespace

int run_forward(int argc, char** argv) {
    Args a;
    CLI::App app{description, "capi forward"};
    app.footer(footer);
    add_flags(app, a);
    capi_cli::add_enhanced_options(app, a.o.client.encode.enhanced);
    if (auto rc = capi_cli::parse(app, "forward", argc - 1, argv + 1)) return *rc;
    if (a.o.brokers.empty()) return usage_error("no brokers: use --brokers host:port[,host:port...]");
    if (a.o.topics.empty()) return usage_error("no topic: use --topic T (once per topic)");
    if (a.o.group.empty()) return usage_error("no consumer group: use --group G");
    if (a.o.client.destination.pixel_id.empty())
        if (const char* p = std::getenv("CAPI_PIXEL_ID"); p != nullptr && *p != '\0') {
            if (!digits(p)) return usage_error("CAPI_PIXEL_ID: a pixel id is a string of digits");
            a.o.client.destination.pixel_id = p;
        }
    Scrubber scrub;
    if (auto why = resolve_files(a, scrub); !why.empty()) return usage_error(scrub(why));

    // librdkafka's own counters at the same interval, unless a property says otherwise.
    if (a.stats_interval > 0 &&
        std::none_of(a.o.kafka_properties.begin(), a.o.kafka_properties.end(),
                     [](const auto& kv) { return kv.first == "statistics.interval.ms"; }))
        a.o.kafka_properties.emplace_back("statistics.interval.ms",
                                          std::to_string(std::max<long long>(seconds_ms(a.stats_interval).count(), 100)));

    Console console;
    console.tty = a.progress && ::isatty(STDERR_FILENO) == 1;
    a.o.on_log = [&](std::string_view line) { console.line("capi forward: " + scrub(std::string(line))); };
    if (a.stats_interval > 0)
        a.o.on_kafka_stats = [&](std::string_view json) { console.line("capi forward: stats " + kafka_counters(json)); };
    if (a.o.dead_letter_topic.empty()) {
        a.o.on_problem = [&](const capi::kafka::Problem& p) {
            if (console.problems_printed++ < Console::max_problems_printed) console.line(scrub(problem_line(p)));
        };
    }

    // Blocked before the forwarder starts librdkafka's and the client's threads, so
    // they inherit the mask and only sigtimedwait() below sees SIGINT/SIGTERM.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);

    const std::string started = startup_line(a), title = summary_title(a.o);
    std::unique_ptr<capi::kafka::Forwarder> fwd;
    try {
        fwd = std::make_unique<capi::kafka::Forwarder>(std::move(a.o));
    } catch (const std::exception& e) {
        return usage_error(scrub(e.what()));
    }
    console.line(scrub(started));

    const auto start = steady::now();
    std::atomic<bool> done{false};
    bool settled = false;
    std::string run_error;
    std::thread runner([&] {
        try {
            settled = fwd->run();
        } catch (const std::exception& e) {
            run_error = e.what();
        }
        done.store(true);
    });

    const auto progress_every = std::chrono::milliseconds(250);
    const auto stats_every = seconds_ms(a.stats_interval);
    auto next_stats = start + stats_every;
    bool stopping = false;
    steady::time_point last_bar{};
    while (!done.load()) {
        const timespec wait{0, 100'000'000};
        const int sig = sigtimedwait(&signals, nullptr, &wait);
        if (sig == SIGINT || sig == SIGTERM) {
            console.line(std::string("capi forward: ") + (sig == SIGINT ? "SIGINT" : "SIGTERM") +
                         (stopping ? ": already stopping" : ": stopping (draining for at most the drain timeout)"));
            stopping = true;
            fwd->stop();
        }
        const auto now = steady::now();
        if (stats_every.count() > 0 && now >= next_stats) {
            const auto st = fwd->stats();
            console.line("capi forward: stats " + counters(st));
            if (auto report = match_quality_report(st); !report.empty()) console.line(report);
            next_stats = now + stats_every;
        }
        if (console.tty) {
            if (now - last_bar >= progress_every) {
                last_bar = now;
                const std::string bar = progress_line(fwd->stats(), std::chrono::duration<double>(now - start).count());
                std::lock_guard lock(console.mu);
                std::cerr << bar << std::flush;
                console.bar_shown = true;
            }
        }
    }
    runner.join();
    {
        std::lock_guard lock(console.mu);
        console.clear_bar();
    }
    if (!run_error.empty()) console.line("capi forward: " + scrub(run_error));
    if (console.problems_printed > Console::max_problems_printed)
        console.line("capi forward: " + std::to_string(console.problems_printed - Console::max_problems_printed) +
                     " more problems not shown (--dead-letter-topic keeps them all)");
    const auto s = fwd->stats();
    const double secs = std::chrono::duration<double>(steady::now() - start).count();
    fwd.reset();  // leaves the group before the summary says so
    print_summary(title, s, secs, settled);
    const bool clean = settled && run_error.empty() && s.invalid + s.no_pixel + s.failed + s.expired == 0 &&
                       s.dead_letter_errors == 0;
    return clean ? forward_ok : forward_some_failed;
}
