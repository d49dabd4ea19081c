#include "kernels/cpu/batchnorm.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cpu/column_sums.h"

namespace motive::cpu {
namespace {

// Rows are independent in the elementwise passes: split them across cores
// once there is enough work. Channels stay the (vectorised) inner loop.
constexpr int64_t kParallelMin = 1 << 15;

// out[row, ch] = x[row, ch] * scale[ch] + shift[ch], computed in W.
template <class T, class W>
void channel_affine(int64_t rows, int64_t c, const T* x, const W* scale, const W* shift, T* out) {
#pragma omp parallel for if (rows * c > kParallelMin)
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t ch = 0; ch < c; ++ch)
      out[r * c + ch] = static_cast<T>(static_cast<W>(x[r * c + ch]) * scale[ch] + shift[ch]);
}

}  // namespace

template <class T>
void batch_norm_moments(int64_t rows, int64_t c, const T* x, double* mean, double* m2) {
  using W = wide_t<T>;
  // Sums of (x - x[row 0]): shifting by a sample of each channel keeps the
  // one-pass variance free of the cancellation a large common offset causes.
  std::vector<double> shift(static_cast<size_t>(c));
  for (int64_t ch = 0; ch < c; ++ch) shift[ch] = static_cast<W>(x[ch]);
  std::vector<double> sums(static_cast<size_t>(2 * c));
  std::vector<W> shift_w(shift.begin(), shift.end());
  column_sums(rows, 2 * c, sums.data(), [&](int64_t begin, int64_t end, double* acc) {
    // Blocks of up to kBlock rows summed in W (vectorised; over a few rows
    // of shifted values W keeps the digits), each block added in double.
    constexpr int64_t kBlock = 16;
    std::vector<W> block(static_cast<size_t>(2 * c));
    W* const s1 = block.data();
    W* const s2 = s1 + c;
    const W* const sh = shift_w.data();
    for (int64_t r0 = begin; r0 < end; r0 += kBlock) {
      std::fill(s1, s1 + 2 * c, W(0));
      for (int64_t r = r0; r < std::min(end, r0 + kBlock); ++r) {
        const T* xr = x + r * c;
        for (int64_t ch = 0; ch < c; ++ch) {
          const W v = static_cast<W>(xr[ch]) - sh[ch];
          s1[ch] += v;
          s2[ch] += v * v;
        }
      }
      for (int64_t ch = 0; ch < 2 * c; ++ch) acc[ch] += s1[ch];
    }
  });
  const double n = static_cast<double>(rows);
  for (int64_t ch = 0; ch < c; ++ch) {
    const double mu = sums[ch] / n;
    mean[ch] = shift[ch] + mu;
    m2[ch] = std::max(sums[c + ch] - n * mu * mu, 0.0);
  }
}

template <class T>
void batch_norm_stats_from_moments(int64_t c, const double* moment_mean, const double* m2,
                                   double count, double eps, wide_t<T>* mean, wide_t<T>* rstd,
                                   const RunningStats<T>* running) {
  using W = wide_t<T>;
  for (int64_t ch = 0; ch < c; ++ch) {
    const double var = m2[ch] / count;
    mean[ch] = static_cast<W>(moment_mean[ch]);
    rstd[ch] = static_cast<W>(1.0 / std::sqrt(var + eps));
    if (running) {
      const double m = running->momentum;
      W& rm = running->mean[ch * running->mean_stride];
      W& rv = running->var[ch * running->var_stride];
      rm = static_cast<W>((1 - m) * rm + m * moment_mean[ch]);
      rv = static_cast<W>((1 - m) * rv + m * var * count / (count - 1));
    }
  }
}

template <class T>
void batch_norm_stats(int64_t rows, int64_t c, const T* x, double eps, wide_t<T>* mean,
                      wide_t<T>* rstd, const RunningStats<T>* running) {
  std::vector<double> moment_mean(static_cast<size_t>(c)), m2(static_cast<size_t>(c));
  batch_norm_moments(rows, c, x, moment_mean.data(), m2.data());
  batch_norm_stats_from_moments(c, moment_mean.data(), m2.data(), static_cast<double>(rows), eps,
                                mean, rstd, running);
}

template <class T>
void batch_norm_running_stats(int64_t c, const wide_t<T>* running_mean, int64_t rm_stride,
                              const wide_t<T>* running_var, int64_t rv_stride, double eps,
                              wide_t<T>* mean, wide_t<T>* rstd) {
  using W = wide_t<T>;
  for (int64_t ch = 0; ch < c; ++ch) {
    mean[ch] = running_mean[ch * rm_stride];
    rstd[ch] =
        static_cast<W>(1.0 / std::sqrt(static_cast<double>(running_var[ch * rv_stride]) + eps));
  }
}

