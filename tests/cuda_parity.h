// CUDA-vs-CPU parity checks for op tests.
//
// MOTIVE_REQUIRE_CUDA() ends a test case early, printing one line saying why,
// when this build or machine has no usable GPU (CI): such tests pass vacuously
// there and run for real on the GPU machine (tools/gpu-check.sh).
//
// check_parity(f, inputs): runs f on the CPU inputs and on CUDA copies with the
// same geometry (a strided view stays a strided view of a copied owner),
// compares the outputs, then back-propagates the same random seed gradient on
// both sides and compares every input gradient. Error = ||cuda - cpu|| / ||cpu||
// (NaN -> infinity). Allocations are poisoned with NaN bytes, so an element a
// kernel forgot to write fails the comparison.
#pragma once
#include <doctest/doctest.h>

#include <cmath>
#include <iostream>
#include <vector>

#include "engine/device.h"
#include "tests/gradcheck.h"

namespace motive::test {

inline bool cuda_ready() {
  static const bool ready = [] {
    const bool ok = cuda_available();
    if (!ok) std::cout << "CUDA parity tests skipped: " << cuda_describe() << "\n";
    set_poison_allocations(true);
    return ok;
  }();
  return ready;
}

#define MOTIVE_REQUIRE_CUDA()            \
  do {                                   \
    if (!::motive::test::cuda_ready()) return; \
  } while (0)

// A CUDA tensor with t's geometry over a device copy of t's whole storage.
// Leaves that require grad stay leaves that require grad (grads land in the
// copy's grad storage through the same view).
inline Tensor cuda_copy_like(const Tensor& t) {
  auto whole = std::make_shared<TensorImpl>();
  whole->storage = t.storage();
  whole->shape = {static_cast<int64_t>(t.storage()->nbytes() / dtype_size(t.dtype()))};
  whole->strides = {1};
  whole->dtype = t.dtype();
  const Tensor device_whole = Tensor(whole).to(Device::CUDA);
  auto view = std::make_shared<TensorImpl>(t.impl());
  view->storage = device_whole.storage();
  view->grad_fn = nullptr;
  view->grad_touched = false;
  return Tensor(std::move(view));
}

inline void check_parity(const Fn& f, const std::vector<Tensor>& cpu_inputs, double tol = 1e-4) {
  std::vector<Tensor> cuda_inputs;
  for (const Tensor& t : cpu_inputs) cuda_inputs.push_back(t.defined() ? cuda_copy_like(t) : t);
  for (const Tensor& t : cpu_inputs)
    if (t.defined() && t.requires_grad()) const_cast<Tensor&>(t).zero_grad();
  const Tensor out_cpu = f(cpu_inputs);
  const Tensor out_cuda = f(cuda_inputs);
  REQUIRE(out_cuda.device() == Device::CUDA);
  REQUIRE(out_cuda.shape() == out_cpu.shape());
  const double fwd = rel_error(out_cuda, out_cpu);
  CHECK_MESSAGE(fwd < tol, "forward relative error " << fwd);
  if (!out_cpu.requires_grad()) return;
  Generator gen(99);
  const Tensor seed = rand_uniform(out_cpu.shape(), -1.0, 1.0, gen, out_cpu.dtype());
  out_cpu.backward(seed);
  out_cuda.backward(seed.to(Device::CUDA));
  for (size_t i = 0; i < cpu_inputs.size(); ++i) {
    const Tensor& c = cpu_inputs[i];
    if (!c.defined() || !c.requires_grad()) continue;
    REQUIRE_MESSAGE(cuda_inputs[i].has_grad(), "input " << i << " got no gradient on CUDA");
    const double err = rel_error(cuda_inputs[i].grad(), c.grad());
    CHECK_MESSAGE(err < tol, "input " << i << " gradient relative error " << err);
  }
}

}  // namespace motive::test
