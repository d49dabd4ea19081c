// batch_norm2d_relu: relu(batch_norm2d(x) + residual) as one op, the tail of
// every ResNet layer (no residual) and block (the shortcut as residual). The
// statistics are batch_norm2d's (engine/ops/batchnorm_stats.h); then one pass
// writes y, where the unfused ops write and re-read the normalised tensor and
// the sum. Backward masks the incoming gradient with [y > 0] inside batch
// norm's own passes (kernels/cpu/batchnorm_relu.h) and hands that masked
// gradient to the residual. It saves x and y, as batch_norm2d followed by
// relu do.
// float32 and float64 on the CPU; on CUDA and for bf16 the op is the
// composition of batch_norm2d, add and relu (the same values, the same graph
// semantics).
// FLOPs (forward): batch_norm2d's, plus 1 per element for the residual add
// and 1 for the relu, as the unfused ops count.
#include "engine/autograd.h"
#include "engine/dispatch.h"
#include "engine/flops.h"
#include "engine/ops.h"
#include "engine/ops/batchnorm_stats.h"
#include "engine/ops/norm_common.h"
#include "kernels/cpu/batchnorm_relu.h"

namespace motive {

Tensor batch_norm2d_relu(const Tensor& x_in, const Tensor& gamma, const Tensor& beta,
                         const Tensor& running_mean, const Tensor& running_var, bool training,
                         const Tensor& residual_in, double momentum, double eps) {
  using norm::data_or_null;
  using norm::stride_or_one;
  if (x_in.defined() && (x_in.device() != Device::CPU || x_in.dtype() == DType::BF16)) {
    const Tensor y =
        batch_norm2d(x_in, gamma, beta, running_mean, running_var, training, momentum, eps);
    return relu(residual_in.defined() ? y + residual_in : y);
  }
  MOTIVE_CHECK(!residual_in.defined() ||
                   (x_in.defined() && residual_in.shape() == x_in.shape() &&
                    residual_in.dtype() == x_in.dtype() && residual_in.device() == x_in.device()),
               "batch_norm2d_relu: residual ",
               residual_in.defined() ? shape_str(residual_in.shape()) + " " +
                                           dtype_name(residual_in.dtype())
                                     : std::string(),
               " must match input ",
               x_in.defined() ? shape_str(x_in.shape()) + " " + dtype_name(x_in.dtype())
                              : std::string("(undefined)"));
  const bn::Statistics st = bn::statistics("batch_norm2d_relu", x_in, gamma, beta, running_mean,
                                           running_var, training, momentum, eps);
  const Tensor& x = st.x;
  const Tensor residual = residual_in.defined() ? residual_in.contiguous() : Tensor();
  const int64_t rows = st.rows, c = st.c;
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  dispatch_float(x.dtype(), "batch_norm2d_relu", [&](auto t) {
    using T = decltype(t);
    cpu::batch_norm_relu_forward<T>(rows, c, x.data<T>(), st.mean.data<T>(), st.rstd.data<T>(),
                                    data_or_null<T>(gamma), stride_or_one(gamma),
                                    data_or_null<T>(beta), stride_or_one(beta),
                                    data_or_null<T>(residual), out.data<T>());
  });
  add_flops(batch_norm2d_flops(x.numel(), training) + (residual.defined() ? 2 : 1) * x.numel());

  const bool need_dx = x.requires_grad();
  const bool need_dgamma = gamma.defined() && gamma.requires_grad();
  const bool need_dbeta = beta.defined() && beta.requires_grad();
  const bool need_dres = residual.defined() && residual.requires_grad();
  const Tensor xs = x.detach(), ys = out.detach(), gs = gamma.defined() ? gamma.detach() : Tensor();
  const Tensor mean = st.mean, rstd = st.rstd;
  auto backward = [xs, ys, gs, mean, rstd, rows, c, training, need_dx, need_dgamma, need_dbeta,
                   need_dres, sync = st.sync, count = st.count](const Tensor& g_in) {
    const Tensor g = g_in.contiguous();
    auto make = [&](bool need, const Shape& shape) {
      return need ? Tensor::empty(shape, xs.dtype(), xs.device()) : Tensor();
    };
    Tensor dx = make(need_dx, xs.shape()), dres = make(need_dres, xs.shape());
    Tensor dgamma = make(need_dgamma, {c}), dbeta = make(need_dbeta, {c});
    dispatch_float(xs.dtype(), "batch_norm2d_relu", [&](auto t) {
      using T = decltype(t);
      if (sync) {
        // dgamma, dbeta and the residual's gradient from this shard; dx from
        // the sums of every shard.
        std::vector<double> sums(static_cast<size_t>(2 * c));
        cpu::batch_norm_relu_grad_sums(rows, c, xs.data<T>(), ys.data<T>(), g.data<T>(),
                                       mean.data<T>(), rstd.data<T>(), sums.data(),
                                       data_or_null<T>(dres), data_or_null<T>(dgamma),
                                       data_or_null<T>(dbeta));
        if (!need_dx) return;
        bn::combine_grad_sums(*sync, c, sums.data());
        cpu::batch_norm_relu_grad_input(rows, c, xs.data<T>(), ys.data<T>(), g.data<T>(),
                                        mean.data<T>(), rstd.data<T>(), data_or_null<T>(gs),
                                        stride_or_one(gs), training, sums.data(), count,
                                        data_or_null<T>(dres), dx.data<T>());
      } else {
        cpu::batch_norm_relu_backward<T>(rows, c, xs.data<T>(), ys.data<T>(), g.data<T>(),
                                         mean.data<T>(), rstd.data<T>(), data_or_null<T>(gs),
                                         stride_or_one(gs), training, data_or_null<T>(dx),
                                         data_or_null<T>(dres), data_or_null<T>(dgamma),
                                         data_or_null<T>(dbeta));
      }
    });
    return std::vector<Tensor>{dx, dgamma, dbeta, dres};
  };
  return record("batch_norm2d_relu", out, {x, gamma, beta, residual}, std::move(backward));
}

}  // namespace motive
