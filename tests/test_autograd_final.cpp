// backward_with (engine/autograd.h): every leaf on the tape is reported once,
// as soon as no node still to run adds to its gradient, with that gradient
// final; the order follows the tape; leaves no gradient reached are reported
// too; leaves that need no gradient are not.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/random.h"

using namespace motive;

namespace {

// What the hook saw: the leaves in report order, and each one's gradient
// at the moment it was reported.
struct Reports {
  std::vector<const TensorImpl*> order;
  std::map<const TensorImpl*, std::vector<double>> grad_then;
  LeafFinal hook() {
    return [this](const Tensor& leaf) {
      order.push_back(&leaf.impl());
      grad_then[&leaf.impl()] = leaf.grad_buffer().to_vector();
    };
  }
  int64_t count(const Tensor& t) const { return std::count(order.begin(), order.end(), &t.impl()); }
  size_t position(const Tensor& t) const {
    return std::find(order.begin(), order.end(), &t.impl()) - order.begin();
  }
};

}  // namespace

TEST_CASE("a leaf used by several nodes is reported once, after its last accumulation") {
  Generator gen(0);
  Tensor w = randn({3, 4}, gen).requires_grad_();
  Tensor v = randn({2, 4}, gen).requires_grad_();
  Tensor x = randn({5, 4}, gen);
  // w is used by the first node made (linear) and by the last (mul): its
  // gradient is final only when the first node has run, after v's.
  const auto loss = [&] {
    const Tensor h = linear(x, w);                 // [5, 3]
    const Tensor k = linear(h, v.slice(1, 0, 3));  // [5, 2]; v through a view node
    return add(sum(k), sum(mul(w, w)));
  };
  loss().backward();
  const std::vector<double> w_plain = w.grad().to_vector(), v_plain = v.grad().to_vector();
  w.zero_grad();
  v.zero_grad();
  Reports seen;
  backward_with(loss(), seen.hook());
  CHECK(seen.count(w) == 1);
  CHECK(seen.count(v) == 1);
  CHECK(seen.order.size() == 2);
  CHECK(seen.position(v) < seen.position(w));
  // The gradient at report time is the final one, and Tensor::backward's.
  CHECK(seen.grad_then[&w.impl()] == w.grad().to_vector());
  CHECK(seen.grad_then[&v.impl()] == v.grad().to_vector());
  CHECK(w.grad().to_vector() == w_plain);
  CHECK(v.grad().to_vector() == v_plain);
}

TEST_CASE("leaves are reported in the order the tape finishes them") {
  // A chain of layers: the last layer's weight is final first, as in a
  // network's backward.
  Generator gen(1);
  std::vector<Tensor> weights;
  for (int i = 0; i < 4; ++i) weights.push_back(randn({4, 4}, gen).requires_grad_());
  Tensor h = randn({2, 4}, gen);
  for (const Tensor& w : weights) h = relu(linear(h, w));
  Reports seen;
  backward_with(sum(h), seen.hook());
  REQUIRE(seen.order.size() == 4);
  for (int i = 0; i < 4; ++i) CHECK(seen.order[i] == &weights[3 - i].impl());
}

TEST_CASE("leaves the gradient does not reach are reported; leaves without grad are not") {
  Generator gen(2);
  Tensor used = randn({3}, gen).requires_grad_();
  Tensor cut = randn({3}, gen).requires_grad_();  // behind a node that passes no gradient
  Tensor frozen = randn({3}, gen);               // requires no gradient: no edge
  // An op whose backward gives its input no gradient (as an index would).
  const Tensor doubled = mul_scalar(cut, 2.0);
  const Tensor stopped = record("stop", doubled.detach(), {doubled},
                                [](const Tensor&) { return std::vector<Tensor>{Tensor()}; });
  const Tensor loss = sum(add(mul(used, frozen), stopped));
  Reports seen;
  backward_with(loss, seen.hook());
  CHECK(seen.count(used) == 1);
  CHECK(seen.count(cut) == 1);
  CHECK(seen.count(frozen) == 0);
  CHECK(seen.order.size() == 2);
  CHECK(used.has_grad());
  CHECK(!cut.has_grad());
  CHECK(seen.grad_then[&cut.impl()] == std::vector<double>{0, 0, 0});
}

TEST_CASE("views of one buffer are leaves of their own; a leaf root is reported") {
  Tensor owner = Tensor::ones({4}).requires_grad_();
  Tensor head;
  {
    NoGradGuard building;  // as a nested model's parameter views are made
    head = owner.slice(0, 0, 2);
  }
  Reports seen;
  backward_with(add(sum(mul_scalar(head, 3.0)), sum(owner)), seen.hook());
  CHECK(seen.count(head) == 1);
  CHECK(seen.count(owner) == 1);
  CHECK(owner.grad().to_vector() == std::vector<double>{4, 4, 1, 1});

  Reports root;
  Tensor leaf = Tensor::ones({1}).requires_grad_();
  backward_with(leaf, root.hook());
  CHECK(root.count(leaf) == 1);
  CHECK(leaf.grad().item() == 1.0);
}
