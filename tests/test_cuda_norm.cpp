// CUDA parity of batch_norm2d and layer_norm with the CPU: forward and
// backward over shapes that take every kernel path (16-byte vectors and
// scalars, one or many row tiles, warp- and block-per-row, rows longer than
// the register cache), strided inputs, gamma/beta as strided or offset views
// of bigger parameters, train and eval, the running buffers after training
// steps (strided views included), float64, and mixed-device errors. Skips
// (one line) without a GPU.
#include <vector>

#include "tests/cuda_parity.h"

using namespace motive;
using namespace motive::test;

namespace {

// A parameter view (made without grad, like a model's) of a bigger leaf.
Tensor param_view(const Tensor& owner, int64_t start, int64_t end, int64_t step = 1) {
  NoGradGuard no_grad;
  return owner.slice(0, start, end, step);
}

Tensor positive32(const Shape& shape, Generator& gen) {
  return rand_uniform(shape, 0.5, 2.0, gen, DType::F32);
}

}  // namespace

TEST_CASE("cuda parity: batch_norm2d train and eval over shapes, with and without affine") {
  MOTIVE_REQUIRE_CUDA();
  Generator gen(301);
  // C = 8/64 (vectors), 3/5/1 (scalars), 600 (several column tiles); N*H*W
  // from 2 to 8192 rows (one and many row tiles).
  const std::vector<Shape> shapes = {{2, 3, 4, 8},  {3, 5, 7, 3},   {4, 1, 1, 5},   {1, 2, 2, 1},
                                     {2, 2, 2, 600}, {32, 16, 16, 64}, {16, 16, 16, 3}};
  for (const Shape& s : shapes) {
    CAPTURE(shape_str(s));
    const int64_t c = s[3];
    for (bool training : {true, false}) {
      CAPTURE(training);
      const Tensor rm = input32({c}, gen, false), rv = positive32({c}, gen);
      check_parity(
          [&](const auto& v) { return batch_norm2d(v[0], v[1], v[2], v[3], v[4], training); },
          {input32(s, gen), input32({c}, gen), input32({c}, gen), rm, rv});
      check_parity(
          [&](const auto& v) {
            return batch_norm2d(v[0], Tensor(), Tensor(), v[1], v[2], training, 0.1, 1e-3);
          },
          {input32(s, gen), rm, rv});
    }
    // Training without running statistics, beta only.
    check_parity(
        [](const auto& v) { return batch_norm2d(v[0], Tensor(), v[1], Tensor(), Tensor(), true); },
        {input32(s, gen), input32({c}, gen)});
  }
}

TEST_CASE("cuda parity: batch_norm2d with strided input, parameter views and a large offset") {
  MOTIVE_REQUIRE_CUDA();
  Generator gen(302);
  auto affine = [](const auto& v) {
    return batch_norm2d(v[0], v[1], v[2], Tensor(), Tensor(), true);
  };
  check_parity(affine, {strided_input32({2, 3, 4, 8}, gen), input32({8}, gen), input32({8}, gen)});
  // gamma every other element of a bigger buffer at an offset; beta a prefix
  // view (the base model's channels of the motivated parameter).
  const Tensor big_gamma = input32({17}, gen), big_beta = input32({12}, gen);
  check_parity(affine, {input32({4, 3, 3, 8}, gen), param_view(big_gamma, 1, 17, 2),
                        param_view(big_beta, 0, 8)});
  check_parity(affine, {input32({4, 3, 3, 5}, gen), param_view(big_gamma, 3, 13, 2),
                        param_view(big_beta, 1, 6)});
  // A large common offset: the shifted sums keep the statistics accurate. The
  // output x * scale + shift cancels ~1e4 down to ~1, and the GPU's fused
  // multiply-add rounds once where the CPU rounds twice: float32 differences
  // of ~1e4 * 2^-24 are expected (the CPU's own test allows 1e-3).
  NoGradGuard values_only;
  const Tensor offset = add_scalar(randn({8, 4, 4, 16}, gen), 1e4);
  check_parity(affine, {offset, input32({16}, gen, false), input32({16}, gen, false)}, 2e-3);
}

TEST_CASE("cuda parity: batch_norm2d running buffers after training steps, then eval") {
  MOTIVE_REQUIRE_CUDA();
  Generator gen(303);
  const int64_t c = 12;
  // Running buffers as strided views (every other element) of bigger buffers.
  Tensor rm_cpu = input32({2 * c}, gen, false), rv_cpu = positive32({2 * c}, gen);
  Tensor rm_cuda = rm_cpu.to(Device::CUDA), rv_cuda = rv_cpu.to(Device::CUDA);
  for (int step = 0; step < 3; ++step) {
    const Tensor x = input32({4, 5, 5, c}, gen, false);
    const Tensor gamma = input32({c}, gen, false), beta = input32({c}, gen, false);
    const Tensor y_cpu = batch_norm2d(x, gamma, beta, rm_cpu.slice(0, 0, 2 * c, 2),
                                      rv_cpu.slice(0, 1, 2 * c, 2), true, 0.1);
    const Tensor y_cuda =
        batch_norm2d(x.to(Device::CUDA), gamma.to(Device::CUDA), beta.to(Device::CUDA),
                     rm_cuda.slice(0, 0, 2 * c, 2), rv_cuda.slice(0, 1, 2 * c, 2), true, 0.1);
    CHECK(rel_error(y_cuda, y_cpu) < 1e-4);
    // The whole buffers: the mapped elements updated alike, the others untouched.
    CHECK(rel_error(rm_cuda, rm_cpu) < 1e-5);
    CHECK(rel_error(rv_cuda, rv_cpu) < 1e-5);
  }
  CHECK(rm_cuda.at({1}) == rm_cpu.at({1}));
  CHECK(rv_cuda.at({0}) == rv_cpu.at({0}));
  // Eval with the updated statistics.
  check_parity(
      [](const auto& v) { return batch_norm2d(v[0], v[1], v[2], v[3], v[4], false); },
      {input32({3, 4, 4, c}, gen), input32({c}, gen), input32({c}, gen),
       rm_cpu.slice(0, 0, 2 * c, 2), rv_cpu.slice(0, 1, 2 * c, 2)});
}

