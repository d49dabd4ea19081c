#include "kernels/cpu/activations.h"

#include "kernels/bf16.h"
#include "kernels/cpu/activation_math.h"

namespace motive::cpu {
namespace {

using activation_math::with_activation;

// Large tensors are split across cores; small ones stay serial (thread start-up
// would dominate).
constexpr int64_t kParallelMin = 1 << 15;

}  // namespace

template <class T>
void activation_forward(Activation a, int64_t n, const T* x, T* y) {
  with_activation(a, [&](auto act) {
    using A = decltype(act);
#pragma omp parallel for if (n > kParallelMin)
    for (int64_t i = 0; i < n; ++i) y[i] = A::f(static_cast<wide_t<T>>(x[i]));
  });
}

template <class T>
void activation_backward(Activation a, int64_t n, const T* x, const T* g, T* dx) {
  with_activation(a, [&](auto act) {
    using A = decltype(act);
#pragma omp parallel for if (n > kParallelMin)
    for (int64_t i = 0; i < n; ++i) dx[i] = g[i] * A::df(static_cast<wide_t<T>>(x[i]));
  });
}

int64_t activation_flops_per_element(Activation a) {
  return with_activation(a, [](auto act) { return decltype(act)::kFlops; });
}

#define MOTIVE_INSTANTIATE(T)                                                         \
  template void activation_forward<T>(Activation, int64_t, const T*, T*);            \
  template void activation_backward<T>(Activation, int64_t, const T*, const T*, T*);
MOTIVE_INSTANTIATE(float)
MOTIVE_INSTANTIATE(double)
MOTIVE_INSTANTIATE(bf16)
#undef MOTIVE_INSTANTIATE

}  // namespace motive::cpu
