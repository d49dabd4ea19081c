// 2-D pooling over NHWC tensors: x [n, win.h, win.w, c] -> y [n, win.h_out, win.w_out, c].
// Padding taps are skipped by max (PyTorch's -inf padding) and count as zeros
// for average (count_include_pad: the divisor is always k_h * k_w).
#pragma once
#include <cstdint>

#include "kernels/cpu/window2d.h"

namespace motive::cpu {

// argmax (may be null) receives, per output element, the input pixel ih * w + iw
// that won; ties go to the first tap in (kh, kw) order, NaN wins (propagates).
// Every window must hold at least one input pixel.
template <class T>
void max_pool2d_forward(const Window2d& win, int64_t n, int64_t c, const T* x, T* y,
                        int32_t* argmax);
// dx = dy routed to the argmax pixels (overwrites dx).
template <class T>
void max_pool2d_backward(const Window2d& win, int64_t n, int64_t c, const T* dy,
                         const int32_t* argmax, T* dx);

template <class T>
void avg_pool2d_forward(const Window2d& win, int64_t n, int64_t c, const T* x, T* y);
template <class T>
void avg_pool2d_backward(const Window2d& win, int64_t n, int64_t c, const T* dy, T* dx);

// x [n, pixels, c] -> y [n, c], the mean over pixels; and its backward.
template <class T>
void global_avg_pool2d_forward(int64_t n, int64_t pixels, int64_t c, const T* x, T* y);
template <class T>
void global_avg_pool2d_backward(int64_t n, int64_t pixels, int64_t c, const T* dy, T* dx);

}  // namespace motive::cpu
