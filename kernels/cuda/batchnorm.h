// CUDA twins of kernels/cpu/batchnorm.h: same names, same signatures, device
// pointers (running buffers, gamma and beta may be strided or null); data in
// T, parameters and statistics in wide_t<T>. Defined in batchnorm.cu.
#pragma once
#include <cstdint>

#include "kernels/cpu/batchnorm.h"  // RunningStats, wide_t

namespace motive::cuda {

using cpu::RunningStats;

template <class T>
void batch_norm_stats(int64_t rows, int64_t c, const T* x, double eps, wide_t<T>* mean,
                      wide_t<T>* rstd, const RunningStats<T>* running);

template <class T>
void batch_norm_running_stats(int64_t c, const wide_t<T>* running_mean, int64_t rm_stride,
                              const wide_t<T>* running_var, int64_t rv_stride, double eps,
                              wide_t<T>* mean, wide_t<T>* rstd);

template <class T>
void batch_norm_forward(int64_t rows, int64_t c, const T* x, const wide_t<T>* mean,
                        const wide_t<T>* rstd, const wide_t<T>* gamma, int64_t gamma_stride,
                        const wide_t<T>* beta, int64_t beta_stride, T* y);

template <class T>
void batch_norm_backward(int64_t rows, int64_t c, const T* x, const T* g, const wide_t<T>* mean,
                         const wide_t<T>* rstd, const wide_t<T>* gamma, int64_t gamma_stride,
                         bool training, T* dx, wide_t<T>* dgamma, wide_t<T>* dbeta);

}  // namespace motive::cuda
