// layer_norm over the last dim: float32 values against a naive two-pass
// reference (with and without affine, strided input), a large common offset,
// float64 gradient checks (affine or not, strided x, gamma/beta as strided
// views of bigger buffers), edge shapes, FLOPs, bad input.
#include <omp.h>

#include <cmath>
#include <vector>

#include "engine/flops.h"
#include "tests/gradcheck.h"

using namespace motive;
using namespace motive::test;

namespace {

// Two-pass mean / biased variance per row, then (x - mean) / sqrt(var + eps) * g + b.
Tensor naive_layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps) {
  std::vector<double> v = x.to_vector();
  const std::vector<double> g = gamma.defined() ? gamma.to_vector() : std::vector<double>();
  const std::vector<double> b = beta.defined() ? beta.to_vector() : std::vector<double>();
  const size_t d = static_cast<size_t>(x.size(-1));
  for (size_t r = 0; r < v.size() / d; ++r) {
    double mean = 0, var = 0;
    for (size_t j = 0; j < d; ++j) mean += v[r * d + j] / d;
    for (size_t j = 0; j < d; ++j) var += (v[r * d + j] - mean) * (v[r * d + j] - mean) / d;
    for (size_t j = 0; j < d; ++j) {
      double& e = v[r * d + j];
      e = (e - mean) / std::sqrt(var + eps) * (g.empty() ? 1 : g[j]) + (b.empty() ? 0 : b[j]);
    }
  }
  return Tensor::from_vector(v, x.shape(), DType::F64);
}

}  // namespace

TEST_CASE("layer_norm matches a naive reference in float32") {
  Generator gen(41);
  const Tensor gamma = randn({6}, gen), beta = randn({6}, gen);
  for (const Shape& s : std::vector<Shape>{{4, 6}, {2, 3, 6}, {6}}) {
    CAPTURE(shape_str(s));
    const Tensor x = randn(s, gen) * 2.0 + 0.5;
    CHECK(max_rel_error(layer_norm(x, gamma, beta), naive_layer_norm(x, gamma, beta, 1e-5)) < 1e-5);
    CHECK(max_rel_error(layer_norm(x, Tensor(), Tensor()),
                        naive_layer_norm(x, Tensor(), Tensor(), 1e-5)) < 1e-5);
    CHECK(max_rel_error(layer_norm(x, gamma, Tensor(), 1e-3),
                        naive_layer_norm(x, gamma, Tensor(), 1e-3)) < 1e-5);
  }
  const Tensor xt = randn({6, 5}, gen).transpose(0, 1);
  CHECK(max_rel_error(layer_norm(xt, gamma, beta), naive_layer_norm(xt, gamma, beta, 1e-5)) < 1e-5);
  // A large common offset: a naive one-pass sum of squares in float would lose
  // all precision here (1e4^2 swamps the unit variance). What remains is the
  // float32 rounding of the mean itself (half an ulp at 1e4 is 5e-4 of the
  // unit std), as in PyTorch.
  const Tensor offset = randn({3, 64}, gen) + 1e4;
  CHECK(max_rel_error(layer_norm(offset, Tensor(), Tensor()),
                      naive_layer_norm(offset, Tensor(), Tensor(), 1e-5)) < 1e-3);
}

