// Layer norm on the GPU. Forward: a group of threads per row (rows.cuh) holds
// the row in registers, takes the exact two-pass mean and variance from them
// (double accumulation) and writes y: one read of x, one write of y. Backward:
// dx per row the same way (x and g read once), then dgamma/dbeta as
// deterministic per-column sums over the rows (reduce.cuh).
#include "kernels/cuda/layernorm.h"
#include "kernels/cuda/rows.cuh"

namespace motive::cuda {
namespace {

template <class T, int N, int MAXV>
__global__ void __launch_bounds__(kRowThreads, 3)
    forward_kernel(int group, int64_t rows, int64_t d, const T* x, const T* gamma,
                               int64_t gs, const T* beta, int64_t bs, double eps, T* y, T* mean,
                               T* rstd) {
  __shared__ double smem[32];
  const RowGroup g(group);
  for (int64_t r = g.first_row; r < rows; r += g.row_step) {
    const RowCache<T, N, MAXV> row({x + r * d}, d, g);
    double s = 0;
    row.for_each(g, [&](int64_t, const auto& v) {
#pragma unroll
      for (int i = 0; i < N; ++i) s += v[0].v[i];
    });
    const double mu = g.allreduce<SumOp>(s, smem) / static_cast<double>(d);
    double q = 0;
    row.for_each(g, [&](int64_t, const auto& v) {
#pragma unroll
      for (int i = 0; i < N; ++i) {
        const double dev = v[0].v[i] - mu;
        q += dev * dev;
      }
    });
    const double var = g.allreduce<SumOp>(q, smem) / static_cast<double>(d);
    const T m = static_cast<T>(mu), rs = static_cast<T>(1.0 / sqrt(var + eps));
    if (g.lane == 0) {
      mean[r] = m;
      rstd[r] = rs;
    }
    T* yr = y + r * d;
    row.for_each(g, [&](int64_t v, const auto& xv) {
      const Vec<T, N> ga = load_param<N>(gamma, gs, v, T(1)), be = load_param<N>(beta, bs, v, T(0));
      Vec<T, N> out;
#pragma unroll
      for (int i = 0; i < N; ++i) out.v[i] = (xv[0].v[i] - m) * (ga.v[i] * rs) + be.v[i];
      store_vec<N>(yr, v, out);
    });
  }
}

// dx = rstd * (gy - mean(gy) - xhat * mean(gy * xhat)), gy = g * gamma.
template <class T, int N, int MAXV>
__global__ void __launch_bounds__(kRowThreads, 2)
    dx_kernel(int group, int64_t rows, int64_t d, const T* x, const T* g_in,
                          const T* mean, const T* rstd, const T* gamma, int64_t gs, T* dx) {
  __shared__ double smem[32];
  const RowGroup g(group);
  for (int64_t r = g.first_row; r < rows; r += g.row_step) {
    const RowCache<T, N, MAXV, 2> row({x + r * d, g_in + r * d}, d, g);
    const T m = mean[r], rs = rstd[r];
    double sum_gy = 0, sum_gy_xhat = 0;
    row.for_each(g, [&](int64_t v, const auto& xg) {
      const Vec<T, N> ga = load_param<N>(gamma, gs, v, T(1));
#pragma unroll
      for (int i = 0; i < N; ++i) {
        const T gy = xg[1].v[i] * ga.v[i];
        sum_gy += gy;
        sum_gy_xhat += static_cast<double>(gy) * ((xg[0].v[i] - m) * rs);
      }
    });
    const T a = static_cast<T>(g.allreduce<SumOp>(sum_gy, smem) / static_cast<double>(d));
    const T b = static_cast<T>(g.allreduce<SumOp>(sum_gy_xhat, smem) / static_cast<double>(d));
    T* dr = dx + r * d;
    row.for_each(g, [&](int64_t v, const auto& xg) {
      const Vec<T, N> ga = load_param<N>(gamma, gs, v, T(1));
      Vec<T, N> out;
#pragma unroll
      for (int i = 0; i < N; ++i)
        out.v[i] = rs * (xg[1].v[i] * ga.v[i] - a - (xg[0].v[i] - m) * rs * b);
      store_vec<N>(dr, v, out);
    });
  }
}

// Column sums for the parameter gradients: [0] g * xhat, [1] g.
template <class T, int N>
struct ParamGradAcc {
  const T* x;
  const T* g;
  const T* mean;
  const T* rstd;
  int64_t d;
  struct State {};
  __device__ State column(int64_t) const { return {}; }
  __device__ void add(const State&, int64_t r, int64_t group, double (&s)[2][N]) const {
    const Vec<T, N> xv = load_vec<N>(x + r * d, group), gv = load_vec<N>(g + r * d, group);
    const T m = mean[r], rs = rstd[r];
#pragma unroll
    for (int i = 0; i < N; ++i) {
      s[0][i] += static_cast<double>(gv.v[i]) * ((xv.v[i] - m) * rs);
      s[1][i] += gv.v[i];
    }
  }
};

template <class T>
struct ParamGradFin {
  T* dgamma;
  T* dbeta;
  __device__ void operator()(int64_t col, const double (&total)[2]) const {
    if (dgamma) dgamma[col] = static_cast<T>(total[0]);
    if (dbeta) dbeta[col] = static_cast<T>(total[1]);
  }
};

}  // namespace

template <class T>
void layer_norm_forward(int64_t rows, int64_t d, const T* x, const T* gamma, int64_t gs,
                        const T* beta, int64_t bs, double eps, T* y, T* mean, T* rstd) {
  if (rows == 0) return;
  launch_rows<T>(rows, d, {x, y}, [&](auto vec, auto maxv, const RowPlan& p) {
    forward_kernel<T, decltype(vec)::value, decltype(maxv)::value>
        <<<p.blocks, p.threads, 0, stream()>>>(p.group, rows, d, x, gamma, gs, beta, bs, eps, y,
                                               mean, rstd);
  });
  MOTIVE_CUDA_LAUNCH_CHECK("layer_norm");
}

template <class T>
void layer_norm_backward(int64_t rows, int64_t d, const T* x, const T* g, const T* mean,
                         const T* rstd, const T* gamma, int64_t gs, T* dx, T* dgamma, T* dbeta) {
  if (rows == 0) {
    // Empty sums: the parameter gradients are zero.
    if (dgamma) memset_bytes(dgamma, 0, static_cast<size_t>(d) * sizeof(T));
    if (dbeta) memset_bytes(dbeta, 0, static_cast<size_t>(d) * sizeof(T));
    return;
  }
  if (dx) {
    launch_rows<T>(rows, d, {x, g, dx}, [&](auto vec, auto maxv, const RowPlan& p) {
      dx_kernel<T, decltype(vec)::value, decltype(maxv)::value>
          <<<p.blocks, p.threads, 0, stream()>>>(p.group, rows, d, x, g, mean, rstd, gamma, gs, dx);
    });
    MOTIVE_CUDA_LAUNCH_CHECK("layer_norm backward");
  }
  if (!dgamma && !dbeta) return;
  with_vec_width<T>(d % kVec16<T> == 0 && all_aligned16({x, g}), [&](auto vec) {
    constexpr int N = decltype(vec)::value;
    channel_sums<2, N>(rows, d, ParamGradAcc<T, N>{x, g, mean, rstd, d},
                      ParamGradFin<T>{dgamma, dbeta}, "layer_norm backward");
  });
}

#define MOTIVE_INSTANTIATE(T)                                                                 \
  template void layer_norm_forward<T>(int64_t, int64_t, const T*, const T*, int64_t, const T*, \
                                      int64_t, double, T*, T*, T*);                           \
  template void layer_norm_backward<T>(int64_t, int64_t, const T*, const T*, const T*,        \
                                       const T*, const T*, int64_t, T*, T*, T*);
MOTIVE_INSTANTIATE(float)
MOTIVE_INSTANTIATE(double)
#undef MOTIVE_INSTANTIATE

}  // namespace motive::cuda
