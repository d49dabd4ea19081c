#include "dist/gradient_sync.h"

#include <algorithm>

#include "engine/autograd.h"
#include "engine/ops.h"

namespace motive::dist {

GradientSync::GradientSync(Device device, int64_t bucket_bytes)
    : device_(device), bucket_elements_(std::max<int64_t>(1, bucket_bytes / 4)),
      reducer_(make_reducer(device)) {}

void GradientSync::begin(const std::vector<Tensor>& params, double weight) {
  MOTIVE_CHECK(started_ == buckets_.size(), "allreduce: begin() before the last step's finish()");
  weight_ = weight;
  // Reverse registration order: the last layers' gradients are final first.
  order_.assign(params.rbegin(), params.rend());
  position_.clear();
  bucket_of_.assign(order_.size(), 0);
  final_.assign(order_.size(), false);
  buckets_.clear();
  started_ = 0;
  for (size_t i = 0; i < order_.size(); ++i) {
    const Tensor& p = order_[i];
    MOTIVE_CHECK(p.dtype() == DType::F32 && p.device() == device_,
                 "allreduce: parameters must be float32 on the run's device, got ", p.str());
    MOTIVE_CHECK(position_.emplace(&p.impl(), i).second, "allreduce: a parameter is listed twice: ",
                 p.str());
    const int64_t n = p.numel();
    if (buckets_.empty() || (buckets_.back().elements > 0 &&
                             buckets_.back().elements + n > bucket_elements_))
      buckets_.push_back({i, i, 0, 0});
    Bucket& b = buckets_.back();
    b.end = i + 1;
    b.elements += n;
    ++b.waiting;
    bucket_of_[i] = buckets_.size() - 1;
  }
  if (buffers_.size() < buckets_.size()) buffers_.resize(buckets_.size());
}

void GradientSync::ready(const Tensor& leaf) {
  const auto it = position_.find(&leaf.impl());
  if (it == position_.end() || final_[it->second]) return;
  final_[it->second] = true;
  --buckets_[bucket_of_[it->second]].waiting;
  while (started_ < buckets_.size() && buckets_[started_].waiting == 0) start(started_++);
  // Open MPI moves a non-blocking collective on only inside MPI calls: give
  // the buckets on their way a turn whenever backward finishes a parameter.
  if (started_ > 0) reducer_->progress();
}

void GradientSync::start(size_t k) {
  NoGradGuard no_grad;
  const Bucket& b = buckets_[k];
  Tensor& buffer = buffers_[k];
  if (!buffer.defined() || buffer.numel() < b.elements)
    buffer = Tensor::empty({std::max(bucket_elements_, b.elements)}, DType::F32, device_);
  // Pack: each region, strided or not, times the rank's share into its slice.
  int64_t at = 0;
  for (size_t i = b.first; i < b.end; ++i) {
    const Tensor& p = order_[i];
    const int64_t n = p.numel();
    mul_scalar_into(buffer.narrow(0, at, n).view(p.shape()), p.grad_buffer(), weight_);
    at += n;
  }
  reducer_->start(buffer.narrow(0, 0, b.elements));
}

int64_t GradientSync::finish() {
  while (started_ < buckets_.size()) start(started_++);
  reducer_->wait();
  NoGradGuard no_grad;
  int64_t bytes = 0;
  for (size_t k = 0; k < buckets_.size(); ++k) {
    const Bucket& b = buckets_[k];
    int64_t at = 0;
    for (size_t i = b.first; i < b.end; ++i) {
      const Tensor& p = order_[i];
      const int64_t n = p.numel();
      p.grad_buffer().copy_(buffers_[k].narrow(0, at, n).view(p.shape()));
      if (!p.has_grad()) accumulate_leaf_grad(p, Tensor::zeros(p.shape(), p.dtype(), p.device()));
      at += n;
    }
    bytes += b.elements * 4;
  }
  position_.clear();  // the step is closed: ready() ignores every leaf
  return bytes;
}

}  // namespace motive::dist
