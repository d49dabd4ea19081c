#include <cublas_v2.h>

#include <climits>
#include <cstdint>
#include <ostream>
#include <type_traits>

#include "kernels/bf16.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/matmul.h"
#include "kernels/cuda/runtime.h"

namespace motive::cuda {
namespace {

// cuBLAS's scratch space, taken from our pool once per process, so no GEMM
// reaches cudaMalloc during training (32 MiB is NVIDIA's figure for Hopper).
constexpr size_t kWorkspaceBytes = size_t(32) << 20;

// The problem a GEMM call solves, for error messages.
struct Problem {
  int64_t batch, m, n, k;
  MatrixView av, bv;
};

std::ostream& operator<<(std::ostream& os, const Problem& p) {
  return os << " (" << p.batch << " x [" << p.m << "," << p.k << "] x [" << p.k << "," << p.n
            << "], strides A (" << p.av.row_stride << "," << p.av.col_stride << ") B ("
            << p.bv.row_stride << "," << p.bv.col_stride << "))";
}

template <class... Context>
void check(cublasStatus_t status, const char* call, const Context&... context) {
  if (status != CUBLAS_STATUS_SUCCESS)
    fail("gemm: ", call, " failed: ", cublasGetStatusString(status), context...);
}

// One handle per process, bound to the compute stream so GEMMs are ordered with
// every other kernel. Set the stream first: cublasSetStream resets the workspace.
// Split-K reductions stay in float for bf16 outputs (cuBLAS may otherwise sum
// the partial products in bf16): one rounding per output, as on the CPU. TF32
// is chosen per call through the compute type, not the math mode.
// Never destroyed: the driver may already be gone at static destruction.
cublasHandle_t handle() {
  static cublasHandle_t h = [] {
    cublasHandle_t created = nullptr;
    check(cublasCreate(&created), "cublasCreate");
    check(cublasSetStream(created, stream()), "cublasSetStream");
    check(cublasSetWorkspace(created, allocate(kWorkspaceBytes), kWorkspaceBytes),
          "cublasSetWorkspace");
    check(cublasSetMathMode(created, static_cast<cublasMath_t>(
                                         CUBLAS_DEFAULT_MATH |
                                         CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION)),
          "cublasSetMathMode");
    return created;
  }();
  return h;
}

// The classic cuBLAS API takes int sizes; larger ones fail clearly, not wrap.
int narrow(int64_t v, const Problem& p) {
  MOTIVE_CHECK(v <= INT_MAX, "gemm: size ", v, " exceeds cuBLAS's 32-bit range", p);
  return static_cast<int>(v);
}

// How column-major cuBLAS sees the transpose of a rows x cols operand X that is
// indexed (row stride, col stride). X with unit columns is column-major X^T
// (no transpose, ld = row stride); X with unit rows is column-major X, so X^T
// is its transpose (ld = col stride). A size-1 dim's stride is never used, so it
// takes the smallest legal ld. Mirrors the engine's gemm_ready for CUDA.
struct Operand {
  cublasOperation_t op;
  int ld;
};

Operand operand(int64_t rows, int64_t cols, MatrixView v, const Problem& p) {
  if ((v.col_stride == 1 || cols == 1) && (rows == 1 || v.row_stride >= cols))
    return {CUBLAS_OP_N, narrow(rows == 1 ? cols : v.row_stride, p)};
  if ((v.row_stride == 1 || rows == 1) && (cols == 1 || v.col_stride >= rows))
    return {CUBLAS_OP_T, narrow(cols == 1 ? rows : v.col_stride, p)};
  fail("gemm: a ", rows, "x", cols, " operand with strides (", v.row_stride, ",", v.col_stride,
       ") has no cuBLAS layout (pack it first)", p);
}

template <class T>
void run(const Problem& p, const T* a, int64_t a_batch, const T* b, int64_t b_batch, T* c,
         int64_t c_row_stride, int64_t c_batch, bool accumulate, bool allow_tf32) {
  if (p.batch == 0 || p.m == 0 || p.n == 0) return;
  if (p.k == 0) {  // an empty sum: C = 0, or unchanged when accumulating
    if (!accumulate) {
      const int64_t shape[3] = {p.batch, p.m, p.n}, strides[3] = {c_batch, c_row_stride, 1};
      fill_strided(3, shape, c, dtype_of<T>::value, strides, 0.0);
    }
    return;
  }
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double> ||
                std::is_same_v<T, bf16>);
  // bf16: bf16 operands and output, float32 accumulation and scalars, one
  // rounding per output (the C read for beta = 1 included).
  constexpr bool f32 = std::is_same_v<T, float>, f64 = std::is_same_v<T, double>;
  constexpr cudaDataType type = f32 ? CUDA_R_32F : f64 ? CUDA_R_64F : CUDA_R_16BF;
  const cublasComputeType_t compute =
      f64 ? CUBLAS_COMPUTE_64F
          : (f32 && allow_tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F);
  // The scalars' type is the compute type's: double for DGEMM, else float.
  const wide_t<T> alpha = 1, beta = accumulate ? 1 : 0;
  // Row-major C = A B is column-major C^T = B^T A^T: B plays cuBLAS's A.
  const Operand bt = operand(p.k, p.n, p.bv, p), at = operand(p.m, p.k, p.av, p);
  const int m = narrow(p.n, p), n = narrow(p.m, p), k = narrow(p.k, p);
  const int ldc = narrow(c_row_stride, p);
  if (p.batch == 1) {
    check(cublasGemmEx(handle(), bt.op, at.op, m, n, k, &alpha, b, type, bt.ld, a, type, at.ld,
                       &beta, c, type, ldc, compute, CUBLAS_GEMM_DEFAULT),
          "cublasGemmEx", p);
  } else {
    check(cublasGemmStridedBatchedEx(handle(), bt.op, at.op, m, n, k, &alpha, b, type, bt.ld,
                                     b_batch, a, type, at.ld, a_batch, &beta, c, type, ldc,
                                     c_batch, narrow(p.batch, p), compute, CUBLAS_GEMM_DEFAULT),
          "cublasGemmStridedBatchedEx", p);
  }
}

}  // namespace

