// CUDA twins of kernels/cpu/softmax.h: same names, same signatures, device
// pointers. Defined in softmax.cu.
#pragma once
#include <cstdint>

namespace motive::cuda {

template <class T>
void softmax_forward(int64_t rows, int64_t cols, const T* x, T* y);

template <class T>
void softmax_backward(int64_t rows, int64_t cols, const T* y, const T* g, T* dx);

}  // namespace motive::cuda
