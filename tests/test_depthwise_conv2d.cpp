// Depthwise conv2d (groups == C_in == C_out), the direct kernel of
// kernels/cpu/depthwise_conv2d.h: float64 gradient checks through conv2d
// (dense, strided inputs, a width-nested filter view); float32 forward and
// both gradients against the im2col path run on the equivalent dense filter
// (diagonal in the channels), over kernel sizes, strides, paddings, dilation,
// odd sizes and channel counts that exercise every register block and the
// leftover channels, for each compiled instruction set; a nested filter view
// that conv2d uses without a copy and whose gradient lands in its sub-block;
// the same filter gradient bits for 1 and 2 threads; FLOPs.
#include <omp.h>

#include <string>
#include <vector>

#include "engine/flops.h"
#include "kernels/cpu/depthwise_conv2d.h"
#include "tests/gradcheck.h"

using namespace motive;
using namespace motive::test;

namespace {

struct Case {
  int64_t n, h, w, c, k;
  Conv2dOptions opt;  // groups is set to c
};

// EfficientNet's geometries (3x3 and 5x5, stride 1 and 2, padding k / 2) at
// small sizes, plus padding 0, dilation, a non-square image and 1 channel.
// Channel counts: below one SIMD register, one block plus single registers
// plus single channels (56 = 32 + 16 + 8 floats with AVX-512), several blocks.
const std::vector<Case> kCases = {
    {2, 7, 6, 5, 3, {1, 1, 1, 1}},   {2, 8, 8, 56, 3, {1, 1, 1, 1}},
    {1, 9, 9, 40, 5, {2, 2, 1, 1}},  {2, 6, 7, 24, 5, {1, 2, 1, 1}},
    {1, 7, 7, 96, 3, {2, 1, 1, 1}},  {1, 6, 5, 16, 3, {1, 0, 1, 1}},
    {1, 9, 8, 8, 3, {1, 2, 2, 1}},   {2, 5, 5, 1, 3, {1, 1, 1, 1}},
    {1, 4, 4, 144, 5, {2, 2, 1, 1}}, {1, 3, 3, 24, 5, {1, 2, 1, 1}},
    {1, 10, 9, 33, 3, {3, 1, 1, 1}},
};

std::string describe(const Case& c) {
  return "x [" + std::to_string(c.n) + ", " + std::to_string(c.h) + ", " + std::to_string(c.w) +
         ", " + std::to_string(c.c) + "] k " + std::to_string(c.k) + " stride " +
         std::to_string(c.opt.stride) + " pad " + std::to_string(c.opt.padding) + " dil " +
         std::to_string(c.opt.dilation);
}

Conv2dOptions options(const Case& c) {
  Conv2dOptions o = c.opt;
  o.groups = c.c;
  return o;
}

// The dense filter [C, k, k, C] that is w [C, k, k, 1] on its diagonal and 0
// elsewhere: a groups=1 convolution with it (the im2col + GEMM path) is the
// depthwise convolution.
Tensor diagonal_filter(const Tensor& w) {
  const int64_t c = w.size(0), k = w.size(1);
  Tensor dense = Tensor::zeros({c, k, k, c}, w.dtype());
  for (int64_t o = 0; o < c; ++o)
    for (int64_t i = 0; i < k; ++i)
      for (int64_t j = 0; j < k; ++j) dense.set({o, i, j, o}, w.at({o, i, j, 0}));
  return dense.requires_grad_();
}

// The depthwise filter gradient inside a dense filter gradient: its diagonal.
Tensor diagonal_of(const Tensor& dense) {
  const int64_t c = dense.size(0), k = dense.size(1);
  Tensor out = Tensor::zeros({c, k, k, 1}, dense.dtype());
  for (int64_t o = 0; o < c; ++o)
    for (int64_t i = 0; i < k; ++i)
      for (int64_t j = 0; j < k; ++j) out.set({o, i, j, 0}, dense.at({o, i, j, o}));
  return out;
}

// The first `count` filters of `owner`, as a width-nested model's parameter view.
Tensor leading_filters(const Tensor& owner, int64_t count) {
  NoGradGuard parameter_view;
  return owner.slice(0, 0, count);
}

cpu::Conv2dShape kernel_shape(const Case& c, const Tensor& y) {
  const Conv2dOptions o = options(c);
  return {c.n, c.c, c.c, c.c,
          cpu::Window2d{c.h, c.w, y.size(1), y.size(2), c.k, c.k, o.stride, o.padding, o.dilation}};
}

}  // namespace

TEST_CASE("depthwise conv2d: float64 gradients match finite differences") {
  Generator gen(1);
  for (const Case& c : kCases) {
    if (c.c > 40) continue;  // the wide cases are compared with im2col below
    INFO(describe(c));
    const Conv2dOptions o = options(c);
    check_gradients(
        [&](const std::vector<Tensor>& t) { return conv2d(t[0], t[1], t[2], o); },
        {input({c.n, c.h, c.w, c.c}, gen), input({c.c, c.k, c.k, 1}, gen), input({c.c}, gen)});
  }
}

TEST_CASE("depthwise conv2d: float64 gradients through a strided input and a nested filter view") {
  Generator gen(2);
  // The motivated model's filter [24, 5, 5, 1]; the base uses its first 16 channels.
  const Tensor owner = input({24, 5, 5, 1}, gen);
  const Tensor base = leading_filters(owner, 16);
  CHECK(base.is_contiguous());
  const Conv2dOptions o{2, 2, 1, 16};
  check_gradients([&](const std::vector<Tensor>& t) { return conv2d(t[0], t[1], Tensor(), o); },
                  {strided_input({2, 7, 6, 16}, gen), base});
}

