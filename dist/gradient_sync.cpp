#include "dist/gradient_sync.h"

#include <algorithm>

#include "engine/autograd.h"
#include "engine/ops.h"

namespace motive::dist {

GradientSync::GradientSync(Device device, int64_t bucket_bytes)
    : device_(device), bucket_elements_(std::max<int64_t>(1, bucket_bytes / 4)),
      reducer_(make_reducer(device)) {}

int64_t GradientSync::average(const std::vector<Tensor>& params, double weight) {
  int64_t bytes = 0;
  size_t begin = 0;
  int64_t filled = 0;
  // Reverse registration order: the last layers' gradients are final first.
  std::vector<Tensor> order(params.rbegin(), params.rend());
  for (size_t i = 0; i < order.size(); ++i) {
    const Tensor& p = order[i];
    MOTIVE_CHECK(p.dtype() == DType::F32 && p.device() == device_,
                 "allreduce: parameters must be float32 on the run's device, got ", p.str());
    const int64_t n = p.numel();
    if (filled > 0 && filled + n > bucket_elements_) {
      reduce(order, begin, i, filled, weight);
      begin = i;
      filled = 0;
    }
    filled += n;
    bytes += n * 4;
  }
  if (filled > 0) reduce(order, begin, order.size(), filled, weight);
  return bytes;
}

void GradientSync::reduce(const std::vector<Tensor>& params, size_t begin, size_t end,
                          int64_t elements, double weight) {
  NoGradGuard no_grad;
  const int64_t capacity = std::max(bucket_elements_, elements);
  if (!bucket_.defined() || bucket_.numel() < capacity)
    bucket_ = Tensor::empty({capacity}, DType::F32, device_);
  Tensor bucket = bucket_.narrow(0, 0, elements);
  // Pack: each region, strided or not, into its slice of the bucket.
  int64_t at = 0;
  for (size_t i = begin; i < end; ++i) {
    const int64_t n = params[i].numel();
    bucket.narrow(0, at, n).view(params[i].shape()).copy_(params[i].grad_buffer());
    at += n;
  }
  if (weight != 1.0) bucket.copy_(mul_scalar(bucket, weight));
  reducer_->sum(bucket);
  // Scatter back, and mark every region as holding a gradient: a rank whose
  // shard was empty got none from backward, yet steps like the others.
  at = 0;
  for (size_t i = begin; i < end; ++i) {
    const Tensor& p = params[i];
    const int64_t n = p.numel();
    p.grad_buffer().copy_(bucket.narrow(0, at, n).view(p.shape()));
    if (!p.has_grad()) accumulate_leaf_grad(p, Tensor::zeros(p.shape(), p.dtype(), p.device()));
    at += n;
  }
}

}  // namespace motive::dist
