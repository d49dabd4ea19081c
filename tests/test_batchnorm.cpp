// batch_norm2d (NHWC): running statistics after one training step against
// hand-computed values, train and eval outputs against a naive reference,
// float64 gradient checks in train and eval mode (with and without affine,
// strided x, gamma/beta as parameter views of bigger buffers), edge shapes,
// FLOPs, bad input; bf16 input with float32 parameters and statistics against
// the float64 op on the same values (mixed precision, engine/autocast.h).
#include <omp.h>

#include <cmath>
#include <vector>

#include "engine/flops.h"
#include "tests/bf16_testing.h"
#include "tests/gradcheck.h"

using namespace motive;
using namespace motive::test;

namespace {

// Per channel over N*H*W: y = (x - mean) / sqrt(var + eps) * gamma + beta, with
// the batch's two-pass mean and biased variance (training) or the given ones.
Tensor naive_batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                        std::vector<double> mean, std::vector<double> var, double eps) {
  std::vector<double> v = x.to_vector();
  const size_t c = static_cast<size_t>(x.size(3)), rows = v.size() / c;
  if (mean.empty()) {
    mean.assign(c, 0.0);
    var.assign(c, 0.0);
    for (size_t r = 0; r < rows; ++r)
      for (size_t ch = 0; ch < c; ++ch) mean[ch] += v[r * c + ch] / rows;
    for (size_t r = 0; r < rows; ++r)
      for (size_t ch = 0; ch < c; ++ch)
        var[ch] += (v[r * c + ch] - mean[ch]) * (v[r * c + ch] - mean[ch]) / rows;
  }
  const std::vector<double> g = gamma.defined() ? gamma.to_vector() : std::vector<double>(c, 1.0);
  const std::vector<double> b = beta.defined() ? beta.to_vector() : std::vector<double>(c, 0.0);
  for (size_t r = 0; r < rows; ++r)
    for (size_t ch = 0; ch < c; ++ch) {
      double& e = v[r * c + ch];
      e = (e - mean[ch]) / std::sqrt(var[ch] + eps) * g[ch] + b[ch];
    }
  return Tensor::from_vector(v, x.shape(), DType::F64);
}

// Parameter views (made without grad, like a model's) of bigger buffers.
Tensor param_view(const Tensor& owner, int64_t start, int64_t end, int64_t step = 1) {
  NoGradGuard no_grad;
  return owner.slice(0, start, end, step);
}

}  // namespace

TEST_CASE("batch_norm2d: running statistics after one training step") {
  // N=2, H=1, W=2, C=2. Channel 0 sees {1, 2, 3, 4}: mean 2.5, unbiased var 5/3.
  // Channel 1 sees {2, 4, 6, 8}: mean 5, unbiased var 20/3.
  const Tensor x = Tensor::from_vector({1, 2, 2, 4, 3, 6, 4, 8}, {2, 1, 2, 2});
  Tensor rm = Tensor::from_vector({1, -1}, {2}), rv = Tensor::ones({2});
  batch_norm2d(x, Tensor(), Tensor(), rm, rv, true, 0.1);
  // r = 0.9 r + 0.1 batch
  CHECK(rm.to_vector()[0] == doctest::Approx(0.9 * 1 + 0.25));
  CHECK(rm.to_vector()[1] == doctest::Approx(0.9 * -1 + 0.5));
  CHECK(rv.to_vector()[0] == doctest::Approx(0.9 + 0.1 * 5.0 / 3));
  CHECK(rv.to_vector()[1] == doctest::Approx(0.9 + 0.1 * 20.0 / 3));
  // Running buffers that are strided views (every other element) update in place.
  Tensor rm_big = Tensor::zeros({4}, DType::F64), rv_big = Tensor::ones({4}, DType::F64);
  batch_norm2d(x.to(DType::F64), Tensor(), Tensor(), rm_big.slice(0, 0, 4, 2),
               rv_big.slice(0, 1, 4, 2), true, 0.5);
  CHECK(rm_big.to_vector() == std::vector<double>{1.25, 0, 2.5, 0});
  CHECK(rv_big.to_vector()[1] == doctest::Approx(0.5 + 0.5 * 5.0 / 3));
  CHECK(rv_big.to_vector()[3] == doctest::Approx(0.5 + 0.5 * 20.0 / 3));
  // Eval leaves them alone.
  batch_norm2d(x, Tensor(), Tensor(), rm, rv, false);
  CHECK(rm.to_vector()[0] == doctest::Approx(1.15));
}

