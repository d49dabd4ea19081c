// CUDA twins of kernels/cpu/layernorm.h: same names, same signatures, device
// pointers (gamma/beta may be strided or null). Defined in layernorm.cu.
#pragma once
#include <cstdint>

namespace motive::cuda {

template <class T>
void layer_norm_forward(int64_t rows, int64_t d, const T* x, const T* gamma, int64_t gamma_stride,
                        const T* beta, int64_t beta_stride, double eps, T* y, T* mean, T* rstd);

template <class T>
void layer_norm_backward(int64_t rows, int64_t d, const T* x, const T* g, const T* mean,
                         const T* rstd, const T* gamma, int64_t gamma_stride, T* dx, T* dgamma,
                         T* dbeta);

}  // namespace motive::cuda
