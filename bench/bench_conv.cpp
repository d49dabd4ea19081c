// conv2d forward + backward for a ResNet 3x3 layer (N=32, 32x32, 64->64,
// stride 1, pad 1) against plain GEMMs (Eigen's kernel, split over the
// threads as cpu::gemm runs it) at the equivalent im2col size
// ([N*H*W, 9*C_in] x [9*C_in, C_out]), in the same run; and every conv shape
// of resnet20 on Fashion-MNIST (batch 128, 28x28) beside this machine's
// measured FMA peak (independent FMAs on every thread, no memory) and its
// GEMM rate (1024^3, the same GEMM), which tools/bench.sh prints them against.
// Counter: GFLOP/s, counting forward + backward as 3x the forward's 2*MACs
// (2x for the stem, whose input needs no gradient).
#include <benchmark/benchmark.h>
#include <omp.h>

#include "kernels/cpu/eigen.h"
#include "kernels/cpu/matmul.h"

#include "engine/flops.h"
#include "engine/ops.h"
#include "engine/random.h"
#include "kernels/cpu/conv2d.h"
#include "kernels/cpu/simd.h"

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
    // out = cols w^T, gcols = out w, gw = out^T cols (motive's CPU GEMM: Eigen's kernel).
    cpu::gemm<float>(rows, kC, k, cols.data(), {k, 1}, w.data(), {1, k}, out.data(), kC, false);
    cpu::gemm<float>(rows, k, kC, out.data(), {kC, 1}, w.data(), {k, 1}, gcols.data(), k, false);
    cpu::gemm<float>(kC, k, rows, out.data(), {1, kC}, cols.data(), {k, 1}, gw.data(), k, false);
    benchmark::DoNotOptimize(gw.data());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(train_flops() * state.iterations() * 1e-9,
                                                 benchmark::Counter::kIsRate);
}

// FMA throughput: on every OpenMP thread, 12 independent accumulators (enough
// to cover the FMA latency on two ports) in the build's widest vectors.
void BM_FmaPeak(benchmark::State& state) {
  using V = cpu::simd::vec_t<float, cpu::simd::kNativeBytes / 4>;
  constexpr int64_t kIters = 1 << 22;
  constexpr int kLanes = cpu::simd::kNativeBytes / 4;
  int threads = 1;
  for (auto _ : state) {
#pragma omp parallel
    {
      if (omp_get_thread_num() == 0) threads = omp_get_num_threads();
      const V m = cpu::simd::broadcast<V>(0.999f), c = cpu::simd::broadcast<V>(1e-3f);
      V a0 = c, a1 = c + c, a2 = a1 + c, a3 = a2 + c, a4 = a3 + c, a5 = a4 + c, a6 = a5 + c,
        a7 = a6 + c, a8 = a7 + c, a9 = a8 + c, a10 = a9 + c, a11 = a10 + c;
      for (int64_t k = 0; k < kIters; ++k) {
        a0 = a0 * m + c, a1 = a1 * m + c, a2 = a2 * m + c, a3 = a3 * m + c;
        a4 = a4 * m + c, a5 = a5 * m + c, a6 = a6 * m + c, a7 = a7 * m + c;
        a8 = a8 * m + c, a9 = a9 * m + c, a10 = a10 * m + c, a11 = a11 * m + c;
      }
      V sum = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11;
      benchmark::DoNotOptimize(sum);
    }
  }
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * 12 * kLanes * kIters * threads * state.iterations() * 1e-9,
                         benchmark::Counter::kIsRate);
}

// Eigen's float GEMM kernel at 1024^3, split over the threads as motive's
// CPU GEMM runs it (kernels/cpu/matmul.cpp): the machine's GEMM rate.
void BM_GemmRate(benchmark::State& state) {
  using M = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  constexpr int64_t n = 1024;
  M a = M::Random(n, n), b = M::Random(n, n), c(n, n);
  for (auto _ : state) {
    cpu::gemm<float>(n, n, n, a.data(), {n, 1}, b.data(), {n, 1}, c.data(), n, false);
    benchmark::DoNotOptimize(c.data());
  }
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * n * n * n * state.iterations() * 1e-9, benchmark::Counter::kIsRate);
}

