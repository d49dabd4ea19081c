// Tensor basics: factories, element access, views sharing storage, copies
// across strides and dtypes, reproducible random init.
#include <doctest/doctest.h>

#include <cmath>

#include "engine/random.h"
#include "engine/tensor.h"

using namespace motive;

namespace {
Tensor arange(int64_t n, const Shape& shape) {
  std::vector<double> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = static_cast<double>(i);
  return Tensor::from_vector(v, shape);
}
}  // namespace

TEST_CASE("factories, metadata and element access") {
  Tensor t = Tensor::zeros({2, 3});
  CHECK(t.numel() == 6);
  CHECK(t.strides() == Shape{3, 1});
  CHECK(t.is_contiguous());
  t.set({1, 2}, 5.5);
  CHECK(t.at({1, 2}) == 5.5);
  CHECK(Tensor::full({4}, 2.0, DType::F64).to_vector() == std::vector<double>(4, 2.0));
  CHECK(Tensor::scalar(3.0).item() == 3.0);
  CHECK_THROWS_AS(t.at({2, 0}), Error);
  CHECK_THROWS_AS(t.item(), Error);
  CHECK_THROWS_AS(Tensor::from_vector({1, 2, 3}, {2, 2}), Error);
  CHECK_THROWS_AS(Tensor::zeros({2}, DType::F32, Device::CUDA), Error);
}

TEST_CASE("slice, narrow and select share storage and compose") {
  Tensor t = arange(24, {4, 6});
  Tensor s = t.slice(1, 1, 5);  // [4, 4]
  CHECK(s.storage() == t.storage());
  CHECK(s.shape() == Shape{4, 4});
  CHECK(s.at({2, 0}) == 13);
  Tensor ss = s.slice(0, 1, 4, 2).narrow(1, 2, 2);  // rows 1,3 cols 3,4 of t
  CHECK(ss.shape() == Shape{2, 2});
  CHECK(ss.to_vector() == std::vector<double>{9, 10, 21, 22});
  ss.fill_(-1);  // writes through to the owner
  CHECK(t.at({3, 4}) == -1);
  CHECK(t.at({3, 5}) == 23);
  CHECK(t.select(0, 2).to_vector() == std::vector<double>{12, 13, 14, 15, 16, 17});
  CHECK_THROWS_AS(t.slice(1, 2, 9), Error);
}

TEST_CASE("view, reshape, permute, transpose, expand, flatten") {
  Tensor t = arange(24, {2, 3, 4});
  CHECK(t.view({6, 4}).storage() == t.storage());
  CHECK(t.view({-1, 12}).shape() == Shape{2, 12});
  Tensor p = t.permute({2, 0, 1});  // [4, 2, 3]
  CHECK(p.shape() == Shape{4, 2, 3});
  CHECK(p.at({1, 1, 2}) == t.at({1, 2, 1}));
  CHECK(!p.is_contiguous());
  CHECK_THROWS_WITH_AS(p.view({8, 3}), doctest::Contains("without a copy"), Error);
  Tensor r = p.reshape({8, 3});  // copies
  CHECK(r.storage() != t.storage());
  CHECK(r.at({3, 1}) == p.at({1, 1, 1}));
  CHECK(t.transpose(0, 2).shape() == Shape{4, 3, 2});
  Tensor e = Tensor::from_vector({1, 2, 3}, {3, 1}).expand({2, 3, 4});
  CHECK(e.strides() == Shape{0, 1, 0});
  CHECK(e.at({1, 2, 3}) == 3);
  CHECK_THROWS_AS(t.expand({2, 5, 4}), Error);
  CHECK(t.flatten(1).shape() == Shape{2, 12});
  CHECK(t.unsqueeze(1).shape() == Shape{2, 1, 3, 4});
  CHECK(t.unsqueeze(-1).squeeze(3).shape() == t.shape());
  // A view of a sliced (non-contiguous) tensor splitting a dim stays a view.
  Tensor cols = arange(24, {4, 6}).slice(1, 0, 4);
  CHECK(cols.view({4, 2, 2}).storage() == cols.storage());
}

TEST_CASE("copy_ across strides and dtypes; contiguous; clone; counters") {
  Tensor src = arange(6, {2, 3}).transpose(0, 1);  // [3, 2] strided
  Tensor dst = Tensor::empty({3, 2}, DType::F64);
  const int64_t before = memory_stats().bytes_copied;
  dst.copy_(src);
  CHECK(memory_stats().bytes_copied - before == 6 * 8);
  CHECK(dst.to_vector() == std::vector<double>{0, 3, 1, 4, 2, 5});
  Tensor c = src.contiguous();
  CHECK(c.is_contiguous());
  CHECK(c.to_vector() == dst.to_vector());
  Tensor already = arange(4, {4});
  CHECK(already.contiguous().same(already));
  CHECK(src.clone().storage() != src.storage());
  CHECK(src.to(DType::I32).at({2, 1}) == 5);
  // Broadcasting copy.
  Tensor b = Tensor::empty({2, 3});
  b.copy_(Tensor::from_vector({7, 8, 9}, {3}));
  CHECK(b.to_vector() == std::vector<double>{7, 8, 9, 7, 8, 9});
}

TEST_CASE("memory statistics track current and peak bytes") {
  reset_peak_memory();
  const int64_t base = memory_stats().current_bytes;
  {
    Tensor big = Tensor::empty({1024, 256});
    CHECK(memory_stats().current_bytes - base == 1024 * 256 * 4);
  }
  CHECK(memory_stats().current_bytes == base);
  CHECK(memory_stats().peak_bytes - base >= 1024 * 256 * 4);
}

TEST_CASE("random init is seeded and reproducible, with the right moments") {
  Generator g1(7), g2(7), g3(8);
  Tensor a = randn({10000}, g1), b = randn({10000}, g2), c = randn({10000}, g3);
  CHECK(a.to_vector() == b.to_vector());
  CHECK(a.to_vector() != c.to_vector());
  Tensor a2 = randn({10000}, g1);  // the generator advanced
  CHECK(a2.to_vector() != a.to_vector());
  double m = 0, v = 0;
  for (double x : a.to_vector()) m += x;
  m /= 10000;
  for (double x : a.to_vector()) v += (x - m) * (x - m);
  v /= 10000;
  CHECK(std::fabs(m) < 0.05);
  CHECK(std::fabs(v - 1) < 0.05);
  Generator g(3);
  Tensor u = rand_uniform({5000}, -2, 3, g);
  for (double x : u.to_vector()) CHECK((x >= -2 && x < 3));
  Tensor t = Tensor::empty({5000});
  trunc_normal_(t, 0, 1, -0.5, 0.5, g);
  for (double x : t.to_vector()) CHECK((x >= -0.5 && x <= 0.5));
  Tensor w = Tensor::empty({64, 3, 3, 32});
  CHECK(fan_in(w) == 288);
  CHECK(fan_out(w) == 576);
  kaiming_normal_(w, fan_in(w), g);
  double s2 = 0;
  for (double x : w.to_vector()) s2 += x * x;
  CHECK(std::fabs(std::sqrt(s2 / w.numel()) - std::sqrt(2.0 / 288)) < 0.01);
}

TEST_CASE("random init writes through a view in place") {
  Generator g(1);
  Tensor owner = Tensor::zeros({4, 4});
  Tensor block = owner.slice(0, 0, 2).slice(1, 0, 2);
  normal_(block, 0, 1, g);
  CHECK(owner.at({0, 0}) != 0);
  CHECK(owner.at({2, 2}) == 0);
  CHECK(owner.at({0, 3}) == 0);
}
