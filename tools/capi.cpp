// capi: the command-line program.
//
//   capi normalize FIELD VALUE      normalized value, a tab, and what goes on the wire
//   capi send [FILE|-]              NDJSON events -> Meta (or the mock); --dry-run: bodies
//   capi mock-server                Meta's /events edge on 127.0.0.1
//   capi gateway                    a first-party pixel endpoint: browser hits -> server events
//   capi bench                      end-to-end benchmark
//   capi bench --latency            server latency sweep and a throttling burst
//   capi forward                    Kafka topics -> Meta, as a consumer group (built with kafka)
//   capi kafka-mock                 librdkafka's mock Kafka cluster on 127.0.0.1 (built with kafka)
//   capi --version | --help
// docs/cli.md documents every command, option and exit status.
#include <capi/normalize.hpp>
#include <capi/sha256.hpp>
#include <capi/version.hpp>

#include "bench/e2e.hpp"
#include "bench/latency.hpp"
#include "gateway_cmd.hpp"
#include "mock_server_cmd.hpp"
#include "send_cmd.hpp"
#include "cli/cli.hpp"
#ifdef CAPI_HAVE_KAFKA
#include "forward_cmd.hpp"
#include "kafka_mock_cmd.hpp"
#endif

#include <CLI/CLI.hpp>

#include <iostream>
#include <string>
#include <string_view>