// One conv of resnet20 (batch 128, 28x28 input) through the CPU kernels on
// preallocated buffers: forward, then backward for the filter and, except for
// the stem, the input (the op's autograd bookkeeping, which adds a leaf's
// gradient into its buffer, is left out: it would dominate the 1x1 rows).
void BM_ResNet20Conv(benchmark::State& state, int64_t hw, int64_t c_in, int64_t c_out,
                     int64_t k, int64_t stride) {
  constexpr int64_t kBatch = 128;
  Generator gen(0);
  const bool stem = c_in == 1;
  const int64_t out = (hw + 2 * (k / 2) - k) / stride + 1;
  const cpu::Conv2dShape s{kBatch, c_in, c_out, 1, {hw, hw, out, out, k, k, stride, k / 2, 1}};
  const Tensor x = randn({kBatch, hw, hw, c_in}, gen), w = randn({c_out, k, k, c_in}, gen) * 0.1;
  const Tensor dy = randn({kBatch, out, out, c_out}, gen);
  Tensor y = Tensor::empty(dy.shape()), dx = Tensor::empty(x.shape()), dw = Tensor::empty(w.shape());
  for (auto _ : state) {
    cpu::conv2d_forward<float>(s, x.data<float>(), w.data<float>(), nullptr, y.data<float>());
    cpu::conv2d_backward<float>(s, x.data<float>(), w.data<float>(), dy.data<float>(),
                                stem ? nullptr : dx.data<float>(), dw.data<float>(), nullptr);
  }
  const double flops = (stem ? 2.0 : 3.0) *
                       static_cast<double>(conv2d_flops(kBatch, out, out, c_out, k, k, c_in));
  state.counters["GFLOP/s"] =
      benchmark::Counter(flops * state.iterations() * 1e-9, benchmark::Counter::kIsRate);
}

}  // namespace

BENCHMARK(BM_EigenIm2colGemm)->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK(BM_Conv3x3FwdBwd)->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK(BM_FmaPeak)->Unit(benchmark::kMillisecond)->MinTime(1.0)->UseRealTime();
BENCHMARK(BM_GemmRate)->Unit(benchmark::kMillisecond)->MinTime(1.0)->UseRealTime();
// (input size, c_in, c_out, kernel, stride): the stem, each stage's 3x3 convs
// (the first of stages 2 and 3 with stride 2) and the projection shortcuts.
BENCHMARK_CAPTURE(BM_ResNet20Conv, stem_3x3_1-16_28, 28, 1, 16, 3, 1)->UseRealTime();
BENCHMARK_CAPTURE(BM_ResNet20Conv, 3x3_16-16_28, 28, 16, 16, 3, 1)->UseRealTime();
BENCHMARK_CAPTURE(BM_ResNet20Conv, 3x3_16-32_28_s2, 28, 16, 32, 3, 2)->UseRealTime();
BENCHMARK_CAPTURE(BM_ResNet20Conv, 1x1_16-32_28_s2, 28, 16, 32, 1, 2)->UseRealTime();
BENCHMARK_CAPTURE(BM_ResNet20Conv, 3x3_32-32_14, 14, 32, 32, 3, 1)->UseRealTime();
BENCHMARK_CAPTURE(BM_ResNet20Conv, 3x3_32-64_14_s2, 14, 32, 64, 3, 2)->UseRealTime();
BENCHMARK_CAPTURE(BM_ResNet20Conv, 1x1_32-64_14_s2, 14, 32, 64, 1, 2)->UseRealTime();
BENCHMARK_CAPTURE(BM_ResNet20Conv, 3x3_64-64_7, 7, 64, 64, 3, 1)->UseRealTime();
BENCHMARK_MAIN();
