// conv2d: float64 gradient checks (dense and strided operands, every path:
// im2col, 1x1, grouped, depthwise), float32 forward and backward against a
// naive loop reference (including batches that span several im2col chunks),
// filter gradients through a sub-block weight view, FLOPs, bad input; bf16
// (float32 accumulation) forward and backward against the float64 reference on
// the same values, and autocast with float32 master weights (a sub-block view
// included).
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "engine/autocast.h"
#include "engine/flops.h"
#include "tests/gradcheck.h"

using namespace motive;
using namespace motive::test;

namespace {

struct Case {
  Shape x, w;  // [N, H, W, C_in], [C_out, kH, kW, C_in / groups]
  Conv2dOptions opt;
  bool bias;
};

// Every path of the kernel: im2col (stride, padding, dilation, odd sizes),
// 1x1 (plain and grouped), grouped 3x3, depthwise with and without stride.
const std::vector<Case> kCases = {
    {{2, 5, 4, 3}, {4, 3, 3, 3}, {1, 1, 1, 1}, true},
    {{1, 7, 6, 2}, {3, 3, 2, 2}, {2, 1, 1, 1}, false},
    {{2, 7, 7, 2}, {2, 3, 3, 2}, {1, 2, 2, 1}, true},
    {{1, 5, 5, 4}, {6, 3, 3, 2}, {1, 1, 1, 2}, true},
    {{2, 3, 4, 4}, {5, 1, 1, 4}, {1, 0, 1, 1}, true},
    {{1, 3, 3, 4}, {6, 1, 1, 2}, {1, 0, 1, 2}, false},
    {{2, 5, 5, 3}, {3, 3, 3, 1}, {1, 1, 1, 3}, true},
    {{1, 6, 5, 3}, {3, 3, 3, 1}, {2, 1, 1, 3}, false},
};

std::string describe(const Case& c) {
  return "x " + shape_str(c.x) + " w " + shape_str(c.w) + " stride " +
         std::to_string(c.opt.stride) + " pad " + std::to_string(c.opt.padding) + " dil " +
         std::to_string(c.opt.dilation) + " groups " + std::to_string(c.opt.groups) +
         (c.bias ? " bias" : "");
}

int64_t out_size(int64_t in, int64_t k, const Conv2dOptions& o) {
  return (in + 2 * o.padding - o.dilation * (k - 1) - 1) / o.stride + 1;
}

// The textbook loops: y = conv(x, w) + b and, given dy, the three gradients
// (each term y += x * w contributes dx += dy * w, dw += dy * x).
struct Reference {
  std::vector<double> y, dx, dw, db;
  Reference(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dOptions& o,
            const Tensor& dy = Tensor()) {
    const int64_t n_ = x.size(0), h = x.size(1), wd = x.size(2), c_in = x.size(3);
    const int64_t c_out = w.size(0), kh = w.size(1), kw = w.size(2), cg = w.size(3);
    const int64_t ho = out_size(h, kh, o), wo = out_size(wd, kw, o), og = c_out / o.groups;
    const auto xv = x.to_vector(), wv = w.to_vector();
    const auto bv = b.defined() ? b.to_vector() : std::vector<double>(c_out, 0.0);
    const auto gv = dy.defined() ? dy.to_vector() : std::vector<double>(n_ * ho * wo * c_out, 0.0);
    y.assign(n_ * ho * wo * c_out, 0.0);
    dx.assign(xv.size(), 0.0);
    dw.assign(wv.size(), 0.0);
    db.assign(c_out, 0.0);
    for (int64_t n = 0; n < n_; ++n)
      for (int64_t oh = 0; oh < ho; ++oh)
        for (int64_t ow = 0; ow < wo; ++ow)
          for (int64_t co = 0; co < c_out; ++co) {
            const int64_t yi = ((n * ho + oh) * wo + ow) * c_out + co;
            double acc = bv[co];
            db[co] += gv[yi];
            for (int64_t i = 0; i < kh; ++i)
              for (int64_t j = 0; j < kw; ++j) {
                const int64_t ih = oh * o.stride - o.padding + i * o.dilation;
                const int64_t iw = ow * o.stride - o.padding + j * o.dilation;
                if (ih < 0 || ih >= h || iw < 0 || iw >= wd) continue;
                for (int64_t ci = 0; ci < cg; ++ci) {
                  const int64_t xi = ((n * h + ih) * wd + iw) * c_in + (co / og) * cg + ci;
                  const int64_t wi = ((co * kh + i) * kw + j) * cg + ci;
                  acc += xv[xi] * wv[wi];
                  dx[xi] += gv[yi] * wv[wi];
                  dw[wi] += gv[yi] * xv[xi];
                }
              }
            y[yi] = acc;
          }
  }
};

Tensor as_tensor(const std::vector<double>& v, const Shape& shape) {
  return Tensor::from_vector(v, shape, DType::F64);
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// Central differences in float64 for x, w and (when the case has one) the bias.
void check_case_gradients(const Case& c, Generator& gen) {
  INFO(describe(c));
  std::vector<Tensor> ins{input(c.x, gen), input(c.w, gen)};
  if (c.bias) ins.push_back(input({c.w[0]}, gen));
  check_gradients(
      [&](const std::vector<Tensor>& t) {
        return conv2d(t[0], t[1], t.size() > 2 ? t[2] : Tensor(), c.opt);
      },
      ins);
}

}  // namespace

TEST_CASE("conv2d: float64 gradients match finite differences on every kernel path") {
  Generator gen(7);
  for (const Case& c : kCases) check_case_gradients(c, gen);
}

TEST_CASE("conv2d: gradients through strided (non-contiguous) input and weight views") {
  Generator gen(8);
  for (const Case& c : {kCases[0], kCases[3], kCases[4], kCases[6]}) {
    INFO(describe(c));
    check_gradients(
        [&](const std::vector<Tensor>& t) { return conv2d(t[0], t[1], t[2], c.opt); },
        {strided_input(c.x, gen), strided_input(c.w, gen), input({c.w[0]}, gen)});
  }
}

TEST_CASE("conv2d: edge cases (1x1 images, kernel = image, size-1 dims, stride > kernel)") {
  Generator gen(9);
  const std::vector<Case> edges = {
      {{1, 1, 1, 1}, {1, 1, 1, 1}, {1, 0, 1, 1}, true},  // everything size 1
      {{1, 1, 1, 2}, {3, 3, 3, 2}, {1, 1, 1, 1}, true},  // 1x1 image: only the centre tap reads it
      {{2, 3, 5, 1}, {2, 3, 5, 1}, {1, 0, 1, 1}, false}, // kernel covers the image: 1x1 output
      {{1, 7, 5, 2}, {1, 2, 2, 2}, {3, 0, 1, 1}, true},  // stride > kernel skips pixels
      {{3, 4, 1, 2}, {2, 3, 1, 1}, {1, 1, 1, 2}, true},  // width 1, groups
      {{1, 5, 3, 1}, {1, 3, 3, 1}, {1, 1, 1, 1}, true},  // one channel (also "depthwise")
  };
  for (const Case& c : edges) check_case_gradients(c, gen);
}

TEST_CASE("conv2d: a frozen input gets no gradient, the weight still does") {
  Generator gen(10);
  check_gradients(
      [](const std::vector<Tensor>& t) { return conv2d(t[0], t[1], Tensor(), {1, 1, 1, 1}); },
      {input({1, 4, 4, 2}, gen, false), input({3, 3, 3, 2}, gen)});
}

TEST_CASE("conv2d: float32 forward and backward match the naive reference") {
  Generator gen(11);
  std::vector<Case> cases = kCases;
  // Large enough (about 0.6 MB of patches per image) that each thread's share
  // of the batch spans several im2col chunks, so the filter gradient is
  // accumulated across chunks and then across threads.
  cases.push_back({{20, 16, 16, 64}, {8, 3, 3, 64}, {1, 1, 1, 1}, true});
  cases.push_back({{3, 9, 11, 6}, {4, 3, 3, 6}, {2, 2, 2, 1}, true});
  for (const Case& c : cases) {
    INFO(describe(c));
    Tensor x = randn(c.x, gen).requires_grad_(), w = randn(c.w, gen).requires_grad_();
    Tensor b = c.bias ? randn({c.w[0]}, gen).requires_grad_() : Tensor();
    Tensor y = conv2d(x, w, b, c.opt);
    // A non-contiguous seed gradient exercises the backward's g.contiguous().
    const Shape& ys = y.shape();
    Tensor seed = randn({ys[0], ys[1], ys[3], ys[2]}, gen).permute({0, 1, 3, 2});
    y.backward(seed);
    const Reference ref(x, w, b, c.opt, seed);
    CHECK(max_rel_error(y, as_tensor(ref.y, ys)) < 1e-4);
    CHECK(max_rel_error(x.grad(), as_tensor(ref.dx, c.x)) < 1e-4);
    CHECK(max_rel_error(w.grad(), as_tensor(ref.dw, c.w)) < 1e-4);
    if (c.bias) CHECK(max_rel_error(b.grad(), as_tensor(ref.db, {c.w[0]})) < 1e-4);
  }
}

// Shapes of the direct NHWC kernels (kernels/cpu/conv2d_direct.h: channel
// counts that are multiples of 8): 3x3 and 1x1, stride 1 and 2 (a projection
// shortcut), rows of several register tiles (width 19, 28), 8 and 16 channels
// (half and full AVX-512 vectors), and two vectors per tile (32, 64).
const std::vector<Case> kDirectCases = {
    {{2, 6, 5, 8}, {8, 3, 3, 8}, {1, 1, 1, 1}, false},
    {{2, 7, 19, 8}, {16, 3, 3, 8}, {2, 1, 1, 1}, true},
    {{1, 5, 6, 16}, {8, 1, 1, 16}, {2, 0, 1, 1}, false},
    {{1, 4, 5, 16}, {32, 1, 1, 16}, {1, 0, 1, 1}, false},
};

TEST_CASE("conv2d: direct NHWC kernels: float64 gradients match finite differences") {
  Generator gen(14);
  for (const Case& c : kDirectCases) check_case_gradients(c, gen);
}

TEST_CASE("conv2d: direct NHWC kernels: float32 forward and backward match the naive reference") {
  Generator gen(15);
  std::vector<Case> cases = kDirectCases;
  cases.push_back({{3, 28, 28, 16}, {16, 3, 3, 16}, {1, 1, 1, 1}, false});
  cases.push_back({{2, 14, 14, 32}, {64, 3, 3, 32}, {2, 1, 1, 1}, false});
  cases.push_back({{2, 14, 14, 32}, {64, 1, 1, 32}, {2, 0, 1, 1}, false});
  cases.push_back({{2, 7, 7, 64}, {64, 3, 3, 64}, {1, 1, 1, 1}, true});
  cases.push_back({{2, 9, 9, 1}, {16, 3, 3, 1}, {1, 1, 1, 1}, false});  // a stem: forward only
  for (const Case& c : cases) {
    INFO(describe(c));
    Tensor x = randn(c.x, gen).requires_grad_(), w = randn(c.w, gen).requires_grad_();
    Tensor b = c.bias ? randn({c.w[0]}, gen).requires_grad_() : Tensor();
    Tensor y = conv2d(x, w, b, c.opt);
    const Tensor seed = randn(y.shape(), gen);
    y.backward(seed);
    const Reference ref(x, w, b, c.opt, seed);
    CHECK(max_rel_error(y, as_tensor(ref.y, y.shape())) < 1e-4);
    CHECK(max_rel_error(x.grad(), as_tensor(ref.dx, c.x)) < 1e-4);
    CHECK(max_rel_error(w.grad(), as_tensor(ref.dw, c.w)) < 1e-4);
  }
}

TEST_CASE("conv2d: a sub-block weight view puts its gradient exactly in the owner's sub-block") {
  Generator gen(12);
  // The motivated filter [6, 3, 3, 5]; the base uses outputs [0, 4) x inputs [0, 3).
  Tensor owner = randn({6, 3, 3, 5}, gen, DType::F64).requires_grad_();
  Tensor view = owner.slice(0, 0, 4).slice(3, 0, 3);
  REQUIRE(!view.is_contiguous());
  const Tensor x = randn({2, 5, 5, 3}, gen, DType::F64);
  const Tensor seed = randn({2, 5, 5, 4}, gen, DType::F64);
  conv2d(x, view, Tensor(), {1, 1, 1, 1}).backward(seed);

  Tensor dense = view.clone().requires_grad_();
  conv2d(x, dense, Tensor(), {1, 1, 1, 1}).backward(seed);
  // The gradient arrived through the view: read the owner's whole gradient buffer.
  const Tensor g = owner.grad_buffer();
  CHECK(max_rel_error(g.slice(0, 0, 4).slice(3, 0, 3), dense.grad()) == 0.0);
  // Zero everywhere outside the sub-block.
  double outside = 0;
  for (int64_t o = 0; o < 6; ++o)
    for (int64_t i = 0; i < 3; ++i)
      for (int64_t j = 0; j < 3; ++j)
        for (int64_t c = 0; c < 5; ++c)
          if (o >= 4 || c >= 3) outside += std::fabs(g.at({o, i, j, c}));
  CHECK(outside == 0.0);
  // The owner's data is untouched and the view still aliases it.
  CHECK(view.storage() == owner.storage());
}

TEST_CASE("conv2d: the direct kernels read a sub-block filter view in place") {
  Generator gen(16);
  // A width-nested base filter: outputs [0, 8) x inputs [0, 8) of [16, 3, 3, 16].
  Tensor owner = randn({16, 3, 3, 16}, gen).requires_grad_();
  Tensor view = owner.slice(0, 0, 8).slice(3, 0, 8);
  const Tensor x = randn({2, 9, 9, 8}, gen), seed = randn({2, 9, 9, 8}, gen);
  const int64_t copied = memory_stats().bytes_copied;
  Tensor y = conv2d(x, view, Tensor(), {1, 1, 1, 1});
  CHECK(memory_stats().bytes_copied == copied);  // no dense copy of the filter
  y.backward(seed);
  Tensor dense = view.detach().clone().requires_grad_();
  Tensor y_dense = conv2d(x, dense, Tensor(), {1, 1, 1, 1});
  y_dense.backward(seed);
  CHECK(max_rel_error(y, y_dense) == 0.0);
  CHECK(max_rel_error(owner.grad_buffer().slice(0, 0, 8).slice(3, 0, 8), dense.grad()) == 0.0);
}

TEST_CASE("conv2d: FLOP count") {
  Generator gen(13);
  const Tensor x = randn({2, 8, 8, 4}, gen), w = randn({6, 3, 3, 4}, gen), b = randn({6}, gen);
  CHECK(conv2d_flops(2, 8, 8, 6, 3, 3, 4) == 2 * 2 * 8 * 8 * 6 * 3 * 3 * 4);
  reset_flop_count();
  conv2d(x, w, b, {1, 1, 1, 1});
  CHECK(flop_count() == 55296 + 768);  // 2*N*Ho*Wo*Co*kH*kW*Cg + bias N*Ho*Wo*Co
  // Grouped, strided, no bias: C_in/groups = 2, output 4x4.
  const Tensor wg = randn({6, 3, 3, 2}, gen);
  reset_flop_count();
  conv2d(x, wg, Tensor(), {2, 1, 1, 2});
  CHECK(flop_count() == 2 * 2 * 4 * 4 * 6 * 9 * 2);
}

TEST_CASE("conv2d: bad input throws an error naming the op") {
  Generator gen(14);
  const Tensor x = randn({2, 6, 6, 4}, gen), w = randn({8, 3, 3, 4}, gen);
  auto rejects = [](const std::function<void()>& f) {
    const std::string msg = error_of(f);
    INFO("message: ", msg);
    CHECK(msg.find("conv2d") != std::string::npos);
  };
  rejects([&] { conv2d(randn({6, 6, 4}, gen), w); });                    // rank 3 input
  rejects([&] { conv2d(x, randn({8, 3, 3, 3}, gen)); });                 // C_in mismatch
  rejects([&] { conv2d(x, randn({8, 3, 3, 2}, gen), Tensor(), {1, 0, 1, 3}); });  // 3 groups, 4 in
  rejects([&] { conv2d(x, randn({7, 3, 3, 2}, gen), Tensor(), {1, 0, 1, 2}); });  // 2 groups, 7 out
  rejects([&] { conv2d(x, w, randn({7}, gen)); });                       // bias size
  rejects([&] { conv2d(x, w.to(DType::F64)); });                         // dtype mismatch
  rejects([&] { conv2d(x, w, Tensor(), {0, 1, 1, 1}); });                // stride 0
  rejects([&] { conv2d(x, w, Tensor(), {1, -1, 1, 1}); });               // negative padding
  rejects([&] { conv2d(x, randn({8, 7, 7, 4}, gen)); });                 // kernel > image
  rejects([&] { conv2d(x, w, Tensor(), {1, 0, 3, 1}); });                // dilated kernel > image
  rejects([&] { conv2d(x.to(DType::I32), w.to(DType::I32)); });         // integer dtype
}

TEST_CASE("conv2d: bf16 forward and backward (float32 accumulation) match float64 on the same values") {
  Generator gen(15);
  std::vector<Case> cases = kCases;
  // 576 products per output and 1152 per filter-gradient element: accumulating
  // in bf16 would be off by percents.
  cases.push_back({{2, 8, 8, 64}, {16, 3, 3, 64}, {1, 1, 1, 1}, true});
  cases.push_back({{3, 9, 11, 8}, {4, 3, 3, 8}, {2, 2, 2, 1}, true});
  // bf16-exact float32 leaves: the bf16 path reads them through differentiable
  // casts (its gradients come back as float32), the reference reads the same values.
  auto bf16_leaf = [&](const Shape& shape) {
    return randn(shape, gen, DType::BF16).to(DType::F32).requires_grad_();
  };
  for (const Case& c : cases) {
    INFO(describe(c));
    Tensor x = bf16_leaf(c.x), w = bf16_leaf(c.w);
    Tensor b = c.bias ? bf16_leaf({c.w[0]}) : Tensor();
    auto bf16_of = [](const Tensor& t) { return t.defined() ? cast(t, DType::BF16) : t; };
    const Tensor y = conv2d(bf16_of(x), bf16_of(w), bf16_of(b), c.opt);
    REQUIRE(y.dtype() == DType::BF16);
    const Tensor seed = randn(y.shape(), gen, DType::BF16);
    y.backward(seed);
    REQUIRE(w.grad().dtype() == DType::F32);
    const Reference ref(x, w, b, c.opt, seed);
    const double ey = rel_error(y, as_tensor(ref.y, y.shape()));
    const double edx = rel_error(x.grad(), as_tensor(ref.dx, c.x));
    const double edw = rel_error(w.grad(), as_tensor(ref.dw, c.w));
    const double edb = c.bias ? rel_error(b.grad(), as_tensor(ref.db, {c.w[0]})) : 0.0;
    INFO("relative errors: y " << ey << ", dx " << edx << ", dw " << edw << ", db " << edb);
    CHECK(ey < 1e-2);
    CHECK(edx < 1e-2);
    CHECK(edw < 1e-2);
    CHECK(edb < 1e-2);
  }
}

TEST_CASE("conv2d: dtype mismatch outside autocast names the dtypes") {
  const Tensor x = Tensor::ones({1, 4, 4, 2}, DType::BF16), w = Tensor::ones({3, 3, 3, 2});
  CHECK_THROWS_WITH_AS(conv2d(x, w), doctest::Contains("conv2d: dtypes differ (input BF16, weight F32)"),
                       Error);
  CHECK_THROWS_WITH_AS(conv2d(x, w.to(DType::BF16), Tensor::ones({3})),
                       doctest::Contains("bias F32"), Error);
  Autocast on;  // float32 operands are cast to bf16: the mix is fine
  CHECK(conv2d(x, w, Tensor::ones({3})).dtype() == DType::BF16);
}

TEST_CASE("conv2d: autocast gives bf16 output and float32 gradients into a sub-block weight view") {
  Generator gen(16);
  // The motivated filter [12, 3, 3, 20]; the base uses outputs [0, 8) x inputs [0, 16).
  const Tensor owner = randn({12, 3, 3, 20}, gen).requires_grad_();
  Tensor w;
  {
    NoGradGuard parameter_view;
    w = owner.slice(0, 0, 8).slice(3, 0, 16);
  }
  const Tensor b = randn({8}, gen).requires_grad_();
  const Tensor x = randn({4, 9, 9, 16}, gen), seed = randn({4, 9, 9, 8}, gen);
  Tensor y;
  {
    Autocast on;
    y = conv2d(x, w, b, {1, 1, 1, 1});
  }
  CHECK(y.dtype() == DType::BF16);
  sum(mul(y, seed)).backward();  // a bf16 x float32 product runs in float32
  REQUIRE(w.grad().dtype() == DType::F32);
  REQUIRE(b.grad().dtype() == DType::F32);

  const Tensor w32 = w.detach().clone().requires_grad_(), b32 = b.detach().clone().requires_grad_();
  const Tensor y32 = conv2d(x, w32, b32, {1, 1, 1, 1});
  sum(mul(y32, seed)).backward();
  const double ey = rel_error(y, y32), ew = rel_error(w.grad(), w32.grad()),
               eb = rel_error(b.grad(), b32.grad());
  INFO("autocast conv2d: output " << ey << ", weight gradient " << ew << ", bias gradient " << eb);
  CHECK(ey < 2e-2);
  CHECK(ew < 2e-2);
  CHECK(eb < 2e-2);
  // Nothing outside the sub-block of the owner's gradient.
  double outside = 0;
  for (const Tensor& part : {owner.grad_buffer().slice(0, 8, 12), owner.grad_buffer().slice(3, 16, 20)})
    for (double v : part.to_vector()) outside += std::fabs(v);
  CHECK(outside == 0.0);
}
