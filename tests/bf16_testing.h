// bf16 op tests against a float64 reference.
//
// check_bf16(f, inputs): inputs are leaves (bf16 activations, and float32
// parameters where an op keeps them in float). f runs on them, and again on
// float64 copies holding exactly the same values; the outputs and then, after
// back-propagating one random seed (rounded to bf16 on the bf16 side), every
// input gradient are compared as ||bf16 - f64|| / ||f64|| < tol. So the test
// measures only what bf16 storage and float accumulation lose (about 2^-8 per
// rounding), and fails on a kernel that accumulates in bf16 over long sums, on
// an unwritten element (allocations are poisoned) or on a NaN.
#pragma once
#include <doctest/doctest.h>

#include <vector>

#include "tests/gradcheck.h"

namespace motive::test {

// A bf16 leaf with gradcheck's values (|x| in [0.1, 1], random signs), rounded.
inline Tensor input_bf16(const Shape& shape, Generator& gen, bool requires_grad = true) {
  return input(shape, gen, requires_grad, DType::BF16);
}

// The float64 twin of a leaf: same values, same requires_grad, dense.
inline Tensor f64_twin(const Tensor& t) {
  if (!t.defined()) return t;
  Tensor d = t.detach().to(DType::F64);
  if (t.requires_grad()) d.requires_grad_();
  return d;
}

inline void check_bf16(const Fn& f, const std::vector<Tensor>& inputs, double tol = 1e-2) {
  set_poison_allocations(true);
  std::vector<Tensor> ref_inputs;
  for (const Tensor& t : inputs) {
    if (t.defined() && t.requires_grad()) const_cast<Tensor&>(t).zero_grad();  // reused inputs
    ref_inputs.push_back(f64_twin(t));
  }
  const Tensor out = f(inputs), ref = f(ref_inputs);
  REQUIRE(out.shape() == ref.shape());
  const double fwd = rel_error(out, ref);
  CHECK_MESSAGE(fwd < tol, "forward relative error " << fwd);
  if (!out.requires_grad()) return;
  Generator gen(7);
  const Tensor seed = input(out.shape(), gen, false).to(out.dtype());
  out.backward(seed);
  ref.backward(seed.to(DType::F64));
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined() || !inputs[i].requires_grad()) continue;
    REQUIRE_MESSAGE(inputs[i].has_grad(), "input " << i << " got no gradient");
    CHECK_MESSAGE(inputs[i].grad().dtype() == inputs[i].dtype(),
                  "input " << i << " gradient has dtype " << dtype_name(inputs[i].grad().dtype()));
    const double err = rel_error(inputs[i].grad(), ref_inputs[i].grad());
    CHECK_MESSAGE(err < tol, "input " << i << " gradient relative error " << err);
  }
}

}  // namespace motive::test
