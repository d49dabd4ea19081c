// Pooling on CUDA against the CPU reference, forward and backward on poisoned
// outputs: max pooling on inputs full of ties (a different tie rule would route
// gradients to other pixels and fail by O(1)), with padding and overlapping
// windows; average pooling with padding (count_include_pad); global average
// pooling over few and many pixels (one and several row splits) and channel
// counts that do not fill a warp; strided views; float64; NaN propagation.
// Skips (one line) without a GPU.
#include <cmath>

#include "tests/cuda_parity.h"

using namespace motive;
using namespace motive::test;

namespace {

// A float32 leaf whose values come from {-2, -1, 0, 1, 2}: most windows hold ties.
Tensor ties(const Shape& shape, Generator& gen) {
  std::vector<double> v = rand_uniform(shape, -2.5, 2.5, gen, DType::F64).to_vector();
  for (double& e : v) e = std::round(e);
  return Tensor::from_vector(v, shape, DType::F32).requires_grad_();
}

const Pool2dOptions kWindows[] = {
    {2, 2, 0},  // the usual downsample
    {3, 2, 1},  // ResNet stem: overlapping, padded
    {3, 1, 1},  // stride 1: every pixel in up to 9 windows
    {2, 1, 1},  // padding on one side only of some windows
};

Fn max_fn(const Pool2dOptions& o) {
  return [o](const std::vector<Tensor>& v) { return max_pool2d(v[0], o); };
}
Fn avg_fn(const Pool2dOptions& o) {
  return [o](const std::vector<Tensor>& v) { return avg_pool2d(v[0], o); };
}

}  // namespace

TEST_CASE("cuda parity: max_pool2d with ties, padding and overlapping windows") {
  MOTIVE_REQUIRE_CUDA();
  Generator gen(41);
  for (const Pool2dOptions& o : kWindows) {
    CAPTURE(o.kernel);
    CAPTURE(o.stride);
    CAPTURE(o.padding);
    check_parity(max_fn(o), {ties({2, 7, 9, 5}, gen)});
    check_parity(max_fn(o), {ties({3, 8, 8, 40}, gen)});
    check_parity(max_fn(o), {strided_input32({2, 6, 7, 5}, gen)});
    check_parity(max_fn(o), {input({2, 5, 6, 3}, gen)}, 1e-12);
  }
}

TEST_CASE("cuda parity: avg_pool2d with padding") {
  MOTIVE_REQUIRE_CUDA();
  Generator gen(42);
  for (const Pool2dOptions& o : kWindows) {
    CAPTURE(o.kernel);
    CAPTURE(o.stride);
    CAPTURE(o.padding);
    check_parity(avg_fn(o), {input32({2, 7, 9, 5}, gen)});
    check_parity(avg_fn(o), {strided_input32({2, 6, 7, 5}, gen)});
    check_parity(avg_fn(o), {input({2, 5, 6, 3}, gen)}, 1e-12);
  }
}

TEST_CASE("cuda parity: global_avg_pool2d over few and many pixels") {
  MOTIVE_REQUIRE_CUDA();
  Generator gen(43);
  const Fn f = [](const std::vector<Tensor>& v) { return global_avg_pool2d(v[0]); };
  check_parity(f, {input32({4, 4, 4, 512}, gen)});   // ResNet head: one split
  check_parity(f, {input32({3, 32, 33, 37}, gen)});  // 1056 pixels: several splits
  check_parity(f, {input32({2, 1, 1, 3}, gen)});     // one pixel
  check_parity(f, {strided_input32({2, 5, 6, 7}, gen)});
  check_parity(f, {input({2, 24, 24, 5}, gen)}, 1e-12);
}

TEST_CASE("cuda: max_pool2d propagates NaN like the CPU") {
  MOTIVE_REQUIRE_CUDA();
  Tensor x = Tensor::ones({1, 4, 4, 2});
  x.set({0, 1, 2, 1}, NAN);
  const Tensor y = max_pool2d(x.to(Device::CUDA), {2, 2, 0});
  CHECK(std::isnan(y.at({0, 0, 1, 1})));
  CHECK(y.at({0, 0, 1, 0}) == 1.0);
  CHECK(y.at({0, 1, 1, 1}) == 1.0);
}
