// batch_norm2d over NHWC input: per-channel statistics over N*H*W.
// Training normalises with the batch statistics (biased variance) and updates
// the running buffers in place (unbiased variance, momentum), like PyTorch;
// eval is the per-channel affine map given by the running statistics. Both
// save (mean, rstd) for backward, which gives gradients for x, gamma, beta.
// gamma/beta may be undefined, and may be strided views (a base model's BN
// parameters are prefix views of the motivated one's): used in place.
// Mixed precision (engine/autocast.h): bf16 input runs in bf16 with float32
// gamma, beta, running buffers, saved statistics and parameter gradients
// (wide_t in kernels/bf16.h), every sum in double, like PyTorch/cuDNN's BN.
// Inside a BatchNormSyncScope (engine/batchnorm_sync.h) training statistics
// and backward's sums cover every process's shard (CPU only).
// FLOPs (forward): training 5 per element (statistics: subtract, multiply-add,
// add; normalise: one multiply-add); eval 2 per element (one multiply-add).
#include "engine/autograd.h"
#include "engine/dispatch.h"
#include "engine/flops.h"
#include "engine/ops.h"
#include "engine/ops/batchnorm_stats.h"
#include "engine/ops/norm_common.h"
#include "kernels/cpu/batchnorm.h"
#include "kernels/cuda/batchnorm.h"

