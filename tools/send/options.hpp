// capi send's command line: its options, their parsing and the usage text.
// docs/cli.md is the user's documentation.
#pragma once

#include <capi/client.hpp>
#include <capi/encode.hpp>
#include <capi/ndjson.hpp>
#include <capi/validate.hpp>

#include <chrono>
#include <cstddef>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

namespace capi_send {

/// SIGINT or SIGTERM arrived: the reader stops at the next line (send_cmd.cpp).
bool interrupted();

struct Args {
    bool dry_run = false, form = false;
    bool strict = false;  // exit 1 when customer information was dropped or will not match
    int progress = -1;  // -1 auto (a terminal), 0 off, 1 on
    capi::EncodeOptions enc;
    capi::ReaderOptions rd;
    capi::RequestFields fields;
    std::optional<std::chrono::system_clock::time_point> fixed_now;
    std::string input = "-";
    std::string pixel, endpoint = "https://graph.facebook.com", api_version = "v24.0", ca_file;
    std::string token_file, app_secret_file, rejects_path, failed_path, checkpoint_path;
    capi::EventIdMode event_ids = capi::EventIdMode::deterministic;
    std::size_t max_in_flight = 0, connections = 8;  // max_in_flight 0: 2 x connections x max batch
    unsigned max_attempts = 6;
    std::chrono::milliseconds linger{50}, request_timeout{10'000};
};
/// Parses argv into `a`; returns an exit status when the command must stop.
std::optional<int> parse_args(int argc, char** argv, Args& a, std::ostream& out, std::ostream& err);

/// Prints `capi send: why` and a pointer to --help; returns send_usage.
int usage_error(std::ostream& err, std::string_view why);

/// Reads a secret from the file `option` names (trailing newlines dropped). Empty
/// string and an error message naming the option when unreadable or empty; neither
/// the secret nor the file's name (often the secret itself) appears in a message.
/// Warns on `err` when other users can read the file.
std::string read_secret(const std::string& path, std::string_view option, std::string& why, std::ostream& err);

/// The hint that events are read from a terminal.
void terminal_hint(const Args& a, std::ostream& err);

} // namespace capi_send
