// The stable exponentials of one row, shared by softmax and cross-entropy:
// a row group's max, then sum(exp(x - max)) (accumulated in double, as the
// CPU's exp_shifted_row does), computed from the row's register cache.
#pragma once
#include "kernels/cuda/rows.cuh"

namespace motive::cuda {

template <class T>
struct ShiftedExp {
  T max;
  double sum;
};

template <class T, int N, int MAXV>
__device__ ShiftedExp<T> shifted_exp(const RowCache<T, N, MAXV>& row, const RowGroup& g,
                                     double* smem) {
  T m = -INFINITY;
  row.for_each(g, [&](int64_t, const auto& v) {
#pragma unroll
    for (int i = 0; i < N; ++i) m = v[0].v[i] > m ? v[0].v[i] : m;
  });
  const T mx = static_cast<T>(g.allreduce<MaxOp>(m, smem));
  double s = 0;
  row.for_each(g, [&](int64_t, const auto& v) {
#pragma unroll
    for (int i = 0; i < N; ++i) s += exp(v[0].v[i] - mx);
  });
  return {mx, g.allreduce<SumOp>(s, smem)};
}

// out = exp(x - max) * inv over the row (inv = 1 / sum: the softmax).
template <class T, int N, int MAXV>
__device__ void write_scaled_exp(const RowCache<T, N, MAXV>& row, const RowGroup& g, T mx, T inv,
                                 T* out) {
  row.for_each(g, [&](int64_t v, const auto& xv) {
    Vec<T, N> o;
#pragma unroll
    for (int i = 0; i < N; ++i) o.v[i] = exp(xv[0].v[i] - mx) * inv;
    store_vec<N>(out, v, o);
  });
}

}  // namespace motive::cuda
