// dist::GradientSync in one process (a world of one: the sums leave the
// buckets as they are, so what is left is the bucketing, the start order,
// the scaling and the scatter): backward_with's hook starts every bucket of a
// real model during backward, buckets start in order whatever order their
// parameters become final in, and finish() packs what backward never
// reported. The sums over ranks: tests/test_trainer_distributed.cpp.
#include <doctest/doctest.h>

#include <cmath>

#include "dist/gradient_sync.h"
#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/random.h"
#include "models/nest.h"

using namespace motive;

namespace {

Tensor labels(int64_t n) {
  Tensor y = Tensor::empty({n}, DType::I32);
  for (int64_t i = 0; i < n; ++i) y.set({i}, static_cast<double>(i % 10));
  return y;
}

void zero_grads(const NestedChain& chain) {
  for (Tensor p : chain.parameters()) p.zero_grad();
}

}  // namespace

TEST_CASE("every parameter of a nested model is final during backward; its buckets start then") {
  struct Chain {
    std::vector<std::string> names;
    ModelShape shape;
  };
  for (const Chain& c : {Chain{{"resnet20x0.25", "resnet20x0.5"}, {3, 10, 16, 16}},
                         Chain{{"vit-ti-p7-d1-h1-hd16", "vit-ti-p7-d2-h2-hd16"}, {1, 10, 28, 28}}}) {
    Generator gen(0);
    const NestedChain chain = nest(c.names, c.shape, gen);
    const Tensor x = randn({4, c.shape.image_height, c.shape.image_width, c.shape.in_channels}, gen);
    for (size_t level = 0; level < chain.size(); ++level) {
      const Model& model = chain.model(level);
      INFO(model.name());
      std::vector<Tensor> params;
      int64_t bytes = 0;
      for (const auto& [name, p] : model.named_parameters()) {
        params.push_back(p);
        bytes += p.numel() * 4;
      }
      // The gradients of a plain backward.
      zero_grads(chain);
      cross_entropy(model.forward(x, ForwardContext{true}), labels(4)).backward();
      std::vector<std::vector<double>> plain;
      for (const Tensor& p : params) plain.push_back(p.grad().to_vector());

      zero_grads(chain);
      dist::GradientSync sync(Device::CPU, 4 << 10);  // 4 KiB: many buckets
      sync.begin(params, 0.5);
      const Tensor loss = cross_entropy(model.forward(x, ForwardContext{true}), labels(4));
      backward_with(loss, [&](const Tensor& leaf) { sync.ready(leaf); });
      CHECK(sync.buckets() > 3);
      CHECK(sync.started() == sync.buckets());  // the tape reported every parameter
      CHECK(sync.finish() == bytes);
      for (size_t i = 0; i < params.size(); ++i) {
        const std::vector<double> g = params[i].grad().to_vector();
        double worst = 0;
        for (size_t j = 0; j < g.size(); ++j)
          worst = std::max(worst, std::abs(g[j] - 0.5 * plain[i][j]) / (1e-6 + std::abs(plain[i][j])));
        CHECK(worst <= 1e-5);
      }
    }
  }
}

TEST_CASE("buckets start in order, whatever order backward finishes their parameters in") {
  // Registered a, b, c: reversed into c | b a with 6-element buckets (c,
  // larger than a bucket, is one of its own).
  Tensor a = Tensor::full({3}, 1.0).requires_grad_();
  Tensor b = Tensor::full({3}, 2.0).requires_grad_();
  Tensor c = Tensor::full({10}, 3.0).requires_grad_();
  Tensor other = Tensor::ones({2}).requires_grad_();
  for (const Tensor& p : {a, c}) accumulate_leaf_grad(p, Tensor::full(p.shape(), 4.0));
  dist::GradientSync sync(Device::CPU, 24);
  sync.begin({a, b, c}, 0.25);
  CHECK(sync.buckets() == 2);
  sync.ready(a);
  sync.ready(other);  // not a parameter: ignored
  CHECK(sync.started() == 0);  // b | a waits for c's bucket to start first
  sync.ready(c);
  CHECK(sync.started() == 1);
  CHECK(sync.finish() == 16 * 4);  // b never reported: packed by finish()
  CHECK(sync.started() == 2);
  CHECK(a.grad().to_vector() == std::vector<double>(3, 1.0));
  CHECK(c.grad().to_vector() == std::vector<double>(10, 1.0));
  REQUIRE(b.has_grad());  // marked: a rank whose shard was empty steps like the others
  CHECK(b.grad().to_vector() == std::vector<double>(3, 0.0));
  CHECK(!other.has_grad());

  // The next step: every bucket waits again.
  sync.begin({a, b, c}, 1.0);
  CHECK(sync.started() == 0);
  sync.ready(c);
  sync.ready(b);
  sync.ready(a);
  CHECK(sync.started() == 2);
  CHECK(sync.finish() == 16 * 4);
  CHECK_THROWS_WITH_AS((sync.begin({a}, 1.0), sync.begin({a}, 1.0)),
                       doctest::Contains("begin() before the last step's finish()"), Error);
}
