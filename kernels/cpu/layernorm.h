// Layer normalisation over the last dim of a dense [rows, d] array.
// gamma/beta are 1-D and may be strided (a base model's parameter is a prefix
// view of the motivated one's) or null (scale 1, shift 0).
#pragma once
#include <cstdint>

namespace motive::cpu {

// Per row: mean and rstd = 1 / sqrt(var + eps) (biased variance), saved for
// backward, and y = (x - mean) * rstd * gamma + beta. The statistics take one
// pass over the row (shifted sums in double), the output a second.
template <class T>
void layer_norm_forward(int64_t rows, int64_t d, const T* x, const T* gamma, int64_t gamma_stride,
                        const T* beta, int64_t beta_stride, double eps, T* y, T* mean, T* rstd);

// With xhat = (x - mean) * rstd and gy = g * gamma:
//   dx     = rstd * (gy - mean_row(gy) - xhat * mean_row(gy * xhat))
//   dgamma = sum_rows(g * xhat),  dbeta = sum_rows(g)
// Any of dx, dgamma, dbeta may be null (not needed).
template <class T>
void layer_norm_backward(int64_t rows, int64_t d, const T* x, const T* g, const T* mean,
                         const T* rstd, const T* gamma, int64_t gamma_stride, T* dx, T* dgamma,
                         T* dbeta);

}  // namespace motive::cpu
