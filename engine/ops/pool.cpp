// Pooling over NHWC tensors: max_pool2d, avg_pool2d (count_include_pad), and
// global_avg_pool2d. FLOPs: one per window element read, i.e.
// N * H_out * W_out * C * kernel^2 (pool2d_flops); N * H * W * C for the global mean.
#include "engine/autograd.h"
#include "engine/dispatch.h"
#include "engine/flops.h"
#include "engine/ops.h"
#include "kernels/cpu/pool.h"
#include "kernels/cuda/pool.h"

namespace motive {

int64_t pool2d_flops(int64_t n, int64_t h_out, int64_t w_out, int64_t c, int64_t kernel) {
  return n * h_out * w_out * c * kernel * kernel;
}

namespace {

void check_nhwc(const Tensor& x, const char* op) {
  MOTIVE_CHECK(x.dim() == 4, op, ": expects an NHWC input [N,H,W,C], got ", shape_str(x.shape()));
}

// Validates the options against x; returns the window sweep.
cpu::Window2d pool_window(const Tensor& x, const Pool2dOptions& opt, const char* op) {
  check_nhwc(x, op);
  MOTIVE_CHECK(opt.kernel >= 1 && opt.stride >= 1 && opt.padding >= 0, op,
               ": needs kernel >= 1, stride >= 1, padding >= 0; got kernel ", opt.kernel,
               ", stride ", opt.stride, ", padding ", opt.padding);
  // PyTorch's rule; it also guarantees every window holds an input pixel.
  MOTIVE_CHECK(2 * opt.padding <= opt.kernel, op, ": padding ", opt.padding,
               " is more than half the kernel ", opt.kernel);
  cpu::Window2d win{x.size(1), x.size(2), 0, 0, opt.kernel, opt.kernel, opt.stride, opt.padding, 1};
  win.h_out = cpu::window_out_size(win.h, opt.kernel, opt.stride, opt.padding, 1);
  win.w_out = cpu::window_out_size(win.w, opt.kernel, opt.stride, opt.padding, 1);
  MOTIVE_CHECK(win.h_out > 0 && win.w_out > 0, op, ": kernel ", opt.kernel, " with padding ",
               opt.padding, " does not fit input ", shape_str(x.shape()));
  return win;
}

Shape pooled_shape(const Tensor& x, const cpu::Window2d& win) {
  return {x.size(0), win.h_out, win.w_out, x.size(3)};
}

// The shared wiring: y (of out_shape, on x's device) = forward(T{}, x dense, y),
// then a recorded backward whose dx (x's shape, fully written) = backward(T{}, dy dense, dx).
// The kernels take the device from their tensors (MOTIVE_KERNEL).
template <class Forward, class Backward>
Tensor run_pool(const char* op, const Tensor& x, const Shape& out_shape, int64_t flops,
                Forward forward, Backward backward) {
  const Tensor xc = x.contiguous();
  Tensor y = Tensor::empty(out_shape, x.dtype(), x.device());
  dispatch_float_bf16(x.dtype(), op, [&](auto t) { forward(t, xc, y); });
  add_flops(flops);
  const Shape in_shape = x.shape();
  return record(op, y, {xc}, [op, in_shape, backward](const Tensor& g) {
    const Tensor gc = g.contiguous();
    Tensor dx = Tensor::empty(in_shape, gc.dtype(), gc.device());
    dispatch_float_bf16(gc.dtype(), op, [&](auto t) { backward(t, gc, dx); });
    return std::vector<Tensor>{dx};
  });
}

}  // namespace

Tensor max_pool2d(const Tensor& x, const Pool2dOptions& opt) {
  const cpu::Window2d win = pool_window(x, opt, "max_pool2d");
  const int64_t n = x.size(0), c = x.size(3);
  const Shape out_shape = pooled_shape(x, win);
  // The winners are saved only when a backward will route the gradient to them.
  const Tensor argmax =
      needs_grad({&x}) ? Tensor::empty(out_shape, DType::I32, x.device()) : Tensor();
  return run_pool(
      "max_pool2d", x, out_shape, pool2d_flops(n, win.h_out, win.w_out, c, opt.kernel),
      [&](auto t, const Tensor& xc, Tensor& y) {
        using T = decltype(t);
        MOTIVE_KERNEL(xc.device(), max_pool2d_forward<T>, win, n, c, xc.data<T>(), y.data<T>(),
                      argmax.defined() ? argmax.data<int32_t>() : nullptr);
      },
      [win, n, c, argmax](auto t, const Tensor& dy, Tensor& dx) {
        using T = decltype(t);
        MOTIVE_KERNEL(dy.device(), max_pool2d_backward<T>, win, n, c, dy.data<T>(),
                      argmax.data<int32_t>(), dx.data<T>());
      });
}

Tensor avg_pool2d(const Tensor& x, const Pool2dOptions& opt) {
  const cpu::Window2d win = pool_window(x, opt, "avg_pool2d");
  const int64_t n = x.size(0), c = x.size(3);
  return run_pool(
      "avg_pool2d", x, pooled_shape(x, win), pool2d_flops(n, win.h_out, win.w_out, c, opt.kernel),
      [&](auto t, const Tensor& xc, Tensor& y) {
        using T = decltype(t);
        MOTIVE_KERNEL(xc.device(), avg_pool2d_forward<T>, win, n, c, xc.data<T>(), y.data<T>());
      },
      [win, n, c](auto t, const Tensor& dy, Tensor& dx) {
        using T = decltype(t);
        MOTIVE_KERNEL(dy.device(), avg_pool2d_backward<T>, win, n, c, dy.data<T>(), dx.data<T>());
      });
}

Tensor global_avg_pool2d(const Tensor& x) {
  check_nhwc(x, "global_avg_pool2d");
  MOTIVE_CHECK(x.size(1) > 0 && x.size(2) > 0, "global_avg_pool2d: empty spatial dims in ",
               shape_str(x.shape()));
  const int64_t n = x.size(0), pixels = x.size(1) * x.size(2), c = x.size(3);
  return run_pool(
      "global_avg_pool2d", x, {n, c}, x.numel(),
      [&](auto t, const Tensor& xc, Tensor& y) {
        using T = decltype(t);
        MOTIVE_KERNEL(xc.device(), global_avg_pool2d_forward<T>, n, pixels, c, xc.data<T>(),
                      y.data<T>());
      },
      [n, pixels, c](auto t, const Tensor& dy, Tensor& dx) {
        using T = decltype(t);
        MOTIVE_KERNEL(dy.device(), global_avg_pool2d_backward<T>, n, pixels, c, dy.data<T>(),
                      dx.data<T>());
      });
}

}  // namespace motive
