#include "kernels/cpu/batchnorm_relu.h"

#include <algorithm>
#include <vector>

#include "kernels/cpu/column_sums.h"

namespace motive::cpu {
namespace {

// Below this many elements one thread does the elementwise passes.
constexpr int64_t kParallelMin = 1 << 15;

// The elementwise passes call body(i, lane) for every element i of the
// [rows, c] array, `lane` indexing per-channel constants laid out by
// per_lane(). Rows shorter than kRun whose length divides it (8 channels)
// run as one flat loop over runs of kRun elements with the constants repeated
// kRun / c times, so the vector loop is not cut short at every row.
constexpr int64_t kRun = 16;
bool flat(int64_t c) { return c < kRun && kRun % c == 0; }

template <class T>
std::vector<T> per_lane(const std::vector<T>& v) {
  const int64_t c = static_cast<int64_t>(v.size());
  if (!flat(c)) return v;
  std::vector<T> out(static_cast<size_t>(kRun));
  for (int64_t l = 0; l < kRun; ++l) out[l] = v[l % c];
  return out;
}

template <class F>
void for_each_element(int64_t rows, int64_t c, const F& body) {
  const int64_t n = rows * c;
  if (flat(c)) {
    const int64_t runs = n / kRun;
#pragma omp parallel for schedule(static) if (n > kParallelMin)
    for (int64_t r = 0; r < runs; ++r)
      for (int64_t l = 0; l < kRun; ++l) body(r * kRun + l, l);
    for (int64_t i = runs * kRun; i < n; ++i) body(i, i % kRun);
  } else {
#pragma omp parallel for schedule(static) if (n > kParallelMin)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t ch = 0; ch < c; ++ch) body(r * c + ch, ch);
  }
}

// The per-channel affine map (x - mean) * rstd * gamma + beta as scale and shift.
template <class T>
void fold(int64_t c, const T* mean, const T* rstd, const T* gamma, int64_t gs, const T* beta,
          int64_t bs, std::vector<T>& scale, std::vector<T>& shift) {
  scale.resize(static_cast<size_t>(c));
  shift.resize(static_cast<size_t>(c));
  for (int64_t ch = 0; ch < c; ++ch) {
    scale[ch] = gamma ? gamma[ch * gs] * rstd[ch] : rstd[ch];
    shift[ch] = (beta ? beta[ch * bs] : T(0)) - mean[ch] * scale[ch];
  }
}

// One row of the backward's sums: gr = g * [y > 0] (stored to dres when
// non-null), sg += gr, sgx += gr * xhat. The pointers do not alias (restrict
// lets the compiler vectorise without run-time overlap checks).
template <class T>
void add_row_sums(int64_t c, const T* __restrict g, const T* __restrict y, const T* __restrict x,
                  const T* __restrict mean, const T* __restrict rstd, T* __restrict dres,
                  T* __restrict sg, T* __restrict sgx) {
  for (int64_t ch = 0; ch < c; ++ch) {
    const T gv = g[ch], xhat = (x[ch] - mean[ch]) * rstd[ch];
    const T gr = y[ch] > T(0) ? gv : T(0);
    sg[ch] += gr;
    sgx[ch] += gr * xhat;
    if (dres) dres[ch] = gr;
  }
}

}  // namespace

template <class T>
void batch_norm_relu_forward(int64_t rows, int64_t c, const T* x, const T* mean, const T* rstd,
                             const T* gamma, int64_t gs, const T* beta, int64_t bs,
                             const T* residual, T* y) {
  std::vector<T> scale, shift;
  fold(c, mean, rstd, gamma, gs, beta, bs, scale, shift);
  const std::vector<T> k_lane = per_lane(scale), s_lane = per_lane(shift);
  const T* const k = k_lane.data();
  const T* const s = s_lane.data();
  if (residual) {
    for_each_element(rows, c, [=](int64_t i, int64_t l) {
      const T v = x[i] * k[l] + s[l] + residual[i];
      y[i] = v > T(0) ? v : T(0);
    });
  } else {
    for_each_element(rows, c, [=](int64_t i, int64_t l) {
      const T v = x[i] * k[l] + s[l];
      y[i] = v > T(0) ? v : T(0);
    });
  }
}

template <class T>
void batch_norm_relu_grad_sums(int64_t rows, int64_t c, const T* x, const T* y, const T* g,
                               const T* mean, const T* rstd, double* sums, T* dres, T* dgamma,
                               T* dbeta) {
  column_sums(rows, 2 * c, sums, [&](int64_t begin, int64_t end, double* acc) {
    // Sums of up to kBlock rows in T (vectorised), added into acc in double.
    constexpr int64_t kBlock = 16;
    std::vector<T> s_g(static_cast<size_t>(c)), s_gx(static_cast<size_t>(c));
    T* const sg = s_g.data();
    T* const sgx = s_gx.data();
    for (int64_t r0 = begin; r0 < end; r0 += kBlock) {
      std::fill(sg, sg + c, T(0));
      std::fill(sgx, sgx + c, T(0));
      const int64_t r1 = std::min(end, r0 + kBlock);
      for (int64_t r = r0; r < r1; ++r)
        add_row_sums(c, g + r * c, y + r * c, x + r * c, mean, rstd,
                     dres ? dres + r * c : nullptr, sg, sgx);
      for (int64_t ch = 0; ch < c; ++ch) {
        acc[ch] += sg[ch];
        acc[c + ch] += sgx[ch];
      }
    }
  });
  for (int64_t ch = 0; ch < c; ++ch) {
    if (dbeta) dbeta[ch] = static_cast<T>(sums[ch]);
    if (dgamma) dgamma[ch] = static_cast<T>(sums[c + ch]);
  }
}

template <class T>
void batch_norm_relu_grad_input(int64_t rows, int64_t c, const T* x, const T* y, const T* g,
                                const T* mean, const T* rstd, const T* gamma, int64_t gs,
                                bool training, const double* sums, double count, const T* dres,
                                T* dx) {
  // dx = k * (gr - a - (x - mean) * b), k = gamma * rstd; in training
  // a = sum(gr) / count and b = rstd * sum(gr * xhat) / count, in eval 0.
  // As one multiply-add per element: dx = k * gr - (k * b) * x + k * (b * mean - a).
  std::vector<T> k(static_cast<size_t>(c)), kb(static_cast<size_t>(c)), shift(static_cast<size_t>(c));
  for (int64_t ch = 0; ch < c; ++ch) {
    k[ch] = gamma ? gamma[ch * gs] * rstd[ch] : rstd[ch];
    const T a = training ? static_cast<T>(sums[ch] / count) : T(0);
    const T b = training ? static_cast<T>(rstd[ch] * sums[c + ch] / count) : T(0);
    kb[ch] = k[ch] * b;
    shift[ch] = k[ch] * (b * mean[ch] - a);
  }
  const std::vector<T> k_lane = per_lane(k), kb_lane = per_lane(kb), shift_lane = per_lane(shift);
  const T* const kp = k_lane.data();
  const T* const kbp = kb_lane.data();
  const T* const sp = shift_lane.data();
  if (dres) {
    for_each_element(rows, c, [=](int64_t i, int64_t l) {
      dx[i] = kp[l] * dres[i] - kbp[l] * x[i] + sp[l];
    });
  } else {
    for_each_element(rows, c, [=](int64_t i, int64_t l) {
      const T gr = y[i] > T(0) ? g[i] : T(0);
      dx[i] = kp[l] * gr - kbp[l] * x[i] + sp[l];
    });
  }
}

template <class T>
void batch_norm_relu_backward(int64_t rows, int64_t c, const T* x, const T* y, const T* g,
                              const T* mean, const T* rstd, const T* gamma, int64_t gs,
                              bool training, T* dx, T* dres, T* dgamma, T* dbeta) {
  // gr = g * [y > 0] is kept in dres when the residual wants it (the dx pass
  // reads it back), else recomputed from g and y.
  std::vector<double> sums;
  if (training || dgamma || dbeta) {
    sums.resize(static_cast<size_t>(2 * c));
    batch_norm_relu_grad_sums(rows, c, x, y, g, mean, rstd, sums.data(), dres, dgamma, dbeta);
  } else if (dres) {
#pragma omp parallel for schedule(static) if (rows * c > kParallelMin)
    for (int64_t i = 0; i < rows * c; ++i) dres[i] = y[i] > T(0) ? g[i] : T(0);
  }
  if (dx)
    batch_norm_relu_grad_input(rows, c, x, y, g, mean, rstd, gamma, gs, training, sums.data(),
                               static_cast<double>(rows), dres, dx);
}

#define MOTIVE_INSTANTIATE(T)                                                                  \
  template void batch_norm_relu_forward<T>(int64_t, int64_t, const T*, const T*, const T*,     \
                                           const T*, int64_t, const T*, int64_t, const T*, T*); \
  template void batch_norm_relu_backward<T>(int64_t, int64_t, const T*, const T*, const T*,    \
                                            const T*, const T*, const T*, int64_t, bool, T*,   \
                                            T*, T*, T*);                                    \
  template void batch_norm_relu_grad_sums<T>(int64_t, int64_t, const T*, const T*, const T*,  \
                                             const T*, const T*, double*, T*, T*, T*);         \
  template void batch_norm_relu_grad_input<T>(int64_t, int64_t, const T*, const T*, const T*, \
                                              const T*, const T*, const T*, int64_t, bool,     \
                                              const double*, double, const T*, T*);
MOTIVE_INSTANTIATE(float)
MOTIVE_INSTANTIATE(double)
#undef MOTIVE_INSTANTIATE

}  // namespace motive::cpu
