// Shared plumbing of the GPU benches (bench/bench_cuda_*.cpp): the main() that
// skips without a GPU, and device-side timing with CUDA events.
#pragma once
#include <benchmark/benchmark.h>

#include <cstdio>

#include "engine/device.h"

#ifdef MOTIVE_WITH_CUDA
#include <cuda_runtime.h>

#include <algorithm>
#include <exception>
#include <vector>

#include "engine/random.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/runtime.h"
#endif

namespace motive::bench {

// A GPU bench's main(): without the CUDA backend or a usable device it prints
// one line and exits 0 (CI builds and runs it on machines without a GPU).
inline int cuda_bench_main(const char* name, int argc, char** argv) {
  if (!cuda_available()) {
    std::printf("%s: skipped (%s)\n", name, cuda_describe().c_str());
    return 0;
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

#ifdef MOTIVE_WITH_CUDA
// Normal random values on the device (never zeros: they hide unwritten outputs
// and can run faster than real data). Drawing 64M numbers on one CPU core
// takes seconds, so a tensor whose size is a multiple of 2^16 tiles 2^16
// draws (a period far longer than any row an op reduces over).
inline Tensor device_randn(const Shape& shape, uint64_t seed) {
  constexpr int64_t kPeriod = int64_t(1) << 16;
  const int64_t n = shape_numel(shape);
  Generator gen(seed);
  if (n % kPeriod != 0) return randn(shape, gen).to(Device::CUDA);
  const Tensor tile = randn({kPeriod}, gen).to(Device::CUDA);
  return tile.unsqueeze(0).expand({n / kPeriod, kPeriod}).contiguous().view(shape);
}

struct CudaEvents {
  cudaEvent_t start = nullptr, stop = nullptr;
  CudaEvents() {
    MOTIVE_CUDA_CHECK(cudaEventCreate(&start), "bench");
    MOTIVE_CUDA_CHECK(cudaEventCreate(&stop), "bench");
  }
  ~CudaEvents() {
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
  }
  CudaEvents(const CudaEvents&) = delete;
  CudaEvents& operator=(const CudaEvents&) = delete;
};

// Times `launch` on motive's stream: two warm-up calls (module load, library
// handles, algorithm search, pool growth), then per benchmark iteration `reps`
// calls between two CUDA events, so the host latency of the first call is
// spread over `reps`. Each iteration's manual time is one call's share; the
// result holds it for every iteration. A failure (motive::Error, CUDA error)
// marks the row with its message and returns nothing.
template <class Launch>
std::vector<double> time_launches(benchmark::State& state, int reps, Launch&& launch) {
  std::vector<double> per_call;
  try {
    for (int i = 0; i < 2; ++i) launch();
    cuda::synchronize();
    CudaEvents ev;
    for (auto _ : state) {
      MOTIVE_CUDA_CHECK(cudaEventRecord(ev.start, cuda::stream()), "bench");
      for (int r = 0; r < reps; ++r) launch();
      MOTIVE_CUDA_CHECK(cudaEventRecord(ev.stop, cuda::stream()), "bench");
      MOTIVE_CUDA_CHECK(cudaEventSynchronize(ev.stop), "bench");
      float ms = 0;
      MOTIVE_CUDA_CHECK(cudaEventElapsedTime(&ms, ev.start, ev.stop), "bench");
      per_call.push_back(ms * 1e-3 / reps);
      state.SetIterationTime(per_call.back());
    }
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    per_call.clear();
  }
  return per_call;
}

// The median of time_launches' result (0 when the row failed).
inline double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}
#endif  // MOTIVE_WITH_CUDA

}  // namespace motive::bench
