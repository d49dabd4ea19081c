// EfficientNet on the CPU: the depthwise convolution and a training step.
//
// Depthwise/<i>: conv2d forward + backward (input and filter gradients) of
// each distinct depthwise layer of EfficientNet-B0 at 224x224, batch 8
// (kDepthwise; the direct kernel of kernels/cpu/depthwise_conv2d.h), and
// Im2colPath/<i>: the same layer with a channel multiplier of 2 (C_out = 2C,
// groups = C), which conv2d runs through im2col + GEMM per group, as it would
// run groups = C without the direct kernel; it does twice the arithmetic, so
// compare GFLOP/s. The PyTorch peer is bench/peers/pytorch_depthwise.py on the
// same shapes; tools/bench.sh prints the ratios.
//
// TrainStep/<model>: one SGD step (forward, backward, update; momentum 0.9,
// weight decay 5e-4 off norms and biases) of efficientnet-b0 and
// efficientnet-b0x0.5, 10 classes, 32x32x3, batch 32, in training mode
// (dropout and stochastic depth on, as the peer's), on
// bench/peers/pytorch_train_step.py's fixed batch. Counters: images/s and
// GFLOP/s (3x the analytic forward FLOPs).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>

#include "engine/flops.h"
#include "engine/ops.h"
#include "engine/optim.h"
#include "models/registry.h"

using namespace motive;

namespace {

struct Layer {
  int64_t hw, c, k, stride, count;  // count: how many B0 blocks have this layer
};
// Every depthwise geometry of EfficientNet-B0 at 224x224 (the expanded width,
// kernel and stride of each block, input size), with how often it occurs.
constexpr Layer kDepthwise[] = {
    {112, 32, 3, 1, 1}, {112, 96, 3, 2, 1}, {56, 144, 3, 1, 1},  {56, 144, 5, 2, 1},
    {28, 240, 5, 1, 1}, {28, 240, 3, 2, 1}, {14, 480, 3, 1, 2},  {14, 480, 5, 1, 1},
    {14, 672, 5, 1, 2}, {14, 672, 5, 2, 1}, {7, 1152, 5, 1, 3},  {7, 1152, 3, 1, 1}};
constexpr int64_t kBatch = 8;

// multiplier 1: depthwise; 2: the grouped im2col path.
void depthwise_step(benchmark::State& state, int64_t multiplier) {
  const Layer& l = kDepthwise[state.range(0)];
  Generator gen(0);
  Tensor x = randn({kBatch, l.hw, l.hw, l.c}, gen).requires_grad_();
  Tensor w = randn({multiplier * l.c, l.k, l.k, 1}, gen).requires_grad_();
  const Conv2dOptions opt{l.stride, l.k / 2, 1, l.c};
  const Tensor seed = randn(conv2d(x.detach(), w.detach(), Tensor(), opt).shape(), gen);
  int64_t flops = 0;
  // The gradients accumulate into x's and w's (an addition over each, as the
  // peer's, whose .grad also stays), not zeroed each step.
  for (auto _ : state) {
    reset_flop_count();
    conv2d(x, w, Tensor(), opt).backward(seed);
    flops = flop_count();
  }
  state.counters["GFLOP/s"] = benchmark::Counter(
      static_cast<double>(flops) * static_cast<double>(state.iterations()) * 1e-9,
      benchmark::Counter::kIsRate);
  state.counters["blocks"] = static_cast<double>(l.count);  // occurrences in B0
  state.SetLabel("N=8 " + std::to_string(l.hw) + "x" + std::to_string(l.hw) + "x" +
                 std::to_string(l.c) + " k" + std::to_string(l.k) + " s" +
                 std::to_string(l.stride));
}

void BM_Depthwise(benchmark::State& state) { depthwise_step(state, 1); }
void BM_Im2colPath(benchmark::State& state) { depthwise_step(state, 2); }

// h(i) = (i * 2654435761) mod 2^32, as bench/peers/pytorch_train_step.py's fixed batch.
double knuth(int64_t i) {
  return static_cast<double>((static_cast<uint64_t>(i) * 2654435761ULL) % (1ULL << 32));
}

void train_step(benchmark::State& state, const std::string& name) {
  constexpr int64_t kSize = 32, kClasses = 10, kImages = 32;
  Generator gen(0);
  const auto model = build_model(*resolve_model(name, {3, kClasses, kSize, kSize}), gen);
  SGD opt(0.1, 0.9, 0, 5e-4);
  for (const auto& [n, p] : model->named_parameters()) opt.add_param(p, model->decays(n));
  Tensor x = Tensor::empty({kImages, kSize, kSize, 3});
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = static_cast<float>(knuth(i) / 4294967296.0 * 2 - 1);
  Tensor y = Tensor::empty({kImages}, DType::I32);
  for (int64_t j = 0; j < kImages; ++j)
    y.data<int32_t>()[j] = static_cast<int32_t>((static_cast<uint64_t>(knuth(j + 1)) >> 16) % kClasses);
  uint64_t step = 0;
  const auto run = [&] {
    Generator draws(step++);
    opt.zero_grad();
    cross_entropy(model->forward(x, ForwardContext{true, 0.1, &draws}), y).backward();
    opt.step();
  };
  run();  // momentum buffers and gradients exist from here on, as in a long run
  for (auto _ : state) run();
  const double images = static_cast<double>(kImages * state.iterations());
  state.counters["images/s"] = benchmark::Counter(images, benchmark::Counter::kIsRate);
  state.counters["GFLOP/s"] = benchmark::Counter(
      3.0 * static_cast<double>(model->flops_per_image(kSize, kSize)) * images * 1e-9,
      benchmark::Counter::kIsRate);
}

}  // namespace

BENCHMARK(BM_Depthwise)->DenseRange(0, std::size(kDepthwise) - 1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Im2colPath)->DenseRange(0, std::size(kDepthwise) - 1)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(train_step, efficientnet-b0, "efficientnet-b0")
    ->Name("TrainStep/efficientnet-b0")
    ->Unit(benchmark::kMillisecond)
    ->MinTime(2.0);
BENCHMARK_CAPTURE(train_step, efficientnet-b0x0.5, "efficientnet-b0x0.5")
    ->Name("TrainStep/efficientnet-b0x0.5")
    ->Unit(benchmark::kMillisecond)
    ->MinTime(2.0);
BENCHMARK_MAIN();
