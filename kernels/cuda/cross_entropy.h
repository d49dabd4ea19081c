// CUDA twins of kernels/cpu/cross_entropy.h: same names, same signatures,
// device pointers (labels int32 on the device; the loss is written on the
// device). Defined in cross_entropy.cu.
#pragma once
#include <cstdint>

namespace motive::cuda {

// Waits for the check (one 8-byte copy back): the caller throws on a bad label.
void cross_entropy_check_labels(int64_t n, int64_t c, const int32_t* labels, int64_t* first_bad);

template <class T>
void cross_entropy_forward(int64_t n, int64_t c, const T* logits, const int32_t* labels,
                           double smoothing, T* probs, T* loss);

template <class T>
void cross_entropy_backward(int64_t n, int64_t c, const T* probs, const int32_t* labels,
                            double smoothing, const T* grad_loss, T* dx);

}  // namespace motive::cuda
