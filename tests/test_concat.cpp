// concat: forward against a naive index-mapping reference, gradient checks
// (views included), edge cases and bad input.
#include "engine/flops.h"
#include "tests/gradcheck.h"

using namespace motive;
using namespace motive::test;

namespace {

// Reference: element idx of the output comes from the input whose range along
// `dim` contains idx[dim], at idx[dim] minus that range's start.
std::vector<double> naive_concat(const std::vector<Tensor>& xs, int64_t dim, const Shape& out) {
  std::vector<double> values;
  const Shape strides = contiguous_strides(out);
  for (int64_t i = 0; i < shape_numel(out); ++i) {
    Shape idx(out.size());
    for (int64_t d = 0, rem = i; d < static_cast<int64_t>(out.size()); ++d) {
      idx[d] = rem / strides[d];
      rem %= strides[d];
    }
    for (const Tensor& x : xs) {
      if (idx[dim] < x.size(dim)) {
        values.push_back(x.at(idx));
        break;
      }
      idx[dim] -= x.size(dim);
    }
  }
  return values;
}

}  // namespace

TEST_CASE("concat forward matches a naive reference (float32, views included)") {
  Generator gen(1);
  const Tensor a = rand_uniform({2, 3, 4}, -1.0, 1.0, gen);
  const Tensor b = rand_uniform({4, 5, 2}, -1.0, 1.0, gen).permute({2, 1, 0});  // [2, 5, 4] view
  const Tensor c = rand_uniform({2, 1, 4}, -1.0, 1.0, gen);
  const Tensor y = concat({a, b, c}, 1);
  CHECK(y.shape() == Shape{2, 9, 4});
  CHECK(y.to_vector() == naive_concat({a, b, c}, 1, y.shape()));
  for (int64_t dim : {0, 2, -1}) {
    const Tensor p = rand_uniform({2, 3, 4}, -1.0, 1.0, gen);
    const Tensor z = concat({a, p}, dim);
    const int64_t d = dim < 0 ? dim + 3 : dim;
    CHECK(z.size(d) == 2 * a.size(d));
    CHECK(z.to_vector() == naive_concat({a, p}, d, z.shape()));
  }
}

TEST_CASE("concat gradient checks (float64)") {
  Generator gen(2);
  auto along = [](int64_t dim) {
    return [dim](const std::vector<Tensor>& in) { return concat(in, dim); };
  };
  check_gradients(along(0), {input({2, 3}, gen), input({1, 3}, gen), input({4, 3}, gen)});
  check_gradients(along(1), {input({2, 3}, gen), strided_input({2, 4}, gen)});
  check_gradients(along(-1), {strided_input({2, 3, 2}, gen), input({2, 3, 5}, gen)});
  check_gradients(along(1), {input({2, 1, 3}, gen), strided_input({2, 5, 3}, gen)});
  check_gradients(along(0), {input({3}, gen)});
}

TEST_CASE("concat edge cases") {
  Generator gen(3);
  SUBCASE("a single tensor is copied, not aliased") {
    const Tensor a = rand_uniform({3, 2}, -1.0, 1.0, gen);
    const Tensor y = concat({a}, 0);
    CHECK(y.to_vector() == a.to_vector());
    CHECK(y.storage() != a.storage());
  }
  SUBCASE("zero-length pieces") {
    Tensor a = input({2, 3}, gen), empty = input({2, 0}, gen), b = input({2, 1}, gen);
    const Tensor y = concat({a, empty, b}, 1);
    CHECK(y.shape() == Shape{2, 4});
    sum(y).backward();
    CHECK(a.grad().to_vector() == std::vector<double>(6, 1.0));
    CHECK(b.grad().to_vector() == std::vector<double>(2, 1.0));
  }
  SUBCASE("only inputs that require grad get one") {
    Tensor a = input({2, 2}, gen), c = input({2, 2}, gen, false);
    concat({c, a}, 0).backward(Tensor::full({4, 2}, 2.0, DType::F64));
    CHECK(a.grad().to_vector() == std::vector<double>(4, 2.0));
    CHECK(!c.has_grad());
  }
  SUBCASE("the gradient lands in a view's region of its owner") {
    Tensor owner = input({4, 3}, gen);
    const Tensor rows = owner.slice(0, 1, 3);
    concat({rows, input({1, 3}, gen, false)}, 0).backward(Tensor::ones({3, 3}, DType::F64));
    CHECK(owner.grad().to_vector() ==
          std::vector<double>{0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0});
  }
}

TEST_CASE("concat FLOPs: none, it only moves data") {
  reset_flop_count();
  concat({Tensor::ones({4, 5}), Tensor::ones({4, 5})}, 1);
  CHECK(flop_count() == 0);
}

TEST_CASE("concat rejects bad input") {
  const Tensor a = Tensor::ones({2, 3});
  CHECK_THROWS_WITH_AS(concat({}, 0), doctest::Contains("concat: empty list"), Error);
  CHECK_THROWS_WITH_AS(concat({a, Tensor::ones({2, 3}, DType::F64)}, 0),
                       doctest::Contains("concat: tensor 1 is F64"), Error);
  CHECK_THROWS_WITH_AS(concat({a, Tensor::ones({3, 3})}, 1),
                       doctest::Contains("concat: tensor 1 of shape [3,3]"), Error);
  CHECK_THROWS_WITH_AS(concat({a, Tensor::ones({2, 3, 1})}, 0),
                       doctest::Contains("concat: tensor 1"), Error);
  CHECK_THROWS_WITH_AS(concat({a, a}, 2), doctest::Contains("concat: dim 2 out of range"), Error);
  CHECK_THROWS_WITH_AS(concat({Tensor::scalar(1.0), Tensor::scalar(2.0)}, 0),
                       doctest::Contains("concat: cannot concatenate scalars"), Error);
  CHECK_THROWS_WITH_AS(concat({a, Tensor()}, 0), doctest::Contains("concat: undefined"), Error);
}
