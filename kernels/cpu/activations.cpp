#include "kernels/cpu/activations.h"

#include <cmath>

namespace motive::cpu {
namespace {

// Each functor: value f(x), derivative df(x), and forward FLOPs per element.
struct Relu {
  static constexpr int64_t kFlops = 1;  // compare
  template <class T> static T f(T x) { return x > T(0) ? x : T(0); }
  // 0 at x == 0, like PyTorch.
  template <class T> static T df(T x) { return x > T(0) ? T(1) : T(0); }
};

struct Sigmoid {
  static constexpr int64_t kFlops = 4;  // negate, exp, add, divide
  // exp(-x) overflows to inf for very negative x, giving exactly 0: no NaN.
  template <class T> static T f(T x) { return T(1) / (T(1) + std::exp(-x)); }
  template <class T> static T df(T x) {
    const T s = f(x);
    return s * (T(1) - s);
  }
};

struct Silu {
  static constexpr int64_t kFlops = 5;  // sigmoid + multiply
  template <class T> static T f(T x) { return x * Sigmoid::f(x); }
  template <class T> static T df(T x) {
    const T s = Sigmoid::f(x);
    return s * (T(1) + x * (T(1) - s));
  }
};

// x * Phi(x), Phi the standard normal CDF.
struct GeluErf {
  static constexpr double kSqrtHalf = 0.7071067811865476;    // 1 / sqrt(2)
  static constexpr double kInvSqrt2Pi = 0.3989422804014327;  // 1 / sqrt(2 pi)
  static constexpr int64_t kFlops = 5;  // scale, erf, add, two multiplies
  template <class T> static T f(T x) { return T(0.5) * x * (T(1) + std::erf(x * T(kSqrtHalf))); }
  template <class T> static T df(T x) {
    const T phi = std::exp(T(-0.5) * x * x) * T(kInvSqrt2Pi);
    return T(0.5) * (T(1) + std::erf(x * T(kSqrtHalf))) + x * phi;
  }
};

// 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), PyTorch's approximate="tanh".
struct GeluTanh {
  // cube (2), multiply-add (2), scale, tanh, add, two multiplies
  static constexpr int64_t kFlops = 9;
  static constexpr double kAlpha = 0.7978845608028654;  // sqrt(2 / pi)
  static constexpr double kBeta = 0.044715;
  template <class T> static T f(T x) {
    return T(0.5) * x * (T(1) + std::tanh(T(kAlpha) * (x + T(kBeta) * x * x * x)));
  }
  template <class T> static T df(T x) {
    const T t = std::tanh(T(kAlpha) * (x + T(kBeta) * x * x * x));
    return T(0.5) * (T(1) + t) +
           T(0.5) * x * (T(1) - t * t) * T(kAlpha) * (T(1) + T(3 * kBeta) * x * x);
  }
};

// Calls fn with a value of the functor type for `a`: the one switch in the file.
template <class Fn>
decltype(auto) with_activation(Activation a, Fn&& fn) {
  switch (a) {
    case Activation::Relu: return fn(Relu{});
    case Activation::GeluErf: return fn(GeluErf{});
    case Activation::GeluTanh: return fn(GeluTanh{});
    case Activation::Silu: return fn(Silu{});
    case Activation::Sigmoid: break;
  }
  return fn(Sigmoid{});
}

// Large tensors are split across cores; small ones stay serial (thread start-up
// would dominate).
constexpr int64_t kParallelMin = 1 << 15;

}  // namespace

template <class T>
void activation_forward(Activation a, int64_t n, const T* x, T* y) {
  with_activation(a, [&](auto act) {
    using A = decltype(act);
#pragma omp parallel for if (n > kParallelMin)
    for (int64_t i = 0; i < n; ++i) y[i] = A::f(x[i]);
  });
}

template <class T>
void activation_backward(Activation a, int64_t n, const T* x, const T* g, T* dx) {
  with_activation(a, [&](auto act) {
    using A = decltype(act);
#pragma omp parallel for if (n > kParallelMin)
    for (int64_t i = 0; i < n; ++i) dx[i] = g[i] * A::df(x[i]);
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
#undef MOTIVE_INSTANTIATE

}  // namespace motive::cpu
