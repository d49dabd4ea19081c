// The tape: reverse-order backward, accumulation, no_grad, graph release,
// and the property the weights map needs: gradients through views land in the
// viewed region of the owner's gradient buffer with no copy.
#include <doctest/doctest.h>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/random.h"

using namespace motive;

TEST_CASE("gradient of a sub-block weight view lands exactly in the owner's sub-block") {
  Generator gen(0);
  Tensor owner = randn({6, 5}, gen).requires_grad_();
  Tensor w;
  {
    NoGradGuard building;  // parameter views are made when the model is built
    w = owner.slice(0, 0, 4).slice(1, 0, 3);  // the base layer's [4, 3] weight
  }
  CHECK(w.is_leaf());
  CHECK(w.requires_grad());
  CHECK(w.storage() == owner.storage());
  Tensor x = randn({2, 3}, gen);
  const int64_t copied = memory_stats().bytes_copied;
  Tensor y = linear(x, w);
  CHECK(memory_stats().bytes_copied == copied);  // the weight was used in place
  sum(y).backward();
  Tensor g = owner.grad_buffer();
  for (int64_t i = 0; i < 6; ++i)
    for (int64_t j = 0; j < 5; ++j) {
      // d/dw[i][j] sum(x w^T) = sum_n x[n][j]
      const double expected = (i < 4 && j < 3) ? x.at({0, j}) + x.at({1, j}) : 0.0;
      CHECK(g.at({i, j}) == doctest::Approx(expected).epsilon(1e-6));
    }
  CHECK(w.has_grad());
  CHECK(!owner.has_grad());  // the owner itself was not used
  CHECK(w.grad().to_vector() == owner.grad_buffer().slice(0, 0, 4).slice(1, 0, 3).to_vector());
}

TEST_CASE("gradients accumulate until zero_grad; zero_grad clears only the view's region") {
  Tensor owner = Tensor::ones({4}).requires_grad_();
  Tensor head;
  {
    NoGradGuard building;
    head = owner.slice(0, 0, 2);
  }
  sum(mul_scalar(owner, 2.0)).backward();
  sum(mul_scalar(head, 3.0)).backward();
  CHECK(owner.grad().to_vector() == std::vector<double>{5, 5, 2, 2});
  head.zero_grad();
  CHECK(owner.grad_buffer().to_vector() == std::vector<double>{0, 0, 2, 2});
  CHECK(!head.has_grad());
}

TEST_CASE("backward order handles shared subexpressions (diamond)") {
  Tensor x = Tensor::from_vector({2.0}, {1}, DType::F64).requires_grad_();
  Tensor y = mul(x, x);          // x^2
  Tensor z = add(mul(y, x), y);  // x^3 + x^2
  sum(z).backward();
  CHECK(x.grad().item() == doctest::Approx(3 * 4 + 2 * 2));
}

TEST_CASE("views of tensors with a history record their backward") {
  Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3}, DType::F64).requires_grad_();
  Tensor y = mul_scalar(x, 2.0);
  Tensor v = y.transpose(0, 1).slice(0, 1, 3).reshape({4});
  CHECK(!v.is_leaf());
  sum(mul(v, Tensor::from_vector({1, 10, 100, 1000}, {4}, DType::F64))).backward();
  // v = [y01, y11, y02, y12] -> weights land on x[0][1], x[1][1], x[0][2], x[1][2].
  CHECK(x.grad().to_vector() == std::vector<double>{0, 2, 200, 0, 20, 2000});
}

TEST_CASE("a view of a parameter made in grad mode marks the parameter, not the owner") {
  Tensor owner = Tensor::ones({3, 4}).requires_grad_();
  Tensor p;
  {
    NoGradGuard building;
    p = owner.slice(1, 0, 2);  // [3, 2] parameter view
  }
  Tensor pt = p.transpose(0, 1);  // made during a forward: records a node
  CHECK(!pt.is_leaf());
  sum(mul_scalar(pt, 2.0)).backward();
  CHECK(p.has_grad());
  CHECK(!owner.has_grad());
  CHECK(owner.grad_buffer().to_vector() == std::vector<double>{2, 2, 0, 0, 2, 2, 0, 0, 2, 2, 0, 0});
}

TEST_CASE("expand of a leaf sums the gradient back") {
  Tensor b = Tensor::from_vector({1, 2}, {2}, DType::F64).requires_grad_();
  sum(b.expand({3, 2})).backward();
  CHECK(b.grad().to_vector() == std::vector<double>{3, 3});
}

TEST_CASE("no_grad records nothing; requires_grad propagates") {
  Tensor w = Tensor::ones({2}).requires_grad_();
  Tensor x = Tensor::ones({2});
  CHECK(!mul(x, x).requires_grad());
  CHECK(mul(w, x).requires_grad());
  {
    NoGradGuard guard;
    CHECK(!grad_enabled());
    Tensor y = mul(w, x);
    CHECK(!y.requires_grad());
    CHECK(y.is_leaf());
  }
  CHECK(grad_enabled());
  CHECK_THROWS_AS(sum(mul(x, x)).backward(), Error);
}

TEST_CASE("the graph is released after backward") {
  Tensor w = Tensor::ones({3}).requires_grad_();
  Tensor loss = sum(mul(w, w));
  loss.backward();
  CHECK_THROWS_WITH_AS(loss.backward(), doctest::Contains("already released"), Error);
}

TEST_CASE("an activation nothing saved dies in forward, not at backward") {
  Generator gen(0);
  const Tensor x = randn({1000}, gen).requires_grad_();
  const int64_t bytes = 1000 * 4;
  const int64_t before = memory_stats().current_bytes;
  // (x*3 + 1) feeds relu, which saves only its output; the two intermediates
  // have no handle left once the expression is built.
  const Tensor y = relu(x * 3.0 + 1.0);
  const Tensor loss = sum(y);
  CHECK(memory_stats().current_bytes - before <= bytes + 64);  // y and the scalar loss
  loss.backward();
  const std::vector<double> xv = x.to_vector(), gv = x.grad().to_vector();
  for (size_t i = 0; i < xv.size(); ++i) CHECK(gv[i] == (3 * xv[i] + 1 > 0 ? 3.0 : 0.0));
}

TEST_CASE("thousands of steps leave no memory behind") {
  Generator gen(5);
  Tensor w = randn({32, 16}, gen).requires_grad_();
  Tensor x = randn({8, 16}, gen);
  auto step = [&] {
    w.zero_grad();
    sum(mul(linear(x, w), linear(x, w))).backward();
  };
  step();
  const int64_t live = memory_stats().current_bytes;
  for (int i = 0; i < 2000; ++i) step();
  CHECK(memory_stats().current_bytes == live);
}

TEST_CASE("non-scalar backward needs a seed of the right shape") {
  Tensor w = Tensor::ones({2}).requires_grad_();
  Tensor y = mul_scalar(w, 3.0);
  CHECK_THROWS_AS(y.backward(), Error);
  CHECK_THROWS_AS(y.backward(Tensor::ones({3})), Error);
  y.backward(Tensor::from_vector({1, 2}, {2}));
  CHECK(w.grad().to_vector() == std::vector<double>{3, 6});
}