namespace motive {

int64_t batch_norm2d_flops(int64_t numel, bool training) { return (training ? 5 : 2) * numel; }

namespace bn {

Statistics statistics(const char* op, const Tensor& x_in, const Tensor& gamma, const Tensor& beta,
                      const Tensor& running_mean, const Tensor& running_var, bool training,
                      double momentum, double eps) {
  using norm::data_or_null;
  using norm::stride_or_one;
  MOTIVE_CHECK(x_in.defined() && x_in.dim() == 4, op, ": input must be NHWC [N, H, W, C], got ",
               x_in.defined() ? shape_str(x_in.shape()) : "an undefined tensor");
  const int64_t c = x_in.size(3), rows = x_in.numel() / (c == 0 ? 1 : c);
  // The dtype of the parameters and statistics: float32 for bf16 input.
  const DType wide = dispatch_float_bf16(x_in.dtype(), op, [](auto t) {
    return dtype_of<wide_t<decltype(t)>>::value;
  });
  norm::check_channel_param(op, "gamma", gamma, c, x_in, wide);
  norm::check_channel_param(op, "beta", beta, c, x_in, wide);
  norm::check_channel_param(op, "running_mean", running_mean, c, x_in, wide);
  norm::check_channel_param(op, "running_var", running_var, c, x_in, wide);
  MOTIVE_CHECK(running_mean.defined() == running_var.defined(), op,
               ": running_mean and running_var must be both defined or both undefined");
  MOTIVE_CHECK(training || running_mean.defined(), op,
               ": eval mode needs running_mean and running_var");
  // Synchronised, the values per channel are every process's: counted once
  // they are combined (each process then sees the same count and the same
  // verdict), where a process's own shard may hold a single one.
  std::shared_ptr<const BatchNormSync> sync = training ? batch_norm_sync() : nullptr;
  MOTIVE_CHECK(!training || sync || rows > 1, op, ": training needs more than one value per "
               "channel, got input ", shape_str(x_in.shape()));
  MOTIVE_CHECK(momentum >= 0 && momentum <= 1 && eps >= 0, op,
               ": needs momentum in [0, 1] and eps >= 0, got momentum ", momentum, ", eps ", eps);

  Statistics st{x_in.contiguous(), Tensor::empty({c}, wide, x_in.device()),
                Tensor::empty({c}, wide, x_in.device()), rows, c, std::move(sync),
                static_cast<double>(rows)};
  const Tensor& x = st.x;
  MOTIVE_CHECK(!st.sync || x.device() == Device::CPU, op,
               ": synchronised batch statistics (--sync-bn) run on the CPU backend only, got "
               "input on ", device_name(x.device()));
  dispatch_float_bf16(x.dtype(), op, [&](auto t) {
    using T = decltype(t);
    using W = wide_t<T>;
    if (training) {
      const cpu::RunningStats<T> running{data_or_null<W>(running_mean), stride_or_one(running_mean),
                                         data_or_null<W>(running_var), stride_or_one(running_var),
                                         momentum};
      const cpu::RunningStats<T>* update = running_mean.defined() ? &running : nullptr;
      if (st.sync) {
        // This shard's moments, combined with the other processes' shards.
        std::vector<double> moment_mean(static_cast<size_t>(c)), m2(static_cast<size_t>(c));
        cpu::batch_norm_moments(rows, c, x.data<T>(), moment_mean.data(), m2.data());
        st.count = combine_moments(*st.sync, rows, c, moment_mean.data(), m2.data());
        MOTIVE_CHECK(st.count > 1, op, ": training needs more than one value per channel over "
                     "the processes together, got ", st.count, " (input ", shape_str(x.shape()),
                     " here)");
        cpu::batch_norm_stats_from_moments<T>(c, moment_mean.data(), m2.data(), st.count, eps,
                                              st.mean.data<W>(), st.rstd.data<W>(), update);
      } else {
        MOTIVE_KERNEL(x.device(), batch_norm_stats<T>, rows, c, x.data<T>(), eps,
                      st.mean.data<W>(), st.rstd.data<W>(), update);
      }
    } else {
      MOTIVE_KERNEL(x.device(), batch_norm_running_stats<T>, c, running_mean.data<W>(),
                    running_mean.stride(0), running_var.data<W>(), running_var.stride(0), eps,
                    st.mean.data<W>(), st.rstd.data<W>());
    }
  });
  return st;
}

}  // namespace bn

Tensor batch_norm2d(const Tensor& x_in, const Tensor& gamma, const Tensor& beta,
                    const Tensor& running_mean, const Tensor& running_var, bool training,
                    double momentum, double eps) {
  using norm::data_or_null;
  using norm::stride_or_one;
  const bn::Statistics st = bn::statistics("batch_norm2d", x_in, gamma, beta, running_mean,
                                           running_var, training, momentum, eps);
  const Tensor& x = st.x;
  const Tensor& mean = st.mean;
  const Tensor& rstd = st.rstd;
  const int64_t rows = st.rows, c = st.c;
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  dispatch_float_bf16(x.dtype(), "batch_norm2d", [&](auto t) {
    using T = decltype(t);
    using W = wide_t<T>;
    MOTIVE_KERNEL(x.device(), batch_norm_forward<T>, rows, c, x.data<T>(), mean.data<W>(),
                  rstd.data<W>(), data_or_null<W>(gamma), stride_or_one(gamma),
                  data_or_null<W>(beta), stride_or_one(beta), out.data<T>());
  });
  add_flops(batch_norm2d_flops(x.numel(), training));

  const bool need_dx = x.requires_grad();
  const bool need_dgamma = gamma.defined() && gamma.requires_grad();
  const bool need_dbeta = beta.defined() && beta.requires_grad();
  const Tensor xs = x.detach(), gs = gamma.defined() ? gamma.detach() : Tensor();
  auto backward = [xs, gs, mean, rstd, rows, c, training, need_dx, need_dgamma, need_dbeta,
                   sync = st.sync, count = st.count](const Tensor& g_in) {
    const Tensor g = g_in.contiguous();
    Tensor dx, dgamma, dbeta;
    if (need_dx) dx = Tensor::empty(xs.shape(), xs.dtype(), xs.device());
    if (need_dgamma) dgamma = Tensor::empty({c}, mean.dtype(), xs.device());
    if (need_dbeta) dbeta = Tensor::empty({c}, mean.dtype(), xs.device());
    dispatch_float_bf16(xs.dtype(), "batch_norm2d", [&](auto t) {
      using T = decltype(t);
      using W = wide_t<T>;
      if (sync) {
        // dgamma and dbeta from this shard; dx from the sums of every shard.
        std::vector<double> sums(static_cast<size_t>(2 * c));
        cpu::batch_norm_grad_sums(rows, c, xs.data<T>(), g.data<T>(), mean.data<W>(),
                                  rstd.data<W>(), sums.data(), data_or_null<W>(dgamma),
                                  data_or_null<W>(dbeta));
        if (!need_dx) return;
        bn::combine_grad_sums(*sync, c, sums.data());
        cpu::batch_norm_grad_input(rows, c, xs.data<T>(), g.data<T>(), mean.data<W>(),
                                   rstd.data<W>(), data_or_null<W>(gs), stride_or_one(gs),
                                   training, sums.data(), count, dx.data<T>());
      } else {
        MOTIVE_KERNEL(xs.device(), batch_norm_backward<T>, rows, c, xs.data<T>(), g.data<T>(),
                      mean.data<W>(), rstd.data<W>(), data_or_null<W>(gs), stride_or_one(gs),
                      training, data_or_null<T>(dx), data_or_null<W>(dgamma),
                      data_or_null<W>(dbeta));
      }
    });
    return std::vector<Tensor>{dx, dgamma, dbeta};
  };
  return record("batch_norm2d", out, {x, gamma, beta}, std::move(backward));
}

}  // namespace motive
