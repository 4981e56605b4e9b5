// The latency benchmark (bench_latency, also `capi bench --latency`): a client
// with default options against the mock answering 0, 50, 200 and 500 ms late
// (throughput, its ratio to 0 ms, the adaptive concurrency limit reached,
// connections), then a scripted throttling burst (the limit before, during and
// after it, requests against batches, every event delivered).
#pragma once

/// argv[0] is the program (or command) name; the options follow. Returns 0 when
/// every event of every run was delivered and counted by the mock, 1 when not, 2
/// for a usage error. Call it before the process starts any thread: it forks the
/// mock servers into child processes.
int run_latency_bench(int argc, char** argv);
