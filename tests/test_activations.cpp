// relu, gelu (erf, tanh), silu, sigmoid: float32 values against formulas
// written out here, known values, float64 gradient checks (dense, strided,
// size-1 and odd shapes), saturation without NaN, FLOPs, bad input.
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "engine/flops.h"
#include "tests/gradcheck.h"

using namespace motive;
using namespace motive::test;

namespace {

struct Case {
  std::string name;
  std::function<Tensor(const Tensor&)> op;
  std::function<double(double)> reference;
  int64_t flops_per_element;
};

const double kPi = 3.141592653589793;

const std::vector<Case> kCases = {
    {"relu", [](const Tensor& x) { return relu(x); }, [](double x) { return x > 0 ? x : 0.0; }, 1},
    {"sigmoid", [](const Tensor& x) { return sigmoid(x); },
     [](double x) { return 1 / (1 + std::exp(-x)); }, 4},
    {"silu", [](const Tensor& x) { return silu(x); },
     [](double x) { return x / (1 + std::exp(-x)); }, 5},
    {"gelu", [](const Tensor& x) { return gelu(x); },
     [](double x) { return x * 0.5 * std::erfc(-x / std::sqrt(2.0)); }, 5},
    {"gelu-tanh", [](const Tensor& x) { return gelu(x, GeluApprox::Tanh); },
     [](double x) {
       return 0.5 * x * (1 + std::tanh(std::sqrt(2 / kPi) * (x + 0.044715 * x * x * x)));
     },
     9},
};

Tensor apply_reference(const Case& c, const Tensor& x) {
  std::vector<double> v = x.to_vector();
  for (double& e : v) e = c.reference(e);
  return Tensor::from_vector(v, x.shape(), DType::F64);
}

}  // namespace

TEST_CASE("activations match their formulas in float32, strided inputs included") {
  Generator gen(11);
  const Tensor x = randn({4, 5, 3}, gen) * 3.0;
  const Tensor xt = randn({6, 4}, gen).transpose(0, 1);
  for (const Case& c : kCases) {
    CAPTURE(c.name);
    CHECK(max_rel_error(c.op(x), apply_reference(c, x)) < 1e-5);
    CHECK(max_rel_error(c.op(xt), apply_reference(c, xt)) < 1e-5);
  }
  // Known values (PyTorch).
  const Tensor one = Tensor::from_vector({1.0, -1.0, 0.0}, {3}, DType::F64);
  CHECK(gelu(one).to_vector()[0] == doctest::Approx(0.8413447460685429).epsilon(1e-12));
  CHECK(gelu(one, GeluApprox::Tanh).to_vector()[0] ==
        doctest::Approx(0.8411919906082768).epsilon(1e-12));
  CHECK(gelu(one).to_vector()[1] == doctest::Approx(-0.15865525393145707).epsilon(1e-12));
  CHECK(sigmoid(one).to_vector()[2] == 0.5);
  CHECK(silu(one).to_vector()[0] == doctest::Approx(0.7310585786300049).epsilon(1e-12));
  CHECK(relu(one).to_vector() == std::vector<double>{1, 0, 0});
}

TEST_CASE("activations: float32 gradients match the float64 ones") {
  // The float kernels (vectorised exp and erf) beside the double ones, which
  // the finite-difference checks below vouch for; a large, contiguous input
  // takes the kernels' chunked and parallel path.
  Generator gen(13);
  const Tensor x64 = randn({3, 20000}, gen, DType::F64) * 3.0;
  const Tensor seed = randn({3, 20000}, gen, DType::F64);
  for (const Case& c : kCases) {
    CAPTURE(c.name);
    Tensor a = x64.clone().requires_grad_();  // its own gradient buffer
    Tensor b = x64.to(DType::F32).requires_grad_();
    c.op(a).backward(seed);
    c.op(b).backward(seed.to(DType::F32));
    CHECK(max_rel_error(b.grad(), a.grad()) < 1e-5);
  }
}

TEST_CASE("activations: float64 gradient checks over shapes and views") {
  Generator gen(12);
  for (const Case& c : kCases) {
    CAPTURE(c.name);
    auto f = [&c](const std::vector<Tensor>& v) { return c.op(v[0]); };
    for (const Shape& s : std::vector<Shape>{{5}, {2, 3, 4}, {1, 1, 1}, {3, 1, 7}}) {
      check_gradients(f, {input(s, gen)});
    }
    check_gradients(f, {strided_input({3, 4}, gen)});
    // Chained: the incoming gradient is itself the output of another op.
    check_gradients([&c](const std::vector<Tensor>& v) { return c.op(c.op(v[0]) * 2.0); },
                    {input({2, 5}, gen)});
  }
}

TEST_CASE("activations: relu's gradient is 0 at 0; saturated inputs stay finite") {
  Tensor x = Tensor::from_vector({0.0, -1000.0, 1000.0, -80.0}, {4}, DType::F64);
  x.requires_grad_();
  sum(relu(x)).backward();
  CHECK(x.grad().to_vector()[0] == 0.0);
  for (const Case& c : kCases) {
    CAPTURE(c.name);
    for (DType dt : {DType::F32, DType::F64}) {
      Tensor xs = x.detach().to(dt);
      xs.requires_grad_();
      const Tensor y = c.op(xs);
      sum(y).backward();
      for (double v : y.to_vector()) CHECK(std::isfinite(v));
      for (double v : xs.grad().to_vector()) CHECK(std::isfinite(v));
      CHECK(max_rel_error(y, apply_reference(c, x)) < 1e-6);
      // Flat far left; far right the slope is 1 (0 for sigmoid, which saturates).
      CHECK(xs.grad().to_vector()[1] == doctest::Approx(0.0));
      CHECK(xs.grad().to_vector()[2] == doctest::Approx(c.name == "sigmoid" ? 0.0 : 1.0));
    }
  }
}

TEST_CASE("activations: empty tensors, FLOPs, bad input") {
  for (const Case& c : kCases) {
    CAPTURE(c.name);
    CHECK(c.op(Tensor::empty({0, 3})).shape() == Shape{0, 3});
    const Tensor x = Tensor::ones({2, 3, 5});
    reset_flop_count();
    c.op(x);
    CHECK(flop_count() == 30 * c.flops_per_element);
    const std::string op = c.name.substr(0, c.name.find('-'));
    CHECK_THROWS_WITH_AS(c.op(Tensor::zeros({3}, DType::I32)), doctest::Contains(op.c_str()),
                         Error);
  }
}