template <class T>
void gemm(int64_t m, int64_t n, int64_t k, const T* a, MatrixView av, const T* b, MatrixView bv,
          T* c, int64_t c_row_stride, bool accumulate, bool allow_tf32) {
  run<T>({1, m, n, k, av, bv}, a, 0, b, 0, c, c_row_stride, 0, accumulate, allow_tf32);
}

template <class T>
void gemm_batched(int64_t batch, int64_t m, int64_t n, int64_t k, const T* a, MatrixView av,
                  int64_t a_batch, const T* b, MatrixView bv, int64_t b_batch, T* c,
                  int64_t c_row_stride, int64_t c_batch, bool accumulate, bool allow_tf32) {
  run<T>({batch, m, n, k, av, bv}, a, a_batch, b, b_batch, c, c_row_stride, c_batch, accumulate,
         allow_tf32);
}

template void gemm<float>(int64_t, int64_t, int64_t, const float*, MatrixView, const float*,
                          MatrixView, float*, int64_t, bool, bool);
template void gemm<double>(int64_t, int64_t, int64_t, const double*, MatrixView, const double*,
                           MatrixView, double*, int64_t, bool, bool);
template void gemm_batched<float>(int64_t, int64_t, int64_t, int64_t, const float*, MatrixView,
                                  int64_t, const float*, MatrixView, int64_t, float*, int64_t,
                                  int64_t, bool, bool);
template void gemm_batched<double>(int64_t, int64_t, int64_t, int64_t, const double*, MatrixView,
                                   int64_t, const double*, MatrixView, int64_t, double*, int64_t,
                                   int64_t, bool, bool);

template void gemm<bf16>(int64_t, int64_t, int64_t, const bf16*, MatrixView, const bf16*,
                         MatrixView, bf16*, int64_t, bool, bool);
template void gemm_batched<bf16>(int64_t, int64_t, int64_t, int64_t, const bf16*, MatrixView,
                                 int64_t, const bf16*, MatrixView, int64_t, bf16*, int64_t,
                                 int64_t, bool, bool);

}  // namespace motive::cuda