TEST_CASE("cuda parity: batch_norm2d in float64, and mixed devices fail") {
  MOTIVE_REQUIRE_CUDA();
  Generator gen(304);
  for (bool training : {true, false}) {
    CAPTURE(training);
    const Tensor rm = input({6}, gen, false),
                 rv = rand_uniform({6}, 0.5, 2.0, gen, DType::F64);
    for (const Shape& s : std::vector<Shape>{{2, 3, 5, 6}, {8, 8, 8, 6}}) {
      check_parity(
          [&](const auto& v) { return batch_norm2d(v[0], v[1], v[2], v[3], v[4], training); },
          {input(s, gen), input({6}, gen), input({6}, gen), rm, rv}, 1e-10);
    }
    check_parity(
        [&](const auto& v) { return batch_norm2d(v[0], v[1], v[2], v[3], v[4], training); },
        {strided_input({2, 3, 3, 5}, gen), input({5}, gen), input({5}, gen),
         input({5}, gen, false), rand_uniform({5}, 0.5, 2.0, gen, DType::F64)},
        1e-10);
  }
  const Tensor x = Tensor::ones({2, 2, 2, 4}, DType::F32, Device::CUDA);
  CHECK_THROWS_WITH_AS(batch_norm2d(x, Tensor::ones({4}), Tensor(), Tensor(), Tensor(), true),
                       doctest::Contains("batch_norm2d: gamma is on"), Error);
  CHECK_THROWS_WITH_AS(
      batch_norm2d(x, Tensor(), Tensor(), Tensor::zeros({4}), Tensor::ones({4}), false),
      doctest::Contains("batch_norm2d: running_mean is on"), Error);
}

TEST_CASE("cuda parity: layer_norm over row lengths, views and float64") {
  MOTIVE_REQUIRE_CUDA();
  Generator gen(305);
  // d = 8/64/192/1024 (vectors, a group of up to 32 lanes per row), 7/1/33
  // (scalars), 3000 (a block per row), 5000 and 4099 (longer than the register
  // cache: re-read passes, vector and scalar), many rows.
  const std::vector<Shape> shapes = {{4, 8},  {3, 7},    {5, 1},    {2, 3, 64}, {9, 192},
                                     {3, 33}, {4, 1024}, {6, 3000}, {2, 5000}, {3, 4099},
                                     {4096, 64}};
  auto affine = [](const auto& v) { return layer_norm(v[0], v[1], v[2]); };
  for (const Shape& s : shapes) {
    CAPTURE(shape_str(s));
    const int64_t d = s.back();
    check_parity(affine, {input32(s, gen), input32({d}, gen), input32({d}, gen)});
    check_parity([](const auto& v) { return layer_norm(v[0], Tensor(), Tensor(), 1e-3); },
                 {input32(s, gen)});
    check_parity([](const auto& v) { return layer_norm(v[0], v[1], Tensor()); },
                 {input32(s, gen), input32({d}, gen)});
  }
  check_parity(affine, {strided_input32({5, 12}, gen), input32({12}, gen), input32({12}, gen)});
  // gamma/beta as strided, offset (misaligned) and prefix views.
  const Tensor big_gamma = input32({130}, gen), big_beta = input32({70}, gen);
  check_parity(affine, {input32({7, 64}, gen), param_view(big_gamma, 1, 129, 2),
                        param_view(big_beta, 0, 64)});
  check_parity(affine, {input32({7, 64}, gen), param_view(big_gamma, 0, 64),
                        param_view(big_beta, 3, 67)});
  // A large common offset (a one-ulp difference in a float32 mean of ~1e3 is
  // ~6e-5 of the normalised output).
  {
    NoGradGuard values_only;
    check_parity(affine, {add_scalar(randn({16, 256}, gen), 1e3), input32({256}, gen, false),
                          input32({256}, gen, false)}, 1e-3);
  }
  for (const Shape& s : std::vector<Shape>{{3, 8}, {4, 37}, {2, 3000}}) {
    CAPTURE(shape_str(s));
    check_parity(affine, {input(s, gen), input({s.back()}, gen), input({s.back()}, gen)}, 1e-10);
  }
  check_parity(affine, {strided_input({4, 6}, gen), input({6}, gen), input({6}, gen)}, 1e-10);
  CHECK_THROWS_WITH_AS(
      layer_norm(Tensor::ones({2, 4}, DType::F32, Device::CUDA), Tensor::ones({4}), Tensor()),
      doctest::Contains("layer_norm: gamma is on"), Error);
}