namespace {

constexpr std::string_view usage_text =
    "usage:\n"
    "  capi normalize [--strict] [--enhanced [--phone-country CC] [--date-order dmy|mdy|ymd]]\n"
    "                 [--country COUNTRY] FIELD VALUE\n"
    "      FIELD is Meta's wire key: em ph ge db fn ln ct st zp country external_id\n"
    "      f5first f5last fi dobd dobm doby currency. Prints the normalized value, a tab,\n"
    "      and what goes on the wire: its SHA-256 (lowercase hex), the value itself when\n"
    "      it was already hashed, or '-' for a field sent unhashed. A rejected or\n"
    "      omitted value prints the reason on stderr and exits 1; one Meta will not\n"
    "      match as given (db not YYYYMMDD) a warning (--strict: exit 1).\n"
    "  capi send [options] [FILE|-]\n"
    "      Sends NDJSON events (one JSON object per line, Meta's wire field names, PII\n"
    "      in clear or hashed) through capi's client: validates, normalizes, hashes,\n"
    "      batches, retries, and prints a summary table (accepted, delivered,\n"
    "      rejected, failed by Graph code/subcode with an fbtrace_id, expired,\n"
    "      throughput). The access token comes from $CAPI_ACCESS_TOKEN or\n"
    "      --token-file FILE, never from the command line. Main options:\n"
    "        --pixel ID --token-file F --endpoint URL --ca F --api-version V\n"
    "        --test-event-code C --rejects F --failed F --max-batch N\n"
    "      --dry-run prints the request bodies instead (no token needed).\n"
    "      capi send --help lists every option. Exit status: 0 all delivered, 1 some\n"
    "      lines rejected or events failed/expired, 2 usage, I/O or configuration\n"
    "      error, 130 interrupted.\n"
    "  capi mock-server [--port P] [--cert-out DIR] [--token-file F] [--app-secret-file F]\n"
    "                   [--events-out FILE] [--latency-ms MS] [--threads N] [--throttle-...]\n"
    "      Runs capi's mock of Meta's Graph API /events edge over TLS on 127.0.0.1 until\n"
    "      interrupted; prints its URL; --cert-out writes the CA as DIR/ca.pem;\n"
    "      --events-out appends every event it accepts to FILE as one JSON line;\n"
    "      --latency-ms answers MS ms late; --throttle-requests M throttles M requests\n"
    "      (capi mock-server --help).\n"
    "  capi gateway --pixel ID [--listen HOST:PORT] [--endpoint URL --ca F] [options]\n"
    "      A first-party Meta Pixel endpoint (GET/POST /tr, POST /events, /healthz,\n"
    "      /metrics): browser hits become server events sent through capi's client.\n"
    "      Prints its URL on stdout; SIGTERM drains and prints a summary. Token from\n"
    "      $CAPI_ACCESS_TOKEN or --token-file. capi gateway --help lists every option.\n"
    "      Exit status: 0 all delivered, 1 some events failed, 2 usage or start-up error.\n"
    "  capi bench [--events N] [--producers P] [--coroutines C] ...   end-to-end benchmark (--help)\n"    "  capi bench --latency [--latencies 0,50,200,500] ...   server latency and throttling (--help)\n"
#ifdef CAPI_HAVE_KAFKA
    "  capi forward --brokers LIST --topic T [--topic T ...] --group G [--pixel ID] [options]\n"
    "      Forwards Kafka records (one event each, the NDJSON line format of capi send)\n"
    "      as a consumer group, committing only offsets whose records have an outcome;\n"
    "      invalid records go to --dead-letter-topic or stderr. Token as for capi send.\n"
    "      SIGTERM drains and prints a summary. capi forward --help lists every option.\n"
    "      Exit status: 0 everything read settled and committed, 1 some failed, expired,\n"
    "      invalid or uncommitted, 2 usage or configuration error.\n"
    "  capi kafka-mock [--brokers N] [--topic NAME:PARTITIONS ...]\n"
    "      Runs librdkafka's mock Kafka cluster on 127.0.0.1 until SIGTERM; prints the\n"
    "      bootstrap servers; control lines on stdin (broker-down ID, request-errors ...).\n"
#endif
    "  capi --version\n"
    "docs/cli.md documents every command, option and exit status; installed, it is\n"
    "  " CAPI_DOC_DIR "/cli.md\n";

int usage_error(std::string_view why) {
    std::cerr << "capi: " << why << "\n" << usage_text;
    return 2;
}

int cmd_normalize(int argc, char** argv) {
    constexpr std::string_view command = "normalize";
    CLI::App app{"Prints the normalized value, a tab, and what goes on the wire: its SHA-256 (lowercase\n"
                 "hex), the value itself when it was already hashed, or '-' for a field sent unhashed. A\n"
                 "rejected or omitted value prints the reason on stderr and exits 1. A value hashed\n"
                 "although Meta will not match it as given (a db not in YYYYMMDD, a phone without its\n"
                 "country code) prints a warning on stderr; --strict makes that exit 1 too.",
                 "capi normalize"};
    std::string field_name, value, country;
    bool strict = false;
    capi::EnhancedNormalization enhanced;
    app.add_option("FIELD", field_name,
                   "Meta's wire key: em ph ge db fn ln ct st zp country external_id f5first f5last fi\n"
                   "dobd dobm doby currency")
        ->required();
    app.add_option("VALUE", value, "the value, as your data holds it")->required();
    app.add_flag("--strict", strict, "exit 1 when the value will not match at Meta as given");
    capi_cli::add_enhanced_options(app, enhanced);
    app.add_option("--country", country,
                   "the event's country (as user_data.country holds it), which the st, zp and ph rules read")
        ->type_name("COUNTRY");
    if (auto rc = capi_cli::parse(app, command, argc - 1, argv + 1)) return *rc;
    auto field = capi::parse_field(field_name);
    if (!field) return capi_cli::fail(command, "unknown field '" + field_name + "'");
    std::string country_code;
    if (!country.empty()) {
        capi::context_country({country}, &enhanced, country_code);
        if (country_code.empty())
            return capi_cli::fail(command, "--country: '" + country + "' is not a country " +
                                               (enhanced.enabled ? "capi knows" : "code (ISO 3166-1 alpha-2; --enhanced reads names)"));
    }
    capi::Normalized n;
    capi::MatchOutcome outcome;
    n.status = capi::normalize_into(*field, value, n.value, n.reason, {&enhanced, country_code}, outcome);
    if (n.status == capi::NormalizeStatus::rejected) {
        std::cerr << field_name << ": rejected: " << n.reason << "\n";
        return 1;
    }
    if (n.status == capi::NormalizeStatus::omitted) {
        std::cerr << field_name << ": omitted: " << n.reason << "\n";
        return 1;
    }
    std::string wire;
    if (n.status == capi::NormalizeStatus::already_hashed) {
        wire = n.value;
    } else if (capi::is_hashed_field(*field)) {
        wire.resize(64);
        capi::sha256::to_hex(capi::sha256::hash(n.value), wire.data());
    } else {
        wire = "-";
    }
    std::cout << n.value << '\t' << wire << '\n';
    if (outcome == capi::MatchOutcome::unmatchable) {
        std::cerr << field_name << ": warning: " << n.reason << "\n";
        if (strict) return 1;
    }
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    std::ios::sync_with_stdio(false);
    // The library runs its default SHA-256 path when CAPI_SHA256_IMPL cannot be
    // honoured; the tool refuses instead, so a forced run never passes silently.
    if (const auto why = capi::sha256::selection_error(); !why.empty()) {
        std::cerr << "capi: " << why << "\n";
        return 2;
    }
    if (argc < 2) return usage_error("no command");
    std::string_view cmd = argv[1];
    if (cmd == "--version" || cmd == "version") {
        std::cout << "capi " << capi::version() << " (sha256: " << capi::sha256::implementation_name() << ")\n";
        return 0;
    }
    if (cmd == "--help" || cmd == "-h" || cmd == "help") {
        std::cout << usage_text;
        return 0;
    }
    if (cmd == "normalize") return cmd_normalize(argc, argv);
    if (cmd == "send") {
        SendStreams io;
        io.handle_signals = true;
        return run_send(argc, argv, io);
    }
    if (cmd == "mock-server") return run_mock_server(argc, argv);
    if (cmd == "gateway") return run_gateway(argc, argv);
#ifdef CAPI_HAVE_KAFKA
    if (cmd == "forward") return run_forward(argc, argv);
    if (cmd == "kafka-mock") return run_kafka_mock(argc, argv);
#else
    if (cmd == "forward" || cmd == "kafka-mock") {
        std::cerr << "capi: " << cmd << ": this capi was built without Kafka support (the meson feature kafka "
                  << "was disabled or librdkafka was not found: install librdkafka-dev and configure with "
                  << "-Dkafka=enabled)\n";
        return 2;
    }
#endif
    if (cmd == "bench") {
        if (argc > 2 && std::string_view(argv[2]) == "--latency") return run_latency_bench(argc - 1, argv + 1);
        return run_e2e_bench(argc - 1, argv + 1);
    }
    return usage_error(std::string("unknown command '") + std::string(cmd) + "'");
}
