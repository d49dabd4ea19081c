// One training step (forward, backward, SGD update) on the CPU: the demo CNN at
// batch 64 on 28x28x1 inputs, and resnet18 with the CIFAR stem at batch 16 on
// 32x32x3 (the GPU bench's network; here for its memory: peak_MiB is the peak
// of live tensor bytes over the timed steps, which is the device figure minus
// library workspaces, since both devices allocate the same tensors).
// Counters: images/s and GFLOP/s (3x forward FLOPs).
#include <benchmark/benchmark.h>

#include "engine/ops.h"
#include "engine/optim.h"
#include "models/demo_cnn.h"
#include "models/registry.h"
#include "models/resnet/resnet.h"

using namespace motive;

static void BM_DemoCnnTrainStep(benchmark::State& state) {
  const int64_t batch = state.range(0);
  Generator gen(0);
  DemoCnn model(gen);
  SGD opt(0.01, 0.9);
  opt.add_params(model.parameters());
  Tensor x = randn({batch, 28, 28, 1}, gen);
  Tensor y = Tensor::empty({batch}, DType::I32);
  for (int64_t i = 0; i < batch; ++i) y.set({i}, static_cast<double>(i % 10));
  for (auto _ : state) {
    opt.zero_grad();
    cross_entropy(model.forward(x), y).backward();
    opt.step();
  }
  const double images = static_cast<double>(batch * state.iterations());
  state.counters["images/s"] = benchmark::Counter(images, benchmark::Counter::kIsRate);
  state.counters["GFLOP/s"] = benchmark::Counter(
      3.0 * static_cast<double>(model.flops_per_image()) * images * 1e-9, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_DemoCnnTrainStep)->Arg(64)->Unit(benchmark::kMillisecond);

namespace {

// A model of the registry for 10 classes with SGD (lr 0.1, momentum 0.9,
// weight decay 5e-4: on every parameter, or where the family applies it) on
// a fixed batch: randn input, labels i % 10.
struct ModelTraining {
  Generator gen{0};
  std::unique_ptr<Model> model;
  SGD opt{0.1, 0.9, 0, 5e-4};
  Tensor x, y;
  ModelTraining(const char* name, int64_t batch, int64_t size, int64_t channels,
                bool family_decay)
      : model(build_model(*resolve_model(name, {channels, 10, size, size}), gen)),
        x(randn({batch, size, size, channels}, gen)),
        y(Tensor::empty({batch}, DType::I32)) {
    for (const auto& [pname, p] : model->named_parameters())
      opt.add_param(p, !family_decay || model->decays(pname));
    for (int64_t i = 0; i < batch; ++i) y.set({i}, static_cast<double>(i % 10));
  }
  void step() {
    opt.zero_grad();
    cross_entropy(model->forward(x, ForwardContext{true}), y).backward();
    opt.step();
  }
  // images/s and GFLOP/s (3x forward FLOPs) over the state's iterations.
  void count(benchmark::State& state) const {
    const double images = static_cast<double>(x.size(0) * state.iterations());
    state.counters["images/s"] = benchmark::Counter(images, benchmark::Counter::kIsRate);
    state.counters["GFLOP/s"] = benchmark::Counter(
        3.0 * static_cast<double>(model->flops_per_image(x.size(1), x.size(2))) * images * 1e-9,
        benchmark::Counter::kIsRate);
  }
};

}  // namespace

static void BM_ResNet18CifarTrainStep(benchmark::State& state) {
  ModelTraining t("resnet18-cifar", state.range(0), 32, 3, false);
  t.step();  // momentum buffers and gradients exist from here on, as in a long run
  reset_peak_memory();
  for (auto _ : state) t.step();
  t.count(state);
  state.counters["peak_MiB"] = static_cast<double>(memory_stats().peak_bytes) / (1 << 20);
}
BENCHMARK(BM_ResNet18CifarTrainStep)->Arg(16)->Unit(benchmark::kMillisecond)->Iterations(2);

// The train steps beside PyTorch's (bench/peers/pytorch_cpu_train.py step,
// tools/bench.sh): resnet20 and resnet20x0.5 on Fashion-MNIST-sized input
// (batch 128, 28x28x1), resnet18-cifar at batch 32 (32x32x3), and vit-ti-p4
// (12 blocks, 192 dims, patch 4) at batch 32 (32x32x3); SGD as the trainer's
// (momentum 0.9, weight decay 5e-4 where the family applies it), labels
// i % 10, one untimed step first.
static void BM_ModelStep(benchmark::State& state, const char* name, int64_t batch, int64_t size,
                         int64_t channels) {
  ModelTraining t(name, batch, size, channels, true);
  t.step();
  for (auto _ : state) t.step();
  t.count(state);
}
BENCHMARK_CAPTURE(BM_ModelStep, resnet20, "resnet20", 128, 28, 1)
    ->Unit(benchmark::kMillisecond)->MinTime(3.0)->UseRealTime();
BENCHMARK_CAPTURE(BM_ModelStep, resnet20x0.5, "resnet20x0.5", 128, 28, 1)
    ->Unit(benchmark::kMillisecond)->MinTime(3.0)->UseRealTime();
BENCHMARK_CAPTURE(BM_ModelStep, resnet18-cifar, "resnet18-cifar", 32, 32, 3)
    ->Unit(benchmark::kMillisecond)->MinTime(3.0)->UseRealTime();
BENCHMARK_CAPTURE(BM_ModelStep, vit-ti-p4, "vit-ti-p4", 32, 32, 3)
    ->Unit(benchmark::kMillisecond)->MinTime(3.0)->UseRealTime();
BENCHMARK_MAIN();