TEST_CASE("batch_norm2d: train and eval outputs match a naive reference in float32") {
  Generator gen(51);
  const Tensor x = randn({2, 3, 3, 4}, gen) * 2.0 + 1.0;
  const Tensor gamma = randn({4}, gen), beta = randn({4}, gen);
  Tensor rm = randn({4}, gen), rv = rand_uniform({4}, 0.5, 2.0, gen);
  CHECK(max_rel_error(batch_norm2d(x, gamma, beta, Tensor(), Tensor(), true),
                      naive_batch_norm(x, gamma, beta, {}, {}, 1e-5)) < 1e-5);
  CHECK(max_rel_error(batch_norm2d(x, Tensor(), Tensor(), Tensor(), Tensor(), true, 0.1, 1e-3),
                      naive_batch_norm(x, Tensor(), Tensor(), {}, {}, 1e-3)) < 1e-5);
  // Eval normalises with the running statistics, not the batch's.
  const Tensor eval = batch_norm2d(x, gamma, beta, rm, rv, false);
  CHECK(max_rel_error(
            eval, naive_batch_norm(x, gamma, beta, rm.to_vector(), rv.to_vector(), 1e-5)) < 1e-5);
  // A strided (non-NHWC-contiguous) input.
  const Tensor xp = randn({2, 4, 3, 3}, gen).permute({0, 2, 3, 1});
  CHECK(max_rel_error(batch_norm2d(xp, gamma, beta, Tensor(), Tensor(), true),
                      naive_batch_norm(xp, gamma, beta, {}, {}, 1e-5)) < 1e-5);
  // A large common offset keeps the statistics accurate (shifted sums in double).
  const Tensor offset = randn({4, 4, 4, 3}, gen) + 1e4;
  CHECK(max_rel_error(batch_norm2d(offset, Tensor(), Tensor(), Tensor(), Tensor(), true),
                      naive_batch_norm(offset, Tensor(), Tensor(), {}, {}, 1e-5)) < 1e-3);
}

TEST_CASE("batch_norm2d: float64 gradient checks in train and eval mode") {
  Generator gen(52);
  for (bool training : {true, false}) {
    CAPTURE(training);
    const Tensor rm = input({3}, gen, false), rv = rand_uniform({3}, 0.5, 2.0, gen, DType::F64);
    auto affine = [&](const std::vector<Tensor>& v) {
      return batch_norm2d(v[0], v[1], v[2], rm, rv, training);
    };
    auto plain = [&](const std::vector<Tensor>& v) {
      return batch_norm2d(v[0], Tensor(), Tensor(), rm, rv, training);
    };
    auto beta_only = [&](const std::vector<Tensor>& v) {
      return batch_norm2d(v[0], Tensor(), v[1], rm, rv, training, 0.1, 1e-3);
    };
    for (const Shape& s : std::vector<Shape>{{2, 2, 2, 3}, {1, 3, 1, 3}, {3, 1, 2, 3}}) {
      CAPTURE(shape_str(s));
      check_gradients(affine, {input(s, gen), input({3}, gen), input({3}, gen)});
      check_gradients(plain, {input(s, gen)});
      check_gradients(beta_only, {input(s, gen), input({3}, gen)});
    }
    check_gradients(affine, {strided_input({2, 2, 2, 3}, gen), input({3}, gen), input({3}, gen)});
    // Gamma/beta as views of the motivated model's bigger buffers: a prefix
    // (the base model's channels) and a strided slice at an offset.
    Tensor big_gamma = input({7}, gen), big_beta = input({5}, gen);
    check_gradients(affine, {input({2, 1, 3, 3}, gen), param_view(big_gamma, 1, 7, 2),
                             param_view(big_beta, 0, 3)});
    const std::vector<double> gg = big_gamma.grad_buffer().to_vector();
    const std::vector<double> gb = big_beta.grad_buffer().to_vector();
    for (int64_t i : {0, 2, 4, 6}) CHECK(gg[i] == 0.0);  // unmapped elements untouched
    for (int64_t i : {3, 4}) CHECK(gb[i] == 0.0);
    // Without running statistics (training only: PyTorch's track_running_stats=False).
    if (training)
      check_gradients(
          [](const std::vector<Tensor>& v) {
            return batch_norm2d(v[0], v[1], v[2], Tensor(), Tensor(), true);
          },
          {input({2, 3, 1, 2}, gen), input({2}, gen), input({2}, gen)});
  }
}

