// Nested training (models/nest.h), 32x32 inputs, SGD with momentum:
//  - TrainStep: one step (forward, backward, update) of the base and of the
//    motivated model, for resnet18 in resnet34 (depth nesting, CIFAR stem) and
//    resnet18x0.5 in resnet18 (width nesting), at batch 256 and 32. Counters:
//    images/s, GFLOP/s (3 x analytic forward FLOPs), bytes copied per step.
//  - Switch: what changing the model to train costs with superset views (a
//    reference to the other model) beside the paper's switch (copying the
//    mapped weights, BN buffers and momentum between two standalone models):
//    time, and bytes moved per switch.
//  - FilterPack: the extra work a width-nested base step does because the CPU
//    conv wants dense filters: packing every strided filter view and adding
//    its dense gradient back into the strided region. tools/bench.sh reports
//    it as a share of the width-nested base step.
// Runs on the GPU when there is one (the model, data and optimizer state all
// on the device; one untimed warm-up step, then each step ends with a device
// sync), else on the CPU, where a batch-256 step takes tens of seconds: those
// rows run 1 iteration there. Select rows with --benchmark_filter (e.g.
// --benchmark_filter='batch:32'). Bytes copied are summed over both devices.
#include <benchmark/benchmark.h>

#include <map>
#include <memory>
#include <string>

#include "engine/autograd.h"
#include "engine/device.h"
#include "engine/ops.h"
#include "engine/optim.h"
#include "models/copy_switch.h"
#include "models/nest.h"
#include "models/registry.h"
#ifdef MOTIVE_WITH_CUDA
#include "kernels/cuda/runtime.h"
#endif

using namespace motive;

