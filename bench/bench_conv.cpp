// conv2d forward + backward for a ResNet 3x3 layer (N=32, 32x32, 64->64,
// stride 1, pad 1) against the plain Eigen GEMM at the equivalent im2col size
// ([N*H*W, 9*C_in] x [9*C_in, C_out]), in the same run. Counter: GFLOP/s,
// counting forward + backward as 3x the forward's 2*MACs.
#include <benchmark/benchmark.h>

#include <Eigen/Core>

#include "engine/flops.h"
#include "engine/ops.h"
#include "engine/random.h"

using namespace motive;

namespace {

constexpr int64_t kN = 32, kHW = 32, kC = 64;

double train_flops() { return 3.0 * static_cast<double>(conv2d_flops(kN, kHW, kHW, kC, 3, 3, kC)); }

void BM_Conv3x3FwdBwd(benchmark::State& state) {
  Generator gen(0);
  Tensor x = randn({kN, kHW, kHW, kC}, gen).requires_grad_();
  Tensor w = randn({kC, 3, 3, kC}, gen).requires_grad_();
  Tensor seed = randn({kN, kHW, kHW, kC}, gen);
  for (auto _ : state) {
    x.zero_grad();
    w.zero_grad();
    conv2d(x, w, Tensor(), {1, 1, 1, 1}).backward(seed);
  }
  state.counters["GFLOP/s"] = benchmark::Counter(train_flops() * state.iterations() * 1e-9,
                                                 benchmark::Counter::kIsRate);
}

// The same arithmetic as three plain GEMMs (forward, data grad, filter grad).
void BM_EigenIm2colGemm(benchmark::State& state) {
  using M = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const int64_t rows = kN * kHW * kHW, k = 9 * kC;
  M cols = M::Random(rows, k), w = M::Random(kC, k), out(rows, kC), gcols(rows, k), gw(kC, k);
  for (auto _ : state) {
    out.noalias() = cols * w.transpose();
    gcols.noalias() = out * w;
    gw.noalias() = out.transpose() * cols;
    benchmark::DoNotOptimize(gw.data());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(train_flops() * state.iterations() * 1e-9,
                                                 benchmark::Counter::kIsRate);
}

}  // namespace

BENCHMARK(BM_EigenIm2colGemm)->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK(BM_Conv3x3FwdBwd)->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK_MAIN();
