// Direct NHWC convolution for small channel counts (ResNet's 8..64 channels at
// 7x7..32x32): no patch matrix. Each output row is cut into tiles of a few
// pixels, and a register tile of (pixels x channel vectors) accumulates one
// FMA per (pixel, channel vector) and per (tap, input channel), reading the
// input where it lies (a broadcast per pixel) and the filter packed once per
// call as [tap][channel in][channel-out vector]. Vertical padding skips the
// taps that fall outside; horizontal padding comes from a copy of each image
// with zero margins, kept in the thread's cache (forward, backward data), or
// from clipping each tap's range of columns (backward filter, whose reduction
// runs along the row). A 1x1 convolution is a plain GEMM here (one tap),
// strided or not.
//
// - forward:         y[pixel, co] vectorised over c_out;
// - backward data:   dx[pixel, ci] vectorised over c_in, gathered per input
//                    pixel from the taps that read it (strides > 1 split the
//                    input pixels into classes by position modulo the stride);
// - backward filter: dw[co, tap, ci] vectorised over c_in, a register tile of
//                    (c_out rows x c_in vectors) summing over the pixels of
//                    each image, one partial filter gradient per thread.
// Threads take whole images. float and double (the gradient checks run the
// same code in double); groups 1, dilation 1; the vectorised channel count
// must be a multiple of half the native vector (conv2d.cpp's im2col path
// serves everything else).
#pragma once
#include "kernels/cpu/conv2d.h"

namespace motive::cpu {

// Whether the direct kernels serve this convolution: the forward (and
// backward data, backward filter) for element type T.
template <class T>
bool direct_forward_fits(const Conv2dShape& s);
template <class T>
bool direct_backward_data_fits(const Conv2dShape& s);
template <class T>
bool direct_backward_filter_fits(const Conv2dShape& s);

// The filter w is read through s.w_strides (channels unit-stride): a base
// model's filter, a sub-block of the motivated one, is packed from the view.
// y = conv(x, w) (+ b when non-null); dx and dw are overwritten.
template <class T>
void direct_conv_forward(const Conv2dShape& s, const T* x, const T* w, const T* b, T* y);
template <class T>
void direct_conv_backward_data(const Conv2dShape& s, const T* w, const T* dy, T* dx);
template <class T>
void direct_conv_backward_filter(const Conv2dShape& s, const T* x, const T* dy, T* dw);

}  // namespace motive::cpu
