// softmax over the last dim, numerically stable (row max subtracted).
// FLOPs (forward): 5 per element — max, subtract, exp, sum, normalise.
// Backward uses the saved output: dx = y * (g - sum(g * y)).
#include "engine/autocast.h"
#include "engine/autograd.h"
#include "engine/dispatch.h"
#include "engine/flops.h"
#include "engine/ops.h"
#include "kernels/cpu/softmax.h"
#include "kernels/cuda/softmax.h"

namespace motive {

int64_t softmax_flops(int64_t numel) { return 5 * numel; }

Tensor softmax(const Tensor& x_in) {
  MOTIVE_CHECK(x_in.defined() && x_in.dim() >= 1, "softmax: needs rank >= 1, got ",
               x_in.defined() ? shape_str(x_in.shape()) : "an undefined tensor");
  const Tensor x = widen_bf16(x_in).contiguous();  // float32 only: engine/autocast.h
  const int64_t cols = x.size(-1), rows = cols == 0 ? 0 : x.numel() / cols;
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  dispatch_float(x.dtype(), "softmax", [&](auto t) {
    using T = decltype(t);
    MOTIVE_KERNEL(x.device(), softmax_forward<T>, rows, cols, x.data<T>(), out.data<T>());
  });
  add_flops(softmax_flops(x.numel()));
  const Tensor y = out.detach();
  return record("softmax", out, {x}, [y, rows, cols](const Tensor& g_in) {
    const Tensor g = g_in.contiguous();
    Tensor dx = Tensor::empty(y.shape(), y.dtype(), y.device());
    dispatch_float(y.dtype(), "softmax", [&](auto t) {
      using T = decltype(t);
      MOTIVE_KERNEL(y.device(), softmax_backward<T>, rows, cols, y.data<T>(), g.data<T>(),
                    dx.data<T>());
    });
    return std::vector<Tensor>{dx};
  });
}

}  // namespace motive
