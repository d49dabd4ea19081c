// add / sub / mul / div with NumPy broadcasting, their scalar forms, and
// sum_to_shape (the backward of broadcasting). FLOPs: one per output element.
#include "engine/autocast.h"
#include "engine/autograd.h"
#include "engine/dispatch.h"
#include "engine/flops.h"
#include "engine/ops.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cuda/elementwise.h"

namespace motive {
namespace {

const char* op_name(cpu::BinaryOp op) {
  switch (op) {
    case cpu::BinaryOp::Add: return "add";
    case cpu::BinaryOp::Sub: return "sub";
    case cpu::BinaryOp::Mul: return "mul";
    case cpu::BinaryOp::Div: return "div";
  }
  return "?";
}

// Plain computation (no autograd): broadcast a and b, run the kernel.
Tensor compute(cpu::BinaryOp op, const Tensor& a, const Tensor& b) {
  const char* name = op_name(op);
  MOTIVE_CHECK(a.dtype() == b.dtype(), name, ": dtypes ", dtype_name(a.dtype()), " and ",
               dtype_name(b.dtype()), " differ");
  MOTIVE_CHECK(a.device() == b.device(), name, ": inputs on ", device_name(a.device()), " and ",
               device_name(b.device()));
  const Shape shape = broadcast_shapes(a.shape(), b.shape(), name);
  const Tensor ae = a.detach().expand(shape), be = b.detach().expand(shape);
  Tensor out = Tensor::empty(shape, a.dtype(), a.device());
  dispatch_float_bf16(a.dtype(), name, [&](auto t) {
    using T = decltype(t);
    MOTIVE_KERNEL(out.device(), binary<T>, op, out.dim(), shape.data(), out.data<T>(),
                  out.strides().data(), ae.data<T>(), ae.strides().data(), be.data<T>(),
                  be.strides().data());
  });
  add_flops(out.numel());
  return out;
}

// A bf16 / float32 pair runs in float32 (engine/autocast.h); other mixes are
// an error in compute().
std::pair<Tensor, Tensor> promote(const Tensor& a, const Tensor& b) {
  const bool pair = (a.dtype() == DType::BF16 && b.dtype() == DType::F32) ||
                    (a.dtype() == DType::F32 && b.dtype() == DType::BF16);
  if (!pair) return {a, b};
  return {widen_bf16(a), widen_bf16(b)};
}

}  // namespace

Tensor sum_to_shape(const Tensor& grad, const Shape& shape) {
  if (grad.shape() == shape) return grad;
  const int64_t lead = grad.dim() - static_cast<int64_t>(shape.size());
  MOTIVE_CHECK(lead >= 0, "sum_to_shape: cannot reduce ", shape_str(grad.shape()), " to ",
               shape_str(shape));
  Shape dims;
  for (int64_t d = 0; d < grad.dim(); ++d)
    if (d < lead || (shape[d - lead] == 1 && grad.shape()[d] != 1)) dims.push_back(d);
  return sum(grad, dims, true).reshape(shape);
}

Tensor add(const Tensor& a_in, const Tensor& b_in) {
  const auto [a, b] = promote(a_in, b_in);
  Tensor out = compute(cpu::BinaryOp::Add, a, b);
  const Shape sa = a.shape(), sb = b.shape();
  return record("add", out, {a, b}, [sa, sb](const Tensor& g) {
    return std::vector<Tensor>{sum_to_shape(g, sa), sum_to_shape(g, sb)};
  });
}

Tensor sub(const Tensor& a_in, const Tensor& b_in) {
  const auto [a, b] = promote(a_in, b_in);
  Tensor out = compute(cpu::BinaryOp::Sub, a, b);
  const Shape sa = a.shape(), sb = b.shape();
  return record("sub", out, {a, b}, [sa, sb](const Tensor& g) {
    return std::vector<Tensor>{sum_to_shape(g, sa), sum_to_shape(mul_scalar(g, -1.0), sb)};
  });
}

Tensor mul(const Tensor& a_in, const Tensor& b_in) {
  const auto [a, b] = promote(a_in, b_in);
  Tensor out = compute(cpu::BinaryOp::Mul, a, b);
  const Tensor ad = a.detach(), bd = b.detach();
  return record("mul", out, {a, b}, [ad, bd](const Tensor& g) {
    return std::vector<Tensor>{sum_to_shape(mul(g, bd), ad.shape()),
                               sum_to_shape(mul(g, ad), bd.shape())};
  });
}

Tensor div(const Tensor& a_in, const Tensor& b_in) {
  const auto [a, b] = promote(a_in, b_in);
  Tensor out = compute(cpu::BinaryOp::Div, a, b);
  const Tensor ad = a.detach(), bd = b.detach();
  return record("div", out, {a, b}, [ad, bd](const Tensor& g) {
    // d(a/b)/db = -a / b^2
    const Tensor gb = mul_scalar(div(mul(g, ad), mul(bd, bd)), -1.0);
    return std::vector<Tensor>{sum_to_shape(div(g, bd), ad.shape()), sum_to_shape(gb, bd.shape())};
  });
}

namespace {

Tensor affine(const Tensor& a, double scale, double shift, const char* name) {
  const Tensor x = a.contiguous();
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  dispatch_float_bf16(x.dtype(), name, [&](auto t) {
    using T = decltype(t);
    MOTIVE_KERNEL(x.device(), affine<T>, x.numel(), x.data<T>(), static_cast<wide_t<T>>(scale),
                  static_cast<wide_t<T>>(shift), out.data<T>());
  });
  add_flops(out.numel());
  return record(name, out, {a}, [scale](const Tensor& g) {
    return std::vector<Tensor>{scale == 1.0 ? g : mul_scalar(g, scale)};
  });
}

}  // namespace

Tensor add_scalar(const Tensor& a, double s) { return affine(a, 1.0, s, "add_scalar"); }
Tensor mul_scalar(const Tensor& a, double s) { return affine(a, s, 0.0, "mul_scalar"); }

void mul_scalar_into(const Tensor& out, const Tensor& a, double s) {
  MOTIVE_CHECK(out.shape() == a.shape() && out.dtype() == a.dtype() && out.device() == a.device(),
               "mul_scalar_into: ", out.str(), " from ", a.str());
  // The scalar as a stride-0 operand of the binary kernel: a * s rounds as
  // mul_scalar's affine kernel does (one product in T for float32).
  const Tensor scalar = Tensor::full({}, s, a.dtype(), a.device()).expand(a.shape());
  dispatch_float_bf16(a.dtype(), "mul_scalar_into", [&](auto t) {
    using T = decltype(t);
    MOTIVE_KERNEL(out.device(), binary<T>, cpu::BinaryOp::Mul, out.dim(), out.shape().data(),
                  out.data<T>(), out.strides().data(), a.data<T>(), a.strides().data(),
                  scalar.data<T>(), scalar.strides().data());
  });
  add_flops(out.numel());
}

}  // namespace motive
