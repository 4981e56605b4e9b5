// bench_e2e: the end-to-end benchmark as a program of its own (tools/bench/e2e.cpp).
#include "e2e.hpp"

int main(int argc, char** argv) { return run_e2e_bench(argc, argv); }
