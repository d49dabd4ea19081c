// matmul / linear: values against naive loops, strided operands used in
// place, batched forms, gradient checks, FLOPs; bf16 (float32 accumulation)
// against float64 on the same values, the bf16 GEMM kernel's accumulate flag
// and strided output, and autocast's float32 master-weight gradients.
#include <cmath>
#include <functional>
#include <string>

#include "engine/autocast.h"
#include "engine/flops.h"
#include "kernels/cpu/matmul.h"
#include "tests/bf16_testing.h"
#include "tests/gradcheck.h"

using namespace motive;
using namespace motive::test;

namespace {
Tensor naive_matmul(const Tensor& a, const Tensor& b) {
  const int64_t m = a.size(0), k = a.size(1), n = b.size(1);
  std::vector<double> out(m * n, 0.0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j)
      for (int64_t p = 0; p < k; ++p) out[i * n + j] += a.at({i, p}) * b.at({p, j});
  return Tensor::from_vector(out, {m, n}, DType::F64);
}

// t's values rounded to bf16, as float64: what a bf16 op and its float64
// reference both read.
Tensor bf16_exact(const Tensor& t) { return t.to(DType::BF16).to(DType::F64); }

}  // namespace

TEST_CASE("matmul matches naive loops for contiguous, transposed and sub-block operands") {
  Generator gen(3);
  Tensor a = randn({5, 7}, gen), b = randn({7, 4}, gen);
  CHECK(max_rel_error(matmul(a, b), naive_matmul(a, b)) < 1e-5);
  Tensor at = randn({7, 5}, gen).transpose(0, 1);
  CHECK(max_rel_error(matmul(at, b), naive_matmul(at, b)) < 1e-5);
  Tensor big = randn({9, 11}, gen);
  Tensor block = big.slice(0, 2, 9).slice(1, 3, 7);  // [7, 4], row stride 11
  const int64_t copied = memory_stats().bytes_copied;
  Tensor c = matmul(a, block);
  CHECK(memory_stats().bytes_copied == copied);  // used through its leading dimension
  CHECK(max_rel_error(c, naive_matmul(a, block)) < 1e-5);
  // Neither stride is 1: packed.
  Tensor every_other = randn({14, 8}, gen).slice(0, 0, 14, 2).slice(1, 0, 8, 2);
  CHECK(max_rel_error(matmul(a, every_other), naive_matmul(a, every_other)) < 1e-5);
}

TEST_CASE("batched matmul and shared right operand") {
  Generator gen(4);
  Tensor a = randn({2, 3, 4, 5}, gen), b = randn({2, 3, 5, 6}, gen), w = randn({5, 6}, gen);
  Tensor c = matmul(a, b), d = matmul(a, w);
  CHECK(c.shape() == Shape{2, 3, 4, 6});
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 3; ++j) {
      Tensor ai = a.select(0, i).select(0, j);
      CHECK(max_rel_error(c.select(0, i).select(0, j), naive_matmul(ai, b.select(0, i).select(0, j))) < 1e-5);
      CHECK(max_rel_error(d.select(0, i).select(0, j), naive_matmul(ai, w)) < 1e-5);
    }
  CHECK_THROWS_WITH_AS(matmul(a, randn({2, 3, 4, 6}, gen)), doctest::Contains("matmul"), Error);
  CHECK_THROWS_AS(matmul(a, randn({2, 2, 5, 6}, gen)), Error);
}

