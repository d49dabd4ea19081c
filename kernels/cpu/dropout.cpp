#include "kernels/cpu/dropout.h"

#include <algorithm>
#include <cmath>

#include "kernels/philox.h"

namespace motive::cpu {

uint32_t dropout_threshold(double p) {
  return static_cast<uint32_t>(std::ceil(p * 16777216.0));  // p * 2^24 is exact in double
}

template <class T>
void dropout_apply(int64_t groups, int64_t group_size, const T* x, uint64_t seed, uint64_t offset,
                   uint32_t threshold, T scale, T* out) {
  if (groups == 0) return;
  // One Philox call yields four 32-bit draws: iterate over the Philox blocks
  // covering counters [offset, offset + groups) so each block is computed once,
  // whatever the alignment of `offset`.
  const int64_t first_block = static_cast<int64_t>(offset / 4);
  const int64_t last_block = static_cast<int64_t>((offset + groups - 1) / 4);
  const int64_t lead = static_cast<int64_t>(offset % 4);  // lanes of the first block before group 0
#pragma omp parallel for if (groups * group_size > (1 << 16))
  for (int64_t block = first_block; block <= last_block; ++block) {
    const Philox4 bits = philox4x32(seed, static_cast<uint64_t>(block));
    // Groups g0 + lane for the lanes of this block that fall inside [0, groups).
    const int64_t g0 = (block - first_block) * 4 - lead;
    const int64_t lo = std::max<int64_t>(0, -g0), hi = std::min<int64_t>(4, groups - g0);
    for (int64_t lane = lo; lane < hi; ++lane) {
      const bool keep = (bits.v[lane] >> 8) >= threshold;
      const int64_t start = (g0 + lane) * group_size;
      // Dropped elements are written as 0, not x * 0: an inf or NaN there is dropped too.
      for (int64_t j = start; j < start + group_size; ++j) out[j] = keep ? x[j] * scale : T(0);
    }
  }
}

template void dropout_apply<float>(int64_t, int64_t, const float*, uint64_t, uint64_t, uint32_t,
                                   float, float*);
template void dropout_apply<double>(int64_t, int64_t, const double*, uint64_t, uint64_t, uint32_t,
                                    double, double*);

}  // namespace motive::cpu