TEST_CASE("batch_norm2d: the base model's prefix view gets exactly the standalone gradient") {
  Generator gen(53);
  const Tensor x = input({2, 2, 2, 3}, gen, false);
  Tensor big = input({5}, gen);
  Tensor small = Tensor::from_vector(big.to_vector(), {5}, DType::F64).slice(0, 0, 3).clone();
  small.requires_grad_();
  sum(mul(batch_norm2d(x, param_view(big, 0, 3), Tensor(), Tensor(), Tensor(), true), x))
      .backward();
  sum(mul(batch_norm2d(x, small, Tensor(), Tensor(), Tensor(), true), x)).backward();
  const std::vector<double> g = big.grad_buffer().to_vector(), want = small.grad().to_vector();
  for (int64_t i = 0; i < 3; ++i) CHECK(g[i] == want[i]);
  CHECK(g[3] == 0.0);
  CHECK(g[4] == 0.0);
}

TEST_CASE("batch_norm2d: a large batch (parallel paths) is correct and thread-count independent") {
  Generator gen(55);
  const Tensor x = randn({8, 16, 16, 32}, gen) * 3.0 + 2.0;
  const Tensor gamma = randn({32}, gen), beta = randn({32}, gen), seed = randn(x.shape(), gen);
  CHECK(max_rel_error(batch_norm2d(x, gamma, beta, Tensor(), Tensor(), true),
                      naive_batch_norm(x, gamma, beta, {}, {}, 1e-5)) < 1e-5);
  auto grads = [&](int threads) {
    const int saved = omp_get_max_threads();
    omp_set_num_threads(threads);
    Tensor xs = x.clone(), gs = gamma.clone();
    xs.requires_grad_();
    gs.requires_grad_();
    batch_norm2d(xs, gs, beta, Tensor(), Tensor(), true).backward(seed);
    omp_set_num_threads(saved);
    std::vector<double> out = xs.grad().to_vector(), dg = gs.grad().to_vector();
    out.insert(out.end(), dg.begin(), dg.end());
    return out;
  };
  CHECK(grads(1) == grads(3));  // bit-identical
}

