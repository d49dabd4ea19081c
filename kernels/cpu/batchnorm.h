// Batch normalisation of dense NHWC activations seen as [rows = N*H*W, c].
// gamma/beta are 1-D and may be strided (a base model's parameters are prefix
// views of the motivated one's) or null (scale 1, shift 0).
//
// Data (x, y, g, dx) is T; the per-channel parameters and statistics (gamma,
// beta, the running buffers, mean/rstd, dgamma/dbeta) are wide_t<T>: float32
// beside bf16 data (mixed-precision BN, as in PyTorch/cuDNN), T itself
// otherwise. Every sum accumulates in double.
#pragma once
#include <cstdint>

#include "kernels/bf16.h"

namespace motive::cpu {

// Running buffers, updated in place; they may be strided views.
template <class T>
struct RunningStats {
  wide_t<T>* mean;
  int64_t mean_stride;
  wide_t<T>* var;
  int64_t var_stride;
  double momentum;
};

// Training statistics per channel: the batch mean and rstd = 1/sqrt(var + eps)
// with the biased variance. When `running` is non-null (needs rows >= 2) it is
// updated like PyTorch's: r = (1 - momentum) r + momentum * batch, with the
// unbiased variance var * rows / (rows - 1). It is batch_norm_moments followed
// by batch_norm_stats_from_moments over `rows`.
template <class T>
void batch_norm_stats(int64_t rows, int64_t c, const T* x, double eps, wide_t<T>* mean,
                      wide_t<T>* rstd, const RunningStats<T>* running);

// The two halves of batch_norm_stats, apart so that synchronised batch norm
// (engine/ops.h, BatchNormSync) can combine the moments of several processes'
// shards in between. Moments per channel, in double: the mean and
// m2 = sum over the rows of (x - mean)^2.
template <class T>
void batch_norm_moments(int64_t rows, int64_t c, const T* x, double* mean, double* m2);
// mean, rstd and the running update from the moments of `count` rows.
template <class T>
void batch_norm_stats_from_moments(int64_t c, const double* moment_mean, const double* m2,
                                   double count, double eps, wide_t<T>* mean, wide_t<T>* rstd,
                                   const RunningStats<T>* running);

// Evaluation statistics: mean = running mean, rstd = 1/sqrt(running var + eps),
// written to fresh arrays so a later in-place update of the running buffers
// cannot change what a recorded graph saved. T is the data type: only its
// wide_t<T> parameters are read and written.
template <class T>
void batch_norm_running_stats(int64_t c, const wide_t<T>* running_mean, int64_t rm_stride,
                              const wide_t<T>* running_var, int64_t rv_stride, double eps,
                              wide_t<T>* mean, wide_t<T>* rstd);

// y = (x - mean) * rstd * gamma + beta, folded into one multiply-add per element.
template <class T>
void batch_norm_forward(int64_t rows, int64_t c, const T* x, const wide_t<T>* mean,
                        const wide_t<T>* rstd, const wide_t<T>* gamma, int64_t gamma_stride,
                        const wide_t<T>* beta, int64_t beta_stride, T* y);

// With xhat = (x - mean) * rstd:
//   dgamma = sum_rows(g * xhat),  dbeta = sum_rows(g)
//   dx = gamma * rstd * (g - sum_rows(g) / rows - xhat * sum_rows(g * xhat) / rows)  (training:
//        mean and rstd are functions of x)
//   dx = gamma * rstd * g                                                          (eval)
// Any of dx, dgamma, dbeta may be null (not needed). It is batch_norm_grad_sums
// followed by batch_norm_grad_input over `rows`.
template <class T>
void batch_norm_backward(int64_t rows, int64_t c, const T* x, const T* g, const wide_t<T>* mean,
                         const wide_t<T>* rstd, const wide_t<T>* gamma, int64_t gamma_stride,
                         bool training, T* dx, wide_t<T>* dgamma, wide_t<T>* dbeta);

// The two halves of batch_norm_backward (see batch_norm_moments for why).
// sums[0, c) = sum_rows(g), sums[c, 2c) = sum_rows(g * xhat), in double;
// dbeta and dgamma (when non-null) receive them.
template <class T>
void batch_norm_grad_sums(int64_t rows, int64_t c, const T* x, const T* g, const wide_t<T>* mean,
                          const wide_t<T>* rstd, double* sums, wide_t<T>* dgamma,
                          wide_t<T>* dbeta);
// dx from the sums over `count` rows (unread in eval).
template <class T>
void batch_norm_grad_input(int64_t rows, int64_t c, const T* x, const T* g,
                           const wide_t<T>* mean, const wide_t<T>* rstd, const wide_t<T>* gamma,
                           int64_t gamma_stride, bool training, const double* sums, double count,
                           T* dx);

}  // namespace motive::cpu