TEST_CASE("matmul and linear gradients (float64, views, batches, odd sizes)") {
  Generator gen(5);
  std::vector<Tensor> in{input({3, 4}, gen), input({4, 2}, gen)};
  check_gradients([](const auto& v) { return matmul(v[0], v[1]); }, in);
  std::vector<Tensor> views{strided_input({3, 4}, gen), strided_input({4, 5}, gen)};
  check_gradients([](const auto& v) { return matmul(v[0], v[1]); }, views);
  std::vector<Tensor> batched{input({2, 3, 4}, gen), input({2, 4, 2}, gen)};
  check_gradients([](const auto& v) { return matmul(v[0], v[1]); }, batched);
  std::vector<Tensor> shared{input({2, 3, 4}, gen), input({4, 2}, gen)};
  check_gradients([](const auto& v) { return matmul(v[0], v[1]); }, shared);
  std::vector<Tensor> lin{input({2, 3, 5}, gen), input({4, 5}, gen), input({4}, gen)};
  check_gradients([](const auto& v) { return linear(v[0], v[1], v[2]); }, lin);
  std::vector<Tensor> ones{input({1, 1}, gen), input({1, 1}, gen)};
  check_gradients([](const auto& v) { return matmul(v[0], v[1]); }, ones);
  std::vector<Tensor> vec{input({5}, gen), input({3, 5}, gen)};
  check_gradients([](const auto& v) { return linear(v[0], v[1]); }, vec);
}

TEST_CASE("matmul FLOPs are 2*B*M*K*N") {
  CHECK(matmul_flops(3, 4, 5, 6) == 720);
  reset_flop_count();
  matmul(Tensor::ones({3, 4, 5}), Tensor::ones({3, 5, 6}));
  CHECK(flop_count() == 720);
  reset_flop_count();
  linear(Tensor::ones({8, 16}), Tensor::ones({4, 16}), Tensor::ones({4}));
  CHECK(flop_count() == 2 * 8 * 16 * 4 + 8 * 4);
  CHECK_THROWS_WITH_AS(linear(Tensor::ones({8, 15}), Tensor::ones({4, 16})),
                       doctest::Contains("linear"), Error);
}

TEST_CASE("bf16 matmul and linear: float32 accumulation matches float64 on the same values") {
  Generator gen(6);
  struct Case {
    std::string what;
    std::vector<Shape> shapes;
    Fn f;
  };
  const std::vector<Case> cases = {
      // K = 768: accumulating in bf16 instead of float would be off by several percent.
      {"plain, long K", {{33, 768}, {768, 29}}, [](const auto& v) { return matmul(v[0], v[1]); }},
      // A transposed (unit row stride), B a sub-block (row stride 40, offset).
      {"transposed and sub-block views",
       {{96, 33}, {100, 40}},
       [](const auto& v) {
         return matmul(v[0].transpose(0, 1), v[1].slice(0, 2, 98).slice(1, 3, 32));
       }},
      {"batched", {{2, 3, 9, 64}, {2, 3, 64, 7}}, [](const auto& v) { return matmul(v[0], v[1]); }},
      // Batch dims that do not merge and a shared right operand (batch stride 0).
      {"shared right operand",
       {{6, 4, 80}, {80, 5}},
       [](const auto& v) { return matmul(v[0].transpose(0, 1), v[1]); }},
      {"linear with bias",
       {{2, 5, 48}, {12, 48}, {12}},
       [](const auto& v) { return linear(v[0], v[1], v[2]); }},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    std::vector<Tensor> leaves;
    for (const Shape& shape : c.shapes) leaves.push_back(input_bf16(shape, gen));
    check_bf16(c.f, leaves);
  }
}

