// softmax over the last dim: float32 values against a naive reference (dense
// and strided, 1-D to 3-D), stability for huge logits, float64 gradient
// checks, edge shapes, FLOPs, bad input.
#include <cmath>
#include <vector>

#include "engine/flops.h"
#include "tests/gradcheck.h"

using namespace motive;
using namespace motive::test;

namespace {

// exp(x) / sum(exp(x)) per row, in long double so the reference is exact
// enough without any max trick.
Tensor naive_softmax(const Tensor& x) {
  std::vector<double> v = x.to_vector();
  const size_t cols = static_cast<size_t>(x.size(-1));
  for (size_t r = 0; r < v.size() / cols; ++r) {
    long double s = 0;
    for (size_t j = 0; j < cols; ++j) s += std::exp(static_cast<long double>(v[r * cols + j]));
    for (size_t j = 0; j < cols; ++j)
      v[r * cols + j] =
          static_cast<double>(std::exp(static_cast<long double>(v[r * cols + j])) / s);
  }
  return Tensor::from_vector(v, x.shape(), DType::F64);
}

}  // namespace

TEST_CASE("softmax matches a naive reference in float32") {
  Generator gen(21);
  for (const Shape& s : std::vector<Shape>{{7}, {3, 5}, {2, 3, 4}, {4, 1}}) {
    CAPTURE(shape_str(s));
    const Tensor x = randn(s, gen) * 4.0;
    const Tensor y = softmax(x);
    CHECK(y.shape() == s);
    CHECK(max_rel_error(y, naive_softmax(x)) < 1e-6);
  }
  const Tensor xt = randn({6, 3}, gen).transpose(0, 1);
  CHECK(max_rel_error(softmax(xt), naive_softmax(xt)) < 1e-6);
}

TEST_CASE("softmax stays finite for huge logits") {
  // exp(1e4) overflows even in double: only the max-subtracted form survives.
  for (DType dt : {DType::F32, DType::F64}) {
    const Tensor x = Tensor::from_vector({1e4, 1e4, -1e4, 0, 1e4 - 1, 1e4}, {2, 3}, dt);
    const std::vector<double> y = softmax(x).to_vector();
    CHECK(y[0] == doctest::Approx(0.5));
    CHECK(y[1] == doctest::Approx(0.5));
    CHECK(y[2] == 0.0);
    CHECK(y[3] == 0.0);
    CHECK(y[4] == doctest::Approx(1 / (1 + std::exp(1.0))));
    CHECK(y[5] == doctest::Approx(1 / (1 + std::exp(-1.0))));
  }
}

TEST_CASE("softmax: float64 gradient checks over shapes and views") {
  Generator gen(22);
  auto f = [](const std::vector<Tensor>& v) { return softmax(v[0]); };
  for (const Shape& s : std::vector<Shape>{{5}, {2, 3}, {2, 3, 4}, {1, 1}, {3, 1}, {1, 7}})
    check_gradients(f, {input(s, gen)});
  check_gradients(f, {strided_input({3, 4}, gen)});
  check_gradients(f, {strided_input({2, 3, 5}, gen)});
  // A non-contiguous incoming gradient (softmax of a transposed result).
  check_gradients([](const std::vector<Tensor>& v) { return softmax(v[0]).transpose(0, 1); },
                  {input({3, 4}, gen)});
}

TEST_CASE("softmax: size-1 rows, empty tensors, FLOPs, bad input") {
  CHECK(softmax(Tensor::full({3, 1}, 42.0)).to_vector() == std::vector<double>{1, 1, 1});
  CHECK(softmax(Tensor::empty({0, 4})).shape() == Shape{0, 4});
  reset_flop_count();
  softmax(Tensor::ones({3, 7}));
  CHECK(flop_count() == 5 * 21);
  CHECK(softmax_flops(21) == 105);
  CHECK_THROWS_WITH_AS(softmax(Tensor::scalar(1.0)), doctest::Contains("softmax"), Error);
  CHECK_THROWS_WITH_AS(softmax(Tensor::zeros({2, 3}, DType::I32)), doctest::Contains("softmax"),
                       Error);
}
