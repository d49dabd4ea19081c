// Synchronised batch norm, for data-parallel training (the trainer's
// --sync-bn, docs/distributed.md). Inside a BatchNormSync scope, training-mode
// batch_norm2d and batch_norm2d_relu on the CPU normalise with the statistics
// of every process's shard of the global batch together, and their backward
// uses the per-channel gradient sums of all the shards: N processes then
// compute what one process computes on the whole batch (up to the order of
// the float sums). The engine knows nothing of processes: the scope's `sum`
// adds float64 values over them in place. Every process must make the same
// calls in the same order (the same model, the same tape), two per layer in
// forward and one in backward.
//
// Gradient scaling: each process's loss is the mean over its own images,
// and the job's loss is sum_k weight_k x loss_k (weight_k: process k's share
// of the global batch). The backward sums of g are therefore scaled by this
// process's weight before they are added and unscaled after, so dx keeps this
// process's loss scale; gamma's and beta's gradients stay this process's own
// sums (the gradient averaging over the processes adds them).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>

namespace motive {

struct BatchNormSync {
  std::function<void(double* values, int64_t count)> sum;  // over the processes, in place
  double weight = 1;                                        // this process's loss share
};

// RAII: batch norm on this thread is synchronised through `sync` within the
// scope; scopes nest (the innermost wins).
class BatchNormSyncScope {
 public:
  explicit BatchNormSyncScope(BatchNormSync sync);
  ~BatchNormSyncScope();
  BatchNormSyncScope(const BatchNormSyncScope&) = delete;
  BatchNormSyncScope& operator=(const BatchNormSyncScope&) = delete;

 private:
  std::shared_ptr<const BatchNormSync> previous_;
};

// This thread's sync, or null outside a scope. Ops keep the pointer for their
// backward, which runs after the scope may have closed.
std::shared_ptr<const BatchNormSync> batch_norm_sync();

namespace bn {

// The moments (per-channel mean and m2 = sum of squared deviations) of this
// process's `rows` rows, in place, become those of every process's rows
// (Chan et al.'s pairwise combination, as a sum: the global mean first, then
// each shard's m2 about it). Returns the global row count.
double combine_moments(const BatchNormSync& sync, int64_t rows, int64_t c, double* mean,
                       double* m2);

// Backward's per-channel sums (2c values) of this process, in place, become
// the job's, in this process's loss scale.
void combine_grad_sums(const BatchNormSync& sync, int64_t c, double* sums);

}  // namespace bn
}  // namespace motive
