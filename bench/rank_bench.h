// The frame of the data-parallel benches (bench_allreduce, bench_overlap):
// plain programs run by mpirun, not Google Benchmark, because every rank must
// run the same collectives and Benchmark picks its iteration counts per
// process. A bad argument or an error is one line from rank 0 and exit code
// 2 for the whole job.
#pragma once
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <stdexcept>
#include <vector>

#include "dist/world.h"
#include "engine/error.h"

namespace motive::bench {

template <class F>
double seconds(F f) {
  const auto t = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Joins the job, runs body(argc, argv) and leaves it; returns main's exit code.
// `usage` is the arguments' synopsis, for the line a bad number gets.
template <class Body>
int run_on_ranks(int argc, char** argv, const char* program, const char* usage, Body body) {
  try {
    dist::init(&argc, &argv);
    body(argc, argv);
  } catch (const std::logic_error& e) {  // std::stoi and the like
    if (dist::rank() == 0)
      std::fprintf(stderr, "%s: a number argument is not a number (%s); usage: %s %s\n", program,
                   e.what(), program, usage);
    dist::abort(2);
  } catch (const std::exception& e) {
    if (dist::rank() == 0) std::fprintf(stderr, "%s: %s\n", program, e.what());
    dist::abort(2);
  }
  dist::finalize();
  return 0;
}

}  // namespace motive::bench
