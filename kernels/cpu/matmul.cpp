#include "kernels/cpu/matmul.h"

#include "kernels/cpu/eigen.h"

#include <omp.h>

#include <algorithm>
#include <type_traits>
#include <vector>

#include "kernels/bf16.h"
#include "kernels/cpu/copy.h"

namespace motive::cpu {
namespace {

template <class T>
using RowMajorMap = Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>,
                               Eigen::Unaligned, Eigen::OuterStride<>>;

// Calls f with an Eigen expression for the rows x cols operand: a row-major map
// when columns are unit-stride, else the transpose of a row-major map of the
// transposed layout (columns contiguous). Both are packed by Eigen's GEMM.
template <class T, class F>
void with_operand(const T* p, int64_t rows, int64_t cols, MatrixView v, F&& f) {
  if (v.col_stride == 1 || cols == 1) {
    f(RowMajorMap<T>(p, rows, cols, Eigen::OuterStride<>(rows == 1 ? cols : v.row_stride)));
  } else {
    f(RowMajorMap<T>(p, cols, rows, Eigen::OuterStride<>(cols == 1 ? rows : v.col_stride)).transpose());
  }
}

// The float/double GEMM on Eigen, on the calling thread.
template <class T>
void eigen_gemm_serial(int64_t m, int64_t n, int64_t k, const T* a, MatrixView av, const T* b,
                       MatrixView bv, T* c, int64_t c_row_stride, bool accumulate) {
  using Out = Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>,
                         Eigen::Unaligned, Eigen::OuterStride<>>;
  Out cm(c, m, n, Eigen::OuterStride<>(m == 1 ? n : c_row_stride));
  if (k == 0) {
    if (!accumulate) cm.setZero();
    return;
  }
  with_operand(a, m, k, av, [&](const auto& am) {
    with_operand(b, k, n, bv, [&](const auto& bm) {
      if (accumulate)
        cm.noalias() += am * bm;
      else
        cm.noalias() = am * bm;
    });
  });
}

// Below this many multiply-adds (about 40 us at this machine's GEMM rate) a
// product runs on one thread: waking a second one costs as much as it saves.
constexpr int64_t kParallelGemmMacs = int64_t{1} << 22;
// Row or column blocks split between threads stay multiples of this (whole
// register tiles of Eigen's kernel).
constexpr int64_t kSplitMultiple = 16;

// The GEMM over OpenMP threads: each takes a block of C's rows (or of its
// columns, when C is wider than tall) and runs Eigen's serial GEMM on it.
// Eigen's own threading is off (EIGEN_DONT_PARALLELIZE, kernels/cpu/eigen.h):
// its threads spin while they wait for each other's packed panels, which on a
// shared machine, with the other thread descheduled, cost a small
// squeeze-excitation product several times its work. Inside a parallel
// region (a convolution's per-image chunks) the product stays on its thread.
template <class T>
void eigen_gemm(int64_t m, int64_t n, int64_t k, const T* a, MatrixView av, const T* b,
                MatrixView bv, T* c, int64_t c_row_stride, bool accumulate) {
  const bool by_rows = m >= n;
  const int64_t extent = by_rows ? m : n;
  const int64_t blocks = (extent + kSplitMultiple - 1) / kSplitMultiple;
  const int64_t threads =
      m * n * k < kParallelGemmMacs || omp_in_parallel()
          ? 1
          : std::min<int64_t>({omp_get_max_threads(), blocks});
  if (threads <= 1) return eigen_gemm_serial(m, n, k, a, av, b, bv, c, c_row_stride, accumulate);
#pragma omp parallel num_threads(threads)
  {
    const int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
    const int64_t begin = std::min(extent, blocks * t / nt * kSplitMultiple);
    const int64_t end = std::min(extent, blocks * (t + 1) / nt * kSplitMultiple);
    if (end > begin) {
      if (by_rows)
        eigen_gemm_serial(end - begin, n, k, a + begin * av.row_stride, av, b, bv,
                          c + begin * c_row_stride, c_row_stride, accumulate);
      else
        eigen_gemm_serial(m, end - begin, k, a, av, b + begin * bv.col_stride, bv, c + begin,
                          c_row_stride, accumulate);
    }
  }
}

// A [batches, rows, cols] operand read or written through its strides, as a
// dense float buffer (bf16 widens exactly; float rounds to bf16 on the way back).
struct Widened {
  int64_t shape[3], strides[3], dense[3];
  std::vector<float> data;
  Widened(int64_t batches, int64_t rows, int64_t cols, int64_t batch_stride, MatrixView v)
      : shape{batches, rows, cols},
        strides{batch_stride, v.row_stride, v.col_stride},
        dense{rows * cols, cols, 1},
        data(static_cast<size_t>(batches * rows * cols)) {}
  void widen(const bf16* src) {
    copy_strided(3, shape, data.data(), DType::F32, dense, src, DType::BF16, strides);
  }
  void round_into(bf16* dst) const {
    copy_strided(3, shape, dst, DType::BF16, strides, data.data(), DType::F32, dense);
  }
};

// bf16 GEMMs: float32 accumulation and one rounding per output, as cuBLAS with
// CUBLAS_COMPUTE_32F. Each operand is widened once (a shared one once for all
// batches), the float GEMM runs, and C + A B (C widened too when accumulating)
// is rounded into C's own strides.
void gemm_bf16(int64_t batch, int64_t m, int64_t n, int64_t k, const bf16* a, MatrixView av,
               int64_t a_batch, const bf16* b, MatrixView bv, int64_t b_batch, bf16* c,
               int64_t c_row_stride, int64_t c_batch, bool accumulate) {
  if (batch == 0 || m == 0 || n == 0) return;
  const bool shared_a = a_batch == 0, shared_b = b_batch == 0;
  Widened wa(shared_a ? 1 : batch, m, k, a_batch, av), wb(shared_b ? 1 : batch, k, n, b_batch, bv);
  Widened wc(batch, m, n, c_batch, {c_row_stride, 1});
  wa.widen(a);
  wb.widen(b);
  if (accumulate) wc.widen(c);
  gemm_batched<float>(batch, m, n, k, wa.data.data(), {k, 1}, shared_a ? 0 : m * k,
                      wb.data.data(), {n, 1}, shared_b ? 0 : k * n, wc.data.data(), n, m * n,
                      accumulate);
  wc.round_into(c);
}

}  // namespace

template <class T>
void gemm(int64_t m, int64_t n, int64_t k, const T* a, MatrixView av, const T* b, MatrixView bv,
          T* c, int64_t c_row_stride, bool accumulate) {
  if constexpr (std::is_same_v<T, bf16>)
    gemm_bf16(1, m, n, k, a, av, 0, b, bv, 0, c, c_row_stride, 0, accumulate);
  else
    eigen_gemm(m, n, k, a, av, b, bv, c, c_row_stride, accumulate);
}

template <class T>
void gemm_batched(int64_t batch, int64_t m, int64_t n, int64_t k, const T* a, MatrixView av,
                  int64_t a_batch, const T* b, MatrixView bv, int64_t b_batch, T* c,
                  int64_t c_row_stride, int64_t c_batch, bool accumulate) {
  if constexpr (std::is_same_v<T, bf16>) {
    gemm_bf16(batch, m, n, k, a, av, a_batch, b, bv, b_batch, c, c_row_stride, c_batch,
              accumulate);
  } else {
    for (int64_t i = 0; i < batch; ++i)
      eigen_gemm(m, n, k, a + i * a_batch, av, b + i * b_batch, bv, c + i * c_batch,
                 c_row_stride, accumulate);
  }
}

template void gemm<float>(int64_t, int64_t, int64_t, const float*, MatrixView, const float*,
                          MatrixView, float*, int64_t, bool);
template void gemm<double>(int64_t, int64_t, int64_t, const double*, MatrixView, const double*,
                           MatrixView, double*, int64_t, bool);
template void gemm_batched<float>(int64_t, int64_t, int64_t, int64_t, const float*, MatrixView,
                                  int64_t, const float*, MatrixView, int64_t, float*, int64_t,
                                  int64_t, bool);
template void gemm_batched<double>(int64_t, int64_t, int64_t, int64_t, const double*, MatrixView,
                                   int64_t, const double*, MatrixView, int64_t, double*, int64_t,
                                   int64_t, bool);
template void gemm<bf16>(int64_t, int64_t, int64_t, const bf16*, MatrixView, const bf16*,
                         MatrixView, bf16*, int64_t, bool);
template void gemm_batched<bf16>(int64_t, int64_t, int64_t, int64_t, const bf16*, MatrixView,
                                 int64_t, const bf16*, MatrixView, int64_t, bf16*, int64_t,
                                 int64_t, bool);

}  // namespace motive::cpu
