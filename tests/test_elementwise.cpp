// add/sub/mul/div with broadcasting, scalar forms, sum/mean: values, gradients
// (float64 finite differences, contiguous and strided inputs), edge cases.
#include "engine/flops.h"
#include "tests/gradcheck.h"

using namespace motive;
using namespace motive::test;

TEST_CASE("binary ops broadcast and compute the right values") {
  Tensor a = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor b = Tensor::from_vector({10, 20, 30}, {3});
  CHECK(add(a, b).to_vector() == std::vector<double>{11, 22, 33, 14, 25, 36});
  CHECK(sub(a, b).to_vector() == std::vector<double>{-9, -18, -27, -6, -15, -24});
  CHECK(mul(a, Tensor::from_vector({2, 3}, {2, 1})).to_vector() ==
        std::vector<double>{2, 4, 6, 12, 15, 18});
  CHECK(div(a, Tensor::scalar(2)).to_vector() == std::vector<double>{0.5, 1, 1.5, 2, 2.5, 3});
  CHECK((a * 2.0 + 1.0).to_vector() == std::vector<double>{3, 5, 7, 9, 11, 13});
  CHECK_THROWS_WITH_AS(add(a, Tensor::ones({4})), doctest::Contains("add"), Error);
  CHECK_THROWS_WITH_AS(mul(a, Tensor::ones({3}, DType::F64)), doctest::Contains("mul"), Error);
}

TEST_CASE("binary ops: gradient checks over shapes, broadcasting and views") {
  Generator gen(1);
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{3}, {3}}, {{2, 3}, {3}}, {{2, 1, 4}, {3, 1}}, {{1}, {2, 5}}, {{2, 3}, {2, 3}}};
  for (const auto& [sa, sb] : cases) {
    std::vector<Tensor> in{input(sa, gen), input(sb, gen)};
    check_gradients([](const auto& v) { return add(v[0], v[1]); }, in);
    check_gradients([](const auto& v) { return sub(v[0], v[1]); }, in);
    check_gradients([](const auto& v) { return mul(v[0], v[1]); }, in);
    check_gradients([](const auto& v) { return div(v[0], v[1]); }, in);
  }
  std::vector<Tensor> views{strided_input({3, 4}, gen), strided_input({3, 4}, gen)};
  check_gradients([](const auto& v) { return div(mul(v[0], v[1]), add_scalar(v[0], 3.0)); }, views);
  std::vector<Tensor> one{input({1, 1}, gen)};
  check_gradients([](const auto& v) { return mul_scalar(add_scalar(v[0], 2.0), -3.0); }, one);
}

TEST_CASE("mul_scalar_into writes a strided input times a scalar into a slice, as mul_scalar") {
  Generator gen(3);
  const Tensor a = randn({4, 6}, gen).slice(1, 1, 5).transpose(0, 1);  // [4, 4], strided
  Tensor buffer = Tensor::full({20}, -1.0);
  const Tensor out = buffer.narrow(0, 2, 16).view({4, 4});
  const double share = 1.0 / 3.0;
  mul_scalar_into(out, a, share);
  CHECK(out.to_vector() == mul_scalar(a, share).to_vector());
  CHECK(buffer.at({0}) == -1.0);  // nothing outside the slice
  CHECK(buffer.at({18}) == -1.0);
  CHECK_THROWS_WITH_AS(mul_scalar_into(buffer, a, 2.0), doctest::Contains("mul_scalar_into"),
                       Error);
}

TEST_CASE("sum and mean over dims") {
  Tensor a = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  CHECK(sum(a).item() == 21);
  CHECK(mean(a).item() == 3.5);
  CHECK(sum(a, {0}).to_vector() == std::vector<double>{5, 7, 9});
  CHECK(sum(a, {1}, true).shape() == Shape{2, 1});
  CHECK(mean(a, {-1}).to_vector() == std::vector<double>{2, 5});
  CHECK(sum(a.transpose(0, 1), {1}).to_vector() == std::vector<double>{5, 7, 9});
  CHECK_THROWS_AS(sum(a, {0, 0}), Error);
  CHECK_THROWS_AS(sum(a, {2}), Error);
  Generator gen(2);
  for (const Shape& dims : std::vector<Shape>{{0}, {1}, {0, 2}, {}}) {
    std::vector<Tensor> in{input({2, 3, 5}, gen)};
    check_gradients([dims](const auto& v) { return sum(v[0], dims, false); }, in);
    check_gradients([dims](const auto& v) { return mean(v[0], dims, true); }, in);
  }
  std::vector<Tensor> view{strided_input({4, 3}, gen)};
  check_gradients([](const auto& v) { return mean(v[0], {0}); }, view);
  std::vector<Tensor> odd{input({1, 7, 1}, gen)};
  check_gradients([](const auto& v) { return sum(v[0]); }, odd);
}

TEST_CASE("elementwise and reduction FLOPs: one per element") {
  Tensor a = Tensor::ones({4, 5});
  reset_flop_count();
  add(a, a);
  CHECK(flop_count() == 20);
  reset_flop_count();
  sum(a, {1});
  CHECK(flop_count() == 20);
}
