// matmul / linear: values against naive loops, strided operands used in
// place, batched forms, gradient checks, FLOPs.
#include "engine/flops.h"
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
