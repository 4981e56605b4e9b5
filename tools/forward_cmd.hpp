// capi forward: Kafka records to Meta's Conversions API as a consumer group
// (capi::kafka::Forwarder as a process). docs/cli.md describes every option,
// signal and exit status; docs/scale-out.md how to run several.
#pragma once

/// Exit status of `capi forward`.
enum ForwardExit : int {
    forward_ok = 0,           ///< stopped by SIGINT/SIGTERM; every record read was delivered and committed
    forward_some_failed = 1,  ///< some records were invalid, failed or expired, or were left uncommitted
    forward_usage = 2,        ///< usage or configuration error; nothing was read
};

/// argv[0] is the program, argv[1] "forward". Forwards until SIGINT or SIGTERM,
/// then drains (--drain-timeout), commits, leaves the group and prints a summary
/// on stdout. Diagnostics, problems, the progress line and --stats-interval's
/// counters go to stderr.
int run_forward(int argc, char** argv);
