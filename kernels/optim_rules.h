// The per-element update rules of SGD and AdamW, shared by the CPU kernel
// (kernels/cpu/optim.cpp) and the CUDA kernel (kernels/cuda/optim.cu), and the
// host-side derivation of their coefficients, computed once in double and
// rounded to T. Both devices thus run the same operations in the same order.
// On the device every operation rounds on its own (the _rn intrinsics are
// never contracted into FMAs), as the host build does (x86-64 without -mfma),
// so the two agree bit for bit.
#pragma once
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "kernels/cpu/optim.h"
#include "kernels/host_device.h"

namespace motive {

// Correctly rounded arithmetic without contraction: on the device the _rn
// intrinsics (float or double by T), on the host the plain operators.
namespace rn {

#if defined(__CUDA_ARCH__)
#define MOTIVE_RN_BODY(f32, f64, host)                  \
  if constexpr (std::is_same_v<T, float>) return f32; \
  else return f64;
#else
#define MOTIVE_RN_BODY(f32, f64, host) return host;
#endif
#define MOTIVE_RN(name, params, f32, f64, host) \
  template <class T>                            \
  MOTIVE_HOST_DEVICE inline T name params {     \
    MOTIVE_RN_BODY(f32, f64, host)              \
  }
MOTIVE_RN(add, (T a, T b), __fadd_rn(a, b), __dadd_rn(a, b), a + b)
MOTIVE_RN(sub, (T a, T b), __fsub_rn(a, b), __dsub_rn(a, b), a - b)
MOTIVE_RN(mul, (T a, T b), __fmul_rn(a, b), __dmul_rn(a, b), a * b)
MOTIVE_RN(div, (T a, T b), __fdiv_rn(a, b), __ddiv_rn(a, b), a / b)
MOTIVE_RN(sqrt, (T a), __fsqrt_rn(a), __dsqrt_rn(a), std::sqrt(a))
#undef MOTIVE_RN
#undef MOTIVE_RN_BODY

}  // namespace rn

// ---- SGD ----

// Per call.
template <class T>
struct SgdConstants {
  T lr, momentum, keep;  // keep = 1 - dampening
  bool nesterov;
};
// Per parameter.
template <class T>
struct SgdCoef {
  T weight_decay;   // 0 for a parameter excluded from decay
  bool first_step;  // buf = d (dampening != 0 and the parameter's first step)
};

template <class T>
SgdConstants<T> sgd_constants(const cpu::SgdHyper& h) {
  return {static_cast<T>(h.lr), static_cast<T>(h.momentum), static_cast<T>(1.0 - h.dampening),
          h.nesterov};
}

template <class T>
SgdCoef<T> sgd_coef(const cpu::SgdHyper& h, const cpu::ParamUpdate<T>& u) {
  return {static_cast<T>(u.decay ? h.weight_decay : 0.0), h.dampening != 0 && u.step == 1};
}

// Mirrors torch.optim.SGD's _single_tensor_sgd: d = g (+ wd * p); with
// momentum, buf = momentum * buf + (1 - dampening) * d (or d at the first
// step) and d = buf (or d + momentum * buf with Nesterov); p -= lr * d.
// Without momentum, buf is not touched.
template <bool kMomentum, class T>
MOTIVE_HOST_DEVICE inline void sgd_update(const SgdConstants<T>& c, const SgdCoef<T>& k, T& p,
                                          T g, T& buf) {
  T d = g;
  if (k.weight_decay != T(0)) d = rn::add(d, rn::mul(k.weight_decay, p));
  if (kMomentum) {
    buf = k.first_step ? d : rn::add(rn::mul(c.momentum, buf), rn::mul(c.keep, d));
    d = c.nesterov ? rn::add(d, rn::mul(c.momentum, buf)) : buf;
  }
  p = rn::sub(p, rn::mul(c.lr, d));
}

// ---- AdamW ----

// Per call.
template <class T>
struct AdamWConstants {
  T one_minus_beta1, beta2, one_minus_beta2, eps;
};
// Per parameter (they depend on its step count and decay flag).
template <class T>
struct AdamWCoef {
  T shrink;          // 1 - lr * weight_decay
  T neg_step_size;   // -lr / (1 - beta1^t)
  T bias_sqrt;       // sqrt(1 - beta2^t)
};

template <class T>
AdamWConstants<T> adamw_constants(const cpu::AdamWHyper& h) {
  return {static_cast<T>(1.0 - h.beta1), static_cast<T>(h.beta2), static_cast<T>(1.0 - h.beta2),
          static_cast<T>(h.eps)};
}

template <class T>
AdamWCoef<T> adamw_coef(const cpu::AdamWHyper& h, const cpu::ParamUpdate<T>& u) {
  const double t = static_cast<double>(u.step);
  return {static_cast<T>(1.0 - h.lr * (u.decay ? h.weight_decay : 0.0)),
          static_cast<T>(-(h.lr / (1.0 - std::pow(h.beta1, t)))),
          static_cast<T>(std::sqrt(1.0 - std::pow(h.beta2, t)))};
}

// Mirrors torch.optim.AdamW (_single_tensor_adam with decoupled decay):
// p *= shrink; m = lerp(m, g, 1 - beta1); v = beta2 v + (1 - beta2) g^2;
// p += -step_size * m / (sqrt(v) / sqrt(1 - beta2^t) + eps).
template <class T>
MOTIVE_HOST_DEVICE inline void adamw_update(const AdamWConstants<T>& c, const AdamWCoef<T>& k,
                                            T& p, T g, T& m, T& v) {
  p = rn::mul(p, k.shrink);
  m = rn::add(m, rn::mul(c.one_minus_beta1, rn::sub(g, m)));
  v = rn::add(rn::mul(v, c.beta2), rn::mul(rn::mul(c.one_minus_beta2, g), g));
  const T denom = rn::add(rn::div(rn::sqrt(v), k.bias_sqrt), c.eps);
  p = rn::add(p, rn::div(rn::mul(k.neg_step_size, m), denom));
}

}  // namespace motive
