// Dropout and drop-path masks drawn on the fly from a counter-based Philox
// stream, so nothing is stored between forward and backward: the backward
// regenerates the same mask from (seed, offset). A CUDA kernel computing the
// same keep() rule draws the identical mask.
#pragma once
#include <cstdint>

namespace motive::cpu {

// The keep rule in integer form. Group g survives when the 24-bit uniform
// u = philox_uniform(seed, offset, g) satisfies u >= p. Since u = (bits >> 8) / 2^24
// exactly, that is (bits >> 8) >= ceil(p * 2^24): an exact integer compare.
// p = 1 gives 2^24, which no draw reaches (everything dropped).
uint32_t dropout_threshold(double p);

// out[i] = x[i] * scale when the group i / group_size survives, else 0, for
// groups * group_size contiguous elements. Group g uses the (offset + g)-th
// 32-bit draw of `seed`. group_size 1 is dropout; one group per sample is
// drop-path. The same call with the gradient as x is the backward.
template <class T>
void dropout_apply(int64_t groups, int64_t group_size, const T* x, uint64_t seed, uint64_t offset,
                   uint32_t threshold, T scale, T* out);

}  // namespace motive::cpu
