#include "trainer/finite.h"

#include <cmath>
#include <map>
#include <utility>
#include <vector>

#include "engine/autograd.h"
#include "engine/ops.h"

namespace motive {
namespace {

bool floating(DType t) { return t == DType::F32 || t == DType::F64 || t == DType::BF16; }

// x * 0 is 0 for every finite x and NaN for NaN and +-inf, and a NaN survives
// the sum: the sum is NaN exactly when an element is not finite.
template <class T>
double times_zero_sum(const T* p, int64_t n) {
  T sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += p[i] * T(0);
  return sum;
}

}  // namespace

bool all_finite(const NamedTensors& tensors) {
  NoGradGuard no_grad;
  double total = 0;
  // Dense float32/float64 tensors in host memory are read in place (a step's
  // worth of the main job's state in well under 1% of its time); the others
  // go through the engine's ops, one concat + x * 0 + sum per device and dtype.
  std::map<std::pair<Device, DType>, std::vector<Tensor>> others;
  for (const auto& [name, t] : tensors) {
    if (t.numel() == 0 || !floating(t.dtype())) continue;
    if (t.device() == Device::CPU && t.is_contiguous() && t.dtype() == DType::F32)
      total += times_zero_sum(t.data<float>(), t.numel());
    else if (t.device() == Device::CPU && t.is_contiguous() && t.dtype() == DType::F64)
      total += times_zero_sum(t.data<double>(), t.numel());
    else
      others[{t.device(), t.dtype()}].push_back(t.reshape({t.numel()}));
  }
  for (const auto& [where, flat] : others)
    total += sum(mul_scalar(concat(flat, 0), 0.0)).item();
  return std::isfinite(total);
}

std::optional<std::string> find_non_finite(const NamedTensors& tensors) {
  for (const auto& [name, t] : tensors) {
    if (!floating(t.dtype())) continue;
    int64_t bad = 0;
    for (const double v : t.to_vector()) bad += !std::isfinite(v);
    if (bad > 0)
      return message(name, " (", bad, " of ", t.numel(), " values are NaN or infinite)");
  }
  return std::nullopt;
}

}  // namespace motive
