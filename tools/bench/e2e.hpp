// The end-to-end benchmark (bench_e2e, also `capi bench`): capi::Client over TLS
// to the mock Graph server (or a real endpoint), through enqueue() from producer
// threads and co_await async_send() from many coroutines.
#pragma once

/// argv[0] is the program (or command) name; the options follow. Returns the exit
/// status: 0 when every event was acknowledged and the mock counted exactly those,
/// 1 when not, 2 for a usage error. Call it before the process starts any thread:
/// it forks the mock server into a child process.
int run_e2e_bench(int argc, char** argv);