TEST_CASE("depthwise conv2d: float32 forward and gradients equal the im2col path's") {
  Generator gen(3);
  for (const Case& c : kCases) {
    for (bool bias : {true, false}) {
      INFO(describe(c), bias ? " bias" : "");
      Tensor x = input32({c.n, c.h, c.w, c.c}, gen);
      const Tensor w = input32({c.c, c.k, c.k, 1}, gen);
      const Tensor b = bias ? input32({c.c}, gen) : Tensor();
      const Tensor y = conv2d(x, w, b, options(c));
      const Tensor seed = rand_uniform(y.shape(), -1, 1, gen, DType::F32);
      y.backward(seed);
      const Tensor dx = x.grad().clone(), dw = w.grad().clone();
      x.zero_grad();
      const Tensor dense = diagonal_filter(w.detach());
      Conv2dOptions o = c.opt;
      o.groups = 1;
      const Tensor y_ref = conv2d(x, dense, b, o);
      CHECK(rel_error(y, y_ref) < 1e-6);
      y_ref.backward(seed);
      CHECK(rel_error(dx, x.grad()) < 1e-6);
      CHECK(rel_error(dw, diagonal_of(dense.grad())) < 1e-6);
    }
  }
}

TEST_CASE("depthwise conv2d: every compiled instruction set gives the same results") {
  using cpu::SimdLevel;
  Generator gen(4);
  for (const Case& c : kCases) {
    INFO(describe(c));
    const Tensor x = input32({c.n, c.h, c.w, c.c}, gen, false);
    const Tensor w = input32({c.c, c.k, c.k, 1}, gen, false);
    const Tensor b = input32({c.c}, gen, false);
    const Tensor y = conv2d(x, w, b, options(c));
    const Tensor dy = rand_uniform(y.shape(), -1, 1, gen, DType::F32);
    const cpu::Conv2dShape s = kernel_shape(c, y);
    // The reference: the im2col path on the diagonal filter.
    Conv2dOptions o = c.opt;
    o.groups = 1;
    Tensor xr = x.clone().requires_grad_();
    const Tensor dense = diagonal_filter(w);
    const Tensor y_ref = conv2d(xr, dense, b, o);
    y_ref.backward(dy);
    const Tensor dw_ref = diagonal_of(dense.grad());
    // The kernels on x, w, b and dy in T (float, or double on the same values).
    const auto check_level = [&](auto zero, DType dtype, SimdLevel level) {
      using T = decltype(zero);
      const Tensor xt = x.to(dtype), wt = w.to(dtype), bt = b.to(dtype), dyt = dy.to(dtype);
      Tensor out = Tensor::empty(y.shape(), dtype), dx = Tensor::empty(x.shape(), dtype),
             dw = Tensor::empty(w.shape(), dtype);
      cpu::depthwise_conv2d_forward(s, xt.data<T>(), wt.data<T>(), bt.data<T>(), out.data<T>(),
                                    level);
      cpu::depthwise_conv2d_backward_data(s, wt.data<T>(), dyt.data<T>(), dx.data<T>(), level);
      cpu::depthwise_conv2d_backward_filter(s, xt.data<T>(), dyt.data<T>(), dw.data<T>(), level);
      CHECK(rel_error(out, y_ref) < 1e-6);
      CHECK(rel_error(dx, xr.grad()) < 1e-6);
      CHECK(rel_error(dw, dw_ref) < 1e-6);
    };
    for (SimdLevel level : {SimdLevel::Avx512, SimdLevel::Avx2, SimdLevel::Baseline}) {
      INFO("level ", static_cast<int>(level));
      check_level(float{}, DType::F32, level);
      check_level(double{}, DType::F64, level);
    }
  }
}

TEST_CASE("depthwise conv2d: a nested filter view is used in place, its gradient in its rows") {
  Generator gen(5);
  const Tensor owner = input32({48, 3, 3, 1}, gen);
  const Tensor base = leading_filters(owner, 32);
  const Tensor x = input32({2, 9, 9, 32}, gen, false);
  const int64_t copied = memory_stats().bytes_copied;
  const Tensor y = conv2d(x, base, Tensor(), {2, 1, 1, 32});
  CHECK(memory_stats().bytes_copied == copied);  // no pack of the filter (nor of x)
  y.backward(rand_uniform(y.shape(), -1, 1, gen, DType::F32));
  const Tensor g = owner.grad_buffer();
  for (int64_t c = 0; c < 48; ++c) {
    CAPTURE(c);
    CHECK((g.at({c, 1, 1, 0}) != 0) == (c < 32));
  }
}

TEST_CASE("depthwise conv2d: the filter gradient is the same for 1 and 2 threads") {
  Generator gen(6);
  const Tensor x = input32({4, 28, 28, 96}, gen, false);
  Tensor w = input32({96, 5, 5, 1}, gen);
  const Tensor dy = rand_uniform({4, 14, 14, 96}, -1, 1, gen, DType::F32);
  const int threads = omp_get_max_threads();
  std::vector<std::vector<double>> grads;
  for (int t : {1, 2}) {
    omp_set_num_threads(t);
    w.zero_grad();
    conv2d(x, w, Tensor(), {2, 2, 1, 96}).backward(dy);
    grads.push_back(w.grad().to_vector());
  }
  omp_set_num_threads(threads);
  CHECK(grads[0] == grads[1]);
}

TEST_CASE("depthwise conv2d: FLOPs are 2 N H_out W_out C k k, plus the bias") {
  Generator gen(7);
  const Tensor x = input32({2, 8, 8, 16}, gen, false), w = input32({16, 5, 5, 1}, gen, false);
  reset_flop_count();
  conv2d(x, w, input32({16}, gen, false), {2, 2, 1, 16});
  CHECK(flop_count() == 2 * 2 * 4 * 4 * 16 * 25 + 2 * 4 * 4 * 16);
}
