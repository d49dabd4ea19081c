#include "kernels/cpu/matmul.h"

#include <Eigen/Core>

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

}  // namespace

template <class T>
void gemm(int64_t m, int64_t n, int64_t k, const T* a, MatrixView av, const T* b, MatrixView bv,
          T* c, int64_t c_row_stride, bool accumulate) {
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

template <class T>
void gemm_batched(int64_t batch, int64_t m, int64_t n, int64_t k, const T* a, MatrixView av,
                  int64_t a_batch, const T* b, MatrixView bv, int64_t b_batch, T* c,
                  int64_t c_row_stride, int64_t c_batch, bool accumulate) {
  for (int64_t i = 0; i < batch; ++i)
    gemm(m, n, k, a + i * a_batch, av, b + i * b_batch, bv, c + i * c_batch, c_row_stride,
         accumulate);
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

}  // namespace motive::cpu
