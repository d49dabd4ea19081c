// relu, gelu (erf / tanh), silu, sigmoid: one wiring for all four, the math is
// the functor table in kernels/cpu/activation_math.h (shared by the CPU and
// CUDA kernels). Backward needs x, except for relu: relu'(x) = [x > 0] =
// [relu(x) > 0], so relu saves its output and the same backward kernel reads it.
// That output is usually the next layer's saved input anyway, so conv -> BN ->
// relu keeps two activations alive for backward instead of three.
// FLOPs per element (forward): relu 1, sigmoid 4, silu 5, gelu-erf 5, gelu-tanh 9.
#include "engine/autograd.h"
#include "engine/dispatch.h"
#include "engine/flops.h"
#include "engine/ops.h"
#include "kernels/cpu/activations.h"
#include "kernels/cuda/activations.h"

namespace motive {
namespace {

Tensor activation(const Tensor& x_in, cpu::Activation kind, const char* name) {
  MOTIVE_CHECK(x_in.defined(), name, ": input is undefined");
  const Tensor x = x_in.contiguous();  // recorded: the gradient reaches a strided input
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  dispatch_float_bf16(x.dtype(), name, [&](auto t) {
    using T = decltype(t);
    MOTIVE_KERNEL(x.device(), activation_forward<T>, kind, x.numel(), x.data<T>(), out.data<T>());
  });
  add_flops(cpu::activation_flops_per_element(kind) * x.numel());
  const Tensor saved = kind == cpu::Activation::Relu ? out.detach() : x.detach();
  return record(name, out, {x}, [saved, kind, name](const Tensor& g_in) {
    const Tensor g = g_in.contiguous();
    Tensor dx = Tensor::empty(saved.shape(), saved.dtype(), saved.device());
    dispatch_float_bf16(saved.dtype(), name, [&](auto t) {
      using T = decltype(t);
      MOTIVE_KERNEL(saved.device(), activation_backward<T>, kind, saved.numel(), saved.data<T>(),
                    g.data<T>(), dx.data<T>());
    });
    return std::vector<Tensor>{dx};
  });
}

}  // namespace

Tensor relu(const Tensor& x) { return activation(x, cpu::Activation::Relu, "relu"); }
Tensor gelu(const Tensor& x, GeluApprox approx) {
  return activation(
      x, approx == GeluApprox::Tanh ? cpu::Activation::GeluTanh : cpu::Activation::GeluErf, "gelu");
}
Tensor silu(const Tensor& x) { return activation(x, cpu::Activation::Silu, "silu"); }
Tensor sigmoid(const Tensor& x) { return activation(x, cpu::Activation::Sigmoid, "sigmoid"); }

}  // namespace motive
