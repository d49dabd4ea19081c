// dropout and drop_path: the mask against the Philox rule computed here from
// philox_uniform, keep-rate statistics, reproducibility from (seed, offset),
// exact backward, identity/zero cases, gradient checks, bad input.
#include <cmath>
#include <limits>

#include "kernels/philox.h"
#include "engine/flops.h"
#include "tests/gradcheck.h"

using namespace motive;
using namespace motive::test;

namespace {

// Expected output of a drop op: group g (of group_size row-major elements)
// kept when philox_uniform(seed, offset, g) >= p, survivors scaled in T.
template <class T>
std::vector<double> reference(const std::vector<double>& x, int64_t group_size, uint64_t seed,
                              uint64_t offset, double p) {
  const T scale = static_cast<T>(1.0 / (1.0 - p));
  std::vector<double> out(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const bool keep = philox_uniform(seed, offset, i / group_size) >= p;
    out[i] = keep ? static_cast<double>(static_cast<T>(x[i]) * scale) : 0.0;
  }
  return out;
}

double kept_fraction(const Tensor& y) {
  const std::vector<double> v = y.to_vector();
  int64_t kept = 0;
  for (double e : v) kept += e != 0.0;
  return static_cast<double>(kept) / static_cast<double>(v.size());
}
}  // namespace

TEST_CASE("dropout forward matches the Philox keep rule exactly (float32)") {
  Generator data(1);
  for (const Shape& shape : {Shape{7, 13}, Shape{1}, Shape{5}, Shape{2, 1, 3}}) {
    const Tensor x = rand_uniform(shape, -1.0, 1.0, data);
    for (uint64_t start : {0u, 3u, 6u}) {  // unaligned offsets exercise the block walk
      Generator gen;
      gen.set_state(42, start);
      const Tensor y = dropout(x, 0.3, true, gen);
      CHECK(y.to_vector() == reference<float>(x.to_vector(), 1, 42, start, 0.3));
      CHECK(gen.offset() == start + (x.numel() + 3) / 4 * 4);
    }
  }
}

TEST_CASE("dropout keeps a fraction 1 - p and preserves the mean") {
  const Tensor x = Tensor::ones({100000});
  for (double p : {0.1, 0.3, 0.5, 0.9}) {
    Generator gen(7);
    const Tensor y = dropout(x, p, true, gen);
    CHECK(std::fabs(kept_fraction(y) - (1.0 - p)) < 0.01);  // 5 sigma is < 0.008
    CHECK(mean(y).item() == doctest::Approx(1.0).epsilon(0.05));
    // Survivors are exactly x / (1 - p).
    const double survivor = static_cast<float>(1.0 / (1.0 - p));
    int64_t wrong = 0;
    for (double e : y.to_vector()) wrong += e != 0.0 && e != survivor;
    CHECK(wrong == 0);
  }
}

TEST_CASE("dropout is reproducible from (seed, offset)") {
  Generator data(2);
  const Tensor x = rand_uniform({64, 33}, -1.0, 1.0, data);
  Generator a(7), b(7), other_seed(8);
  const Tensor ya = dropout(x, 0.5, true, a);
  CHECK(ya.to_vector() == dropout(x, 0.5, true, b).to_vector());
  CHECK(ya.to_vector() != dropout(x, 0.5, true, other_seed).to_vector());
  // The next call draws from a fresh offset: a different mask.
  const uint64_t next = a.offset();
  const Tensor ya2 = dropout(x, 0.5, true, a);
  CHECK(ya2.to_vector() != ya.to_vector());
  // Rewinding the generator replays either call.
  a.set_state(7, 0);
  CHECK(dropout(x, 0.5, true, a).to_vector() == ya.to_vector());
  a.set_state(7, next);
  CHECK(dropout(x, 0.5, true, a).to_vector() == ya2.to_vector());
}

TEST_CASE("dropout on a strided view equals dropout on its contiguous copy") {
  Generator data(3);
  const Tensor x = rand_uniform({6, 9}, -1.0, 1.0, data).slice(1, 1, 8).transpose(0, 1);
  REQUIRE(!x.is_contiguous());
  Generator a(5), b(5);
  CHECK(dropout(x, 0.25, true, a).to_vector() ==
        dropout(x.contiguous(), 0.25, true, b).to_vector());
}

TEST_CASE("dropout backward is g * mask * scale exactly, and regenerates the same mask") {
  Generator data(4);
  Tensor x = rand_uniform({5, 11}, -1.0, 1.0, data);
  x.requires_grad_();
  const Tensor g = rand_uniform({5, 11}, -1.0, 1.0, data);
  Generator gen(9);
  const Tensor y = dropout(x, 0.4, true, gen);
  // Drawing more numbers before backward must not change the mask it uses.
  rand_uniform({100}, 0.0, 1.0, gen);
  y.backward(g);
  CHECK(x.grad().to_vector() == reference<float>(g.to_vector(), 1, 9, 0, 0.4));
}