TEST_CASE("layer_norm: float64 gradient checks") {
  Generator gen(42);
  auto affine = [](const std::vector<Tensor>& v) { return layer_norm(v[0], v[1], v[2]); };
  auto plain = [](const std::vector<Tensor>& v) { return layer_norm(v[0], Tensor(), Tensor()); };
  auto scale_only = [](const std::vector<Tensor>& v) {
    return layer_norm(v[0], v[1], Tensor(), 1e-3);
  };
  for (const Shape& s : std::vector<Shape>{{2, 5}, {2, 3, 4}, {7}, {3, 1}}) {
    CAPTURE(shape_str(s));
    const int64_t d = s.back();
    check_gradients(affine, {input(s, gen), input({d}, gen), input({d}, gen)});
    check_gradients(plain, {input(s, gen)});
    check_gradients(scale_only, {input(s, gen), input({d}, gen)});
  }
  check_gradients(affine, {strided_input({3, 4}, gen), input({4}, gen), input({4}, gen)});
  // Gamma/beta as parameter views of bigger buffers (made without grad, like a
  // model's): every other element, and a slice at an offset.
  Tensor big_gamma = input({12}, gen), big_beta = input({9}, gen);
  Tensor gamma_view, beta_view;
  {
    NoGradGuard no_grad;
    gamma_view = big_gamma.slice(0, 3, 11, 2);
    beta_view = big_beta.slice(0, 2, 6);
  }
  check_gradients(affine, {input({2, 4}, gen), gamma_view, beta_view});
  // The views' gradients landed inside the owners' gradient buffers only at the mapped elements.
  const std::vector<double> gg = big_gamma.grad_buffer().to_vector();
  for (int64_t i = 0; i < 12; ++i)
    if (i < 3 || i >= 11 || (i - 3) % 2 != 0) CHECK(gg[i] == 0.0);
  // Inputs that do not need gradients get none computed.
  check_gradients(affine, {input({2, 4}, gen, false), input({4}, gen), input({4}, gen, false)});
}

TEST_CASE("layer_norm: many rows (parallel paths) are correct and thread-count independent") {
  Generator gen(43);
  const Tensor x = randn({600, 96}, gen) * 2.0 + -1.0;
  const Tensor gamma = randn({96}, gen), beta = randn({96}, gen), seed = randn(x.shape(), gen);
  CHECK(max_rel_error(layer_norm(x, gamma, beta), naive_layer_norm(x, gamma, beta, 1e-5)) < 1e-5);
  auto grads = [&](int threads) {
    const int saved = omp_get_max_threads();
    omp_set_num_threads(threads);
    Tensor xs = x.clone(), gs = gamma.clone(), bs = beta.clone();
    for (Tensor* t : {&xs, &gs, &bs}) t->requires_grad_();
    layer_norm(xs, gs, bs).backward(seed);
    omp_set_num_threads(saved);
    std::vector<double> out = xs.grad().to_vector();
    for (const Tensor* t : {&gs, &bs}) {
      const std::vector<double> g = t->grad().to_vector();
      out.insert(out.end(), g.begin(), g.end());
    }
    return out;
  };
  CHECK(grads(1) == grads(3));  // bit-identical
}

TEST_CASE("layer_norm: size-1 last dim, empty rows, FLOPs, bad input") {
  // D = 1: every element is its row's mean, so the output is beta.
  const Tensor beta = Tensor::from_vector({0.25}, {1});
  CHECK(layer_norm(Tensor::full({3, 1}, 7.0), Tensor::ones({1}), beta).to_vector() ==
        std::vector<double>{0.25, 0.25, 0.25});
  CHECK(layer_norm(Tensor::empty({0, 4}), Tensor(), Tensor()).shape() == Shape{0, 4});
  reset_flop_count();
  layer_norm(Tensor::ones({3, 8}), Tensor::ones({8}), Tensor());
  CHECK(flop_count() == 7 * 24);
  reset_flop_count();
  layer_norm(Tensor::ones({3, 8}), Tensor(), Tensor());
  CHECK(flop_count() == 5 * 24);
  const Tensor x = Tensor::ones({2, 4});
  CHECK_THROWS_WITH_AS(layer_norm(x, Tensor::ones({5}), Tensor()),
                       doctest::Contains("layer_norm: gamma"), Error);
  CHECK_THROWS_WITH_AS(layer_norm(x, Tensor(), Tensor::ones({4}, DType::F64)),
                       doctest::Contains("layer_norm: beta"), Error);
  CHECK_THROWS_WITH_AS(layer_norm(Tensor::scalar(1.0), Tensor(), Tensor()),
                       doctest::Contains("layer_norm"), Error);
  CHECK_THROWS_WITH_AS(layer_norm(Tensor::zeros({2, 4}, DType::I32), Tensor(), Tensor()),
                       doctest::Contains("layer_norm"), Error);
}
