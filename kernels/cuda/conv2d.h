// CUDA twins of kernels/cpu/conv2d.h: same names, same signatures plus a last
// argument `allow_tf32`, device pointers (NHWC activations, dense OHWI
// filters). Defined in conv2d.cu.
//
// float32 and bf16 run on cuDNN (NHWC tensors, KRSC = OHWI filters, group
// count, cross-correlation, compute type float), float32 with TF32 only when
// `allow_tf32` (the engine passes its switch, engine/device.h), bf16 on tensor
// cores with float32 accumulation. The
// algorithm for each direction is chosen once per shape, dtype, math mode and
// operand alignment by timing every candidate (cudnnFind*AlgorithmEx), then
// cached; workspaces come from the stream-ordered pool. float64 runs on direct
// kernels here: cuDNN has no NHWC double engines (PyTorch, for the same reason,
// never picks channels-last for double convolutions); so does a float32 or
// bf16 geometry for which cuDNN offers no algorithm (with one line on stderr,
// as it is slow; they accumulate in float for bf16 and add the bias before the
// one rounding). Bias add and bias gradient are our own kernels for every type,
// summing in float or wider (after cuDNN, bf16's bias add rounds y a second
// time, as PyTorch's does).
#pragma once
#include <cstdint>

#include "kernels/cpu/conv2d.h"  // Conv2dShape

namespace motive::cuda {

using cpu::Conv2dShape;

template <class T>
void conv2d_forward(const Conv2dShape& s, const T* x, const T* w, const T* b, T* y,
                    bool allow_tf32);

template <class T>
void conv2d_backward(const Conv2dShape& s, const T* x, const T* w, const T* dy, T* dx, T* dw,
                     T* db, bool allow_tf32);

}  // namespace motive::cuda
