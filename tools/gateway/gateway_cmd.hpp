// capi gateway: a first-party pixel endpoint that turns browser hits into
// server events (capi_gateway::Gateway as a process). docs/cli.md describes
// every option, route, signal and exit status.
#pragma once

/// Exit status of `capi gateway`.
enum GatewayExit : int {
    gateway_ok = 0,           ///< stopped by SIGINT/SIGTERM; every accepted event delivered
    gateway_some_failed = 1,  ///< stopped; some accepted events failed or were not drained in time
    gateway_usage = 2,        ///< usage or configuration error, or the server could not start
};

/// argv[0] is the program, argv[1] "gateway". Prints the server's URL on stdout
/// (one line, flushed) once it listens, serves until SIGINT or SIGTERM, then
/// drains and prints a summary on stderr.
int run_gateway(int argc, char** argv);
