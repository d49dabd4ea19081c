// Philox4x32-10 (Salmon et al., "Parallel Random Numbers: As Easy as 1, 2, 3",
// SC'11): a counter-based generator. Element i of a random tensor is a pure
// function of (seed, counter), so CPU and CUDA kernels draw identical numbers
// in any order, and a run is reproducible from (seed, offset) alone.
#pragma once
#include <cstdint>

#include "kernels/host_device.h"

namespace motive {

struct Philox4 {
  uint32_t v[4];
};

MOTIVE_HOST_DEVICE inline Philox4 philox4x32(uint64_t seed, uint64_t counter) {
  constexpr uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
  constexpr uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;
  uint32_t c0 = static_cast<uint32_t>(counter), c1 = static_cast<uint32_t>(counter >> 32);
  uint32_t c2 = 0, c3 = 0;
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = static_cast<uint64_t>(kMul0) * c0;
    const uint64_t p1 = static_cast<uint64_t>(kMul1) * c2;
    const uint32_t n0 = static_cast<uint32_t>(p1 >> 32) ^ c1 ^ k0;
    const uint32_t n2 = static_cast<uint32_t>(p0 >> 32) ^ c3 ^ k1;
    c1 = static_cast<uint32_t>(p1);
    c3 = static_cast<uint32_t>(p0);
    c0 = n0;
    c2 = n2;
    k0 += kWeyl0;
    k1 += kWeyl1;
  }
  return {{c0, c1, c2, c3}};
}

// Uniform in [0, 1) from the i-th 32-bit draw of the stream (seed, offset).
MOTIVE_HOST_DEVICE inline float philox_uniform(uint64_t seed, uint64_t offset, uint64_t i) {
  const uint64_t n = offset + i;
  const uint32_t bits = philox4x32(seed, n / 4).v[n % 4];
  return static_cast<float>(bits >> 8) * (1.0f / 16777216.0f);  // 24 random bits
}

}  // namespace motive
