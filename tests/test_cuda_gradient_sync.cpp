// The data-parallel gradient path on the GPU: dist::GradientSync with CUDA
// buffers goes through the NCCL reducer (dist/nccl.cpp), here a real NCCL
// communicator of one GPU (a sum over one rank leaves the values as they
// are). What it checks: the communicator is made and sums, the strided
// gradient regions of a nested base model's views are packed times the
// rank's share and scattered back exactly, and the rest of the shared
// gradient buffer is not touched. Skips (one line) without a GPU or in a
// build without NCCL; several ranks: tools/gpu-check.sh's multi-GPU step.
#include "dist/gradient_sync.h"
#include "engine/autograd.h"
#include "engine/random.h"
#include "tests/cuda_parity.h"

using namespace motive;
using namespace motive::test;

TEST_CASE("cuda gradient sync: NCCL sums a base model's strided gradient regions in place") {
  MOTIVE_REQUIRE_CUDA();
  if (!dist::nccl_built()) {
    MESSAGE("skipped: this build has no NCCL");
    return;
  }
  Generator gen(5);
  // A motivated model's weight [8, 6] and bias [8]; the base's are the
  // prefix views [4, 3] (strided) and [4], as models/nest.h makes them.
  Tensor weight = randn({8, 6}, gen).to(Device::CUDA).requires_grad_();
  Tensor bias = randn({8}, gen).to(Device::CUDA).requires_grad_();
  Tensor base_weight, base_bias;
  {
    NoGradGuard no_grad;
    base_weight = weight.narrow(0, 0, 4).narrow(1, 0, 3);
    base_bias = bias.narrow(0, 0, 4);
  }
  const Tensor gw = randn({8, 6}, gen), gb = randn({8}, gen);
  accumulate_leaf_grad(weight, gw.to(Device::CUDA));
  accumulate_leaf_grad(bias, gb.to(Device::CUDA));

  dist::GradientSync sync(Device::CUDA, 64);  // 16 floats: two buckets
  CHECK(sync.backend() == "nccl");
  sync.begin({base_weight, base_bias}, 0.25);
  CHECK(sync.buckets() == 2);
  sync.ready(base_bias);
  sync.ready(base_weight);
  CHECK(sync.finish() == (12 + 4) * 4);

  const std::vector<double> w = weight.grad_buffer().to(Device::CPU).to_vector();
  const std::vector<double> b = bias.grad_buffer().to(Device::CPU).to_vector();
  const std::vector<double> w0 = gw.to_vector(), b0 = gb.to_vector();
  for (int64_t r = 0; r < 8; ++r)
    for (int64_t c = 0; c < 6; ++c) {
      const size_t i = static_cast<size_t>(r * 6 + c);
      INFO("weight gradient [" << r << ", " << c << "]");
      CHECK(w[i] == doctest::Approx(r < 4 && c < 3 ? 0.25 * w0[i] : w0[i]).epsilon(1e-6));
    }
  for (size_t i = 0; i < 8; ++i) CHECK(b[i] == doctest::Approx(i < 4 ? 0.25 * b0[i] : b0[i]));
}
