// GEMM on Eigen. Each operand is a (pointer, row stride, column stride) view,
// so transposes and sub-blocks of a larger matrix (a base model's weight inside
// the motivated one) are multiplied in place, like cuBLAS's lda.
// Instantiated for float, double and bf16; bf16 accumulates in float32 and
// rounds each output once (cuBLAS's CUBLAS_COMPUTE_32F), here by widening the
// operands into float buffers for the float GEMM (the reference, not fast).
#pragma once
#include <cstdint>

namespace motive::cpu {

struct MatrixView {
  int64_t row_stride, col_stride;
};

// C[M,N] = A[M,K] B[K,N] (or += when accumulate). C must have col_stride 1.
// Operands with neither stride equal to 1 must be packed by the caller.
template <class T>
void gemm(int64_t m, int64_t n, int64_t k, const T* a, MatrixView av, const T* b, MatrixView bv,
          T* c, int64_t c_row_stride, bool accumulate);

// `batch` GEMMs whose operands lie at uniform element distances: a + i * a_batch,
// b + i * b_batch (0 shares one operand), c + i * c_batch. One strided-batched
// launch on CUDA; a loop of gemm here.
template <class T>
void gemm_batched(int64_t batch, int64_t m, int64_t n, int64_t k, const T* a, MatrixView av,
                  int64_t a_batch, const T* b, MatrixView bv, int64_t b_batch, T* c,
                  int64_t c_row_stride, int64_t c_batch, bool accumulate);

}  // namespace motive::cpu
