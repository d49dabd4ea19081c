// The frame of the data-parallel benches (bench_allreduce, bench_overlap):
// plain programs run by mpirun, not Google Benchmark, because every rank must
// run the same collectives and Benchmark picks its iteration counts per
// process. A bad argument or an error is one line from the rank that met it
// (every rank, for a bad argument) and exit code 2 for the whole job.
#pragma once
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <stdexcept>
#include <string>
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

// " (rank 1 of 2)" in a job, "" outside one.
inline std::string which_rank() {
  if (dist::world_size() == 1) return "";
  return " (rank " + std::to_string(dist::rank()) + " of " + std::to_string(dist::world_size()) +
         ")";
}

// Joins the job, runs body(argc, argv) and leaves it; returns main's exit code.
// `usage` is the arguments' synopsis, for the line a bad number gets.
template <class Body>
int run_on_ranks(int argc, char** argv, const char* program, const char* usage, Body body) {
  try {
    dist::init(&argc, &argv);
    body(argc, argv);
  } catch (const std::invalid_argument& e) {  // std::stoi and the like
    std::fprintf(stderr, "%s%s: a number argument is not a number (%s); usage: %s %s\n", program,
                 which_rank().c_str(), e.what(), program, usage);
    dist::abort(2);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s%s: %s\n", program, which_rank().c_str(), e.what());
    dist::abort(2);
  }
  dist::finalize();
  return 0;
}

}  // namespace motive::bench
