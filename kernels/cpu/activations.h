// Pointwise activations: relu, gelu (erf and tanh forms), silu, sigmoid.
// One forward and one backward loop serve all of them; each activation is a
// functor with its value, derivative and FLOP cost (activation_math.h, shared
// with the CUDA kernels).
#pragma once
#include <cstdint>

namespace motive::cpu {

enum class Activation { Relu, GeluErf, GeluTanh, Silu, Sigmoid };

// y = f(x) over n dense elements.
template <class T>
void activation_forward(Activation a, int64_t n, const T* x, T* y);

// dx = g * f'(x) over n dense elements.
template <class T>
void activation_backward(Activation a, int64_t n, const T* x, const T* g, T* dx);

// Forward FLOPs per element (a transcendental counts as one).
int64_t activation_flops_per_element(Activation a);

}  // namespace motive::cpu
