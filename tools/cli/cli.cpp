// tools/cli/cli.hpp: the command line every `capi` command shares.
#include "cli/cli.hpp"

#include <CLI/CLI.hpp>
#include <capi/normalize.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <iostream>
#include <system_error>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace capi_cli {

namespace {

// A secret longer than this is not a token: probably the wrong file.
constexpr std::size_t max_secret_bytes = 64 * 1024;

std::string reason(int err) { return std::strerror(err); }

}  // namespace

std::optional<std::string> secret_option_refusal(std::string_view a) {
    const auto name = a.substr(0, a.find('='));
    for (std::string_view t : {"--token", "--access-token", "--access_token", "--accesstoken"})
        if (name == t)
            return std::string(name) +
                   " is refused: a token on the command line is visible to every user in the process "
                   "list and stays in the shell history. Set CAPI_ACCESS_TOKEN or put the token in a "
                   "file and use --token-file FILE";
    for (std::string_view s : {"--app-secret", "--app_secret", "--appsecret", "--secret"})
        if (name == s)
            return std::string(name) +
                   " is refused: a secret on the command line is visible to every user in the process "
                   "list and stays in the shell history. Set CAPI_APP_SECRET or use --app-secret-file FILE";
    return std::nullopt;
}

std::string option_error(const std::exception& e,
                         std::initializer_list<std::pair<std::string_view, std::string_view>> names) {
    std::string m = e.what();
    if (const auto* se = dynamic_cast<const std::system_error*>(&e)) {
        const std::string suffix = ": " + se->code().message();
        if (m.size() > suffix.size() && m.ends_with(suffix)) m.resize(m.size() - suffix.size());
    }
    for (const auto& [field, option] : names) {
        if (m.starts_with(field)) {
            m = std::string(option) + m.substr(field.size());
            break;
        }
    }
    return m;
}

int fail(std::string_view command, std::string_view message) { return fail(command, message, std::cerr); }

int fail(std::string_view command, std::string_view message, std::ostream& err) {
    err << "capi " << command << ": " << message << "\n"
        << "Run 'capi " << command << " --help' for every option.\n";
    return exit_usage;
}

std::optional<int> parse(CLI::App& app, std::string_view command, int argc, char** argv) {
    return parse(app, command, argc, argv, std::cout, std::cerr);
}

std::optional<int> parse(CLI::App& app, std::string_view command, int argc, char** argv, std::ostream& out,
                         std::ostream& err) {
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--") break;
        if (auto why = secret_option_refusal(arg)) return fail(command, *why, err);
    }
    // Extras are reported here rather than by CLI11 ("The following arguments were
    // not expected: 1 --frobnicate"): the unknown option by its name first.
    app.allow_extras();
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp&) {
        out << app.help();
        return 0;
    } catch (const CLI::ParseError& e) {
        return fail(command, e.what(), err);
    }
    std::vector<std::string> rest = app.remaining();
    std::erase(rest, std::string("--"));  // the end of the options, not an argument
    for (const auto& r : rest)
        if (r.size() > 1 && r[0] == '-') return fail(command, "unknown option " + r.substr(0, r.find('=')), err);
    if (!rest.empty()) return fail(command, "unexpected argument '" + rest.front() + "'", err);
    return std::nullopt;
}

namespace {

// Reads the file at `path` whole into `out` with read(2): a directory, a FIFO
// or a file that vanishes is an errno, never an exception. `named` is how the
// messages call the file; `open_errno` is open(2)'s error, 0 when it opened.
std::optional<std::string> slurp(const std::string& path, const std::string& option, const std::string& named,
                                 std::size_t limit, std::string& out, int& open_errno) {
    open_errno = 0;
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        open_errno = errno;
        return option + ": cannot open " + named + ": " + reason(open_errno);
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0 || S_ISDIR(st.st_mode)) {
        const int err = S_ISDIR(st.st_mode) ? EISDIR : errno;
        ::close(fd);
        return option + ": cannot read " + named + ": " + reason(err);
    }
    out.clear();
    char buf[4096];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            const int err = errno;
            ::close(fd);
            return option + ": cannot read " + named + ": " + reason(err);
        }
        if (n == 0) break;
        out.append(buf, static_cast<std::size_t>(n));
        if (out.size() > limit) {
            ::close(fd);
            return option + ": " + named + " holds more than " + std::to_string(limit / 1024) + " KiB";
        }
    }
    ::close(fd);
    return std::nullopt;
}

}  // namespace

