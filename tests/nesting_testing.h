// Helpers shared by the nesting tests (every family's, and ResNet's own):
// snapshots, the elements outside a prefix region, and the regions a smaller
// model of a chain maps.
#pragma once
#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <vector>

#include "engine/ops.h"
#include "engine/optim.h"
#include "models/nest.h"
#include "tests/model_testing.h"

namespace motive::test {

// Deep copies of every tensor (values only), in the same order.
inline std::vector<Tensor> snapshot(const NamedTensors& tensors) {
  std::vector<Tensor> out;
  for (const auto& named : tensors) out.push_back(named.second.clone());
  return out;
}

inline bool bit_identical(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0);
}

// The elements of `whole` outside its leading `region` shape, row-major.
inline std::vector<double> outside(const Tensor& whole, const Shape& region) {
  std::vector<double> out;
  const std::vector<double> v = whole.to_vector();
  const Shape strides = contiguous_strides(whole.shape());
  for (size_t i = 0; i < v.size(); ++i) {
    bool inside = true;
    for (size_t d = 0, rem = i; d < region.size(); ++d) {
      inside = inside && static_cast<int64_t>(rem) / strides[d] < region[d];
      rem %= static_cast<size_t>(strides[d]);
    }
    if (!inside) out.push_back(v[i]);
  }
  return out;
}

// The leading region of the largest model's tensor `owner` that `model`'s
// tensor of the same name views (all zeros when it has none, or its own storage).
inline Shape mapped_region(const Model& model, const std::string& name, const Tensor& owner) {
  for (const auto& [n, t] : model.named_tensors())
    if (n == name && t.storage() == owner.storage()) return t.shape();
  return Shape(static_cast<size_t>(owner.dim()), 0);
}

// One SGD step of `model` on x with cycling labels; `seed` keys the forward's
// draws (dropout, stochastic depth), so two models given the same seed draw alike.
inline void train_step(const Model& model, Optimizer& opt, const Tensor& x, uint64_t seed = 0) {
  Generator gen(seed);
  opt.zero_grad();
  const Tensor logits = model.forward(x, ForwardContext{true, 0.1, &gen});
  Tensor y = Tensor::empty({x.size(0)}, DType::I32);
  for (int64_t i = 0; i < x.size(0); ++i)
    y.set({i}, static_cast<double>(i % logits.size(1)));
  cross_entropy(logits, y).backward();
  opt.step();
}

// Level `level` of the chain is prefix views of the largest model: each
// parameter shares the owner's storage, offset and strides, is a leaf with
// grad and fits inside it; its running buffers are shared exactly when the
// chain shares statistics.
inline void check_aliasing(const NestedChain& chain, size_t level) {
  const NamedTensors owners = chain.largest().named_tensors();
  const Model& model = chain.model(level);
  for (const auto& [name, view] : model.named_parameters()) {
    INFO(name);
    const Tensor owner = find_tensor(owners, name);
    CHECK(view.storage() == owner.storage());
    CHECK(view.offset() == owner.offset());
    CHECK(view.strides() == owner.strides());
    CHECK(view.is_leaf());
    CHECK(view.requires_grad());
    int64_t last = 0;
    for (int64_t d = 0; d < view.dim(); ++d) {
      CHECK(view.size(d) <= owner.size(d));
      last += (view.size(d) - 1) * view.stride(d);
    }
    CHECK(last < owner.numel());
  }
  for (const auto& [name, buffer] : model.named_buffers()) {
    INFO(name);
    const bool shared = buffer.storage() == find_tensor(owners, name).storage();
    CHECK(shared == (chain.bn_stats() == BnStats::Shared));
  }
}

// A backward of level `level` on x gives every one of its parameters a
// gradient and writes nothing outside the mapped regions of the owners'
// gradient buffers (the owner tensors themselves get no has_grad, unless
// `level` is the largest model).
inline void check_mapped_gradients(const NestedChain& chain, size_t level, const Tensor& x) {
  for (const Tensor& p : chain.parameters()) Tensor(p).zero_grad();
  const Model& model = chain.model(level);
  Generator draws(level);
  const Tensor logits = model.forward(x, ForwardContext{true, 0.1, &draws});
  const int64_t classes = model.config().num_classes;
  CHECK(logits.shape() == Shape{x.size(0), classes});
  cross_entropy(logits, cycling_labels(x.size(0), classes)).backward();
  for (const Tensor& p : model.parameters()) CHECK(p.has_grad());
  if (level + 1 == chain.size()) return;
  for (const auto& [name, owner] : chain.largest().named_parameters()) {
    INFO(name);
    CHECK_FALSE(owner.has_grad());
    const std::vector<double> rest =
        outside(owner.grad_buffer(), mapped_region(model, name, owner));
    CHECK(bit_identical(rest, std::vector<double>(rest.size(), 0.0)));
  }
}

}  // namespace motive::test
