#include "kernels/cpu/layernorm.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cpu/column_sums.h"

namespace motive::cpu {
namespace {
// Rows are independent: split them across cores once there is enough work.
constexpr int64_t kParallelMin = 1 << 15;
}  // namespace

template <class T>
void layer_norm_forward(int64_t rows, int64_t d, const T* x, const T* gamma, int64_t gs,
                        const T* beta, int64_t bs, double eps, T* y, T* mean, T* rstd) {
#pragma omp parallel for if (rows * d > kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * d;
    // Sums of (x - x[0]): shifting by a sample of the row keeps the one-pass
    // variance free of the cancellation a large common offset would cause.
    const double shift = xr[0];
    double s1 = 0, s2 = 0;
    for (int64_t j = 0; j < d; ++j) {
      const double v = xr[j] - shift;
      s1 += v;
      s2 += v * v;
    }
    const double mu = s1 / static_cast<double>(d);
    const double var = std::max(s2 / static_cast<double>(d) - mu * mu, 0.0);
    const T m = static_cast<T>(shift + mu), rs = static_cast<T>(1.0 / std::sqrt(var + eps));
    mean[r] = m;
    rstd[r] = rs;
    T* yr = y + r * d;
    for (int64_t j = 0; j < d; ++j) {
      const T scale = gamma ? gamma[j * gs] * rs : rs;
      yr[j] = (xr[j] - m) * scale + (beta ? beta[j * bs] : T(0));
    }
  }
}

template <class T>
void layer_norm_backward(int64_t rows, int64_t d, const T* x, const T* g, const T* mean,
                         const T* rstd, const T* gamma, int64_t gs, T* dx, T* dgamma,
                         T* dbeta) {
  if (dx) {
#pragma omp parallel for if (rows * d > kParallelMin)
    for (int64_t r = 0; r < rows; ++r) {
      const T* xr = x + r * d;
      const T* gr = g + r * d;
      const T m = mean[r], rs = rstd[r];
      double sum_gy = 0, sum_gy_xhat = 0;
      for (int64_t j = 0; j < d; ++j) {
        const T gy = gamma ? gr[j] * gamma[j * gs] : gr[j];
        sum_gy += gy;
        sum_gy_xhat += static_cast<double>(gy) * ((xr[j] - m) * rs);
      }
      const T a = static_cast<T>(sum_gy / static_cast<double>(d));
      const T b = static_cast<T>(sum_gy_xhat / static_cast<double>(d));
      T* dr = dx + r * d;
      for (int64_t j = 0; j < d; ++j) {
        const T gy = gamma ? gr[j] * gamma[j * gs] : gr[j];
        dr[j] = rs * (gy - a - (xr[j] - m) * rs * b);
      }
    }
  }
  if (!dgamma && !dbeta) return;
  // Columns [0, d): sum of g * xhat; [d, 2d): sum of g.
  std::vector<double> sums(static_cast<size_t>(2 * d));
  column_sums(rows, 2 * d, sums.data(), [&](int64_t begin, int64_t end, double* acc) {
    for (int64_t r = begin; r < end; ++r) {
      const T* xr = x + r * d;
      const T* gr = g + r * d;
      const T m = mean[r], rs = rstd[r];
      for (int64_t j = 0; j < d; ++j) {
        acc[j] += static_cast<double>(gr[j]) * ((xr[j] - m) * rs);
        acc[d + j] += gr[j];
      }
    }
  });
  for (int64_t j = 0; j < d; ++j) {
    if (dgamma) dgamma[j] = static_cast<T>(sums[j]);
    if (dbeta) dbeta[j] = static_cast<T>(sums[d + j]);
  }
}

#define MOTIVE_INSTANTIATE(T)                                                                 \
  template void layer_norm_forward<T>(int64_t, int64_t, const T*, const T*, int64_t, const T*, \
                                      int64_t, double, T*, T*, T*);                           \
  template void layer_norm_backward<T>(int64_t, int64_t, const T*, const T*, const T*,        \
                                       const T*, const T*, int64_t, T*, T*, T*);
MOTIVE_INSTANTIATE(float)
MOTIVE_INSTANTIATE(double)
#undef MOTIVE_INSTANTIATE

}  // namespace motive::cpu
