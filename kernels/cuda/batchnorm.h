// CUDA twins of kernels/cpu/batchnorm.h: same names, same signatures, device
// pointers (running buffers, gamma and beta may be strided or null). Defined
// in batchnorm.cu.
#pragma once
#include <cstdint>

#include "kernels/cpu/batchnorm.h"  // RunningStats

namespace motive::cuda {

using cpu::RunningStats;

template <class T>
void batch_norm_stats(int64_t rows, int64_t c, const T* x, double eps, T* mean, T* rstd,
                      const RunningStats<T>* running);

template <class T>
void batch_norm_running_stats(int64_t c, const T* running_mean, int64_t rm_stride,
                              const T* running_var, int64_t rv_stride, double eps, T* mean,
                              T* rstd);

template <class T>
void batch_norm_forward(int64_t rows, int64_t c, const T* x, const T* mean, const T* rstd,
                        const T* gamma, int64_t gamma_stride, const T* beta, int64_t beta_stride,
                        T* y);

template <class T>
void batch_norm_backward(int64_t rows, int64_t c, const T* x, const T* g, const T* mean,
                         const T* rstd, const T* gamma, int64_t gamma_stride, bool training, T* dx,
                         T* dgamma, T* dbeta);

}  // namespace motive::cuda
