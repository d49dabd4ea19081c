// CUDA twins of kernels/cpu/pool.h: same names, same signatures, same
// semantics (max: padding taps skipped, ties to the first tap in (kh, kw)
// order, NaN wins; avg: count_include_pad), device pointers. Defined in pool.cu.
#pragma once
#include <cstdint>

#include "kernels/cpu/pool.h"  // Window2d

namespace motive::cuda {

using cpu::Window2d;

template <class T>
void max_pool2d_forward(const Window2d& win, int64_t n, int64_t c, const T* x, T* y,
                        int32_t* argmax);
template <class T>
void max_pool2d_backward(const Window2d& win, int64_t n, int64_t c, const T* dy,
                         const int32_t* argmax, T* dx);

template <class T>
void avg_pool2d_forward(const Window2d& win, int64_t n, int64_t c, const T* x, T* y);
template <class T>
void avg_pool2d_backward(const Window2d& win, int64_t n, int64_t c, const T* dy, T* dx);

template <class T>
void global_avg_pool2d_forward(int64_t n, int64_t pixels, int64_t c, const T* x, T* y);
template <class T>
void global_avg_pool2d_backward(int64_t n, int64_t pixels, int64_t c, const T* dy, T* dx);

}  // namespace motive::cuda