TEST_CASE("dropout identity, zero and eval cases") {
  Generator data(5);
  Tensor x = rand_uniform({4, 6}, -1.0, 1.0, data);
  x.requires_grad_();
  Generator gen(11);
  SUBCASE("eval and p = 0 are the identity and draw nothing") {
    CHECK(dropout(x, 0.5, false, gen).to_vector() == x.to_vector());
    CHECK(dropout(x, 0.0, true, gen).to_vector() == x.to_vector());
    CHECK(drop_path(x, 0.5, false, gen).to_vector() == x.to_vector());
    CHECK(gen.offset() == 0);
  }
  SUBCASE("p = 1 gives zeros and a zero gradient, no NaN") {
    for (auto op : {&dropout, &drop_path}) {
      x.zero_grad();
      const Tensor y = op(x, 1.0, true, gen);
      CHECK(y.to_vector() == std::vector<double>(24, 0.0));
      y.backward(Tensor::ones({4, 6}));
      CHECK(x.grad().to_vector() == std::vector<double>(24, 0.0));
    }
  }
  SUBCASE("empty tensors") {
    CHECK(dropout(Tensor::zeros({0, 3}), 0.5, true, gen).shape() == Shape{0, 3});
    CHECK(drop_path(Tensor::zeros({0, 3}), 0.5, true, gen).shape() == Shape{0, 3});
  }
}

TEST_CASE("drop_path drops whole samples with one draw each") {
  Generator data(6);
  const Tensor x = rand_uniform({9, 2, 3, 4}, -1.0, 1.0, data);
  Generator gen(13);
  gen.set_state(13, 1);
  const Tensor y = drop_path(x, 0.4, true, gen);
  CHECK(gen.offset() == 1 + 12);  // 9 draws, reserved in whole Philox blocks
  CHECK(y.to_vector() == reference<float>(x.to_vector(), 24, 13, 1, 0.4));
  int dropped = 0;
  for (int64_t s = 0; s < 9; ++s) {
    const double kept = kept_fraction(y.select(0, s));
    CHECK((kept == 0.0 || kept == 1.0));  // x has no zeros: a sample is all in or all out
    dropped += kept == 0.0;
  }
  CHECK(dropped > 0);
  CHECK(dropped < 9);
  Generator many(17);
  const Tensor samples = drop_path(Tensor::ones({100000, 1}), 0.2, true, many);
  CHECK(std::fabs(kept_fraction(samples) - 0.8) < 0.01);
}

TEST_CASE("dropout and drop_path gradient checks (float64)") {
  Generator data(7);
  // A fresh generator per call: every evaluation draws the same mask.
  auto with = [](auto op, double p) {
    return [op, p](const std::vector<Tensor>& in) {
      Generator gen(21);
      return op(in[0], p, true, gen);
    };
  };
  for (auto op : {&dropout, &drop_path}) {
    for (const Tensor& x : {input({5}, data), input({3, 4}, data), input({2, 3, 4}, data),
                            input({1, 1, 1}, data), strided_input({3, 5}, data),
                            strided_input({4, 2, 3}, data)}) {
      check_gradients(with(op, 0.3), {x});
    }
  }
}

TEST_CASE("dropout and drop_path FLOPs: one per element") {
  Generator gen(1);
  const Tensor x = Tensor::ones({4, 5, 6});
  reset_flop_count();
  dropout(x, 0.5, true, gen);
  CHECK(flop_count() == 120);
  reset_flop_count();
  drop_path(x, 0.5, true, gen);
  CHECK(flop_count() == 120);
  reset_flop_count();
  dropout(x, 0.5, false, gen);
  CHECK(flop_count() == 0);
}

TEST_CASE("dropout and drop_path reject bad input") {
  Generator gen(1);
  const Tensor x = Tensor::ones({3, 4});
  for (double p : {-0.1, 1.5, std::numeric_limits<double>::quiet_NaN()}) {
    CHECK_THROWS_WITH_AS(dropout(x, p, true, gen), doctest::Contains("dropout: drop probability"),
                         Error);
    CHECK_THROWS_WITH_AS(drop_path(x, p, false, gen),
                         doctest::Contains("drop_path: drop probability"), Error);
  }
  CHECK_THROWS_WITH_AS(dropout(Tensor::zeros({3}, DType::I32), 0.5, true, gen),
                       doctest::Contains("dropout: dtype I32"), Error);
  CHECK_THROWS_WITH_AS(drop_path(Tensor::scalar(1.0), 0.5, true, gen),
                       doctest::Contains("drop_path: needs a batch dim"), Error);
}
