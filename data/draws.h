// A stream of Philox draws (kernels/philox.h) that computes each 4-draw block
// once: the shuffle and the augmentations read their draws in order, so
// caching one block quarters the Philox work.
#pragma once
#include <cstdint>

#include "kernels/philox.h"

namespace motive {

class PhiloxStream {
 public:
  // Draw k is word k % 4 of Philox block first_block + k / 4 under `key`.
  PhiloxStream(uint64_t key, uint64_t first_block) : key_(key), first_block_(first_block) {}

  uint32_t bits(uint64_t k) {
    const uint64_t block = first_block_ + k / 4;
    if (block != cached_block_) {
      cached_ = philox4x32(key_, block);
      cached_block_ = block;
    }
    return cached_.v[k % 4];
  }
  // Uniform in [0, 1) from 24 bits (the same mapping as philox_uniform).
  float uniform(uint64_t k) { return static_cast<float>(bits(k) >> 8) * (1.0f / 16777216.0f); }
  // Uniform integer in [0, n), n <= 2^32: the high word of bits * n (Lemire's
  // multiply-shift; its bias of n / 2^32 is far below any data set's concern).
  uint64_t below(uint64_t k, uint64_t n) { return (static_cast<uint64_t>(bits(k)) * n) >> 32; }

 private:
  uint64_t key_, first_block_;
  uint64_t cached_block_ = ~uint64_t(0);
  Philox4 cached_{};
};

}  // namespace motive
