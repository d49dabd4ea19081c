// Elementwise kernels over strided operands of one common (broadcast) shape.
// Broadcasting is expressed by the caller as stride 0.
#pragma once
#include <cstdint>

#include "kernels/bf16.h"

namespace motive::cpu {

enum class BinaryOp { Add, Sub, Mul, Div };

// out = a (op) b. `out` may alias `a` or `b` with the same strides (in place).
template <class T>
void binary(BinaryOp op, int64_t rank, const int64_t* shape, T* out, const int64_t* out_strides,
            const T* a, const int64_t* a_strides, const T* b, const int64_t* b_strides);

// out = a * scale + shift, contiguous; the scalars in wide_t<T> (not rounded
// to bf16 first).
template <class T>
void affine(int64_t n, const T* a, wide_t<T> scale, wide_t<T> shift, T* out);

// out[reduced] += in: `out_strides` are 0 on the summed dims, so every input
// element lands on its output slot. Accumulates in double for accuracy.
template <class T>
void sum_into(int64_t rank, const int64_t* shape, T* out, const int64_t* out_strides, const T* in,
              const int64_t* in_strides);

}  // namespace motive::cpu
