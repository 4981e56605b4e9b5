// capi send: NDJSON events to Meta's Conversions API (or, with --dry-run, to
// request bodies on stdout). docs/cli.md describes every option and exit status.
#pragma once

#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>

/// Where `capi send` writes. The defaults are the process's own streams; tests pass
/// string streams. The input ("-": file descriptor 0) is read with read(2).
struct SendStreams {
    std::ostream* out = nullptr;  ///< bodies (dry run) and the summary; nullptr: std::cout
    std::ostream* err = nullptr;  ///< diagnostics and the progress bar; nullptr: std::cerr
    /// Whether err is a terminal (progress bar): -1 asks isatty(2).
    int err_is_tty = -1;
    /// Installs SIGINT/SIGTERM handlers for the send (the program does; tests do not).
    bool handle_signals = false;
};

/// Exit status of `capi send`.
enum SendExit : int {
    send_ok = 0,           ///< every event delivered (dry run: every line accepted)
    send_some_failed = 1,  ///< some lines rejected, or events failed, expired or dropped
    send_usage = 2,        ///< usage, I/O or configuration error; nothing or not everything was read
    send_interrupted = 130,  ///< SIGINT/SIGTERM: reading stopped, the summary covers what was read
};

/// argv[0] is the program, argv[1] "send"; the options and the input follow.
int run_send(int argc, char** argv, const SendStreams& streams = {});

