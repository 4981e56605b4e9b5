// The two floors of the end-to-end benchmark. The compute floor: what encoding
// the events costs at the least (BatchEncoder alone, one thread). The transport
// floor: what delivering request
// bodies over TLS costs a client at the least, measured with the simplest client
// there is (blocking OpenSSL on one keep-alive connection, one thread, no pool,
// no timers, no event loop), against the same server and with the same bodies
// as capi::Client.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace capi_bench {

/// The compute floor per event: BatchEncoder's validate + normalize + hash +
/// serialize of `n` Purchase events on one thread (the core benchmark's path), on
/// events made just before (as the client gets them), best of 3 passes, thread
/// CPU time, in ns.
double compute_floor_ns(std::size_t n);

struct TlsFloor {
    double cpu_seconds = 0;    ///< this thread's CPU for the requests, best pass
    std::size_t requests = 0;  ///< per pass, each answered 200
    std::string error;         ///< why it could not be measured (empty: measured)
};

/// POSTs each body of `bodies` to https://127.0.0.1:`port`/`version`/`pixel`/events
/// (trusting `ca_pem`, host name checked) over one connection, reads each reply
/// whole, `passes` times; returns the best pass's thread CPU time. The kernel's
/// loopback work billed to this thread counts, as it does for the client.
TlsFloor measure_tls_floor(unsigned port, const std::string& ca_pem, const std::string& version,
                           const std::string& pixel, const std::vector<std::string>& bodies, int passes);

} // namespace capi_bench
