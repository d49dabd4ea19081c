// 2-D convolution, NHWC activations and dense OHWI filters.
//
// General path: im2col (one row of kH*kW*C_in/groups values per output pixel,
// in the filter's (kh, kw, c) order, so an OHWI filter group is already the
// row-major [C_out/groups, kH*kW*C_in/groups] matrix) + Eigen GEMM. The batch
// is split into one share of images per thread, each processed in chunks whose
// patch matrix stays cache-sized (one buffer per thread per call); the
// backward reuses that buffer for the patch gradient and gathers it back into
// dx (col2im), and sums per-thread filter gradients at the end. 1x1 stride-1
// unpadded convolutions skip im2col (the input is the matrix); depthwise
// convolutions (groups == C_in == C_out) run a direct kernel
// (kernels/cpu/depthwise_conv2d.h).
//
// float, double and bf16. bf16 accumulates in float32 and rounds each output
// once, bias included (cuDNN with compute type float): the operands widen
// exactly into float buffers, the float kernel runs, the outputs round once.
#pragma once
#include <cstdint>

#include "kernels/bf16.h"
#include "kernels/cpu/window2d.h"

namespace motive::cpu {

// input [n, win.h, win.w, c_in], filter [c_out, win.k_h, win.k_w, c_in / groups],
// output [n, win.h_out, win.w_out, c_out].
struct Conv2dShape {
  int64_t n, c_in, c_out, groups;
  Window2d win;
  // Filter strides in elements along c_out, k_h, k_w (channels are
  // unit-stride); 0 means the dense OHWI filter. The CPU kernels read a
  // strided filter (a base model's sub-block view of the motivated filter) in
  // place; the CUDA kernels are always given a dense one.
  int64_t w_stride_o = 0, w_stride_h = 0, w_stride_w = 0;
};

// y = conv(x, w) (+ b when b is non-null). Overwrites y.
template <class T>
void conv2d_forward(const Conv2dShape& s, const T* x, const T* w, const T* b, T* y);

// Gradients for the outputs that are non-null (each fully overwritten):
// dx [n, h, w, c_in] needs w; dw [c_out, k_h, k_w, c_in/groups] needs x;
// db [c_out] needs only dy.
template <class T>
void conv2d_backward(const Conv2dShape& s, const T* x, const T* w, const T* dy, T* dx, T* dw,
                     T* db);

template <>
void conv2d_forward<bf16>(const Conv2dShape& s, const bf16* x, const bf16* w, const bf16* b,
                          bf16* y);
template <>
void conv2d_backward<bf16>(const Conv2dShape& s, const bf16* x, const bf16* w, const bf16* dy,
                           bf16* dx, bf16* dw, bf16* db);

}  // namespace motive::cpu
