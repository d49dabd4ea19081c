// Batch norm + optional residual add + relu over dense NHWC activations seen as
// [rows = N*H*W, c], fused (the tail of every ResNet conv -> BN -> relu and of
// every block: relu(BN(x) + shortcut)):
//   y = max(0, (x - mean) * rstd * gamma + beta + residual)
// one pass over x after the statistics (batch_norm_stats / _running_stats in
// kernels/cpu/batchnorm.h, whose conventions this follows: gamma and beta may
// be strided or null). The backward folds the relu's mask into BN's backward:
//   gr = g * [y > 0]   (the residual's gradient)
//   dx = BN backward of gr (training: two passes, one for the sums of gr and
//        gr * xhat, one for dx; eval: one)
// float and double; sums in double like batch_norm2d's.
#pragma once
#include <cstdint>

namespace motive::cpu {

// residual may be null (no add).
template <class T>
void batch_norm_relu_forward(int64_t rows, int64_t c, const T* x, const T* mean, const T* rstd,
                             const T* gamma, int64_t gamma_stride, const T* beta,
                             int64_t beta_stride, const T* residual, T* y);

// y is the forward's output. Any of dx, dresidual, dgamma, dbeta may be null;
// each non-null one is overwritten. It is batch_norm_relu_grad_sums followed
// by batch_norm_relu_grad_input over `rows`.
template <class T>
void batch_norm_relu_backward(int64_t rows, int64_t c, const T* x, const T* y, const T* g,
                              const T* mean, const T* rstd, const T* gamma, int64_t gamma_stride,
                              bool training, T* dx, T* dresidual, T* dgamma, T* dbeta);

// The two halves of batch_norm_relu_backward, apart for synchronised batch
// norm as batch_norm_grad_sums/_grad_input are (kernels/cpu/batchnorm.h).
// sums[0, c) = sum_rows(gr), sums[c, 2c) = sum_rows(gr * xhat), in double;
// dbeta, dgamma and dresidual (= gr) receive theirs when non-null.
template <class T>
void batch_norm_relu_grad_sums(int64_t rows, int64_t c, const T* x, const T* y, const T* g,
                               const T* mean, const T* rstd, double* sums, T* dresidual,
                               T* dgamma, T* dbeta);
// dx from the sums over `count` rows (unread in eval); `dresidual` is gr when
// batch_norm_relu_grad_sums wrote it, else null (gr is recomputed).
template <class T>
void batch_norm_relu_grad_input(int64_t rows, int64_t c, const T* x, const T* y, const T* g,
                                const T* mean, const T* rstd, const T* gamma,
                                int64_t gamma_stride, bool training, const double* sums,
                                double count, const T* dresidual, T* dx);

}  // namespace motive::cpu
