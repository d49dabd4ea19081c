// Float64 central-difference gradient checks and input helpers for op tests.
//
// check_gradients(f, inputs): L = sum(f(inputs) * R) for a fixed random R (so
// every output element matters with a distinct weight); compares dL/dx from
// backward() with (L(x + eps) - L(x - eps)) / 2 eps for every element of every
// input that requires grad. Inputs may be strided views: the analytic gradient
// is read through the view from the owner's gradient buffer.
#pragma once
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/random.h"

namespace motive::test {

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

// A leaf tensor of `shape` with values in [-1, 1] (never exactly 0), float64
// unless `dtype` says otherwise (the same values, rounded).
inline Tensor input(const Shape& shape, Generator& gen, bool requires_grad = true,
                    DType dtype = DType::F64) {
  Tensor t = rand_uniform(shape, 0.1, 1.0, gen, DType::F64);
  // Random signs, magnitudes away from zero: kinks (relu, max) stay clear of eps.
  Tensor sign = rand_uniform(shape, -1.0, 1.0, gen, DType::F64);
  std::vector<double> v = t.to_vector(), s = sign.to_vector();
  for (size_t i = 0; i < v.size(); ++i) v[i] = s[i] < 0 ? -v[i] : v[i];
  Tensor out = Tensor::from_vector(v, shape, dtype);
  if (requires_grad) out.requires_grad_();
  return out;
}

// The same, but a non-contiguous leaf view: the last two dims of a transposed,
// padded buffer (so neither contiguity nor a zero offset can be assumed).
inline Tensor strided_input(const Shape& shape, Generator& gen, DType dtype = DType::F64) {
  MOTIVE_CHECK(shape.size() >= 2, "strided_input: rank >= 2");
  Shape big = shape;
  std::swap(big[big.size() - 1], big[big.size() - 2]);
  big[big.size() - 1] += 2;  // padding columns the view skips
  Tensor owner = input(big, gen, true, dtype);
  const int64_t r = static_cast<int64_t>(shape.size());
  NoGradGuard parameter_view;  // a leaf view, like a base model's parameter
  return owner.slice(r - 1, 1, 1 + shape[r - 2]).transpose(r - 1, r - 2);
}

// Float32 inputs (parity and mixed-precision checks).
inline Tensor input32(const Shape& shape, Generator& gen, bool requires_grad = true) {
  return input(shape, gen, requires_grad, DType::F32);
}
inline Tensor strided_input32(const Shape& shape, Generator& gen) {
  return strided_input(shape, gen, DType::F32);
}

inline void check_gradients(const Fn& f, const std::vector<Tensor>& inputs, double eps = 1e-6,
                            double atol = 1e-7, double rtol = 1e-5) {
  Generator gen(1234);
  Tensor probe = f(inputs);
  const Tensor weights = rand_uniform(probe.shape(), -1.0, 1.0, gen, DType::F64);
  auto loss = [&]() {
    NoGradGuard no_grad;
    return sum(mul(f(inputs), weights)).item();
  };
  for (const Tensor& in : inputs)
    if (in.requires_grad()) const_cast<Tensor&>(in).zero_grad();
  sum(mul(f(inputs), weights)).backward();
  for (size_t k = 0; k < inputs.size(); ++k) {
    Tensor x = inputs[k];
    if (!x.requires_grad()) continue;
    REQUIRE_MESSAGE(x.has_grad(), "input " << k << " received no gradient");
    const std::vector<double> analytic = x.grad().to_vector();
    std::vector<double> values = x.to_vector();
    const Shape strides = contiguous_strides(x.shape());
    for (size_t i = 0; i < values.size(); ++i) {
      Shape index(x.dim());
      for (int64_t d = 0, rem = static_cast<int64_t>(i); d < x.dim(); ++d) {
        index[d] = rem / strides[d];
        rem %= strides[d];
      }
      const double v = values[i];
      x.set(index, v + eps);
      const double up = loss();
      x.set(index, v - eps);
      const double down = loss();
      x.set(index, v);
      const double numeric = (up - down) / (2 * eps);
      const double err = std::fabs(analytic[i] - numeric);
      if (!(err <= atol + rtol * std::fabs(numeric))) {
        FAIL("input " << k << " element " << i << " " << shape_str(index) << ": analytic "
                      << analytic[i] << " numeric " << numeric);
      }
    }
  }
}

// ||a - b|| / ||b|| over all elements, both brought to the host; NaN -> inf.
inline double rel_error(const Tensor& a, const Tensor& b) {
  const auto va = a.to_vector(), vb = b.to_vector();
  REQUIRE(va.size() == vb.size());
  double diff = 0, ref = 0;
  for (size_t i = 0; i < va.size(); ++i) {
    if (!std::isfinite(va[i]) && !(std::isinf(va[i]) && va[i] == vb[i])) return INFINITY;
    if (std::isinf(vb[i])) continue;
    diff += (va[i] - vb[i]) * (va[i] - vb[i]);
    ref += vb[i] * vb[i];
  }
  return ref == 0 ? std::sqrt(diff) : std::sqrt(diff / ref);
}

// Max relative error |a - b| / max(1, |b|) between two tensors; NaN -> infinity.
inline double max_rel_error(const Tensor& a, const Tensor& b) {
  const auto va = a.to_vector(), vb = b.to_vector();
  REQUIRE(va.size() == vb.size());
  double worst = 0;
  for (size_t i = 0; i < va.size(); ++i) {
    const double e = std::fabs(va[i] - vb[i]) / std::fmax(1.0, std::fabs(vb[i]));
    if (!(e == e)) return INFINITY;
    worst = std::fmax(worst, e);
  }
  return worst;
}

}  // namespace motive::test
