// CUDA parity of the activations (relu, gelu erf/tanh, silu, sigmoid),
// softmax and cross_entropy with the CPU: forward and backward over sizes
// that take every kernel path (16-byte vectors with a scalar tail, misaligned
// scalars, warp- and block-per-row, rows longer than the register cache),
// strided inputs, large logits, label smoothing, float64, the loss staying on
// the device, and bad labels / mixed devices failing with the op's name.
// Skips (one line) without a GPU.
#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "tests/cuda_parity.h"

using namespace motive;
using namespace motive::test;

namespace {

struct Activation {
  std::string name;
  std::function<Tensor(const Tensor&)> op;
};

const std::vector<Activation> kActivations = {
    {"relu", [](const Tensor& x) { return relu(x); }},
    {"gelu", [](const Tensor& x) { return gelu(x); }},
    {"gelu-tanh", [](const Tensor& x) { return gelu(x, GeluApprox::Tanh); }},
    {"silu", [](const Tensor& x) { return silu(x); }},
    {"sigmoid", [](const Tensor& x) { return sigmoid(x); }},
};

// A float32 leaf that requires grad: k times input32's values.
Tensor scaled32(const Shape& shape, double k, Generator& gen) {
  return (input32(shape, gen, false) * k).requires_grad_();
}

Tensor labels_for(int64_t n, int64_t c, Generator& gen) {
  std::vector<double> v = rand_uniform({n}, 0.0, static_cast<double>(c), gen, DType::F64).to_vector();
  for (double& e : v) e = std::min(std::floor(e), static_cast<double>(c - 1));
  return Tensor::from_vector(v, {n}, DType::I32);
}

}  // namespace

TEST_CASE("cuda parity: activations over sizes, tails, misaligned and strided inputs") {
  MOTIVE_REQUIRE_CUDA();
  Generator gen(401);
  for (const Activation& a : kActivations) {
    CAPTURE(a.name);
    auto f = [&](const auto& v) { return a.op(v[0]); };
    // Multiples of 4 (vectors only), tails of 1-3, one element, a big odd size.
    for (const Shape& s : std::vector<Shape>{{1000}, {7, 13}, {1}, {2, 3, 5, 4}, {(1 << 20) + 3}})
      check_parity(f, {scaled32(s, 4.0, gen)});
    check_parity(f, {strided_input32({9, 6}, gen)});
    // A contiguous view one element into its buffer: not 16-byte aligned.
    const Tensor owner = input32({1001}, gen);
    Tensor shifted;
    {
      NoGradGuard parameter_view;
      shifted = owner.narrow(0, 1, 1000);
    }
    check_parity(f, {shifted});
    // Saturated inputs stay finite on both sides.
    check_parity(f, {Tensor::from_vector({-100, -30, -1e-3, 1e-3, 30, 100}, {6}).requires_grad_()});
    check_parity(f, {input({3, 7}, gen)}, 1e-10);
  }
}

TEST_CASE("cuda parity: softmax over row lengths, large logits, float64") {
  MOTIVE_REQUIRE_CUDA();
  Generator gen(402);
  auto f = [](const auto& v) { return softmax(v[0]); };
  const std::vector<Shape> shapes = {{4, 10}, {3, 7}, {5, 1},    {7},       {2, 3, 64},
                                     {6, 1000}, {2, 3000}, {2, 5001}, {1, 20000}, {2048, 33}};
  for (const Shape& s : shapes) {
    CAPTURE(shape_str(s));
    check_parity(f, {input32(s, gen)});
    check_parity(f, {scaled32(s, 50.0, gen)});  // large logits: the max is subtracted
  }
  check_parity(f, {strided_input32({6, 9}, gen)});
  for (const Shape& s : std::vector<Shape>{{3, 8}, {4, 13}, {2, 3000}})
    check_parity(f, {input(s, gen)}, 1e-10);
}

TEST_CASE("cuda parity: cross_entropy with smoothing 0 and 0.1, large logits, float64") {
  MOTIVE_REQUIRE_CUDA();
  Generator gen(403);
  const std::vector<Shape> shapes = {{8, 10}, {5, 7},    {3, 1},    {1, 4},
                                     {4, 1000}, {2, 3000}, {3, 5003}, {512, 100}};
  for (double s : {0.0, 0.1}) {
    CAPTURE(s);
    auto f = [s](const auto& v) { return cross_entropy(v[0], v[1], s); };
    for (const Shape& shape : shapes) {
      CAPTURE(shape_str(shape));
      if (shape[1] == 1 && s > 0) {
        // One class: the loss is lse - x = 0 up to rounding on both devices, so a
        // relative error is meaningless; check the value itself.
        const Tensor labels = labels_for(shape[0], 1, gen);
        CHECK(std::fabs(cross_entropy(input32(shape, gen).to(Device::CUDA),
                                      labels.to(Device::CUDA), s).item()) < 1e-6);
        continue;
      }
      const Tensor labels = labels_for(shape[0], shape[1], gen);
      check_parity(f, {input32(shape, gen), labels});
      check_parity(f, {scaled32(shape, 1000.0, gen), labels});
      check_parity(f, {input(shape, gen), labels}, 1e-10);
    }
    check_parity(f, {strided_input32({6, 9}, gen), labels_for(6, 9, gen)});
  }
  // The loss stays on the device; known values with huge logits.
  const Tensor x = Tensor::from_vector({1e4, 0, -1e4, 0, 1e4, 5}, {2, 3}).to(Device::CUDA);
  const Tensor labels = Tensor::from_vector({0, 2}, {2}, DType::I32).to(Device::CUDA);
  const Tensor loss = cross_entropy(x, labels);
  CHECK(loss.device() == Device::CUDA);
  CHECK(loss.shape() == Shape{});
  CHECK(loss.item() == doctest::Approx((0 + (1e4 - 5)) / 2.0));
}

TEST_CASE("cuda: cross_entropy rejects bad labels and mixed devices, naming the op") {
  MOTIVE_REQUIRE_CUDA();
  const Tensor x = Tensor::zeros({4, 10}, DType::F32, Device::CUDA);
  auto labels = [](const std::vector<double>& v) {
    return Tensor::from_vector(v, {static_cast<int64_t>(v.size())}, DType::I32).to(Device::CUDA);
  };
  CHECK(cross_entropy(x, labels({0, 1, 2, 3})).item() == doctest::Approx(std::log(10.0)));
  // The labels are checked on the device: the error comes at the host's next
  // wait (a value read back, any copy to the host), names the first bad
  // label, and does not linger after it is reported.
  CHECK_THROWS_WITH_AS(cross_entropy(x, labels({0, 12, 2, 3})).item(),
                       doctest::Contains("cross_entropy: label at index 1 is 12"), Error);
  const Tensor pending = cross_entropy(x, labels({0, 1, -1, -5}));
  CHECK_THROWS_WITH_AS(x.to(Device::CPU),
                       doctest::Contains("cross_entropy: label at index 2 is -1"), Error);
  CHECK(x.to(Device::CPU).to_vector() == std::vector<double>(40, 0.0));
  CHECK_THROWS_WITH_AS(
      cross_entropy(x, Tensor::from_vector({0, 1, 2, 3}, {4}, DType::I32)),
      doctest::Contains("cross_entropy: logits are on"), Error);
  // The device is still usable after the failures.
  CHECK(cross_entropy(x, labels({9, 9, 9, 9})).item() == doctest::Approx(std::log(10.0)));
}