std::optional<std::string> read_secret_file(const std::string& path, std::string_view option, std::string& out) {
    const std::string name(option);
    std::string secret;
    int open_errno = 0;
    if (auto why = slurp(path, name, "the file it names", max_secret_bytes, secret, open_errno)) {
        if (open_errno == ENOENT)
            return name + ": the file it names does not exist (did you pass the secret itself? Give the name of "
                          "a file holding it; the name is not shown, in case it is the secret)";
        return why;
    }
    while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
    if (secret.empty()) return name + ": the file it names is empty";
    out = std::move(secret);
    return std::nullopt;
}

std::optional<std::string> read_file(const std::string& path, std::string_view option, std::string& out) {
    const std::string name(option);
    std::string content;
    int open_errno = 0;
    if (auto why = slurp(path, name, path, std::size_t{16} << 20, content, open_errno)) return why;
    if (content.empty()) return name + ": " + path + " is empty";
    out = std::move(content);
    return std::nullopt;
}

std::optional<std::string> check_readable(const std::string& path, std::string_view option) {
    const std::string name(option);
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return name + ": " + path + ": " + reason(errno);
    if (S_ISDIR(st.st_mode)) return name + ": " + path + ": is a directory, not a file";
    if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode) && !S_ISCHR(st.st_mode))
        return name + ": " + path + ": not a regular file, a pipe or a device";
    if (::access(path.c_str(), R_OK) != 0) return name + ": " + path + ": " + reason(errno);
    return std::nullopt;
}

std::optional<std::string> check_writable_dir(const std::string& path, std::string_view option) {
    const std::string name(option);
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return name + ": " + path + ": " + reason(errno);
    if (!S_ISDIR(st.st_mode)) return name + ": " + path + ": not a directory";
    if (::access(path.c_str(), W_OK | X_OK) != 0) return name + ": " + path + ": " + reason(errno);
    return std::nullopt;
}

void add_enhanced_options(CLI::App& app, capi::EnhancedNormalization& out, std::string_view group) {
    auto* enhanced = app.add_flag("--enhanced", out.enabled,
                 "Opt-in conversions into the form Meta matches: dates, state and country names, gender words, "
                 "phone numbers without their country code, ZIP+4 (docs/normalization.md, \"Enhanced, opt-in\")");
    app.add_option_function<std::string>(
           "--phone-country",
           [&out](const std::string& cc) {
               if (!capi::is_iso3166_alpha2(cc) || cc.size() != 2)
                   throw CLI::ValidationError("--phone-country", "'" + cc + "' is not an ISO 3166-1 alpha-2 country code");
               out.default_phone_country = cc;
               out.enabled = true;
           },
           "Country (ISO alpha-2, e.g. US, GB) whose calling code is added to phone numbers given without one; "
           "implies --enhanced")
        ->type_name("CC");
    app.add_option_function<std::string>(
           "--date-order",
           [&out](const std::string& v) {
               const auto o = capi::parse_date_order(v);
               if (!o) throw CLI::ValidationError("--date-order", "'" + v + "' is not dmy, mdy or ymd");
               out.date_order = *o;
               out.enabled = true;
           },
           "Order of day and month in numeric dates of birth with the year last (dmy: 31/01/1990, mdy: "
           "01/31/1990; ymd: year first only); implies --enhanced")
        ->type_name("dmy|mdy|ymd");
    if (!group.empty()) {
        const std::string g(group);
        enhanced->group(g);
        app.get_option("--phone-country")->group(g);
        app.get_option("--date-order")->group(g);
    }
}

void print_match_quality(std::ostream& out, const capi::MatchQuality& q, std::string_view indent) {
    bool any = false;
    for (std::size_t f = 0; f < capi::field_count; ++f) {
        const auto field = static_cast<capi::Field>(f);
        if (q.values(field) == 0) continue;
        if (!any) out << indent << "match quality (values per field):\n";
        any = true;
        std::string line(indent);
        line += "  ";
        line += capi::to_string(field);
        line.resize(std::max(line.size() + 1, indent.size() + 14), ' ');
        for (std::size_t o = 0; o < capi::match_outcome_count; ++o) {
            const auto n = q.counts[f][o];
            if (n == 0) continue;
            line += ' ';
            line += capi::to_string(static_cast<capi::MatchOutcome>(o));
            line += ' ';
            line += std::to_string(n);
        }
        out << line << '\n';
    }
}

}  // namespace capi_cli