TEST_CASE("batch_norm2d: edge shapes, FLOPs, bad input") {
  // One channel, odd sizes; eval on a single sample is fine.
  Generator gen(54);
  const Tensor x = randn({3, 1, 5, 1}, gen);
  CHECK(max_rel_error(batch_norm2d(x, Tensor(), Tensor(), Tensor(), Tensor(), true),
                      naive_batch_norm(x, Tensor(), Tensor(), {}, {}, 1e-5)) < 1e-5);
  const Tensor rm = Tensor::zeros({4}), rv = Tensor::ones({4});
  const Tensor one = Tensor::full({1, 1, 1, 4}, 3.0);
  CHECK(max_rel_error(batch_norm2d(one, Tensor(), Tensor(), rm, rv, false),
                      one * (1 / std::sqrt(1 + 1e-5))) < 1e-6);
  reset_flop_count();
  batch_norm2d(Tensor::ones({2, 3, 3, 4}), Tensor(), Tensor(), Tensor(), Tensor(), true);
  CHECK(flop_count() == 5 * 72);
  reset_flop_count();
  batch_norm2d(Tensor::ones({2, 3, 3, 4}), Tensor(), Tensor(), rm, rv, false);
  CHECK(flop_count() == 2 * 72);
  CHECK(batch_norm2d_flops(72, true) == 360);

  const Tensor y = Tensor::ones({2, 2, 2, 4});
  auto rejects = [](auto f, const char* what) {
    CHECK_THROWS_WITH_AS(f(), doctest::Contains(what), Error);
  };
  rejects([&] { batch_norm2d(Tensor::ones({2, 4}), Tensor(), Tensor(), rm, rv, true); },
          "batch_norm2d: input must be NHWC");
  rejects([&] { batch_norm2d(y, Tensor::ones({3}), Tensor(), rm, rv, true); },
          "batch_norm2d: gamma");
  rejects([&] { batch_norm2d(y, Tensor(), Tensor::ones({4}, DType::F64), rm, rv, true); },
          "batch_norm2d: beta");
  rejects([&] { batch_norm2d(y, Tensor(), Tensor(), rm, Tensor(), true); }, "batch_norm2d");
  rejects([&] { batch_norm2d(y, Tensor(), Tensor(), Tensor(), Tensor(), false); },
          "batch_norm2d: eval mode needs");
  rejects([&] { batch_norm2d(one, Tensor(), Tensor(), rm, rv, true); },
          "batch_norm2d: training needs more than one value");
  rejects([&] { batch_norm2d(y.to(DType::I32), Tensor(), Tensor(), Tensor(), Tensor(), true); },
          "batch_norm2d");
}

TEST_CASE("batch_norm2d in bf16 with float32 parameters matches float64, train and eval") {
  Generator gen(56);
  // C = 8 and 16 (multiples of 8, the CUDA vector width) and 5; up to 2048
  // rows per channel (many partial sums).
  for (const Shape& s : std::vector<Shape>{{2, 3, 4, 8}, {3, 5, 7, 5}, {8, 16, 16, 16}}) {
    CAPTURE(shape_str(s));
    const int64_t c = s[3];
    for (bool training : {true, false}) {
      CAPTURE(training);
      const Tensor rm = input32({c}, gen, false), rv = rand_uniform({c}, 0.5, 2.0, gen);
      check_bf16(
          [&](const auto& v) { return batch_norm2d(v[0], v[1], v[2], v[3], v[4], training); },
          {input_bf16(s, gen), input32({c}, gen), input32({c}, gen), rm, rv});
      check_bf16(
          [&](const auto& v) {
            return batch_norm2d(v[0], Tensor(), Tensor(), v[1], v[2], training, 0.1, 1e-3);
          },
          {input_bf16(s, gen), rm, rv});
    }
  }
  // A strided (NCHW seen as NHWC) input; gamma and beta as views of bigger
  // float32 parameters: a prefix (the base model's channels) and every other
  // element at an offset.
  const Tensor big_gamma = input32({12}, gen), big_beta = input32({17}, gen);
  for (bool training : {true, false}) {
    CAPTURE(training);
    const Tensor rm = input32({8}, gen, false), rv = rand_uniform({8}, 0.5, 2.0, gen);
    check_bf16(
        [&](const auto& v) {
          return batch_norm2d(v[0].permute({0, 2, 3, 1}), v[1], v[2], v[3], v[4], training);
        },
        {input_bf16({2, 8, 3, 5}, gen), param_view(big_gamma, 0, 8),
         param_view(big_beta, 1, 17, 2), rm, rv});
  }
  const std::vector<double> gg = big_gamma.grad_buffer().to_vector();
  const std::vector<double> gb = big_beta.grad_buffer().to_vector();
  for (int64_t i : {8, 11}) CHECK(gg[i] == 0.0);  // unmapped elements untouched
  for (int64_t i : {0, 2, 16}) CHECK(gb[i] == 0.0);
}

