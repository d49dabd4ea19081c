// Batch normalisation of dense NHWC activations seen as [rows = N*H*W, c].
// gamma/beta are 1-D and may be strided (a base model's parameters are prefix
// views of the motivated one's) or null (scale 1, shift 0).
#pragma once
#include <cstdint>

namespace motive::cpu {

// Running buffers, updated in place; they may be strided views.
template <class T>
struct RunningStats {
  T* mean;
  int64_t mean_stride;
  T* var;
  int64_t var_stride;
  double momentum;
};

// Training statistics per channel: the batch mean and rstd = 1/sqrt(var + eps)
// with the biased variance. When `running` is non-null (needs rows >= 2) it is
// updated like PyTorch's: r = (1 - momentum) r + momentum * batch, with the
// unbiased variance var * rows / (rows - 1).
template <class T>
void batch_norm_stats(int64_t rows, int64_t c, const T* x, double eps, T* mean, T* rstd,
                      const RunningStats<T>* running);

// Evaluation statistics: mean = running mean, rstd = 1/sqrt(running var + eps),
// written to fresh arrays so a later in-place update of the running buffers
// cannot change what a recorded graph saved.
template <class T>
void batch_norm_running_stats(int64_t c, const T* running_mean, int64_t rm_stride,
                              const T* running_var, int64_t rv_stride, double eps, T* mean,
                              T* rstd);

// y = (x - mean) * rstd * gamma + beta, folded into one multiply-add per element.
template <class T>
void batch_norm_forward(int64_t rows, int64_t c, const T* x, const T* mean, const T* rstd,
                        const T* gamma, int64_t gamma_stride, const T* beta, int64_t beta_stride,
                        T* y);

// With xhat = (x - mean) * rstd:
//   dgamma = sum_rows(g * xhat),  dbeta = sum_rows(g)
//   dx = gamma * rstd * (g - sum_rows(g) / rows - xhat * sum_rows(g * xhat) / rows)  (training:
//        mean and rstd are functions of x)
//   dx = gamma * rstd * g                                                          (eval)
// Any of dx, dgamma, dbeta may be null (not needed).
template <class T>
void batch_norm_backward(int64_t rows, int64_t c, const T* x, const T* g, const T* mean,
                         const T* rstd, const T* gamma, int64_t gamma_stride, bool training, T* dx,
                         T* dgamma, T* dbeta);

}  // namespace motive::cpu
