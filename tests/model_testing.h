// Helpers for model tests: labels for a tiny batch, named-tensor lookup, the
// moments of initialised weights, and a family's analytic counts against a
// built model.
#pragma once
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "engine/autograd.h"
#include "engine/flops.h"
#include "engine/tensor.h"
#include "models/model.h"

namespace motive::test {

// int32 class labels 0, 1, ..., classes-1, 0, 1, ... for a batch of n.
inline Tensor cycling_labels(int64_t n, int64_t classes) {
  Tensor y = Tensor::empty({n}, DType::I32);
  for (int64_t i = 0; i < n; ++i) y.set({i}, static_cast<double>(i % classes));
  return y;
}

// The tensor called `name`; fails the test when there is none.
inline Tensor find_tensor(const std::vector<std::pair<std::string, Tensor>>& tensors,
                          const std::string& name) {
  for (const auto& [n, t] : tensors)
    if (n == name) return t;
  FAIL("no tensor " << name);
  return Tensor();
}

// Mean and standard deviation of a tensor's elements.
inline std::pair<double, double> moments(const Tensor& t) {
  const std::vector<double> v = t.to_vector();
  double sum = 0, sq = 0;
  for (double e : v) sum += e, sq += e * e;
  const double n = static_cast<double>(v.size()), mean = sum / n;
  return {mean, std::sqrt(sq / n - mean * mean)};
}

// A model built from `cfg` has cfg.parameter_count() parameters, and an eval
// forward of one h x w image counts (engine/flops.h) at least the analytic
// flops_per_image and at most `slack` times it: the ops also count what the
// family's analytic figure leaves out (norms, activations, additions, biases).
inline void check_counts(const ModelConfig& cfg, int64_t h, int64_t w, double slack) {
  Generator gen(0);
  const auto model = build_model(cfg, gen);
  int64_t numel = 0;
  for (const Tensor& p : model->parameters()) numel += p.numel();
  CHECK(numel == cfg.parameter_count());
  NoGradGuard eval;
  reset_flop_count();
  model->forward(randn({1, h, w, cfg.in_channels}, gen), ForwardContext{});
  const int64_t analytic = cfg.flops_per_image(h, w);
  CHECK(flop_count() >= analytic);
  CHECK(static_cast<double>(flop_count()) <= slack * static_cast<double>(analytic));
}

}  // namespace motive::test
