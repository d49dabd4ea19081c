// CUDA twins of kernels/cpu/activations.h: same names, same signatures,
// device pointers. Defined in activations.cu.
#pragma once
#include <cstdint>

#include "kernels/cpu/activations.h"  // Activation

namespace motive::cuda {

using cpu::Activation;

template <class T>
void activation_forward(Activation a, int64_t n, const T* x, T* y);

template <class T>
void activation_backward(Activation a, int64_t n, const T* x, const T* g, T* dx);

}  // namespace motive::cuda
