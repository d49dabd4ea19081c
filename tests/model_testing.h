// Helpers for model tests: labels for a tiny batch and named-tensor lookup.
#pragma once
#include <doctest/doctest.h>

#include <string>
#include <utility>
#include <vector>

#include "engine/tensor.h"

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

}  // namespace motive::test
