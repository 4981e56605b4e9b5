// bench_latency: the latency benchmark as a program of its own (tools/bench/latency.cpp).
#include "latency.hpp"

int main(int argc, char** argv) { return run_latency_bench(argc, argv); }
