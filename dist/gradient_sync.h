// Data-parallel gradient averaging in buckets (docs/distributed.md).
//
// After backward, each rank holds the gradient of its shard of the global
// batch. average() packs the gradient regions of the parameters of the model
// that stepped into a bucket (a contiguous float32 buffer of at most
// bucket_bytes, or one parameter when that is larger), scales it by the
// rank's share of the batch, sums the bucket over the ranks (dist/reducer.h)
// and scatters it back, bucket after bucket, the parameters in reverse
// registration order (the order backward finishes them).
//
// Only the stepping model's regions travel: the parameters of a smaller model
// of a nested chain are strided prefix views of the largest model's buffers
// (models/nest.h), and their gradient regions are the same views over the
// shared gradient storage. A base step therefore allreduces exactly the
// base's parameter bytes, not the buffers that contain them.
//
// The reduction runs after backward has finished: it does not overlap the
// backward pass (docs/distributed.md, what is not done).
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "dist/reducer.h"
#include "engine/tensor.h"

namespace motive::dist {

class GradientSync {
 public:
  // 25 MiB buckets by default (PyTorch DDP's bucket_cap_mb).
  explicit GradientSync(Device device, int64_t bucket_bytes = int64_t{25} << 20);

  // Replaces the gradient region of every parameter in `params` (float32
  // leaves, each one's region disjoint from the others') by the sum over the
  // ranks of `weight` x its region; with weight = this rank's images / the
  // global batch's images that is the global batch's mean gradient. Returns
  // the bytes that went through the allreduce: the parameters' bytes.
  int64_t average(const std::vector<Tensor>& params, double weight);

  std::string backend() const { return reducer_->name(); }
  int64_t bucket_bytes() const { return bucket_elements_ * 4; }

 private:
  void reduce(const std::vector<Tensor>& params, size_t begin, size_t end, int64_t elements,
              double weight);

  Device device_;
  int64_t bucket_elements_;
  std::unique_ptr<Reducer> reducer_;
  Tensor bucket_;  // allocated on first use, grown to the largest parameter if need be
};

}  // namespace motive::dist
