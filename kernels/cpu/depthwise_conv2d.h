// Depthwise 2-D convolution (groups == C_in == C_out = C): NHWC activations, the
// OHWI filter [C, kH, kW, 1]. conv2d's CPU kernel (kernels/cpu/conv2d.cpp)
// calls these for that geometry instead of im2col, which for groups = C would
// run C matrix products of a single column each.
//
// Direct loops, vectorised over channels: each output pixel is a sum over the
// taps of an input pixel's channel vector times the tap's channel vector of
// filter values (the filter re-laid once per call as [tap, C], k*k*C values
// against N*H*W*k*k*C multiply-adds). Outputs are computed in register blocks
// of 4 pixels x 2 SIMD vectors of channels, so each filter vector loaded serves
// 4 pixels. The backward of the data is the same gather read the other way:
// each input pixel sums the output gradients of the pixels whose windows read
// it (strided windows: the pixels of one stride phase share the taps). The
// filter gradient sums x * dy over the pixels 4 taps at a time (each dy vector
// loaded once for them), in deterministic chunks (kernels/cpu/column_sums.h:
// the same bits for any thread count). Which taps a pixel reads is worked out
// once per call for the distinct rows and column runs (the interior, and each
// border row and pixel), not per pixel.
//
// A width-nested model's depthwise filter is the leading [C', k, k, 1] block of
// the owner's [C, k, k, 1]: whole rows of a row-major tensor, hence dense as it
// is (its strides are a dense tensor's), so conv2d's contiguous() copies
// nothing. (A dense conv's nested filter [C_out', k, k, C_in'] is narrowed in
// its last dim, strided, and is packed each step.)
//
// The inner loops are compiled for AVX-512, AVX2 + FMA and baseline x86-64,
// and the first the CPU supports runs (the build itself targets baseline
// x86-64). float and double; bf16 reaches this through conv2d's float path.
#pragma once

#include "kernels/cpu/conv2d.h"

namespace motive::cpu {

// Which compiled version of the loops runs: the widest the CPU supports
// (Auto), or a narrower one, so that tests cover each (a level the CPU lacks
// runs the widest it has).
enum class SimdLevel { Auto, Avx512, Avx2, Baseline };

// y = depthwise(x, w) (+ b when b is non-null). Overwrites y.
template <class T>
void depthwise_conv2d_forward(const Conv2dShape& s, const T* x, const T* w, const T* b, T* y,
                              SimdLevel level = SimdLevel::Auto);

// dx = the gradient of the input, given the filter and dy. Overwrites dx.
template <class T>
void depthwise_conv2d_backward_data(const Conv2dShape& s, const T* w, const T* dy, T* dx,
                                    SimdLevel level = SimdLevel::Auto);

// dw [C, kH, kW, 1] = the gradient of the filter, given x and dy. Overwrites dw.
template <class T>
void depthwise_conv2d_backward_filter(const Conv2dShape& s, const T* x, const T* dy, T* dw,
                                      SimdLevel level = SimdLevel::Auto);

}  // namespace motive::cpu
