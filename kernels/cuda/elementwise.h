// CUDA twins of kernels/cpu/elementwise.h: same names, same signatures, device
// pointers. Defined in elementwise.cu.
#pragma once
#include <cstdint>

#include "kernels/cpu/elementwise.h"  // BinaryOp

namespace motive::cuda {

using cpu::BinaryOp;

template <class T>
void binary(BinaryOp op, int64_t rank, const int64_t* shape, T* out, const int64_t* out_strides,
            const T* a, const int64_t* a_strides, const T* b, const int64_t* b_strides);

template <class T>
void affine(int64_t n, const T* a, wide_t<T> scale, wide_t<T> shift, T* out);

// out[reduced] += in, where out_strides are 0 on the summed dims. One thread
// per output element walks its reduced sub-space in a fixed order, so the
// result is deterministic (no atomics).
template <class T>
void sum_into(int64_t rank, const int64_t* shape, T* out, const int64_t* out_strides, const T* in,
              const int64_t* in_strides);

}  // namespace motive::cuda