namespace {

constexpr int64_t kImage = 32, kClasses = 10;

struct Nesting {
  const char* label;
  const char* base;
  const char* motivated;
};
constexpr Nesting kDepth{"depth:resnet18_in_resnet34", "resnet18-cifar", "resnet34-cifar"};
constexpr Nesting kWidth{"width:resnet18x0.5_in_resnet18", "resnet18x0.5-cifar", "resnet18-cifar"};

Device bench_device() {
  static const Device d = cuda_available() ? Device::CUDA : Device::CPU;
  return d;
}

ModelOptions on_device() { return {DType::F32, bench_device()}; }
constexpr ModelShape kShape{3, kClasses, kImage, kImage};

std::unique_ptr<Model> standalone(const char* name, Generator& gen) {
  return build_model(*resolve_model(name, kShape), gen, on_device());
}

// Waits for the work queued on the device, so wall time covers all of it.
void wait_for_device() {
#ifdef MOTIVE_WITH_CUDA
  if (bench_device() == Device::CUDA) cuda::synchronize();
#endif
}

int64_t bytes_copied() {
  return memory_stats(Device::CPU).bytes_copied + memory_stats(Device::CUDA).bytes_copied;
}

SGD make_sgd() { return SGD(0.1, 0.9, 0, 5e-4); }

// A pair and its optimizer, built once per nesting (resnet34 takes a second to initialise).
struct Setup {
  explicit Setup(const Nesting& n) : pair(make_pair(n)) {
    opt.add_params(pair.parameters(), DecayRule::ExcludeNormAndBias);
  }
  static NestedChain make_pair(const Nesting& n) {
    Generator gen(0);
    return nest({n.base, n.motivated}, kShape, gen, {BnStats::Separate, on_device()});
  }
  NestedChain pair;
  SGD opt = make_sgd();
};

Setup& setup(const Nesting& n) {
  static std::map<std::string, std::unique_ptr<Setup>> cache;
  std::unique_ptr<Setup>& s = cache[n.label];
  if (!s) s = std::make_unique<Setup>(n);
  return *s;
}

Tensor labels(int64_t n) {
  Tensor y = Tensor::empty({n}, DType::I32);
  for (int64_t i = 0; i < n; ++i) y.set({i}, static_cast<double>(i % kClasses));
  return y.to(bench_device());
}

void BM_TrainStep(benchmark::State& state, const Nesting& n, size_t level) {
  const int64_t batch = state.range(0);
  Setup& s = setup(n);
  const Model& model = s.pair.model(level);
  Generator gen(1);
  const Tensor x = randn({batch, kImage, kImage, 3}, gen).to(bench_device()), y = labels(batch);
  auto step = [&] {
    s.opt.zero_grad();
    cross_entropy(model.forward(x, ForwardContext{true}), y).backward();
    s.opt.step();
    wait_for_device();
  };
  if (bench_device() == Device::CUDA) step();  // cuDNN algorithm search, pool growth
  const int64_t copied_before = bytes_copied();
  for (auto _ : state) step();
  const double steps = static_cast<double>(state.iterations()), images = steps * batch;
  state.counters["images/s"] = benchmark::Counter(images, benchmark::Counter::kIsRate);
  state.counters["GFLOP/s"] = benchmark::Counter(
      3.0 * static_cast<double>(model.flops_per_image(kImage, kImage)) * images * 1e-9,
      benchmark::Counter::kIsRate);
  state.counters["bytes_copied/step"] = static_cast<double>(bytes_copied() - copied_before) / steps;
  state.SetLabel(device_name(bench_device()));
}

// Superset views: a switch is picking the other model; nothing is copied.
void BM_SwitchSupersetViews(benchmark::State& state) {
  const NestedChain& pair = setup(kDepth).pair;
  size_t level = 0;
  const int64_t copied_before = bytes_copied();
  for (auto _ : state) {
    level = 1 - level;
    benchmark::DoNotOptimize(&pair.model(level));
  }
  state.counters["bytes_moved/switch"] =
      static_cast<double>(bytes_copied() - copied_before) / state.iterations();
}

// The paper's switch: two standalone models, mapped tensors and momentum copied.
void BM_SwitchPaperCopy(benchmark::State& state) {
  Generator gen(0);
  const auto base = standalone(kDepth.base, gen), motivated = standalone(kDepth.motivated, gen);
  SGD base_opt = make_sgd(), motivated_opt = make_sgd();
  base_opt.add_params(base->parameters());
  motivated_opt.add_params(motivated->parameters());
  const NamedTensors base_state = named_optimizer_state(base_opt, base->named_parameters());
  const NamedTensors motivated_state =
      named_optimizer_state(motivated_opt, motivated->named_parameters());
  const int64_t copied_before = bytes_copied();
  for (auto _ : state) {
    copy_mapped_tensors(base->named_tensors(), motivated->named_tensors());
    copy_mapped_tensors(base_state, motivated_state);
    wait_for_device();
  }
  state.counters["bytes_moved/switch"] =
      static_cast<double>(bytes_copied() - copied_before) / state.iterations();
}

// Packing every filter of the width-nested base and scattering a dense filter
// gradient back: what its step does beyond a standalone model's.
void BM_FilterPack(benchmark::State& state) {
  const NestedChain& pair = setup(kWidth).pair;
  std::vector<Tensor> filters;
  for (const Tensor& p : pair.base().parameters())
    if (p.dim() == 4) filters.push_back(p);
  std::vector<Tensor> dense_grads;
  for (const Tensor& w : filters)
    dense_grads.push_back(Tensor::ones(w.shape(), DType::F32, bench_device()));
  for (auto _ : state) {
    for (size_t i = 0; i < filters.size(); ++i) {
      benchmark::DoNotOptimize(filters[i].contiguous().raw_data());
      accumulate_leaf_grad(filters[i], dense_grads[i]);
    }
    wait_for_device();
  }
}

void register_all() {
  const bool gpu = bench_device() == Device::CUDA;
  for (const Nesting* n : {&kDepth, &kWidth})
    for (size_t level : {0, 1}) {
      const std::string name = std::string("TrainStep/") + n->label + "/" + level_name(level, 2);
      for (const auto& [batch, cpu_iterations] : {std::pair<int64_t, int64_t>{256, 1}, {32, 3}})
        benchmark::RegisterBenchmark(name.c_str(), BM_TrainStep, *n, level)
            ->ArgName("batch")
            ->Arg(batch)
            ->Iterations(gpu ? 20 : cpu_iterations)
            ->UseRealTime()  // the step runs on every core or on the GPU
            ->Unit(benchmark::kMillisecond);
    }
  benchmark::RegisterBenchmark("Switch/superset_views", BM_SwitchSupersetViews)
      ->Unit(benchmark::kNanosecond);
  benchmark::RegisterBenchmark("Switch/paper_copy", BM_SwitchPaperCopy)
      ->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("FilterPack/resnet18x0.5_in_resnet18", BM_FilterPack)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
