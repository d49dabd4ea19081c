// max_pool2d, avg_pool2d (count_include_pad) and global_avg_pool2d: float64
// gradient checks (dense and strided inputs), float32 forward against naive
// loops, tie-breaking and -inf padding for max, the padded divisor for
// average, edge cases, FLOPs, bad input.
#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "engine/flops.h"
#include "tests/gradcheck.h"

using namespace motive;
using namespace motive::test;

namespace {

struct Case {
  Shape x;
  Pool2dOptions opt;
};

// Non-overlapping, overlapping, padded, odd sizes, stride 1, 1-pixel images.
const std::vector<Case> kCases = {
    {{2, 4, 4, 3}, {2, 2, 0}}, {{1, 5, 7, 2}, {3, 2, 1}}, {{2, 5, 5, 1}, {3, 1, 1}},
    {{1, 6, 3, 4}, {2, 1, 0}}, {{3, 1, 1, 2}, {1, 1, 0}}, {{1, 7, 5, 2}, {3, 3, 1}},
};

std::string describe(const Case& c) {
  return "x " + shape_str(c.x) + " kernel " + std::to_string(c.opt.kernel) + " stride " +
         std::to_string(c.opt.stride) + " pad " + std::to_string(c.opt.padding);
}

enum class Kind { Max, Avg };

// The textbook loops over (n, oh, ow, c) and the window; padding taps are
// skipped by max and count as zeros for the average.
Tensor naive_pool(const Tensor& x, const Pool2dOptions& o, Kind kind) {
  const int64_t n_ = x.size(0), h = x.size(1), w = x.size(2), c_ = x.size(3);
  const int64_t ho = (h + 2 * o.padding - o.kernel) / o.stride + 1;
  const int64_t wo = (w + 2 * o.padding - o.kernel) / o.stride + 1;
  std::vector<double> out;
  for (int64_t n = 0; n < n_; ++n)
    for (int64_t oh = 0; oh < ho; ++oh)
      for (int64_t ow = 0; ow < wo; ++ow)
        for (int64_t c = 0; c < c_; ++c) {
          double acc = kind == Kind::Max ? -std::numeric_limits<double>::infinity() : 0.0;
          for (int64_t i = 0; i < o.kernel; ++i)
            for (int64_t j = 0; j < o.kernel; ++j) {
              const int64_t ih = oh * o.stride - o.padding + i, iw = ow * o.stride - o.padding + j;
              if (ih < 0 || ih >= h || iw < 0 || iw >= w) continue;
              const double v = x.at({n, ih, iw, c});
              acc = kind == Kind::Max ? std::fmax(acc, v) : acc + v;
            }
          out.push_back(kind == Kind::Max ? acc : acc / static_cast<double>(o.kernel * o.kernel));
        }
  return Tensor::from_vector(out, {n_, ho, wo, c_}, DType::F64);
}

Tensor pool(const Tensor& x, const Pool2dOptions& o, Kind kind) {
  return kind == Kind::Max ? max_pool2d(x, o) : avg_pool2d(x, o);
}

const char* name(Kind kind) { return kind == Kind::Max ? "max_pool2d" : "avg_pool2d"; }

// The gradient of sum(op(x) * seed) with respect to a constant x.
Tensor grad_of(const std::function<Tensor(const Tensor&)>& op, const Tensor& x_values,
               const Tensor& seed) {
  Tensor x = x_values.clone().requires_grad_();
  op(x).backward(seed);
  return x.grad();
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

void check_rejects(const char* op, const std::function<void()>& f) {
  const std::string msg = error_of(f);
  INFO("message: ", msg);
  CHECK(msg.find(op) != std::string::npos);
}

}  // namespace

TEST_CASE("max_pool2d / avg_pool2d: float64 gradients match finite differences") {
  Generator gen(21);
  for (Kind kind : {Kind::Max, Kind::Avg})
    for (const Case& c : kCases) {
      INFO(name(kind), " ", describe(c));
      check_gradients([&](const std::vector<Tensor>& t) { return pool(t[0], c.opt, kind); },
                      {input(c.x, gen)});
      check_gradients([&](const std::vector<Tensor>& t) { return pool(t[0], c.opt, kind); },
                      {strided_input(c.x, gen)});
    }
}

TEST_CASE("max_pool2d / avg_pool2d: float32 forward matches the naive reference") {
  Generator gen(22);
  std::vector<Case> cases = kCases;
  cases.push_back({{4, 32, 32, 16}, {3, 2, 1}});  // big enough for the parallel paths
  for (Kind kind : {Kind::Max, Kind::Avg})
    for (const Case& c : cases) {
      INFO(name(kind), " ", describe(c));
      const Tensor x = randn(c.x, gen);
      CHECK(max_rel_error(pool(x, c.opt, kind), naive_pool(x, c.opt, kind)) < 1e-6);
    }
}

TEST_CASE("max_pool2d: ties route the gradient to the first tap; padding is -inf") {
  // Constant input, overlapping padded windows: every window's first in-bounds
  // tap (in (kh, kw) order) wins, so the gradient lands where the windows start.
  const Tensor ones = Tensor::ones({1, 4, 4, 1}, DType::F64);
  const Tensor seed = Tensor::ones({1, 2, 2, 1}, DType::F64);
  const Tensor g = grad_of([](const Tensor& x) { return max_pool2d(x, {3, 2, 1}); }, ones, seed);
  // Windows start at rows/cols {-1, 1}; first in-bounds taps are (0,0), (0,1), (1,0), (1,1).
  const std::vector<double> expect = {1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  CHECK(g.to_vector() == expect);

  // All-negative input: padding must not win (a zero pad would give 0).
  Generator gen(23);
  const Tensor neg = add_scalar(mul_scalar(rand_uniform({2, 5, 5, 3}, 0.0, 1.0, gen), -1.0), -1.0);
  const Tensor y = max_pool2d(neg, {3, 1, 1});
  CHECK(max_rel_error(y, naive_pool(neg, {3, 1, 1}, Kind::Max)) == 0.0);
  for (double v : y.to_vector()) CHECK(v <= -1.0);
}

TEST_CASE("avg_pool2d: padding counts toward the divisor (count_include_pad)") {
  const Tensor ones = Tensor::ones({1, 3, 3, 1}, DType::F64);
  const Tensor y = avg_pool2d(ones, {3, 1, 1});
  // Corners see 4 real pixels, edges 6, the centre 9; the divisor is always 9.
  const std::vector<double> expect = {4, 6, 4, 6, 9, 6, 4, 6, 4};
  const auto got = y.to_vector();
  for (size_t i = 0; i < got.size(); ++i) CHECK(got[i] == doctest::Approx(expect[i] / 9.0));
}

TEST_CASE("global_avg_pool2d: forward, gradients, edge cases") {
  Generator gen(24);
  for (const Shape& s : {Shape{2, 3, 4, 5}, Shape{1, 1, 1, 3}, Shape{3, 5, 1, 1}}) {
    INFO(shape_str(s));
    check_gradients([](const std::vector<Tensor>& t) { return global_avg_pool2d(t[0]); },
                    {input(s, gen)});
    check_gradients([](const std::vector<Tensor>& t) { return global_avg_pool2d(t[0]); },
                    {strided_input(s, gen)});
  }
  const Tensor x = randn({4, 7, 9, 32}, gen);
  Tensor ref = Tensor::zeros({4, 32}, DType::F64);
  for (int64_t n = 0; n < 4; ++n)
    for (int64_t c = 0; c < 32; ++c) {
      double acc = 0;
      for (int64_t h = 0; h < 7; ++h)
        for (int64_t w = 0; w < 9; ++w) acc += x.at({n, h, w, c});
      ref.set({n, c}, acc / 63.0);
    }
  CHECK(max_rel_error(global_avg_pool2d(x), ref) < 1e-6);
}

TEST_CASE("pooling: FLOP counts") {
  Generator gen(25);
  const Tensor x = randn({2, 8, 8, 3}, gen);
  CHECK(pool2d_flops(2, 4, 4, 3, 2) == 2 * 4 * 4 * 3 * 4);
  reset_flop_count();
  max_pool2d(x, {2, 2, 0});
  CHECK(flop_count() == 384);
  reset_flop_count();
  avg_pool2d(x, {3, 2, 1});  // 4x4 output, 9 taps per output element
  CHECK(flop_count() == 2 * 4 * 4 * 3 * 9);
  reset_flop_count();
  global_avg_pool2d(x);
  CHECK(flop_count() == 2 * 8 * 8 * 3);
}

TEST_CASE("pooling: bad input throws an error naming the op") {
  Generator gen(26);
  const Tensor x = randn({1, 4, 4, 2}, gen);
  for (Kind kind : {Kind::Max, Kind::Avg}) {
    const char* op = name(kind);
    check_rejects(op, [&] { pool(randn({4, 4, 2}, gen), {2, 2, 0}, kind); });  // rank 3
    check_rejects(op, [&] { pool(x, {0, 1, 0}, kind); });                      // kernel 0
    check_rejects(op, [&] { pool(x, {2, 0, 0}, kind); });                      // stride 0
    check_rejects(op, [&] { pool(x, {3, 1, 2}, kind); });                      // padding > kernel/2
    check_rejects(op, [&] { pool(x, {5, 1, 0}, kind); });                      // kernel > image
    check_rejects(op, [&] { pool(x.to(DType::I32), {2, 2, 0}, kind); });       // integer dtype
  }
  check_rejects("global_avg_pool2d", [&] { global_avg_pool2d(randn({4, 4, 2}, gen)); });
  check_rejects("global_avg_pool2d", [&] { global_avg_pool2d(x.to(DType::I32)); });
}
