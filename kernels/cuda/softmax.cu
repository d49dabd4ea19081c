// Softmax over the last dim on the GPU: a group of threads per row (rows.cuh)
// with the row in registers: max, sum of exp, write — one read of x, one write
// of y. Backward: dx = y * (g - sum(g * y)), y and g read once.
#include "kernels/cuda/softmax.h"
#include "kernels/cuda/softmax_row.cuh"

namespace motive::cuda {
namespace {

template <class T, int N, int MAXV>
__global__ void __launch_bounds__(kRowThreads, 3)
    forward_kernel(int group, int64_t rows, int64_t cols, const T* x, T* y) {
  __shared__ double smem[32];
  const RowGroup g(group);
  for (int64_t r = g.first_row; r < rows; r += g.row_step) {
    const RowCache<T, N, MAXV> row({x + r * cols}, cols, g);
    const ShiftedExp<T> e = shifted_exp(row, g, smem);
    write_scaled_exp(row, g, e.max, static_cast<T>(1.0 / e.sum), y + r * cols);
  }
}

template <class T, int N, int MAXV>
__global__ void __launch_bounds__(kRowThreads, 2)
    backward_kernel(int group, int64_t rows, int64_t cols, const T* y, const T* g_in, T* dx) {
  __shared__ double smem[32];
  const RowGroup g(group);
  for (int64_t r = g.first_row; r < rows; r += g.row_step) {
    const RowCache<T, N, MAXV, 2> row({y + r * cols, g_in + r * cols}, cols, g);
    double dot = 0;
    row.for_each(g, [&](int64_t, const auto& yg) {
#pragma unroll
      for (int i = 0; i < N; ++i) dot += static_cast<double>(yg[1].v[i]) * yg[0].v[i];
    });
    const T d = static_cast<T>(g.allreduce<SumOp>(dot, smem));
    T* dr = dx + r * cols;
    row.for_each(g, [&](int64_t v, const auto& yg) {
      Vec<T, N> o;
#pragma unroll
      for (int i = 0; i < N; ++i) o.v[i] = yg[0].v[i] * (yg[1].v[i] - d);
      store_vec<N>(dr, v, o);
    });
  }
}

}  // namespace

template <class T>
void softmax_forward(int64_t rows, int64_t cols, const T* x, T* y) {
  if (rows == 0) return;
  launch_rows<T>(rows, cols, {x, y}, [&](auto vec, auto maxv, const RowPlan& p) {
    forward_kernel<T, decltype(vec)::value, decltype(maxv)::value>
        <<<p.blocks, p.threads, 0, stream()>>>(p.group, rows, cols, x, y);
  });
  MOTIVE_CUDA_LAUNCH_CHECK("softmax");
}

template <class T>
void softmax_backward(int64_t rows, int64_t cols, const T* y, const T* g, T* dx) {
  if (rows == 0) return;
  launch_rows<T>(rows, cols, {y, g, dx}, [&](auto vec, auto maxv, const RowPlan& p) {
    backward_kernel<T, decltype(vec)::value, decltype(maxv)::value>
        <<<p.blocks, p.threads, 0, stream()>>>(p.group, rows, cols, y, g, dx);
  });
  MOTIVE_CUDA_LAUNCH_CHECK("softmax backward");
}

#define MOTIVE_INSTANTIATE(T)                                                  \
  template void softmax_forward<T>(int64_t, int64_t, const T*, T*);           \
  template void softmax_backward<T>(int64_t, int64_t, const T*, const T*, T*);
MOTIVE_INSTANTIATE(float)
MOTIVE_INSTANTIATE(double)
#undef MOTIVE_INSTANTIATE

}  // namespace motive::cuda
