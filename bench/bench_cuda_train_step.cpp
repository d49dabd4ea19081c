// End-to-end train step on the GPU, the case docs/gpu.md's table compares
// with PyTorch: resnet18 with the CIFAR stem (3x3 stem conv, no max-pool),
// 32x32x3 inputs, batch 256, 10 classes, float32. One step = zero_grad,
// training-mode forward (BN batch statistics), softmax cross-entropy, backward,
// SGD (lr 0.1, momentum 0.9, weight decay 5e-4 on every parameter:
// torch.optim.SGD's rule). Steps run back to back as a training loop runs them;
// the clock stops after the device finished the last one.
//
// bench/peers/pytorch_train_step.py runs the same network, batch, data,
// optimizer and precision in PyTorch eager on the same GPU; tools/gpu-check.sh
// prints the two side by side. Three precisions: "fp32" (TF32 off: exact
// float32 GEMMs and convolutions), "tf32" (TF32 on for both, PyTorch's default
// for convolutions) and "bf16" (forward and loss under bf16 autocast, float32
// master weights: engine/autocast.h, torch.autocast on the PyTorch side).
//
// The data is one fixed batch on the device (no loading), the same values on
// both sides: with h(i) = (i * 2654435761) mod 2^32 (Knuth's multiplicative
// hash), pixel i of the NHWC batch is h(i) / 2^32 * 2 - 1 and label j is
// (h(j + 1) >> 16) mod classes.
//
// Counters: images/s, ms/step, TFLOP/s (3x the analytic forward FLOPs), and
// the peak device memory over the timed steps, after a reset that follows the
// warm-up (as torch.cuda.reset_peak_memory_stats then max_memory_allocated):
// peak_MiB from motive's tensor accounting, pool_peak_MiB from the CUDA memory
// pool every device allocation comes from (tensors and library workspaces).
// Without a GPU the binary prints one line and exits 0.
#include "bench/cuda_bench.h"

#ifdef MOTIVE_WITH_CUDA
#include <chrono>
#include <exception>
#include <string>
#include <utility>
#include <vector>

#include "engine/autocast.h"
#include "engine/ops.h"
#include "engine/optim.h"
#include "models/resnet/resnet.h"

using namespace motive;

namespace {

constexpr int kWarmupSteps = 3;  // cuDNN algorithm search, pool growth
constexpr int64_t kClasses = 10;

uint32_t knuth_hash(uint64_t i) { return static_cast<uint32_t>(i * 2654435761u); }

// The batch described at the top of the file, on the device.
std::pair<Tensor, Tensor> fixed_batch(int64_t batch, int64_t size) {
  Tensor x = Tensor::empty({batch, size, size, 3});
  float* px = x.data<float>();
  for (int64_t i = 0; i < x.numel(); ++i)
    px[i] = static_cast<float>(knuth_hash(i) / 4294967296.0 * 2.0 - 1.0);
  std::vector<double> labels(batch);
  for (int64_t j = 0; j < batch; ++j) labels[j] = (knuth_hash(j + 1) >> 16) % kClasses;
  return {x.to(Device::CUDA), Tensor::from_vector(labels, {batch}, DType::I32).to(Device::CUDA)};
}

cudaMemPool_t device_pool() {
  cudaMemPool_t pool = nullptr;
  MOTIVE_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, 0), "bench");
  return pool;
}

void reset_pool_peak() {
  uint64_t zero = 0;  // resets the high-water mark to the current use
  MOTIVE_CUDA_CHECK(cudaMemPoolSetAttribute(device_pool(), cudaMemPoolAttrUsedMemHigh, &zero),
                    "bench");
}

uint64_t pool_peak_bytes() {
  uint64_t bytes = 0;
  MOTIVE_CUDA_CHECK(cudaMemPoolGetAttribute(device_pool(), cudaMemPoolAttrUsedMemHigh, &bytes),
                    "bench");
  return bytes;
}

void BM_TrainStep(benchmark::State& state, const char* model_name, int64_t size, int64_t batch,
                  const std::string& precision) {
  try {
    set_allow_tf32(precision == "tf32");
    const bool bf16 = precision == "bf16";
    Generator gen(0);
    const auto model = build_model(resnet_preset(model_name, {3, kClasses}), gen,
                                   {DType::F32, Device::CUDA});
    SGD opt(0.1, 0.9, 0, 5e-4);
    opt.add_params(model->parameters());
    const std::pair<Tensor, Tensor> data = fixed_batch(batch, size);
    const auto step = [&] {
      opt.zero_grad();
      Tensor loss;
      {
        const Autocast autocast(bf16);
        loss = cross_entropy(model->forward(data.first, ForwardContext{true}), data.second);
      }
      loss.backward();
      opt.step();
    };
    for (int i = 0; i < kWarmupSteps; ++i) step();
    cuda::synchronize();
    reset_peak_memory(Device::CUDA);
    reset_pool_peak();
    const auto start = std::chrono::steady_clock::now();
    for (auto _ : state) step();
    cuda::synchronize();
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double steps = static_cast<double>(state.iterations());
    const double images_per_s = static_cast<double>(batch) * steps / seconds;
    state.counters["images/s"] = images_per_s;
    state.counters["ms/step"] = 1e3 * seconds / steps;
    state.counters["TFLOP/s"] =
        3.0 * static_cast<double>(model->flops_per_image(size, size)) * images_per_s * 1e-12;
    state.counters["peak_MiB"] =
        static_cast<double>(memory_stats(Device::CUDA).peak_bytes) / (1 << 20);
    state.counters["pool_peak_MiB"] = static_cast<double>(pool_peak_bytes()) / (1 << 20);
    state.SetLabel(std::string(model_name) + " " + precision);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
  set_allow_tf32(false);
}

}  // namespace

BENCHMARK_CAPTURE(BM_TrainStep, resnet18_cifar_b256_fp32, "resnet18-cifar", 32, 256, "fp32")
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_TrainStep, resnet18_cifar_b256_tf32, "resnet18-cifar", 32, 256, "tf32")
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_TrainStep, resnet18_cifar_b256_bf16, "resnet18-cifar", 32, 256, "bf16")
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
#endif  // MOTIVE_WITH_CUDA

int main(int argc, char** argv) {
  return motive::bench::cuda_bench_main("bench_cuda_train_step", argc, argv);
}