TEST_CASE("batch_norm2d in bf16: float32 statistics, running buffers and parameter gradients") {
  Generator gen(57);
  const Tensor x = input_bf16({4, 6, 6, 16}, gen, false);
  const Tensor x64 = x.to(DType::F64);  // the same values
  Tensor gamma = input32({16}, gen), beta = input32({16}, gen);
  Tensor gamma64 = f64_twin(gamma), beta64 = f64_twin(beta);
  Tensor rm = input32({16}, gen, false), rv = rand_uniform({16}, 0.5, 2.0, gen);
  Tensor rm64 = rm.to(DType::F64), rv64 = rv.to(DType::F64);
  const Tensor seed = input({4, 6, 6, 16}, gen, false).to(DType::BF16);
  for (int step = 0; step < 2; ++step) {
    const Tensor y = batch_norm2d(x, gamma, beta, rm, rv, true, 0.3);
    const Tensor y64 = batch_norm2d(x64, gamma64, beta64, rm64, rv64, true, 0.3);
    CHECK(y.dtype() == DType::BF16);
    CHECK(rel_error(y, y64) < 1e-2);
    // The running buffers stay float32 and are updated from double sums: as
    // close as float32 rounding allows (a bf16 mean would be off by ~1e-3).
    CHECK(rm.dtype() == DType::F32);
    CHECK(rv.dtype() == DType::F32);
    CHECK(rel_error(rm, rm64) < 1e-5);
    CHECK(rel_error(rv, rv64) < 1e-5);
    y.backward(seed);
    y64.backward(seed.to(DType::F64));
  }
  // dgamma = sum(g * xhat) and dbeta = sum(g) come out in float32 from double
  // sums: much closer than bf16's 2^-9 rounding of them would allow.
  CHECK(gamma.grad().dtype() == DType::F32);
  CHECK(beta.grad().dtype() == DType::F32);
  CHECK(rel_error(gamma.grad(), gamma64.grad()) < 1e-4);
  CHECK(rel_error(beta.grad(), beta64.grad()) < 1e-4);
  // Eval with the updated buffers; dx is bf16.
  Tensor xe = x.clone();
  xe.requires_grad_();
  const Tensor ye = batch_norm2d(xe, gamma, beta, rm, rv, false);
  CHECK(ye.dtype() == DType::BF16);
  CHECK(rel_error(ye, batch_norm2d(x64, gamma64, beta64, rm64, rv64, false)) < 1e-2);
  ye.backward(seed);
  CHECK(xe.grad().dtype() == DType::BF16);
}

TEST_CASE("batch_norm2d: bf16 input takes float32 parameters, float32 input its own") {
  const Tensor x = Tensor::ones({2, 2, 2, 4}, DType::BF16), x32 = Tensor::ones({2, 2, 2, 4});
  const Tensor g32 = Tensor::ones({4}), g16 = Tensor::ones({4}, DType::BF16);
  auto rejects = [](auto f, const char* what) {
    CHECK_THROWS_WITH_AS(f(), doctest::Contains(what), Error);
  };
  rejects([&] { batch_norm2d(x32, g16, Tensor(), Tensor(), Tensor(), true); },
          "batch_norm2d: gamma is BF16, input is F32");
  rejects([&] { batch_norm2d(x, g16, Tensor(), Tensor(), Tensor(), true); },
          "batch_norm2d: gamma is BF16, input is BF16 (which takes F32 parameters)");
  const Tensor g64 = Tensor::ones({4}, DType::F64);
  rejects([&] { batch_norm2d(x, Tensor(), g64, Tensor(), Tensor(), true); },
          "batch_norm2d: beta is F64, input is BF16");
  rejects([&] { batch_norm2d(x, g32, g32, g16, g16, false); },
          "batch_norm2d: running_mean is BF16");
  CHECK(batch_norm2d(x, g32, g32, g32, g32, false).dtype() == DType::BF16);
}
