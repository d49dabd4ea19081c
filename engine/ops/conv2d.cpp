// conv2d: NHWC input, OHWI filter, optional bias; stride, padding, dilation,
// groups (depthwise included). FLOPs: 2 * N * H_out * W_out * C_out * kH * kW *
// C_in/groups, plus N * H_out * W_out * C_out for the bias.
//
// cuDNN wants dense operands, so on CUDA the forward calls contiguous() on
// each: a base model's filter (a sub-block view of the motivated filter) is
// packed into a fresh buffer (counted in memory_stats().bytes_copied), and the
// pack's recorded backward puts the filter gradient back into exactly that
// sub-block of the owner's gradient. The CPU kernels read a float32/float64
// filter with unit-stride channels through its strides instead (they pack it
// into their own layout anyway), and the filter gradient, dense, lands in the
// sub-block through the view.
//
// float32, float64 and bf16 (float32 accumulation, bias added before the one
// rounding on the CPU). Under Autocast float32 operands are cast to bf16 first
// (engine/autocast.h): the cast of a filter view is itself the dense pack, and
// its backward returns the float32 filter gradient into the owner's sub-block.
#include "engine/autocast.h"
#include "engine/autograd.h"
#include "engine/dispatch.h"
#include "engine/flops.h"
#include "engine/ops.h"
#include "kernels/cpu/conv2d.h"
#include "kernels/cuda/conv2d.h"

