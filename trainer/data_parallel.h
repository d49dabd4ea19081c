// The training loop's side of data-parallel training (docs/distributed.md).
// Every rank of an mpirun job runs the same run: the same models from the same
// seed, the same data order and the same policy. --batch-size is the global
// batch; each rank's loader hands out its shard of every global batch
// (data/loader.h), each rank runs forward and backward on its shard, and
//   - the global batch's mean loss is the images-weighted mean of the ranks'
//     losses (one allreduce of two doubles), and the policy observes it, so
//     every rank picks the same model for the next step;
//   - the stepping model's gradients are averaged over the ranks in buckets
//     (dist/gradient_sync.h), only its own regions of the shared buffers,
//     each bucket's allreduce started during backward as soon as its
//     gradients are final;
//   - the optimizer then makes the same update on every rank.
// Rank 0 alone writes the run's files and prints; the others train in step.
// Outside a job (one rank) nothing here communicates and nothing changes.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "dist/gradient_sync.h"
#include "engine/autograd.h"
#include "engine/batchnorm_sync.h"
#include "models/model.h"

namespace motive {

class DataParallel {
 public:
  explicit DataParallel(Device device);

  int rank() const { return rank_; }
  int world_size() const { return world_; }
  bool active() const { return world_ > 1; }
  // Rank 0 writes config, metrics, checkpoints and the summary, and prints.
  bool writes() const { return rank_ == 0; }

  // Throws motive::Error, naming --batch-size, unless the global batch splits
  // evenly over the ranks.
  void check_batch_size(int64_t batch_size) const;

  // --sync-bn: every rank must have images in every batch (a rank without
  // any could not take part in the statistics); throws motive::Error, naming
  // --sync-bn, when an epoch of `train_images` ends in a batch smaller than
  // the ranks.
  void check_sync_bn(int64_t train_images, int64_t batch_size) const;
  // --sync-bn, one step: batch norm sums over the ranks, weighted by this
  // rank's share of the batch (engine/batchnorm_sync.h).
  BatchNormSync batch_norm_sync(int64_t images, int64_t whole) const;

  // `signal` (this rank's stop signal, or 0), or in a job the largest any
  // rank has (one allreduce): every rank stops after the same step.
  int agreed_signal(int signal) const;

  // The mean loss over the whole batch, from this rank's mean `loss` over its
  // `images` of the batch's `whole` images (loss is ignored for 0 images).
  double global_loss(double loss, int64_t images, int64_t whole) const;

  // Averages the gradients of `model`'s trainable parameters over the ranks,
  // each rank's weighted by its share of the batch, while backward runs:
  //   const LeafFinal on_final = parallel.begin_average(model, images, whole);
  //   backward_with(loss, on_final);  // buckets start as they become final
  //   const int64_t bytes = parallel.finish_average();
  // Every rank calls both, also one that runs no backward. Frozen parameters
  // (requires_grad false: --freeze backbone) are not averaged, and the bytes
  // are the trainable ones'. Outside a job the hook is empty and the bytes 0.
  LeafFinal begin_average(const Model& model, int64_t images, int64_t whole);
  int64_t finish_average();

  // "2 ranks (gradients: mpi allreduce, 25 MiB buckets)"; "" outside a job.
  std::string describe() const;
  std::string backend() const;

 private:
  int rank_, world_;
  std::optional<dist::GradientSync> sync_;  // in a job only
};

}  // namespace motive
