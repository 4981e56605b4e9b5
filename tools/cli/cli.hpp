// What every `capi` command shares on its command line: one parser (CLI11, so
// `--opt value` and `--opt=value`, generated help, one error style), the refusal
// of options that would put a secret in argv, and reading the files options
// name without ever crashing on a directory, a FIFO or a vanished file.
//
// Errors are one line, `capi COMMAND: what: why`, then one line pointing to
// `capi COMMAND --help`, exit status 2: the usage text does not scroll the error
// away.
#pragma once

#include <exception>
#include <initializer_list>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace CLI {
class App;
}
namespace capi {
struct EnhancedNormalization;
struct MatchQuality;
}

namespace capi_cli {

/// Why option `arg` (as given: "--token" or "--token=..") must be refused
/// because it would put a secret in argv, where every user sees it (ps,
/// /proc/PID/cmdline) and the shell history keeps it; nullopt for other options.
/// Every command refuses the same options with the same words (parse() does).
std::optional<std::string> secret_option_refusal(std::string_view arg);

/// The message of an exception from the library's constructors, as a command
/// line's user should read it: a capi::errc error without the code's own words
/// appended ("...: invalid option"), and the library's option names replaced by
/// the command's (`names`: {"transport.ca_file", "--ca"}, ...; the longest first).
std::string option_error(const std::exception& e,
                         std::initializer_list<std::pair<std::string_view, std::string_view>> names);

/// Exit status of a usage, file or start-up error, for every command.
inline constexpr int exit_usage = 2;

/// Prints `capi COMMAND: message` and the pointer to --help on stderr (or `err`);
/// returns 2.
int fail(std::string_view command, std::string_view message);
int fail(std::string_view command, std::string_view message, std::ostream& err);

/// Parses argv[1..] into `app` (argv[0] is the command, or a benchmark program's
/// name: `capi X ...` passes argc - 1, argv + 1). Refuses first, with the reason,
/// any option that would carry a secret (--token, --access-token, --app-secret,
/// in either form). Returns nullopt to go on, or the exit status: 0 after
/// printing the help (--help, -h), 2 after an error. `command` names the command
/// in errors ("mock-server", "bench --latency").
std::optional<int> parse(CLI::App& app, std::string_view command, int argc, char** argv);
/// The same, printing the help to `out` and errors to `err` (tests pass string streams).
std::optional<int> parse(CLI::App& app, std::string_view command, int argc, char** argv, std::ostream& out,
                         std::ostream& err);

/// Reads a secret (an access token, an app secret) from the file `path` that
/// option `option` names: its content without trailing CR/LF. A pipe works too
/// (`--token-file <(pass show meta/token)`). The error names the option and the
/// reason but never the path, since users often pass the secret itself.
std::optional<std::string> read_secret_file(const std::string& path, std::string_view option, std::string& out);

/// Reads the whole file `path` that option `option` names (a certificate, a
/// key): the error names the option, the file and the reason; an empty file is
/// an error. At most 16 MiB.
std::optional<std::string> read_file(const std::string& path, std::string_view option, std::string& out);

/// Why the file `path` (named by `option`) cannot be read as input: missing,
/// unreadable, a directory; nullopt when it can be opened for reading. Regular
/// files, pipes and character devices (/dev/stdin) are accepted.
std::optional<std::string> check_readable(const std::string& path, std::string_view option);

/// Why the directory `path` (named by `option`) cannot take a new file: missing,
/// not a directory, not writable; nullopt when it can.
std::optional<std::string> check_writable_dir(const std::string& path, std::string_view option);

/// The enhanced-normalization options of every command that normalizes
/// customer information (normalize, send, gateway, forward), written into
/// `out`: --enhanced, --phone-country CC (implies --enhanced), --date-order
/// dmy|mdy|ymd (implies --enhanced). The parser checks CC is an ISO 3166-1
/// alpha-2 code and the order one of the three, naming the option.
/// `group`: the help section they are listed in (none: the first).
void add_enhanced_options(CLI::App& app, capi::EnhancedNormalization& out, std::string_view group = {});

/// The match-quality report as summary lines, one per field that had values:
/// `<indent>em  as_given N  converted N  ...` (only the non-zero outcomes), after
/// a heading line `<indent>match quality (values per field):`. Nothing when no
/// value was seen.
void print_match_quality(std::ostream& out, const capi::MatchQuality& q, std::string_view indent = "  ");

}  // namespace capi_cli
