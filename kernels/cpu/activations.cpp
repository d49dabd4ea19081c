#include "kernels/cpu/activations.h"

#include <algorithm>
#include <type_traits>

#include "kernels/bf16.h"
#include "kernels/cpu/activation_math.h"
#include "kernels/cpu/eigen.h"
#include "kernels/cpu/eigen_special.h"

namespace motive::cpu {
namespace {

using activation_math::with_activation;

// Large tensors are split across cores; small ones stay serial (thread start-up
// would dominate).
constexpr int64_t kParallelMin = 1 << 15;

// SiLU and sigmoid in float and double go through Eigen's vectorised exp: a
// scalar exp per element was a quarter of an EfficientNet training step on
// the CPU (SiLU follows most of its convolutions). The same formulas as
// activation_math.h; f(chunk of x, chunk of g or null, chunk of out) runs on
// chunks of the n elements, in parallel for large n.
template <class T>
constexpr bool kEigenActivation = std::is_same_v<T, float> || std::is_same_v<T, double>;

template <class T, class F>
void in_chunks(int64_t n, F&& f) {
  constexpr int64_t kChunk = 4096;
  const int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for if (n > kParallelMin)
  for (int64_t c = 0; c < chunks; ++c) f(c * kChunk, std::min(n, (c + 1) * kChunk) - c * kChunk);
}

template <class T>
using ArrayMap = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
template <class T>
using ConstArrayMap = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;

// GELU (erf) in float through Eigen's vectorised erf, a rational
// approximation within a few ulp of std::erf: a scalar erf per element was
// 14% of a ViT-Ti training step on one thread (GELU follows every MLP's first
// linear layer). Double keeps std::erf (Eigen's double erf is scalar too).
template <class T>
bool eigen_gelu(Activation a) {
  return a == Activation::GeluErf && std::is_same_v<T, float>;
}

// y = f(x) for SiLU, sigmoid and float GELU; false for the others.
template <class T>
bool eigen_forward(Activation a, int64_t n, const T* x, T* y) {
  if (a != Activation::Silu && a != Activation::Sigmoid && !eigen_gelu<T>(a)) return false;
  in_chunks<T>(n, [&](int64_t begin, int64_t len) {
    const ConstArrayMap<T> xs(x + begin, len);
    ArrayMap<T> ys(y + begin, len);
    if (a == Activation::Silu)
      ys = xs * (T(1) + (-xs).exp()).inverse();
    else if (a == Activation::Sigmoid)
      ys = (T(1) + (-xs).exp()).inverse();
    else
      ys = T(0.5) * xs * (T(1) + (xs * T(activation_math::GeluErf::kSqrtHalf)).erf());
  });
  return true;
}

// dx = g * f'(x) for SiLU (s (1 + x (1 - s))) and sigmoid (s (1 - s)), s = sigmoid(x),
// and float GELU (Phi(x) + x phi(x)).
template <class T>
bool eigen_backward(Activation a, int64_t n, const T* x, const T* g, T* dx) {
  if (a != Activation::Silu && a != Activation::Sigmoid && !eigen_gelu<T>(a)) return false;
  in_chunks<T>(n, [&](int64_t begin, int64_t len) {
    const ConstArrayMap<T> xs(x + begin, len), gs(g + begin, len);
    ArrayMap<T> out(dx + begin, len);
    if (a == Activation::GeluErf) {
      using G = activation_math::GeluErf;
      const auto cdf = T(0.5) * (T(1) + (xs * T(G::kSqrtHalf)).erf());
      const auto pdf = (T(-0.5) * xs.square()).exp() * T(G::kInvSqrt2Pi);
      out = gs * (cdf + xs * pdf);
      return;
    }
    const Eigen::Array<T, Eigen::Dynamic, 1> s = (T(1) + (-xs).exp()).inverse();
    if (a == Activation::Silu)
      out = gs * s * (T(1) + xs * (T(1) - s));
    else
      out = gs * s * (T(1) - s);
  });
  return true;
}

}  // namespace

template <class T>
void activation_forward(Activation a, int64_t n, const T* x, T* y) {
  if constexpr (kEigenActivation<T>)
    if (eigen_forward(a, n, x, y)) return;
  with_activation(a, [&](auto act) {
    using A = decltype(act);
#pragma omp parallel for if (n > kParallelMin)
    for (int64_t i = 0; i < n; ++i) y[i] = A::f(static_cast<wide_t<T>>(x[i]));
  });
}

template <class T>
void activation_backward(Activation a, int64_t n, const T* x, const T* g, T* dx) {
  if constexpr (kEigenActivation<T>)
    if (eigen_backward(a, n, x, g, dx)) return;
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
