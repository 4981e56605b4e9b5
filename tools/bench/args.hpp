// The small benchmarks' command lines (bench_core, bench_transport,
// bench_sha256, bench_queue, bench_pixel, bench_async_op), read one strict
// way: `--name value` and bare `--flag`, each at most once. An argument no
// option takes (a typo, an option the program does not have), a missing or
// malformed value, or one out of range ends the program with status 2 and a
// message that names the option and the reason, then the usage; `--help`
// prints the usage and exits 0. (The end-to-end benchmark and the capi program
// parse theirs with CLI11, which does the same.) Header-only and free of
// capi's headers, like cpu_clock.hpp beside it.
//
//   capi_bench::Args args(argc, argv, "[--rounds R] [--profile]");
//   const long rounds = args.integer("--rounds", 3, 1, 1000);
//   const bool profile = args.flag("--profile");
//   args.finish();  // after every option was read
#pragma once

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace capi_bench {

class Args {
public:
    /// `synopsis`: the options, as the usage line shows them after the program's name.
    Args(int argc, char** argv, std::string synopsis)
        : argv_(argv + 1, argv + (argc > 1 ? argc : 1)), taken_(argv_.size(), false), synopsis_(std::move(synopsis)) {
        const std::string_view path = argc > 0 ? argv[0] : "bench";
        const auto slash = path.rfind('/');
        program_ = std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
        for (const std::string_view a : argv_)
            if (a == "--help" || a == "-h") {
                std::printf("usage: %s %s\n", program_.c_str(), synopsis_.c_str());
                std::exit(0);
            }
    }

    /// The whole number after `name`, in [lo, hi]; `def` when `name` is absent.
    long integer(std::string_view name, long def, long lo, long hi) {
        const char* text = value_of(name);
        if (text == nullptr) return def;
        errno = 0;
        char* end = nullptr;
        const long v = std::strtol(text, &end, 10);
        if (end == text || *end != '\0' || errno == ERANGE) fail(name, quoted(text, "is not a whole number"));
        if (v < lo || v > hi) fail(name, out_of_range(text, std::to_string(lo), std::to_string(hi)));
        return v;
    }

    /// The decimal number after `name`, in [lo, hi]; `def` when `name` is absent.
    double number(std::string_view name, double def, double lo, double hi) {
        const char* text = value_of(name);
        if (text == nullptr) return def;
        errno = 0;
        char* end = nullptr;
        const double v = std::strtod(text, &end);
        if (end == text || *end != '\0' || errno == ERANGE || !std::isfinite(v))
            fail(name, quoted(text, "is not a number"));
        if (v < lo || v > hi) fail(name, out_of_range(text, trimmed(lo), trimmed(hi)));
        return v;
    }

    /// True when the bare flag `name` was given.
    bool flag(std::string_view name) { return find(name) != npos; }

    /// True when the option `name` was given, without reading it: for options
    /// that go with (or not with) another.
    bool given(std::string_view name) const {
        for (const std::string_view a : argv_)
            if (a == name) return true;
        return false;
    }

    /// The one flag of `modes` given, or "" when none: a program that runs one
    /// mode at a time refuses two.
    std::string_view one_of(std::initializer_list<std::string_view> modes) {
        std::string_view chosen;
        for (const std::string_view m : modes) {
            if (!flag(m)) continue;
            if (!chosen.empty()) {
                std::string why = "one mode at a time (";
                why.append(chosen).append(" was given too)");
                fail(m, why);
            }
            chosen = m;
        }
        return chosen;
    }

    /// Refuses any argument no call above took. Call once every option was read.
    void finish() const {
        for (std::size_t i = 0; i < argv_.size(); ++i)
            if (!taken_[i])
                fail(argv_[i], argv_[i].rfind("--", 0) == 0 ? "no such option" : "not an option (a stray value?)");
    }

    /// Ends the program with status 2: "<program>: <option>: <why>", then the usage.
    [[noreturn]] void fail(std::string_view option, const std::string& why) const {
        std::fprintf(stderr, "%s: %.*s: %s\nusage: %s %s\n", program_.c_str(), static_cast<int>(option.size()),
                     option.data(), why.c_str(), program_.c_str(), synopsis_.c_str());
        std::exit(2);
    }

private:
    static constexpr std::size_t npos = static_cast<std::size_t>(-1);

    /// The index of `name`, marked taken; npos when absent. Given twice: refused.
    std::size_t find(std::string_view name) {
        std::size_t at = npos;
        for (std::size_t i = 0; i < argv_.size(); ++i) {
            if (taken_[i] || argv_[i] != name) continue;
            if (at != npos) fail(name, "given more than once");
            at = i;
            taken_[i] = true;
        }
        return at;
    }

    /// The text after `name` (both marked taken), or null when `name` is absent.
    const char* value_of(std::string_view name) {
        const std::size_t i = find(name);
        if (i == npos) return nullptr;
        if (i + 1 >= argv_.size()) fail(name, "needs a value");
        taken_[i + 1] = true;
        return argv_[i + 1].data();
    }

    // (Messages built by appending: GCC 12 warns falsely on chained operator+.)
    static std::string quoted(const char* text, const char* why) {
        std::string m = "'";
        m.append(text).append("' ").append(why);
        return m;
    }
    static std::string out_of_range(const char* text, const std::string& lo, const std::string& hi) {
        std::string m = text;
        m.append(" is out of range (").append(lo).append(" to ").append(hi).append(")");
        return m;
    }
    static std::string trimmed(double v) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%g", v);
        return buf;
    }

    std::vector<std::string_view> argv_;  // argv[1..argc), each NUL-terminated
    std::vector<bool> taken_;
    std::string synopsis_;
    std::string program_;
};

} // namespace capi_bench
