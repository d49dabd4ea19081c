// GEMM through our tensor API (contiguous, transposed operand, and a sub-block
// view of a larger weight: the base-in-motivated case) against the raw CPU
// GEMM kernel (Eigen's, split over the threads) at the same size, in the same
// run. Counter: GFLOP/s.
#include <benchmark/benchmark.h>

#include "kernels/cpu/eigen.h"
#include "kernels/cpu/matmul.h"

#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/random.h"

using namespace motive;

namespace {

void set_rate(benchmark::State& state, int64_t n) {
  state.counters["GFLOP/s"] = benchmark::Counter(
      static_cast<double>(2 * n * n * n) * static_cast<double>(state.iterations()) * 1e-9,
      benchmark::Counter::kIsRate);
}

void BM_EigenGemm(benchmark::State& state) {
  const int64_t n = state.range(0);
  using M = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  M a = M::Random(n, n), b = M::Random(n, n), c(n, n);
  for (auto _ : state) {
    cpu::gemm<float>(n, n, n, a.data(), {n, 1}, b.data(), {n, 1}, c.data(), n, false);
    benchmark::DoNotOptimize(c.data());
  }
  set_rate(state, n);
}

enum class Operand { Contiguous, Transposed, SubBlock };

void BM_MotiveGemm(benchmark::State& state, Operand kind) {
  const int64_t n = state.range(0);
  Generator gen(0);
  NoGradGuard no_grad;
  Tensor a = randn({n, n}, gen);
  Tensor b;
  switch (kind) {
    case Operand::Contiguous: b = randn({n, n}, gen); break;
    case Operand::Transposed: b = randn({n, n}, gen).transpose(0, 1); break;
    case Operand::SubBlock: b = randn({n + n / 2, n + n / 2}, gen).slice(0, 0, n).slice(1, 0, n); break;
  }
  for (auto _ : state) benchmark::DoNotOptimize(matmul(a, b).raw_data());
  set_rate(state, n);
}

}  // namespace

BENCHMARK(BM_EigenGemm)->Arg(256)->Arg(512)->Arg(1024)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_MotiveGemm, contiguous, Operand::Contiguous)->Arg(256)->Arg(512)->Arg(1024)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_MotiveGemm, transposed, Operand::Transposed)->Arg(256)->Arg(512)->Arg(1024)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_MotiveGemm, subblock_view, Operand::SubBlock)->Arg(256)->Arg(512)->Arg(1024)->Unit(benchmark::kMillisecond);
BENCHMARK_MAIN();