namespace motive {

int64_t conv2d_flops(int64_t n, int64_t h_out, int64_t w_out, int64_t c_out, int64_t k_h,
                     int64_t k_w, int64_t c_in_per_group) {
  return 2 * n * h_out * w_out * c_out * k_h * k_w * c_in_per_group;
}

namespace {

// Validates the operands and options; returns the kernel's shape description.
cpu::Conv2dShape conv_shape(const Tensor& x, const Tensor& w, const Tensor& b,
                            const Conv2dOptions& opt) {
  MOTIVE_CHECK(x.dim() == 4 && w.dim() == 4, "conv2d: expects input [N,H,W,C_in] and weight "
               "[C_out,kH,kW,C_in/groups], got ", shape_str(x.shape()), " and ",
               shape_str(w.shape()));
  MOTIVE_CHECK(x.dtype() == w.dtype() && (!b.defined() || b.dtype() == x.dtype()),
               "conv2d: dtypes differ (input ", dtype_name(x.dtype()), ", weight ",
               dtype_name(w.dtype()), b.defined() ? ", bias " : "",
               b.defined() ? dtype_name(b.dtype()) : "", ")");
  MOTIVE_CHECK(w.device() == x.device() && (!b.defined() || b.device() == x.device()),
               "conv2d: operands on different devices (input on ", device_name(x.device()),
               ", weight on ", device_name(w.device()),
               b.defined() ? std::string(", bias on ") + device_name(b.device()) : std::string(),
               ")");
  MOTIVE_CHECK(opt.stride >= 1 && opt.dilation >= 1 && opt.padding >= 0 && opt.groups >= 1,
               "conv2d: needs stride >= 1, dilation >= 1, padding >= 0, groups >= 1; got stride ",
               opt.stride, ", padding ", opt.padding, ", dilation ", opt.dilation, ", groups ",
               opt.groups);
  const int64_t c_in = x.size(3), c_out = w.size(0);
  MOTIVE_CHECK(c_in % opt.groups == 0 && c_out % opt.groups == 0 && w.size(3) * opt.groups == c_in,
               "conv2d: input ", shape_str(x.shape()), " and weight ", shape_str(w.shape()),
               " do not fit groups=", opt.groups);
  MOTIVE_CHECK(!b.defined() || (b.dim() == 1 && b.size(0) == c_out), "conv2d: bias ",
               shape_str(b.defined() ? b.shape() : Shape{}), " does not fit weight ",
               shape_str(w.shape()));
  cpu::Window2d win{x.size(1), x.size(2), 0, 0, w.size(1), w.size(2),
                    opt.stride, opt.padding, opt.dilation};
  win.h_out = cpu::window_out_size(win.h, win.k_h, opt.stride, opt.padding, opt.dilation);
  win.w_out = cpu::window_out_size(win.w, win.k_w, opt.stride, opt.padding, opt.dilation);
  MOTIVE_CHECK(win.h_out > 0 && win.w_out > 0 && win.k_h > 0 && win.k_w > 0 && c_in > 0,
               "conv2d: weight ", shape_str(w.shape()), " (dilation ", opt.dilation,
               ") does not fit input ", shape_str(x.shape()), " with padding ", opt.padding);
  return {x.size(0), c_in, c_out, opt.groups, win};
}

// FLOPs of the convolution itself (no bias): also the cost of each backward GEMM.
int64_t flops_of(const cpu::Conv2dShape& s) {
  return conv2d_flops(s.n, s.win.h_out, s.win.w_out, s.c_out, s.win.k_h, s.win.k_w,
                      s.c_in / s.groups);
}

}  // namespace

Tensor conv2d(const Tensor& x_in, const Tensor& w_in, const Tensor& b_in,
              const Conv2dOptions& opt) {
  const Tensor x = autocast_operand(x_in), w = autocast_operand(w_in), b = autocast_operand(b_in);
  cpu::Conv2dShape s = conv_shape(x, w, b, opt);
  const bool strided_filter =
      x.device() == Device::CPU && x.dtype() != DType::BF16 && w.stride(3) == 1;
  const Tensor xc = x.contiguous(), wc = strided_filter ? w : w.contiguous();
  if (strided_filter) {
    s.w_stride_o = w.stride(0);
    s.w_stride_h = w.stride(1);
    s.w_stride_w = w.stride(2);
  }
  const Tensor bc = b.defined() ? b.contiguous() : Tensor();
  Tensor y = Tensor::empty({s.n, s.win.h_out, s.win.w_out, s.c_out}, x.dtype(), x.device());
  dispatch_float_bf16(x.dtype(), "conv2d", [&](auto t) {
    using T = decltype(t);
    MOTIVE_KERNEL_TF32(x.device(), conv2d_forward<T>, s, xc.data<T>(), wc.data<T>(),
                       bc.defined() ? bc.data<T>() : nullptr, y.data<T>());
  });
  add_flops(flops_of(s) + (b.defined() ? y.numel() : 0));
  if (!needs_grad({&xc, &wc, &bc})) return y;
  const Tensor xd = xc.detach(), wd = wc.detach();
  const bool want_x = xc.requires_grad(), want_w = wc.requires_grad(),
             want_b = bc.defined() && bc.requires_grad();
  return record("conv2d", y, {xc, wc, bc}, [s, xd, wd, want_x, want_w, want_b](const Tensor& g) {
    const Tensor gc = g.contiguous();
    const Device dev = xd.device();
    Tensor dx = want_x ? Tensor::empty(xd.shape(), xd.dtype(), dev) : Tensor();
    Tensor dw = want_w ? Tensor::empty(wd.shape(), wd.dtype(), dev) : Tensor();
    Tensor db = want_b ? Tensor::empty({s.c_out}, wd.dtype(), dev) : Tensor();
    dispatch_float_bf16(gc.dtype(), "conv2d backward", [&](auto t) {
      using T = decltype(t);
      auto ptr = [](const Tensor& u) { return u.defined() ? u.data<T>() : nullptr; };
      MOTIVE_KERNEL_TF32(dev, conv2d_backward<T>, s, xd.data<T>(), wd.data<T>(), gc.data<T>(),
                         ptr(dx), ptr(dw), ptr(db));
    });
    // Like matmul's backward, count what ran: dx and dw each cost one forward GEMM.
    add_flops((want_x + want_w) * flops_of(s) + (want_b ? gc.numel() : 0));
    return std::vector<Tensor>{dx, dw, db};
  });
}

}  // namespace motive
