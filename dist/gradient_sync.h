// Data-parallel gradient averaging in buckets (docs/distributed.md).
//
// Each rank holds the gradient of its shard of the global batch. The
// parameters of the model that steps are assigned, in reverse registration
// order (the order backward finishes them), to buckets: contiguous float32
// buffers of at most bucket_bytes, or one parameter when that is larger. A
// bucket whose parameters' gradients are all final is packed (each region
// times the rank's share of the batch, in one pass) and its sum over the ranks
// started (dist/reducer.h) while backward goes on; finish() waits for every
// bucket and scatters the sums back.
//
//   sync.begin(params, weight);
//   backward_with(loss, [&](const Tensor& leaf) { sync.ready(leaf); });
//   const int64_t bytes = sync.finish();
//
// Collectives must come in the same order on every rank, and the ranks'
// backward passes need not finish the buckets in bucket order (nor at all: a
// rank whose shard is empty runs no backward): bucket k is started only after
// bucket k - 1, and finish() starts, in order, the buckets still waiting.
//
// Only the stepping model's regions travel: the parameters of a smaller model
// of a nested chain are strided prefix views of the largest model's buffers
// (models/nest.h), and their gradient regions are the same views over the
// shared gradient storage. A base step therefore allreduces exactly the
// base's parameter bytes, not the buffers that contain them.
#pragma once
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "dist/reducer.h"
#include "engine/tensor.h"

namespace motive::dist {

class GradientSync {
 public:
  // 25 MiB buckets by default (PyTorch DDP's bucket_cap_mb).
  explicit GradientSync(Device device, int64_t bucket_bytes = int64_t{25} << 20);

  // Opens a step: the gradient region of every parameter in `params` (float32
  // leaves, each one's region disjoint from the others') is to be replaced by
  // the sum over the ranks of `weight` x its region; with weight = this rank's
  // images / the global batch's images that is the global batch's mean
  // gradient. Assigns the parameters to buckets.
  void begin(const std::vector<Tensor>& params, double weight);
  // `leaf`'s gradient is final (backward_with's hook, engine/autograd.h).
  // Starts every bucket, in order, whose parameters are all final. A leaf
  // that is none of the parameters is ignored.
  void ready(const Tensor& leaf);
  // Starts the buckets still waiting (a parameter no gradient reached
  // contributes zeros), waits for all of them, scatters the sums back and
  // marks every parameter as holding a gradient (a rank whose shard was empty
  // got none from backward, yet steps like the others). Returns the bytes
  // that went through the allreduce: the parameters' bytes.
  int64_t finish();

  // Buckets of the open step, and how many of them are started.
  size_t buckets() const { return buckets_.size(); }
  size_t started() const { return started_; }

  std::string backend() const { return reducer_->name(); }
  int64_t bucket_bytes() const { return bucket_elements_ * 4; }

 private:
  struct Bucket {
    size_t first = 0, end = 0;  // its parameters: order_[first, end)
    int64_t elements = 0;
    size_t waiting = 0;  // parameters not yet final
  };
  void start(size_t bucket);

  Device device_;
  int64_t bucket_elements_;
  std::unique_ptr<Reducer> reducer_;
  double weight_ = 1;
  std::vector<Tensor> order_;  // the open step's parameters, last registered first
  std::unordered_map<const TensorImpl*, size_t> position_;  // leaf -> index in order_
  std::vector<size_t> bucket_of_;                           // index in order_ -> bucket
  std::vector<bool> final_;                                 // index in order_ -> final
  std::vector<Bucket> buckets_;
  size_t started_ = 0;  // buckets_[0, started_) are on their way
  // One buffer per bucket, each in flight on its own; kept from step to step
  // and grown when a bucket needs more.
  std::vector<Tensor> buffers_;
};

}  // namespace motive::dist
