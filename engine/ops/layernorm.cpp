// layer_norm over the last dim; gamma/beta [D] optional (and may be strided
// views: a base model's parameters are prefix views of the motivated one's).
// The forward saves per-row mean and rstd; the backward recomputes xhat from
// them instead of keeping a normalised copy of x.
// FLOPs (forward): 5 per element (statistics: subtract, multiply-add, add;
// normalise: subtract, multiply) + 2 per element with an affine map.
#include "engine/autocast.h"
#include "engine/autograd.h"
#include "engine/dispatch.h"
#include "engine/flops.h"
#include "engine/ops.h"
#include "engine/ops/norm_common.h"
#include "kernels/cpu/layernorm.h"
#include "kernels/cuda/layernorm.h"

namespace motive {

int64_t layer_norm_flops(int64_t numel, bool affine) { return (affine ? 7 : 5) * numel; }

Tensor layer_norm(const Tensor& x_in, const Tensor& gamma, const Tensor& beta, double eps) {
  using norm::data_or_null;
  using norm::stride_or_one;
  MOTIVE_CHECK(x_in.defined() && x_in.dim() >= 1 && x_in.size(-1) >= 1,
               "layer_norm: needs rank >= 1 and a non-empty last dim, got ",
               x_in.defined() ? shape_str(x_in.shape()) : "an undefined tensor");
  const Tensor x = widen_bf16(x_in).contiguous();  // float32 only: engine/autocast.h
  norm::check_channel_param("layer_norm", "gamma", gamma, x.size(-1), x);
  norm::check_channel_param("layer_norm", "beta", beta, x.size(-1), x);
  MOTIVE_CHECK(eps >= 0, "layer_norm: eps must be >= 0, got ", eps);
  const int64_t d = x.size(-1), rows = x.numel() / d;
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  Tensor mean = Tensor::empty({rows}, x.dtype(), x.device());
  Tensor rstd = Tensor::empty({rows}, x.dtype(), x.device());
  dispatch_float(x.dtype(), "layer_norm", [&](auto t) {
    using T = decltype(t);
    MOTIVE_KERNEL(x.device(), layer_norm_forward<T>, rows, d, x.data<T>(), data_or_null<T>(gamma),
                  stride_or_one(gamma), data_or_null<T>(beta), stride_or_one(beta), eps,
                  out.data<T>(), mean.data<T>(), rstd.data<T>());
  });
  add_flops(layer_norm_flops(x.numel(), gamma.defined() || beta.defined()));

  const bool need_dx = x.requires_grad();
  const bool need_dgamma = gamma.defined() && gamma.requires_grad();
  const bool need_dbeta = beta.defined() && beta.requires_grad();
  const Tensor xs = x.detach(), gs = gamma.defined() ? gamma.detach() : Tensor();
  auto backward = [xs, gs, mean, rstd, rows, d, need_dx, need_dgamma,
                   need_dbeta](const Tensor& g_in) {
    const Tensor g = g_in.contiguous();
    Tensor dx, dgamma, dbeta;
    if (need_dx) dx = Tensor::empty(xs.shape(), xs.dtype(), xs.device());
    if (need_dgamma) dgamma = Tensor::empty({d}, xs.dtype(), xs.device());
    if (need_dbeta) dbeta = Tensor::empty({d}, xs.dtype(), xs.device());
    dispatch_float(xs.dtype(), "layer_norm", [&](auto t) {
      using T = decltype(t);
      MOTIVE_KERNEL(xs.device(), layer_norm_backward<T>, rows, d, xs.data<T>(), g.data<T>(),
                    mean.data<T>(), rstd.data<T>(), data_or_null<T>(gs), stride_or_one(gs),
                    data_or_null<T>(dx), data_or_null<T>(dgamma), data_or_null<T>(dbeta));
    });
    return std::vector<Tensor>{dx, dgamma, dbeta};
  };
  return record("layer_norm", out, {x, gamma, beta}, std::move(backward));
}

}  // namespace motive
