// CUDA twins of kernels/cpu/cross_entropy.h: same names, same signatures,
// device pointers (labels int32 on the device; the loss is written on the
// device). Defined in cross_entropy.cu.
#pragma once
#include <cstdint>

#include "kernels/cpu/cross_entropy.h"  // BadLabel

namespace motive::cuda {

using cpu::BadLabel;

// Checks on the device and returns at once: `bad` is called at the host's
// next wait (kernels/cuda/runtime.h, defer_check), so a training step never
// stalls on it. The kernels below never index logits by a bad label.
void cross_entropy_check_labels(int64_t n, int64_t c, const int32_t* labels, const BadLabel& bad);

template <class T>
void cross_entropy_forward(int64_t n, int64_t c, const T* logits, const int32_t* labels,
                           double smoothing, T* grad, T* loss);

template <class T>
void cross_entropy_backward(int64_t count, const T* grad_loss, T* grad);

}  // namespace motive::cuda
