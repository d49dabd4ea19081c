// Memory-bound GPU ops against the device's own copy bandwidth.
//
// BM_DeviceCopy is the ceiling: cudaMemcpyAsync device-to-device of 64M floats,
// counting bytes read plus bytes written. Every other row runs one op through
// motive's API on sizes larger than L2 and reports GB/s over the fewest bytes the
// op must move (each input read once, each output written once; small
// per-channel vectors included) and that as a percentage of the copy
// ("pct_of_d2d", set when the copy row ran first, as registered). The
// project's targets: elementwise >= 80%, layer_norm and fused cross-entropy
// >= 70% (docs/gpu.md has the measured figures).
//
// Timing: bench/cuda_bench.h's time_launches (CUDA events around kReps
// launches, after warm-up), median over the iterations. Inputs are random
// normal values (never zeros), all larger than L2. Without a GPU (or without
// the CUDA backend) the binary prints one line and exits 0.
#include "bench/cuda_bench.h"

#ifdef MOTIVE_WITH_CUDA
#include <vector>

#include "engine/autograd.h"
#include "engine/ops.h"

using namespace motive;
using namespace motive::bench;

namespace {

constexpr int kReps = 20;
constexpr int64_t kElementwise = int64_t(64) << 20;  // 64M floats, 256 MiB per tensor
double g_d2d_gbps = 0;                              // BM_DeviceCopy's result

// Times `op` (which moves `bytes` at the least) and sets the GB/s counters.
// Returns the GB/s, 0 when the op failed (the row then carries the error).
template <class Op>
double time_op(benchmark::State& state, double bytes, Op&& op) {
  const double seconds = median(time_launches(state, kReps, op));
  if (seconds == 0) return 0;
  const double gbps = bytes / seconds * 1e-9;
  state.counters["GB/s"] = gbps;
  state.counters["MB_moved"] = bytes * 1e-6;
  if (g_d2d_gbps > 0) state.counters["pct_of_d2d"] = 100.0 * gbps / g_d2d_gbps;
  return gbps;
}

constexpr double kF = sizeof(float);

void BM_DeviceCopy(benchmark::State& state) {
  const Tensor src = device_randn({kElementwise}, 1);
  const Tensor dst = Tensor::empty({kElementwise}, DType::F32, Device::CUDA);
  const size_t nbytes = static_cast<size_t>(kElementwise) * sizeof(float);
  g_d2d_gbps = time_op(state, 2.0 * static_cast<double>(nbytes), [&] {
    MOTIVE_CUDA_CHECK(cudaMemcpyAsync(dst.raw_data(), src.raw_data(), nbytes,
                                      cudaMemcpyDeviceToDevice, cuda::stream()),
                      "bench");
  });
}

void BM_Add(benchmark::State& state) {
  const Tensor a = device_randn({kElementwise}, 2), b = device_randn({kElementwise}, 3);
  time_op(state, 3 * kF * kElementwise, [&] { return add(a, b); });
}

void BM_Relu(benchmark::State& state) {
  const Tensor x = device_randn({kElementwise}, 4);
  time_op(state, 2 * kF * kElementwise, [&] { return relu(x); });
}

void BM_LayerNormForward(benchmark::State& state) {
  const int64_t rows = 65536, d = 768;
  const Tensor x = device_randn({rows, d}, 5);
  const Tensor gamma = device_randn({d}, 6), beta = device_randn({d}, 7);
  time_op(state, kF * (2.0 * rows * d + 2 * d), [&] { return layer_norm(x, gamma, beta); });
}

void BM_SoftmaxForward(benchmark::State& state) {
  const int64_t rows = 65536, classes = 1000;
  const Tensor x = device_randn({rows, classes}, 8);
  time_op(state, 2 * kF * rows * classes, [&] { return softmax(x); });
}

// The forward and the cross-entropy node's own backward, as a network pays them
// (the logits' gradient goes on to the classifier's backward). Tensor::backward
// on a leaf would add an accumulation into its gradient buffer, a cost of the
// leaf and not of the loss, so the node's closure is called directly.
void BM_CrossEntropyForwardBackward(benchmark::State& state) {
  const int64_t rows = 65536, classes = 1000;
  Tensor logits = device_randn({rows, classes}, 9);
  logits.requires_grad_();
  std::vector<double> label_values(rows);
  for (int64_t i = 0; i < rows; ++i) label_values[i] = static_cast<double>((i * 7919) % classes);
  const Tensor labels = Tensor::from_vector(label_values, {rows}, DType::I32).to(Device::CUDA);
  const Tensor one = Tensor::full({}, 1.0, DType::F32, Device::CUDA);
  time_op(state, kF * (2.0 * rows * classes + rows), [&] {
    const Tensor loss = cross_entropy(logits, labels);
    NoGradGuard backward_mode;
    return loss.impl().grad_fn->backward(one);
  });
}

void BM_BatchNormTrainForward(benchmark::State& state) {
  const int64_t n = 256, h = 32, w = 32, c = 64;
  const Tensor x = device_randn({n, h, w, c}, 10);
  const Tensor gamma = device_randn({c}, 11), beta = device_randn({c}, 12);
  const Tensor running_mean = Tensor::zeros({c}, DType::F32, Device::CUDA);
  const Tensor running_var = Tensor::ones({c}, DType::F32, Device::CUDA);
  // x in, y out; gamma and beta in; the running buffers read and written.
  time_op(state, kF * (2.0 * n * h * w * c + 6 * c), [&] {
    return batch_norm2d(x, gamma, beta, running_mean, running_var, true);
  });
}

}  // namespace

BENCHMARK(BM_DeviceCopy)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Add)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Relu)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_LayerNormForward)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_SoftmaxForward)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CrossEntropyForwardBackward)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_BatchNormTrainForward)->UseManualTime()->Unit(benchmark::kMicrosecond);
#endif  // MOTIVE_WITH_CUDA

int main(int argc, char** argv) {
  return motive::bench::cuda_bench_main("bench_cuda_ops", argc, argv);
}