template <class T>
void batch_norm_forward(int64_t rows, int64_t c, const T* x, const wide_t<T>* mean,
                        const wide_t<T>* rstd, const wide_t<T>* gamma, int64_t gs,
                        const wide_t<T>* beta, int64_t bs, T* y) {
  using W = wide_t<T>;
  std::vector<W> scale(static_cast<size_t>(c)), shift(static_cast<size_t>(c));
  for (int64_t ch = 0; ch < c; ++ch) {
    scale[ch] = gamma ? gamma[ch * gs] * rstd[ch] : rstd[ch];
    shift[ch] = (beta ? beta[ch * bs] : W(0)) - mean[ch] * scale[ch];
  }
  channel_affine(rows, c, x, scale.data(), shift.data(), y);
}

template <class T>
void batch_norm_grad_sums(int64_t rows, int64_t c, const T* x, const T* g, const wide_t<T>* mean,
                          const wide_t<T>* rstd, double* sums, wide_t<T>* dgamma,
                          wide_t<T>* dbeta) {
  using W = wide_t<T>;
  column_sums(rows, 2 * c, sums, [&](int64_t begin, int64_t end, double* acc) {
    for (int64_t r = begin; r < end; ++r)
      for (int64_t ch = 0; ch < c; ++ch) {
        const W gv = static_cast<W>(g[r * c + ch]);
        acc[ch] += gv;
        acc[c + ch] +=
            static_cast<double>(gv) * ((static_cast<W>(x[r * c + ch]) - mean[ch]) * rstd[ch]);
      }
  });
  for (int64_t ch = 0; ch < c; ++ch) {
    if (dbeta) dbeta[ch] = static_cast<W>(sums[ch]);
    if (dgamma) dgamma[ch] = static_cast<W>(sums[c + ch]);
  }
}

template <class T>
void batch_norm_grad_input(int64_t rows, int64_t c, const T* x, const T* g,
                           const wide_t<T>* mean, const wide_t<T>* rstd, const wide_t<T>* gamma,
                           int64_t gs, bool training, const double* sums, double count, T* dx) {
  using W = wide_t<T>;
  // dx = k * (g - a - (x - mean) * b) per channel, with k = gamma * rstd and,
  // in training, a = sum(g) / count, b = rstd * sum(g * xhat) / count.
  std::vector<W> k(static_cast<size_t>(c)), a(static_cast<size_t>(c), W(0)),
      b(static_cast<size_t>(c), W(0));
  for (int64_t ch = 0; ch < c; ++ch) {
    k[ch] = gamma ? gamma[ch * gs] * rstd[ch] : rstd[ch];
    if (training) {
      a[ch] = static_cast<W>(sums[ch] / count);
      b[ch] = static_cast<W>(rstd[ch] * sums[c + ch] / count);
    }
  }
#pragma omp parallel for if (rows * c > kParallelMin)
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t ch = 0; ch < c; ++ch) {
      const int64_t i = r * c + ch;
      dx[i] = static_cast<T>(
          k[ch] * (static_cast<W>(g[i]) - a[ch] - (static_cast<W>(x[i]) - mean[ch]) * b[ch]));
    }
}

template <class T>
void batch_norm_backward(int64_t rows, int64_t c, const T* x, const T* g, const wide_t<T>* mean,
                         const wide_t<T>* rstd, const wide_t<T>* gamma, int64_t gs,
                         bool training, T* dx, wide_t<T>* dgamma, wide_t<T>* dbeta) {
  // Eval's dx needs no reductions; everything else does.
  std::vector<double> sums;
  if (training || dgamma || dbeta) {
    sums.resize(static_cast<size_t>(2 * c));
    batch_norm_grad_sums(rows, c, x, g, mean, rstd, sums.data(), dgamma, dbeta);
  }
  if (dx)
    batch_norm_grad_input(rows, c, x, g, mean, rstd, gamma, gs, training, sums.data(),
                          static_cast<double>(rows), dx);
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
                                       wide_t<T>*, wide_t<T>*);                                \
  template void batch_norm_moments<T>(int64_t, int64_t, const T*, double*, double*);           \
  template void batch_norm_stats_from_moments<T>(int64_t, const double*, const double*, double, \
                                                 double, wide_t<T>*, wide_t<T>*,               \
                                                 const RunningStats<T>*);                      \
  template void batch_norm_grad_sums<T>(int64_t, int64_t, const T*, const T*, const wide_t<T>*, \
                                        const wide_t<T>*, double*, wide_t<T>*, wide_t<T>*);    \
  template void batch_norm_grad_input<T>(int64_t, int64_t, const T*, const T*,                 \
                                         const wide_t<T>*, const wide_t<T>*, const wide_t<T>*, \
                                         int64_t, bool, const double*, double, T*);
MOTIVE_INSTANTIATE(float)
MOTIVE_INSTANTIATE(double)
MOTIVE_INSTANTIATE(bf16)
#undef MOTIVE_INSTANTIATE

}  // namespace motive::cpu
