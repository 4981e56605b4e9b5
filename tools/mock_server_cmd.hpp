// capi mock-server: capi::testing::MockGraphServer as a standalone process.
#pragma once

/// `capi mock-server [--port P] [--cert-out DIR] [--token-file F] [--app-secret-file F]
/// [--events-out FILE] [--latency-ms MS] [--threads N] [--throttle-...]`
/// (argv[1] is "mock-server"). Starts the server on 127.0.0.1, prints its URL on
/// stdout (one line, flushed), with --cert-out writes the CA as DIR/ca.pem, serves
/// until SIGINT or SIGTERM, then stops cleanly. Returns the exit status: 0 after a
/// clean stop, 2 for a usage error or when the server cannot start.
int run_mock_server(int argc, char** argv);
