// A short training run on the GPU matches the same run on the CPU: the demo
// CNN, SGD with momentum, the first 20 batches of real Fashion-MNIST, the same
// initial weights (built on the CPU from one seed, then moved). Every op of a
// training step (conv2d, relu, max_pool2d, linear, cross_entropy, their
// backwards, the SGD update) runs on the device, so this is the end-to-end
// parity check of the CUDA backend. Skips (one line) without a GPU.
//
// Tolerances. Both sides compute in float32, in different summation orders
// (cuDNN/cuBLAS against Eigen and our loops), so every op differs by a few
// ulps; step 0 sees only one forward's worth of that. SGD then feeds each
// step's difference into the next weights. The calibration case below sizes
// that drift on the CPU by running the same 20 steps in float32 and float64
// (a perturbation of the same size as reordering float32 sums): the losses
// stayed within 5e-7 relative and the final weights within 8e-7 (the test
// prints both). The bounds leave 100x headroom for cuDNN's algorithms
// (Winograd/FFT variants round worse than direct convolution), and are still
// far below what a wrong kernel (a missed element, a wrong gradient term)
// does to a loss curve. TF32 must be off: it rounds GEMM/conv inputs to 10
// mantissa bits (~3e-4 relative per op).
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <vector>

#include "data/idx.h"
#include "engine/device.h"
#include "engine/optim.h"
#include "models/demo_cnn.h"
#include "tests/cuda_parity.h"

using namespace motive;
using namespace motive::test;

namespace {

constexpr int64_t kSteps = 20, kBatch = 32;
constexpr double kFirstLossTol = 1e-5;  // step 0: rounding of one forward only
constexpr double kLossTol = 1e-4;       // any of the 20 steps
constexpr double kParamTol = 1e-4;      // each parameter after 20 updates

// The first kSteps batches of Fashion-MNIST's training split, from the folder
// named by the environment's MOTIVE_FASHION_MNIST_DIR when set (tools/gpu-check.sh
// points it at the excerpt tools/gpu-build.sh ships, for a GPU machine without
// Debian's package), else the build's default.
ImageDataset training_data() {
  const char* env = std::getenv("MOTIVE_FASHION_MNIST_DIR");
  return load_fashion_mnist(env != nullptr && *env != '\0' ? env : MOTIVE_FASHION_MNIST_DIR, true,
                            kSteps * kBatch);
}

struct Run {
  std::vector<double> losses;
  std::vector<std::pair<std::string, Tensor>> params;  // after the last step
};

// Trains a fresh DemoCnn (seed 0) on `device` in `dtype` for kSteps batches,
// in data order (no shuffle: both runs must see the same batches).
Run train(const ImageDataset& data, Device device, DType dtype) {
  Generator gen(0);
  DemoCnn model(gen);
  model.to(dtype).to(device);
  SGD opt(0.05, 0.9);
  opt.add_params(model.parameters());
  Run run;
  for (int64_t step = 0; step < kSteps; ++step) {
    const Tensor x =
        to_float_batch(data, step * kBatch, kBatch, kFashionMean, kFashionStd).to(dtype).to(device);
    const Tensor y = to_label_batch(data, step * kBatch, kBatch).to(device);
    opt.zero_grad();
    const Tensor loss = cross_entropy(model.forward(x), y);
    loss.backward();
    opt.step();
    run.losses.push_back(loss.item());
  }
  run.params = model.named_parameters();
  return run;
}

double rel_diff(double a, double b) { return std::abs(a - b) / std::abs(b); }

// Compares two runs step by step and parameter by parameter; `b` is the reference.
void check_runs_match(const Run& a, const Run& b, const char* what) {
  REQUIRE(a.losses.size() == b.losses.size());
  double worst = 0;
  for (size_t s = 0; s < a.losses.size(); ++s) {
    const double d = rel_diff(a.losses[s], b.losses[s]);
    worst = std::max(worst, std::isnan(d) ? INFINITY : d);
    CHECK_MESSAGE(d < (s == 0 ? kFirstLossTol : kLossTol),
                  what << " step " << s << ": loss " << a.losses[s] << " vs " << b.losses[s]);
  }
  double worst_param = 0;
  for (size_t i = 0; i < a.params.size(); ++i) {
    const double e = rel_error(a.params[i].second, b.params[i].second);  // on the host, in double
    worst_param = std::max(worst_param, e);
    CHECK_MESSAGE(e < kParamTol, what << " " << a.params[i].first << ": relative error " << e);
  }
  std::cout << what << ": worst loss difference " << worst << " (relative), worst parameter "
            << worst_param << "; losses " << b.losses.front() << " -> " << b.losses.back() << "\n";
}

}  // namespace

TEST_CASE("cuda train: demo CNN on Fashion-MNIST, 20 SGD steps match the CPU run") {
  MOTIVE_REQUIRE_CUDA();
  set_allow_tf32(false);
  const ImageDataset data = training_data();
  const Run cpu = train(data, Device::CPU, DType::F32);
  const Run gpu = train(data, Device::CUDA, DType::F32);
  for (const auto& [name, p] : gpu.params) REQUIRE(p.device() == Device::CUDA);
  CHECK(cpu.losses.back() < cpu.losses.front());  // it trained
  check_runs_match(gpu, cpu, "cuda vs cpu");
}

// Runs without a GPU too: the size of the gap a mere change of rounding makes
// over these 20 steps, which the tolerances above are set against.
TEST_CASE("cuda train calibration: float32 vs float64 on the CPU stays inside the tolerances") {
  const ImageDataset data = training_data();
  check_runs_match(train(data, Device::CPU, DType::F32), train(data, Device::CPU, DType::F64),
                   "cpu float32 vs float64");
}
