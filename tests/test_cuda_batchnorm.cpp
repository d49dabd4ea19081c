// CUDA parity of batch_norm2d in bf16 (float32 gamma, beta, running buffers
// and statistics) with the CPU's bf16 kernels: both store bf16 and accumulate
// in float or double, so they differ by rounding order only (tolerance 1e-2).
// Forward and backward on poisoned outputs, train and eval, over shapes that
// take the 8-wide bf16 vectors (C a multiple of 8) and the scalar path, one and
// many row tiles, a strided input, gamma/beta as prefix and strided views, and
// the float32 running buffers after training steps. The float32 and float64
// parity cases are in test_cuda_norm.cpp. Skips (one line) without a GPU.
#include <vector>

#include "tests/bf16_testing.h"
#include "tests/cuda_parity.h"

using namespace motive;
using namespace motive::test;

namespace {

constexpr double kBf16 = 1e-2;

// Float32 running variances.
Tensor running_var(int64_t n, Generator& gen) { return rand_uniform({n}, 0.5, 2.0, gen); }

}  // namespace

TEST_CASE("cuda parity bf16: batch_norm2d train and eval over shapes, with and without affine") {
  MOTIVE_REQUIRE_CUDA();
  Generator gen(311);
  // C = 8/64/600 (8-wide vectors), 3/5/1 (scalars); N*H*W from 4 to 8192 rows.
  const std::vector<Shape> shapes = {{2, 3, 4, 8},   {3, 5, 7, 3},     {4, 1, 1, 5},
                                     {2, 2, 1, 1},   {2, 2, 2, 600},   {32, 16, 16, 64},
                                     {16, 16, 16, 3}};
  for (const Shape& s : shapes) {
    CAPTURE(shape_str(s));
    const int64_t c = s[3];
    for (bool training : {true, false}) {
      CAPTURE(training);
      const Tensor rm = input32({c}, gen, false), rv = running_var(c, gen);
      check_parity(
          [&](const auto& v) { return batch_norm2d(v[0], v[1], v[2], v[3], v[4], training); },
          {input_bf16(s, gen), input32({c}, gen), input32({c}, gen), rm, rv}, kBf16);
      check_parity(
          [&](const auto& v) {
            return batch_norm2d(v[0], Tensor(), Tensor(), v[1], v[2], training, 0.1, 1e-3);
          },
          {input_bf16(s, gen), rm, rv}, kBf16);
    }
    check_parity(
        [](const auto& v) { return batch_norm2d(v[0], Tensor(), v[1], Tensor(), Tensor(), true); },
        {input_bf16(s, gen), input32({c}, gen)}, kBf16);
  }
}

TEST_CASE("cuda parity bf16: batch_norm2d with a strided input and parameter views") {
  MOTIVE_REQUIRE_CUDA();
  Generator gen(312);
  const Tensor big_gamma = input32({17}, gen), big_beta = input32({12}, gen);
  Tensor gamma_view, beta_view;
  {
    NoGradGuard parameter_views;  // leaf views, like a base model's parameters
    gamma_view = big_gamma.slice(0, 1, 17, 2);  // every other element, at an offset
    beta_view = big_beta.slice(0, 0, 8);        // a prefix
  }
  for (bool training : {true, false}) {
    CAPTURE(training);
    const Tensor rm = input32({8}, gen, false), rv = running_var(8, gen);
    auto affine = [&](const auto& v) {
      return batch_norm2d(v[0], v[1], v[2], v[3], v[4], training);
    };
    check_parity(affine, {input_bf16({4, 3, 3, 8}, gen), gamma_view, beta_view, rm, rv}, kBf16);
    // NCHW seen as NHWC: the op packs it first.
    check_parity(
        [&](const auto& v) {
          return batch_norm2d(v[0].permute({0, 2, 3, 1}), v[1], v[2], v[3], v[4], training);
        },
        {input_bf16({2, 8, 3, 5}, gen), input32({8}, gen), input32({8}, gen), rm, rv}, kBf16);
  }
}

TEST_CASE("cuda parity bf16: batch_norm2d float32 running buffers after training steps") {
  MOTIVE_REQUIRE_CUDA();
  Generator gen(313);
  const int64_t c = 16;
  // One pair of float32 buffers per device ([0] CPU, [1] CUDA), used through
  // views: the running mean a prefix, the running variance every other element.
  const Tensor rm0 = input32({c + 3}, gen, false), rv0 = running_var(2 * c, gen);
  const Tensor rm[2] = {rm0.clone(), rm0.to(Device::CUDA)};
  const Tensor rv[2] = {rv0.clone(), rv0.to(Device::CUDA)};
  for (int step = 0; step < 3; ++step) {
    const Tensor x = input_bf16({4, 5, 5, c}, gen, false);
    const Tensor gamma = input32({c}, gen, false), beta = input32({c}, gen, false);
    Tensor y[2];
    for (int d : {0, 1}) {
      const Device dev = d == 0 ? Device::CPU : Device::CUDA;
      y[d] = batch_norm2d(x.to(dev), gamma.to(dev), beta.to(dev), rm[d].slice(0, 0, c),
                          rv[d].slice(0, 1, 2 * c, 2), true, 0.1);
    }
    CHECK(y[1].dtype() == DType::BF16);
    CHECK(rel_error(y[1], y[0]) < kBf16);
    CHECK(rel_error(rm[1], rm[0]) < 1e-5);  // float32 from double sums on both sides
    CHECK(rel_error(rv[1], rv[0]) < 1e-5);
  }
  CHECK(rm[1].at({c}) == rm0.at({c}));  // elements outside the views untouched
  CHECK(rv[1].at({0}) == rv0.at({0}));
  check_parity(
      [](const auto& v) { return batch_norm2d(v[0], v[1], v[2], v[3], v[4], false); },
      {input_bf16({3, 4, 4, c}, gen), input32({c}, gen), input32({c}, gen),
       rm[0].slice(0, 0, c), rv[0].slice(0, 1, 2 * c, 2)},
      kBf16);
}
