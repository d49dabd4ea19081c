// CUDA twins of kernels/cpu/matmul.h through cuBLAS: same names, same
// signatures plus a last argument `allow_tf32`, device pointers. Operands are
// (pointer, row stride, col stride) views mapped onto cuBLAS's transpose flags
// and leading dimensions, so transposes and sub-blocks of a larger matrix (a
// base model's weight inside the motivated one) are multiplied in place. Each
// operand needs one unit stride and a leading dimension >= the extent it steps
// over (no broadcast stride 0): the engine packs any other. Float32 uses TF32
// tensor cores when `allow_tf32` (the engine passes its switch,
// engine/device.h); float64 is DGEMM; bf16 has bf16 operands and output with
// float32 accumulation (CUBLAS_COMPUTE_32F, float alpha/beta), the same view
// rules applying. Defined in matmul.cu.
#pragma once
#include <cstdint>

#include "kernels/cpu/matmul.h"  // MatrixView

namespace motive::cuda {

using cpu::MatrixView;

template <class T>
void gemm(int64_t m, int64_t n, int64_t k, const T* a, MatrixView av, const T* b, MatrixView bv,
          T* c, int64_t c_row_stride, bool accumulate, bool allow_tf32);

template <class T>
void gemm_batched(int64_t batch, int64_t m, int64_t n, int64_t k, const T* a, MatrixView av,
                  int64_t a_batch, const T* b, MatrixView bv, int64_t b_batch, T* c,
                  int64_t c_row_stride, int64_t c_batch, bool accumulate, bool allow_tf32);

}  // namespace motive::cuda
