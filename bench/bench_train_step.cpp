// One training step (forward, backward, SGD update) of the demo CNN at batch
// 64 on 28x28x1 inputs. Counters: images/s and GFLOP/s (3x forward FLOPs).
#include <benchmark/benchmark.h>

#include "engine/ops.h"
#include "engine/optim.h"
#include "models/demo_cnn.h"

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
BENCHMARK_MAIN();
