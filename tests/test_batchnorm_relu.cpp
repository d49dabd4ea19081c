// batch_norm2d_relu = relu(batch_norm2d(x) + residual) fused: float64 gradient
// checks (train and eval, with and without residual and affine parameters,
// strided input, parameter views of bigger buffers), float32 outputs, running
// statistics and gradients against the unfused ops on a batch large enough
// for the parallel paths, the bf16 composition, FLOPs, bad input.
#include <string>
#include <vector>

#include "engine/flops.h"
#include "tests/gradcheck.h"

using namespace motive;
using namespace motive::test;

namespace {

Tensor param_view(const Tensor& owner, int64_t start, int64_t end) {
  NoGradGuard no_grad;
  return owner.slice(0, start, end);
}

Tensor unfused(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& rm,
               const Tensor& rv, bool training, const Tensor& residual) {
  const Tensor y = batch_norm2d(x, gamma, beta, rm, rv, training);
  return relu(residual.defined() ? y + residual : y);
}

}  // namespace

TEST_CASE("batch_norm2d_relu: float64 gradient checks in train and eval mode") {
  Generator gen(61);
  for (bool training : {true, false}) {
    CAPTURE(training);
    const Tensor rm = input({3}, gen, false), rv = rand_uniform({3}, 0.5, 2.0, gen, DType::F64);
    auto with_residual = [&](const std::vector<Tensor>& v) {
      return batch_norm2d_relu(v[0], v[1], v[2], rm, rv, training, v[3]);
    };
    auto plain = [&](const std::vector<Tensor>& v) {
      return batch_norm2d_relu(v[0], Tensor(), Tensor(), rm, rv, training);
    };
    for (const Shape& s : std::vector<Shape>{{2, 2, 2, 3}, {1, 3, 1, 3}}) {
      CAPTURE(shape_str(s));
      check_gradients(with_residual,
                      {input(s, gen), input({3}, gen), input({3}, gen), input(s, gen)});
      check_gradients(plain, {input(s, gen)});
    }
    check_gradients(with_residual, {strided_input({2, 2, 2, 3}, gen), input({3}, gen),
                                    input({3}, gen), strided_input({2, 2, 2, 3}, gen)});
    // The base model's parameters: prefix views of the motivated model's.
    Tensor big_gamma = input({5}, gen), big_beta = input({5}, gen);
    check_gradients(with_residual, {input({2, 1, 3, 3}, gen), param_view(big_gamma, 0, 3),
                                    param_view(big_beta, 0, 3), input({2, 1, 3, 3}, gen)});
    const std::vector<double> gg = big_gamma.grad_buffer().to_vector();
    CHECK(gg[3] == 0.0);
    CHECK(gg[4] == 0.0);
    // A residual that needs no gradient gets none; x and the parameters still do.
    const Tensor frozen = input({2, 2, 2, 3}, gen, false);
    check_gradients(
        [&](const std::vector<Tensor>& v) {
          return batch_norm2d_relu(v[0], v[1], v[2], rm, rv, training, frozen);
        },
        {input({2, 2, 2, 3}, gen), input({3}, gen), input({3}, gen)});
  }
}

TEST_CASE("batch_norm2d_relu: float32 matches the unfused ops (outputs, statistics, gradients)") {
  Generator gen(62);
  // 16 x 12 x 12 x 32: over the kernels' parallel thresholds; 8 and 2
  // channels: the flat loops over short rows, with a partial last run.
  for (const Shape& s : std::vector<Shape>{{16, 12, 12, 32}, {3, 5, 7, 8}, {2, 3, 5, 2}}) {
    for (bool training : {true, false}) {
      for (bool with_residual : {true, false}) {
        CAPTURE(shape_str(s));
        CAPTURE(training);
        CAPTURE(with_residual);
        const int64_t c = s[3];
        const Tensor x0 = randn(s, gen), r0 = randn(s, gen), seed = randn(s, gen);
        const Tensor g0 = rand_uniform({c}, 0.5, 1.5, gen), b0 = randn({c}, gen);
        Tensor rm_a = randn({c}, gen), rv_a = rand_uniform({c}, 0.5, 2.0, gen);
        Tensor rm_b = rm_a.clone(), rv_b = rv_a.clone();
        auto leaf = [](const Tensor& t) { return t.clone().requires_grad_(); };
        Tensor xa = leaf(x0), ga = leaf(g0), ba = leaf(b0), ra = leaf(r0);
        Tensor xb = leaf(x0), gb = leaf(g0), bb = leaf(b0), rb = leaf(r0);
        Tensor ya = batch_norm2d_relu(xa, ga, ba, rm_a, rv_a, training,
                                      with_residual ? ra : Tensor());
        Tensor yb = unfused(xb, gb, bb, rm_b, rv_b, training, with_residual ? rb : Tensor());
        ya.backward(seed);
        yb.backward(seed);
        CHECK(max_rel_error(ya, yb) < 1e-5);
        CHECK(max_rel_error(rm_a, rm_b) == 0.0);
        CHECK(max_rel_error(rv_a, rv_b) == 0.0);
        CHECK(max_rel_error(xa.grad(), xb.grad()) < 1e-4);
        CHECK(max_rel_error(ga.grad(), gb.grad()) < 1e-4);
        CHECK(max_rel_error(ba.grad(), bb.grad()) < 1e-4);
        if (with_residual) CHECK(max_rel_error(ra.grad(), rb.grad()) == 0.0);
      }
    }
  }
}

TEST_CASE("batch_norm2d_relu: bf16 is the composition of the bf16 ops") {
  Generator gen(63);
  const Tensor x = randn({2, 3, 3, 4}, gen).to(DType::BF16);
  const Tensor r = randn({2, 3, 3, 4}, gen).to(DType::BF16);
  const Tensor g = randn({4}, gen), b = randn({4}, gen);
  const Tensor fused = batch_norm2d_relu(x, g, b, Tensor(), Tensor(), true, r);
  CHECK(fused.dtype() == DType::BF16);
  CHECK(max_rel_error(fused, unfused(x, g, b, Tensor(), Tensor(), true, r)) == 0.0);
}

TEST_CASE("batch_norm2d_relu: FLOPs and bad input") {
  Generator gen(64);
  const Tensor x = randn({2, 3, 3, 4}, gen);
  const int64_t before = flop_count();
  batch_norm2d_relu(x, Tensor(), Tensor(), Tensor(), Tensor(), true, randn({2, 3, 3, 4}, gen));
  CHECK(flop_count() - before == batch_norm2d_flops(72, true) + 2 * 72);
  auto error_of = [](auto&& f) {
    try {
      f();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  const std::string wrong_residual = error_of([&] {
    batch_norm2d_relu(x, Tensor(), Tensor(), Tensor(), Tensor(), true, randn({2, 3, 3, 5}, gen));
  });
  CHECK(wrong_residual.find("batch_norm2d_relu: residual [2,3,3,5]") != std::string::npos);
  const std::string flat = error_of(
      [&] { batch_norm2d_relu(randn({4, 4}, gen), Tensor(), Tensor(), Tensor(), Tensor(), true); });
  CHECK(flat.find("batch_norm2d_relu: input must be NHWC") != std::string::npos);
}
