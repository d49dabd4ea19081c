// Seeded, reproducible random numbers on a counter-based stream (Philox).
// A Generator is (seed, offset): each draw reserves a range of counters, so the
// same seed gives the same tensors on any machine and in any thread layout.
#pragma once
#include <cstdint>

#include "engine/tensor.h"

namespace motive {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0) : seed_(seed) {}
  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }
  void set_state(uint64_t seed, uint64_t offset) { seed_ = seed, offset_ = offset; }
  // Reserves n 32-bit draws; returns the first counter offset of the range.
  uint64_t reserve(uint64_t n) {
    const uint64_t first = offset_;
    offset_ += (n + 3) / 4 * 4;  // keep ranges aligned to whole Philox blocks
    return first;
  }

 private:
  uint64_t seed_;
  uint64_t offset_ = 0;
};

// In-place initialisers; they write through any strides (a view is filled in place).
Tensor& uniform_(Tensor& t, double low, double high, Generator& gen);
Tensor& normal_(Tensor& t, double mean, double std, Generator& gen);
// Normal(mean, std) resampled until inside [low, high] (timm's trunc_normal_).
Tensor& trunc_normal_(Tensor& t, double mean, double std, double low, double high, Generator& gen);
// He et al. 2015: Normal(0, gain / sqrt(fan)), gain sqrt(2) for ReLU.
Tensor& kaiming_normal_(Tensor& t, int64_t fan, Generator& gen, double gain = 1.4142135623730951);
// fan_in of a linear [out, in] or OHWI conv [out, kh, kw, in] weight; fan_out likewise.
int64_t fan_in(const Tensor& weight);
int64_t fan_out(const Tensor& weight);

// Fresh tensors (tests and quick scripts).
Tensor randn(const Shape& shape, Generator& gen, DType dtype = DType::F32);
Tensor rand_uniform(const Shape& shape, double low, double high, Generator& gen,
                    DType dtype = DType::F32);

}  // namespace motive
