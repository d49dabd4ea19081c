// CUDA twin of kernels/cpu/dropout.h: same name, same signature, device
// pointers. The mask is drawn from the same Philox stream (kernels/philox.h) by
// the same integer keep rule, so CPU and CUDA outputs are bit-identical for the
// same (seed, offset). Defined in dropout.cu.
#pragma once
#include <cstdint>

namespace motive::cuda {

template <class T>
void dropout_apply(int64_t groups, int64_t group_size, const T* x, uint64_t seed, uint64_t offset,
                   uint32_t threshold, T scale, T* out);

}  // namespace motive::cuda
