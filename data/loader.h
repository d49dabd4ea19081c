// The prefetching loader: batches of augmented, normalised images, NHWC
// float32 [B, H, W, C] and int32 labels [B], on the CPU or the GPU.
//
// - Worker threads assemble batches in parallel: a batch is cut into chunks
//   of items and every worker takes chunks, so even the first batch of a run
//   is built by all workers, and `prefetch` batches are kept ready ahead of
//   the consumer (memory: prefetch x one batch, whatever the worker count).
// - Deterministic: the epoch's order is a Philox Fisher-Yates shuffle keyed by
//   (seed, epoch), and each item's augmentation a function of (seed, epoch,
//   item), so a batch's content depends neither on the worker count nor on
//   timing. position() / seek() make a checkpointed run resume on the exact
//   next batch with identical content.
// - CPU target: workers write straight into the tensors next() hands out.
//   CUDA target: workers write into pinned host buffers; a finished batch is
//   copied to the device at once on the copy stream (engine/device.h),
//   overlapping the compute stream's work; next() makes the compute stream
//   wait for that copy (no host stall) and hands out device tensors.
//
// Use (next, position and seek from one consumer thread):
//       Loader train(data, augment, options);
//       for (epoch ...) while (auto batch = train.next()) step(batch->images, batch->labels);
#pragma once
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "data/augment.h"
#include "data/dataset.h"
#include "engine/tensor.h"

namespace motive {

struct LoaderOptions {
  int64_t batch_size = 128;
  bool shuffle = true;     // else data-set order (evaluation)
  bool drop_last = false;  // drop the last partial batch of each epoch
  uint64_t seed = 0;
  int workers = 0;   // 0: hardware threads
  int prefetch = 4;  // batches built ahead of the consumer
  Device device = Device::CPU;
  // Data-parallel training (docs/distributed.md): every batch is cut into
  // `shards` contiguous parts as even as the batch allows, and this loader
  // hands out part `shard` only. The order and each item's augmentation are
  // the whole batch's, so the shards of all ranks together are exactly the
  // batch a loader with one shard hands out.
  int64_t shard = 0, shards = 1;
};

// Where the loader stands: next() returns batch `batch` of `epoch`.
struct LoaderPosition {
  int64_t epoch = 0, batch = 0;
  bool operator==(const LoaderPosition& o) const { return epoch == o.epoch && batch == o.batch; }
};

struct Batch {
  Tensor images;                 // [B, H, W, C] float32 on the loader's device
  Tensor labels;                 // [B] int32
  int64_t whole = 0;             // images of the whole batch, all shards together
  int64_t epoch = 0, index = 0;  // which batch of which epoch this is
};

// Epoch `epoch`'s order of items [0, n): a pure function of (n, seed, epoch).
std::vector<int64_t> shuffled_order(int64_t n, uint64_t seed, int64_t epoch);

class Loader {
 public:
  Loader(std::shared_ptr<const Dataset> data, Augment augment, LoaderOptions options = {});
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  // The next batch of the current epoch, or nullopt once it is over; the call
  // after that starts the next epoch. Errors of the workers (an image that
  // fails to decode) are rethrown here.
  std::optional<Batch> next();
  // The batch next() hands out next ({e + 1, 0} right after e's last batch):
  // what a checkpoint stores.
  LoaderPosition position() const;
  // Continues from `pos` (a resume). Work prefetched for elsewhere is dropped.
  void seek(LoaderPosition pos);

  int64_t batches_per_epoch() const { return per_epoch_; }
  int64_t size() const { return items_; }
  // Shape of a full batch's images: [batch_size, H, W, C].
  Shape batch_shape() const;

 private:
  struct Slot;
  Slot& slot(int64_t seq) { return *slots_[static_cast<size_t>(seq % prefetch_)]; }
  std::shared_ptr<const std::vector<int64_t>> order(int64_t epoch);
  void start();
  void stop();
  void work();
  void prepare(Slot& s, int64_t seq);
  void fill(Slot& s, int64_t chunk, std::vector<uint8_t>& decoded, std::vector<uint8_t>& resized);
  Batch take(Slot& s);

  std::shared_ptr<const Dataset> data_;
  Transform transform_;
  LoaderOptions options_;
  int64_t items_, per_epoch_, height_, width_, channels_;
  int64_t prefetch_, chunk_, chunks_per_batch_;
  int workers_count_;

  // Batches are numbered seq = epoch * per_epoch_ + batch. Guarded by mutex_:
  mutable std::mutex mutex_;
  std::condition_variable slot_cv_;   // workers: a slot became free or prepared
  std::condition_variable ready_cv_;  // consumer: a batch became ready
  int64_t first_seq_ = 0;             // the batch the workers started at
  int64_t next_task_ = 0;             // next chunk to claim, counted from first_seq_
  int64_t consumed_ = 0;              // seq of the batch next() returns
  bool epoch_ended_ = false;
  bool stopping_ = false;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<std::thread> threads_;

  std::mutex order_mutex_;  // the epoch orders in use (at most two epochs at once)
  std::map<int64_t, std::shared_ptr<const std::vector<int64_t>>> orders_;
};

}  // namespace motive