TEST_CASE("bf16 GEMM kernel: accumulates into a strided C in float and rounds once") {
  Generator gen(7);
  // C is the [m, n] block at offset 5 of an [m + 1, ldc] buffer (row stride ldc).
  const int64_t m = 7, n = 6, k = 300, ldc = 9;
  const Tensor a = bf16_exact(input({k, m}, gen, false)), b = bf16_exact(input({k, n}, gen, false));
  const Tensor c0 = bf16_exact(input({m + 1, ldc}, gen, false));
  // C += A B with both operands read through unit row strides: A [m, k] is the
  // stored [k, m] with strides (1, m), B [k, n] the stored [n, k] with (1, k).
  const Tensor a16 = a.to(DType::BF16);
  const Tensor bt16 = b.transpose(0, 1).contiguous().to(DType::BF16);
  Tensor c16 = c0.to(DType::BF16);
  cpu::gemm<bf16>(m, n, k, a16.data<bf16>(), {1, m}, bt16.data<bf16>(), {1, k},
                  c16.data<bf16>() + 5, ldc, true);
  // Reference in float64: the block plus the product; outside the block untouched.
  const Tensor prod = matmul(a.transpose(0, 1), b);
  const Tensor got = c16.to(DType::F64);
  std::vector<double> expect = c0.to_vector(), block_got, block_expect;
  const std::vector<double> g = got.to_vector(), pv = prod.to_vector();
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      const size_t at = static_cast<size_t>(5 + i * ldc + j);
      expect[at] += pv[static_cast<size_t>(i * n + j)];
      block_got.push_back(g[at]);
      block_expect.push_back(expect[at]);
    }
  const Tensor bg = Tensor::from_vector(block_got, {m, n}, DType::F64);
  const Tensor be = Tensor::from_vector(block_expect, {m, n}, DType::F64);
  const double err = rel_error(bg, be);
  CHECK_MESSAGE(err < 1e-2, "relative error " << err);
  // One rounding: each element is within half a bf16 ulp (8 significant bits)
  // of the exact value, plus float32 accumulation's tiny error; rounding the
  // product and then the sum would be off by up to a whole ulp.
  for (size_t i = 0; i < block_got.size(); ++i) {
    const double e = block_expect[i], half_ulp = std::ldexp(0.5, std::ilogb(e) - 7);
    CHECK(std::fabs(block_got[i] - e) <= half_ulp + 1e-4);
  }
  for (size_t i = 0; i < g.size(); ++i) {
    const int64_t r = (static_cast<int64_t>(i) - 5) / ldc, col = (static_cast<int64_t>(i) - 5) % ldc;
    const bool inside = i >= 5 && r < m && col < n;
    if (!inside) CHECK(g[i] == expect[i]);
  }
  // k = 0 without accumulate: zeros; with accumulate: unchanged.
  Tensor z = c0.to(DType::BF16);
  cpu::gemm<bf16>(m, n, 0, a16.data<bf16>(), {1, m}, bt16.data<bf16>(), {1, k}, z.data<bf16>(),
                  ldc, true);
  CHECK(z.to(DType::F64).to_vector() == c0.to_vector());
  cpu::gemm<bf16>(m, n, 0, a16.data<bf16>(), {1, m}, bt16.data<bf16>(), {1, k}, z.data<bf16>(),
                  ldc, false);
  CHECK(z.to(DType::F64).slice(0, 0, m).slice(1, 0, n).to_vector() == std::vector<double>(m * n, 0.0));
}

TEST_CASE("bf16 matmul: dtype mismatch outside autocast names both dtypes") {
  const Tensor a = Tensor::ones({2, 3}, DType::BF16), b = Tensor::ones({3, 4});
  CHECK_THROWS_WITH_AS(matmul(a, b), doctest::Contains("matmul: dtypes BF16 and F32 differ"), Error);
  Autocast on;  // float32 operands are cast: the pair is fine
  CHECK(matmul(a, b).dtype() == DType::BF16);
}

TEST_CASE("autocast linear: bf16 output, float32 master-weight gradients close to float32's") {
  Generator gen(8);
  const Tensor x = input32({16, 64}, gen, false);
  const Tensor w = input32({24, 64}, gen), b = input32({24}, gen);
  const Tensor seed = input32({16, 24}, gen, false);
  Tensor y;
  {
    Autocast on;
    y = linear(x, w, b);
  }
  CHECK(y.dtype() == DType::BF16);
  sum(mul(y, seed)).backward();  // a bf16 x float32 product runs in float32
  REQUIRE(w.grad().dtype() == DType::F32);
  REQUIRE(b.grad().dtype() == DType::F32);
  const Tensor w32 = w.detach().clone().requires_grad_(), b32 = b.detach().clone().requires_grad_();
  sum(mul(linear(x, w32, b32), seed)).backward();
  const double ew = rel_error(w.grad(), w32.grad()), eb = rel_error(b.grad(), b32.grad());
  INFO("autocast linear: weight gradient " << ew << ", bias gradient " << eb);
  CHECK(ew < 2e-2);
  CHECK(eb < 2e-2);
  CHECK(rel_error(y, linear(x, w32, b32)) < 2e-2);
}
