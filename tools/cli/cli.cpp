// tools/cli/cli.hpp: the command line every `capi` command shares.
#include "cli/cli.hpp"

#include "send_cmd.hpp"  // secret_option_refusal: one rule and one wording

#include <CLI/CLI.hpp>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <iostream>
#include <sys/stat.h>
#include <unistd.h>

namespace capi_cli {

namespace {

// A secret longer than this is not a token: probably the wrong file.
constexpr std::size_t max_secret_bytes = 64 * 1024;

std::string reason(int err) { return std::strerror(err); }

}  // namespace

int fail(std::string_view command, std::string_view message) {
    std::cerr << "capi " << command << ": " << message << "\n"
              << "Run 'capi " << command << " --help' for every option.\n";
    return exit_usage;
}

std::optional<int> parse(CLI::App& app, std::string_view command, int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--") break;
        if (auto why = secret_option_refusal(arg)) return fail(command, *why);
    }
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp&) {
        std::cout << app.help();
        return 0;
    } catch (const CLI::ParseError& e) {
        return fail(command, e.what());
    }
    return std::nullopt;
}

std::optional<std::string> read_secret_file(const std::string& path, std::string_view option, std::string& out) {
    const std::string name(option);
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        const int err = errno;
        if (err == ENOENT)
            return name + ": the file it names does not exist (did you pass the secret itself? Give the name of "
                          "a file holding it; the name is not shown, in case it is the secret)";
        return name + ": cannot open the file it names: " + reason(err);
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0 || S_ISDIR(st.st_mode)) {
        const int err = S_ISDIR(st.st_mode) ? EISDIR : errno;
        ::close(fd);
        return name + ": cannot read the file it names: " + reason(err);
    }
    std::string secret;
    char buf[4096];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            const int err = errno;
            ::close(fd);
            return name + ": cannot read the file it names: " + reason(err);
        }
        if (n == 0) break;
        secret.append(buf, static_cast<std::size_t>(n));
        if (secret.size() > max_secret_bytes) {
            ::close(fd);
            return name + ": the file it names holds more than 64 KiB: not a token or secret";
        }
    }
    ::close(fd);
    while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
    if (secret.empty()) return name + ": the file it names is empty";
    out = std::move(secret);
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

}  // namespace capi_cli
