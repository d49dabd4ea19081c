// The activation table shared by the CPU and CUDA kernels: each activation is
// a functor with its value f(x), derivative df(x) and forward FLOP cost, so
// both backends compute the same formulas (the CUDA build compiles the
// functions for the device too; <cmath>'s std:: overloads exist there).
#pragma once
#include <cmath>
#include <cstdint>

#include "kernels/cpu/activations.h"

#ifdef __CUDACC__
#define MOTIVE_HOST_DEVICE __host__ __device__
#else
#define MOTIVE_HOST_DEVICE
#endif

namespace motive::activation_math {

struct Relu {
  static constexpr int64_t kFlops = 1;  // compare
  template <class T> MOTIVE_HOST_DEVICE static T f(T x) { return x > T(0) ? x : T(0); }
  // 0 at x == 0, like PyTorch.
  template <class T> MOTIVE_HOST_DEVICE static T df(T x) { return x > T(0) ? T(1) : T(0); }
};

struct Sigmoid {
  static constexpr int64_t kFlops = 4;  // negate, exp, add, divide
  // exp(-x) overflows to inf for very negative x, giving exactly 0: no NaN.
  template <class T> MOTIVE_HOST_DEVICE static T f(T x) { return T(1) / (T(1) + std::exp(-x)); }
  template <class T> MOTIVE_HOST_DEVICE static T df(T x) {
    const T s = f(x);
    return s * (T(1) - s);
  }
};

struct Silu {
  static constexpr int64_t kFlops = 5;  // sigmoid + multiply
  template <class T> MOTIVE_HOST_DEVICE static T f(T x) { return x * Sigmoid::f(x); }
  template <class T> MOTIVE_HOST_DEVICE static T df(T x) {
    const T s = Sigmoid::f(x);
    return s * (T(1) + x * (T(1) - s));
  }
};

// x * Phi(x), Phi the standard normal CDF.
struct GeluErf {
  static constexpr double kSqrtHalf = 0.7071067811865476;    // 1 / sqrt(2)
  static constexpr double kInvSqrt2Pi = 0.3989422804014327;  // 1 / sqrt(2 pi)
  static constexpr int64_t kFlops = 5;  // scale, erf, add, two multiplies
  template <class T> MOTIVE_HOST_DEVICE static T f(T x) {
    return T(0.5) * x * (T(1) + std::erf(x * T(kSqrtHalf)));
  }
  template <class T> MOTIVE_HOST_DEVICE static T df(T x) {
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
  template <class T> MOTIVE_HOST_DEVICE static T f(T x) {
    return T(0.5) * x * (T(1) + std::tanh(T(kAlpha) * (x + T(kBeta) * x * x * x)));
  }
  template <class T> MOTIVE_HOST_DEVICE static T df(T x) {
    const T t = std::tanh(T(kAlpha) * (x + T(kBeta) * x * x * x));
    return T(0.5) * (T(1) + t) +
           T(0.5) * x * (T(1) - t * t) * T(kAlpha) * (T(1) + T(3 * kBeta) * x * x);
  }
};

// Calls fn with a value of the functor type for `a`: the one switch over the
// table (host code; the CUDA side launches its kernel template from fn).
template <class Fn>
decltype(auto) with_activation(cpu::Activation a, Fn&& fn) {
  switch (a) {
    case cpu::Activation::Relu: return fn(Relu{});
    case cpu::Activation::GeluErf: return fn(GeluErf{});
    case cpu::Activation::GeluTanh: return fn(GeluTanh{});
    case cpu::Activation::Silu: return fn(Silu{});
    case cpu::Activation::Sigmoid: break;
  }
  return fn(Sigmoid{});
}

}  // namespace motive::activation_math
