#include "engine/random.h"

#include <cmath>
#include <vector>

#include "kernels/philox.h"

namespace motive {
namespace {

// Draws n values with `draw(u1, u2)` (two uniforms per value), then writes them
// through the tensor's strides.
template <class Draw>
Tensor& fill_with(Tensor& t, Generator& gen, Draw draw) {
  const int64_t n = t.numel();
  const uint64_t seed = gen.seed(), offset = gen.reserve(2 * static_cast<uint64_t>(n));
  std::vector<double> values(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const double u1 = philox_uniform(seed, offset, 2 * i);
    const double u2 = philox_uniform(seed, offset, 2 * i + 1);
    values[i] = draw(u1, u2, static_cast<uint64_t>(i));
  }
  t.copy_(Tensor::from_vector(values, t.shape(), DType::F64));
  return t;
}

// Box-Muller; 1 - u1 keeps the log argument in (0, 1].
double gaussian(double u1, double u2) {
  return std::sqrt(-2.0 * std::log(1.0 - u1)) * std::cos(6.283185307179586 * u2);
}

}  // namespace

Tensor& uniform_(Tensor& t, double low, double high, Generator& gen) {
  return fill_with(t, gen, [&](double u, double, uint64_t) { return low + (high - low) * u; });
}

Tensor& normal_(Tensor& t, double mean, double std, Generator& gen) {
  return fill_with(t, gen, [&](double u1, double u2, uint64_t) { return mean + std * gaussian(u1, u2); });
}

Tensor& trunc_normal_(Tensor& t, double mean, double std, double low, double high,
                      Generator& gen) {
  MOTIVE_CHECK(low < high, "trunc_normal_: empty interval [", low, ", ", high, "]");
  // Rejection on a per-element sub-stream keeps the result independent of how
  // many retries other elements needed.
  const uint64_t seed = gen.seed(), stream = gen.reserve(1);
  return fill_with(t, gen, [&](double u1, double u2, uint64_t i) {
    for (uint64_t attempt = 0;; ++attempt) {
      const double v = mean + std * gaussian(u1, u2);
      if ((v >= low && v <= high) || attempt >= 1000) return std::fmin(std::fmax(v, low), high);
      const uint64_t counter = (stream + 1 + i) * 2048 + 2 * attempt;
      u1 = philox_uniform(seed ^ 0x5bd1e995u, counter, 0);
      u2 = philox_uniform(seed ^ 0x5bd1e995u, counter, 1);
    }
  });
}

Tensor& kaiming_normal_(Tensor& t, int64_t fan, Generator& gen, double gain) {
  MOTIVE_CHECK(fan > 0, "kaiming_normal_: fan must be positive, got ", fan);
  return normal_(t, 0.0, gain / std::sqrt(static_cast<double>(fan)), gen);
}

int64_t fan_in(const Tensor& w) {
  MOTIVE_CHECK(w.dim() >= 2, "fan_in: weight of shape ", shape_str(w.shape()), " has no fan");
  return w.numel() / w.size(0);
}

int64_t fan_out(const Tensor& w) {
  MOTIVE_CHECK(w.dim() >= 2, "fan_out: weight of shape ", shape_str(w.shape()), " has no fan");
  return w.numel() / w.size(-1);
}

Tensor randn(const Shape& shape, Generator& gen, DType dtype) {
  Tensor t = Tensor::empty(shape, dtype);
  return normal_(t, 0.0, 1.0, gen);
}

Tensor rand_uniform(const Shape& shape, double low, double high, Generator& gen, DType dtype) {
  Tensor t = Tensor::empty(shape, dtype);
  return uniform_(t, low, high, gen);
}

}  // namespace motive
