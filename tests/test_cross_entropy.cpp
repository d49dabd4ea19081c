// cross_entropy: float32 loss and gradient against a naive log-sum-exp
// reference (smoothing 0 and 0.1), known values, huge logits, float64
// gradient checks (dense and strided logits, strided labels), FLOPs,
// out-of-range labels and other bad input.
#include <cmath>
#include <vector>

#include "engine/flops.h"
#include "tests/gradcheck.h"

using namespace motive;
using namespace motive::test;

namespace {

Tensor labels_of(const std::vector<double>& v) {
  return Tensor::from_vector(v, {static_cast<int64_t>(v.size())}, DType::I32);
}

// The reference: loss = mean over rows of log(sum exp x) - sum_j target_j x_j
// with target = (1 - s) one_hot + s / C, and dloss/dx = (softmax - target) / N,
// computed with long double and no max trick (fine for moderate logits).
struct Reference {
  double loss = 0;
  std::vector<double> grad;
  Reference(const Tensor& logits, const Tensor& labels, double s) {
    const int64_t n = logits.size(0), c = logits.size(1);
    const std::vector<double> x = logits.to_vector(), lab = labels.to_vector();
    grad.resize(x.size());
    for (int64_t r = 0; r < n; ++r) {
      long double sum_exp = 0;
      for (int64_t j = 0; j < c; ++j) sum_exp += std::exp(static_cast<long double>(x[r * c + j]));
      double row = static_cast<double>(std::log(sum_exp));
      for (int64_t j = 0; j < c; ++j) {
        const double target = (j == lab[r] ? 1 - s : 0) + s / c;
        row -= target * x[r * c + j];
        const double p =
            static_cast<double>(std::exp(static_cast<long double>(x[r * c + j])) / sum_exp);
        grad[r * c + j] = (p - target) / n;
      }
      loss += row / n;
    }
  }
};

}  // namespace

TEST_CASE("cross_entropy matches a naive log-sum-exp reference, smoothing 0 and 0.1") {
  Generator gen(31);
  for (double s : {0.0, 0.1}) {
    for (const Shape& shape : std::vector<Shape>{{4, 5}, {1, 3}, {7, 2}, {3, 1}}) {
      CAPTURE(s);
      CAPTURE(shape_str(shape));
      Tensor logits = randn(shape, gen) * 3.0;
      logits.requires_grad_();
      std::vector<double> lab(shape[0]);
      for (size_t i = 0; i < lab.size(); ++i) lab[i] = static_cast<double>(i * 3 % shape[1]);
      const Tensor labels = labels_of(lab);
      const Reference ref(logits, labels, s);
      const Tensor loss = cross_entropy(logits, labels, s);
      CHECK(loss.shape() == Shape{});
      CHECK(loss.dtype() == DType::F32);
      CHECK(loss.item() == doctest::Approx(ref.loss).epsilon(1e-6));
      loss.backward();
      CHECK(max_rel_error(logits.grad(), Tensor::from_vector(ref.grad, shape, DType::F64)) < 1e-6);
    }
  }
}

TEST_CASE("cross_entropy: known values and huge logits") {
  const Tensor x = Tensor::from_vector({1, 2, 3}, {1, 3}, DType::F64);
  const double lse = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0));
  CHECK(cross_entropy(x, labels_of({0})).item() == doctest::Approx(lse - 1).epsilon(1e-14));
  // Target (0.9 + 0.1/3, 0.1/3, 0.1/3): loss = lse - (0.9 * 1 + 0.1 * mean(1, 2, 3)).
  CHECK(cross_entropy(x, labels_of({0}), 0.1).item() ==
        doctest::Approx(lse - 1.1).epsilon(1e-14));
  // exp(1e4) overflows even in double; the stable log-softmax gives exact values.
  for (DType dt : {DType::F32, DType::F64}) {
    Tensor big = Tensor::from_vector({1e4, 0, -1e4, 1e4, 1e4, 0}, {2, 3}, dt);
    big.requires_grad_();
    const Tensor loss = cross_entropy(big, labels_of({2, 0}), 0.1);
    // Row 0: lse = 1e4, target dot = 0.9 (-1e4) + 0.1/3 * 0; row 1: lse = 1e4 + log 2,
    // target dot = 0.9e4 + 0.1/3 * 2e4.
    const double expected = ((1e4 + 0.9e4) + (1e4 + std::log(2.0) - 0.9e4 - 2e4 / 30)) / 2;
    CHECK(std::isfinite(loss.item()));
    CHECK(loss.item() == doctest::Approx(expected).epsilon(1e-6));
    loss.backward();
    for (double g : big.grad().to_vector()) CHECK(std::isfinite(g));
    CHECK(big.grad().to_vector()[0] == doctest::Approx((1 - 0.1 / 3) / 2));
  }
}

TEST_CASE("cross_entropy: float64 gradient checks w.r.t. logits") {
  Generator gen(32);
  for (double s : {0.0, 0.1}) {
    const Tensor labels = labels_of({2, 0, 3});
    auto f = [labels, s](const std::vector<Tensor>& v) { return cross_entropy(v[0], labels, s); };
    check_gradients(f, {input({3, 4}, gen)});
    check_gradients(f, {strided_input({3, 4}, gen)});
    // Scaled afterwards: the incoming gradient is not 1.
    check_gradients(
        [labels, s](const std::vector<Tensor>& v) { return cross_entropy(v[0], labels, s) * 3.0; },
        {input({3, 5}, gen)});
    check_gradients(
        [s](const std::vector<Tensor>& v) { return cross_entropy(v[0], labels_of({0}), s); },
        {input({1, 1}, gen)});
  }
  // Labels as a strided view (every other element of a longer buffer).
  const Tensor every_other = labels_of({1, 9, 0, 9, 2, 9}).slice(0, 0, 6, 2);
  check_gradients(
      [every_other](const std::vector<Tensor>& v) { return cross_entropy(v[0], every_other); },
      {input({3, 3}, gen)});
}

TEST_CASE("cross_entropy: FLOPs and bad input") {
  const Tensor x = Tensor::zeros({4, 10});
  reset_flop_count();
  const Tensor loss = cross_entropy(x, labels_of({0, 1, 2, 3}));
  CHECK(flop_count() == 6 * 40);
  CHECK(loss.item() == doctest::Approx(std::log(10.0)));
  CHECK_THROWS_WITH_AS(cross_entropy(x, labels_of({0, 12, 2, 3})),
                       doctest::Contains("cross_entropy: label at index 1 is 12"), Error);
  CHECK_THROWS_WITH_AS(cross_entropy(x, labels_of({0, 1, 2, -1})),
                       doctest::Contains("cross_entropy: label at index 3 is -1"), Error);
  CHECK_THROWS_WITH_AS(cross_entropy(x, Tensor::zeros({4})), doctest::Contains("cross_entropy"),
                       Error);  // float labels
  CHECK_THROWS_WITH_AS(cross_entropy(x, labels_of({0, 1})), doctest::Contains("cross_entropy"),
                       Error);
  CHECK_THROWS_WITH_AS(cross_entropy(Tensor::zeros({10}), labels_of({0})),
                       doctest::Contains("cross_entropy"), Error);
  CHECK_THROWS_WITH_AS(cross_entropy(x, labels_of({0, 1, 2, 3}), 1.5),
                       doctest::Contains("cross_entropy"), Error);
  CHECK_THROWS_WITH_AS(cross_entropy(x.to(DType::I32), labels_of({0, 1, 2, 3})),
                       doctest::Contains("cross_entropy"), Error);
}
