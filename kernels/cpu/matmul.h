// GEMM on Eigen. Each operand is a (pointer, row stride, column stride) view,
// so transposes and sub-blocks of a larger matrix (a base model's weight inside
// the motivated one) are multiplied in place, like cuBLAS's lda.
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

}  // namespace motive::cpu
