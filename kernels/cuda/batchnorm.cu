// Batch norm over NHWC activations seen as [rows = N*H*W, c] on the GPU, in
// the channels geometry of reduce.cuh: a thread keeps a group of adjacent
// channels (one 16-byte vector) for the whole kernel and walks rows, so
// accesses are coalesced over c and per-channel constants sit in registers.
// Statistics and gradient sums are deterministic two-stage column sums in
// double (per-block partials, then a fixed-order finalize that also applies
// the per-channel epilogue: mean/rstd and the running-buffer update, or
// dgamma/dbeta). Bytes: forward training reads x twice and writes y; backward
// reads x and g twice and writes dx. Data is T (8 bf16, 4 float or 2 double
// per vector); parameters, statistics and every per-element computation are
// W = wide_t<T> (float for bf16: a bf16 value widens on load and rounds once
// on store).
#include <utility>

#include "kernels/cuda/batchnorm.h"
#include "kernels/cuda/reduce.cuh"

namespace motive::cuda {
namespace {

// Sums of v = x - x[row 0] and v^2 per channel: shifting by a sample of the
// channel keeps the one-pass variance free of cancellation (as on the CPU).
template <class T, int N>
struct StatsAcc {
  using W = wide_t<T>;
  const T* x;
  int64_t c;
  struct State {
    double shift[N];
  };
  __device__ State column(int64_t group) const {
    State s;
#pragma unroll
    for (int i = 0; i < N; ++i) s.shift[i] = static_cast<W>(x[group * N + i]);
    return s;
  }
  __device__ void add(const State& st, int64_t r, int64_t group, double (&s)[2][N]) const {
    const Vec<T, N> xv = load_vec<N>(x + r * c, group);
#pragma unroll
    for (int i = 0; i < N; ++i) {
      const double v = static_cast<W>(xv.v[i]) - st.shift[i];
      s[0][i] += v;
      s[1][i] += v * v;
    }
  }
};

template <class T>
struct StatsFin {
  using W = wide_t<T>;
  const T* x;
  double rows, eps;
  W* mean;
  W* rstd;
  RunningStats<T> running;  // mean == nullptr: no update
  __device__ void operator()(int64_t ch, const double (&total)[2]) const {
    const double shift = static_cast<W>(x[ch]), mu = total[0] / rows;
    const double var = fmax(total[1] / rows - mu * mu, 0.0);
    mean[ch] = static_cast<W>(shift + mu);
    rstd[ch] = static_cast<W>(1.0 / sqrt(var + eps));
    if (running.mean) {
      const double m = running.momentum;
      W& rm = running.mean[ch * running.mean_stride];
      W& rv = running.var[ch * running.var_stride];
      rm = static_cast<W>((1 - m) * rm + m * (shift + mu));
      rv = static_cast<W>((1 - m) * rv + m * var * rows / (rows - 1));
    }
  }
};

// On the parameters only: W = wide_t<T>.
template <class W>
__global__ void running_stats_kernel(int64_t c, const W* rm, int64_t rms, const W* rv,
                                     int64_t rvs, double eps, W* mean, W* rstd) {
  for (int64_t ch = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; ch < c;
       ch += int64_t(gridDim.x) * blockDim.x) {
    mean[ch] = rm[ch * rms];
    rstd[ch] = static_cast<W>(1.0 / sqrt(static_cast<double>(rv[ch * rvs]) + eps));
  }
}

// y = x * scale + shift per channel.
template <class T, int N>
struct ForwardMap {
  using W = wide_t<T>;
  const T* x;
  T* y;
  int64_t c;
  const W* mean;
  const W* rstd;
  const W* gamma;
  int64_t gs;
  const W* beta;
  int64_t bs;
  struct State {
    W scale[N], shift[N];
  };
  __device__ State column(int64_t group) const {
    State s;
#pragma unroll
    for (int i = 0; i < N; ++i) {
      const int64_t ch = group * N + i;
      s.scale[i] = gamma ? gamma[ch * gs] * rstd[ch] : rstd[ch];
      s.shift[i] = (beta ? beta[ch * bs] : W(0)) - mean[ch] * s.scale[i];
    }
    return s;
  }
  __device__ void apply(const State& s, int64_t r, int64_t group) const {
    const Vec<T, N> xv = load_vec<N>(x + r * c, group);
    Vec<T, N> o;
#pragma unroll
    for (int i = 0; i < N; ++i)
      o.v[i] = static_cast<T>(static_cast<W>(xv.v[i]) * s.scale[i] + s.shift[i]);
    store_vec<N>(y + r * c, group, o);
  }
};

// Sums of g and g * xhat per channel.
template <class T, int N>
struct GradAcc {
  using W = wide_t<T>;
  const T* x;
  const T* g;
  const W* mean;
  const W* rstd;
  int64_t c;
  struct State {
    W mean[N], rstd[N];
  };
  __device__ State column(int64_t group) const {
    State s;
#pragma unroll
    for (int i = 0; i < N; ++i) {
      s.mean[i] = mean[group * N + i];
      s.rstd[i] = rstd[group * N + i];
    }
    return s;
  }
  __device__ void add(const State& st, int64_t r, int64_t group, double (&s)[2][N]) const {
    const Vec<T, N> xv = load_vec<N>(x + r * c, group), gv = load_vec<N>(g + r * c, group);
#pragma unroll
    for (int i = 0; i < N; ++i) {
      const W gw = static_cast<W>(gv.v[i]);
      s[0][i] += gw;
      s[1][i] += static_cast<double>(gw) * ((static_cast<W>(xv.v[i]) - st.mean[i]) * st.rstd[i]);
    }
  }
};

template <class W>
struct GradFin {
  int64_t c;
  W* dgamma;
  W* dbeta;
  double* sums;  // [2][c] for dx, or null
  __device__ void operator()(int64_t ch, const double (&total)[2]) const {
    if (dbeta) dbeta[ch] = static_cast<W>(total[0]);
    if (dgamma) dgamma[ch] = static_cast<W>(total[1]);
    if (sums) {
      sums[ch] = total[0];
      sums[c + ch] = total[1];
    }
  }
};

// dx = k * (g - a - (x - mean) * b), k = gamma * rstd; in training
// a = sum(g) / rows and b = rstd * sum(g * xhat) / rows, in eval dx = k * g.
template <class T, int N>
struct DxMap {
  using W = wide_t<T>;
  const T* x;
  const T* g;
  T* dx;
  int64_t c;
  const W* mean;
  const W* rstd;
  const W* gamma;
  int64_t gs;
  const double* sums;  // null in eval
  double rows;
  struct State {
    W k[N], a[N], b[N], mean[N];
  };
  __device__ State column(int64_t group) const {
    State s;
#pragma unroll
    for (int i = 0; i < N; ++i) {
      const int64_t ch = group * N + i;
      s.k[i] = gamma ? gamma[ch * gs] * rstd[ch] : rstd[ch];
      s.a[i] = sums ? static_cast<W>(sums[ch] / rows) : W(0);
      s.b[i] = sums ? static_cast<W>(rstd[ch] * sums[c + ch] / rows) : W(0);
      s.mean[i] = mean[ch];
    }
    return s;
  }
  __device__ void apply(const State& s, int64_t r, int64_t group) const {
    const Vec<T, N> gv = load_vec<N>(g + r * c, group);
    Vec<T, N> o;
    if (sums) {
      const Vec<T, N> xv = load_vec<N>(x + r * c, group);
#pragma unroll
      for (int i = 0; i < N; ++i)
        o.v[i] = static_cast<T>(s.k[i] * (static_cast<W>(gv.v[i]) - s.a[i] -
                                          (static_cast<W>(xv.v[i]) - s.mean[i]) * s.b[i]));
    } else {
#pragma unroll
      for (int i = 0; i < N; ++i) o.v[i] = static_cast<T>(s.k[i] * static_cast<W>(gv.v[i]));
    }
    store_vec<N>(dx + r * c, group, o);
  }
};

// 16-byte vectors over channels when c and every array allow them.
template <class T, class F>
void with_channel_vec(int64_t c, std::initializer_list<const void*> arrays, F&& f) {
  with_vec_width<T>(c % kVec16<T> == 0 && all_aligned16(arrays), std::forward<F>(f));
}

}  // namespace

template <class T>
void batch_norm_stats(int64_t rows, int64_t c, const T* x, double eps, wide_t<T>* mean,
                      wide_t<T>* rstd, const RunningStats<T>* running) {
  if (c == 0) return;
  const RunningStats<T> run = running ? *running : RunningStats<T>{nullptr, 1, nullptr, 1, 0.0};
  with_channel_vec<T>(c, {x}, [&](auto vec) {
    constexpr int N = decltype(vec)::value;
    channel_sums<2, N>(rows, c, StatsAcc<T, N>{x, c},
                      StatsFin<T>{x, static_cast<double>(rows), eps, mean, rstd, run},
                      "batch_norm2d");
  });
}

template <class T>
void batch_norm_running_stats(int64_t c, const wide_t<T>* running_mean, int64_t rms,
                              const wide_t<T>* running_var, int64_t rvs, double eps,
                              wide_t<T>* mean, wide_t<T>* rstd) {
  if (c == 0) return;
  running_stats_kernel<wide_t<T>><<<blocks_for(c), 256, 0, stream()>>>(
      c, running_mean, rms, running_var, rvs, eps, mean, rstd);
  MOTIVE_CUDA_LAUNCH_CHECK("batch_norm2d");
}

template <class T>
void batch_norm_forward(int64_t rows, int64_t c, const T* x, const wide_t<T>* mean,
                        const wide_t<T>* rstd, const wide_t<T>* gamma, int64_t gs,
                        const wide_t<T>* beta, int64_t bs, T* y) {
  if (rows == 0 || c == 0) return;
  with_channel_vec<T>(c, {x, y}, [&](auto vec) {
    constexpr int N = decltype(vec)::value;
    channel_map<N>(rows, c, ForwardMap<T, N>{x, y, c, mean, rstd, gamma, gs, beta, bs},
                   "batch_norm2d");
  });
}

template <class T>
void batch_norm_backward(int64_t rows, int64_t c, const T* x, const T* g, const wide_t<T>* mean,
                         const wide_t<T>* rstd, const wide_t<T>* gamma, int64_t gs,
                         bool training, T* dx, wide_t<T>* dgamma, wide_t<T>* dbeta) {
  if (c == 0) return;
  with_channel_vec<T>(c, {x, g, dx}, [&](auto vec) {
    constexpr int N = decltype(vec)::value;
    // Eval's dx needs no sums; training's dx and the parameter gradients do.
    const bool dx_sums = training && dx;
    Scratch<double> sums(dx_sums ? 2 * c : 0);
    if (dx_sums || dgamma || dbeta)
      channel_sums<2, N>(rows, c, GradAcc<T, N>{x, g, mean, rstd, c},
                        GradFin<wide_t<T>>{c, dgamma, dbeta, dx_sums ? sums.get() : nullptr},
                        "batch_norm2d backward");
    if (dx && rows > 0)
      channel_map<N>(rows, c,
                     DxMap<T, N>{x, g, dx, c, mean, rstd, gamma, gs,
                                 dx_sums ? sums.get() : nullptr, static_cast<double>(rows)},
                     "batch_norm2d backward");
  });
}

#define MOTIVE_INSTANTIATE(T)                                                                  \
  template void batch_norm_stats<T>(int64_t, int64_t, const T*, double, wide_t<T>*, wide_t<T>*, \
                                    const RunningStats<T>*);                                   \
  template void batch_norm_running_stats<T>(int64_t, const wide_t<T>*, int64_t,               \
                                            const wide_t<T>*, int64_t, double, wide_t<T>*,     \
                                            wide_t<T>*);                                       \
  template void batch_norm_forward<T>(int64_t, int64_t, const T*, const wide_t<T>*,            \
                                      const wide_t<T>*, const wide_t<T>*, int64_t,             \
                                      const wide_t<T>*, int64_t, T*);                          \
  template void batch_norm_backward<T>(int64_t, int64_t, const T*, const T*, const wide_t<T>*, \
                                       const wide_t<T>*, const wide_t<T>*, int64_t, bool, T*,  \
                                       wide_t<T>*, wide_t<T>*);
MOTIVE_INSTANTIATE(float)
MOTIVE_INSTANTIATE(double)
MOTIVE_INSTANTIATE(bf16)
#undef MOTIVE_INSTANTIATE

}  // namespace motive::cuda
