#include "data/loader.h"

#include <algorithm>
#include <exception>
#include <limits>
#include <numeric>

#include "data/draws.h"
#include "data/parallel.h"
#include "engine/device.h"

namespace motive {

namespace {

// Chunks per worker in a batch: enough that the workers finish a batch at
// nearly the same time, few enough that claiming a chunk costs nothing.
constexpr int64_t kChunksPerWorker = 4;

// A CUDA target's per-slot resources: the pinned buffer the workers fill
// (images, then labels), its device copy, and the events ordering the copy
// stream against the compute stream.
struct DeviceBuffers {
  void* pinned = nullptr;
  Tensor staging;
  DeviceEvent copied = nullptr;    // host-to-device copy done: pinned reusable
  DeviceEvent consumed = nullptr;  // compute stream done reading staging

  void allocate(size_t nbytes) {
    pinned = pinned_host_alloc(nbytes);
    copied = device_event_create();
    consumed = device_event_create();
    staging = Tensor::empty({static_cast<int64_t>(nbytes / 4)}, DType::F32, Device::CUDA);
    // staging comes from the compute stream's pool: the copy stream's first
    // write into it must wait for that allocation.
    record_on_compute_stream(consumed);
  }
  ~DeviceBuffers() {
    if (!pinned) return;  // never allocated (CPU target)
    try {
      device_event_synchronize(copied);  // no copy may still read the pinned buffer
    } catch (const Error&) {
      // The context is gone (process teardown): nothing is in flight then.
    }
    pinned_host_free(pinned);
    device_event_destroy(copied);
    device_event_destroy(consumed);
  }
};

}  // namespace

struct Loader::Slot {
  enum class State { Free, Preparing, Filling, Ready };
  State state = State::Free;
  int64_t seq = -1;
  int64_t epoch = 0, first = 0, count = 0;  // items [first, first + count) of the epoch's order
  int64_t whole = 0;                        // the whole batch's items (all shards)
  int64_t chunks_left = 0;
  std::shared_ptr<const std::vector<int64_t>> order;  // null: data-set order
  std::exception_ptr error;                           // of the lowest failing item
  int64_t error_at = 0;
  float* images = nullptr;  // where the workers write; null when preparing failed
  int32_t* labels = nullptr;
  Tensor cpu_images, cpu_labels;  // CPU target: the batch itself, handed out as is
  DeviceBuffers device;
};

std::vector<int64_t> shuffled_order(int64_t n, uint64_t seed, int64_t epoch) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t(0));
  // Fisher-Yates; draw d picks the swap partner of position n - 1 - d. Each
  // epoch owns 2^40 Philox blocks, so epochs never share draws.
  PhiloxStream draws(seed, static_cast<uint64_t>(epoch) << 40);
  for (int64_t i = n - 1; i > 0; --i)
    std::swap(order[static_cast<size_t>(i)],
              order[draws.below(static_cast<uint64_t>(n - 1 - i), static_cast<uint64_t>(i + 1))]);
  return order;
}

namespace {
const std::shared_ptr<const Dataset>& checked(const std::shared_ptr<const Dataset>& data) {
  MOTIVE_CHECK(data != nullptr, "loader: no data set");
  return data;
}
}  // namespace

Loader::Loader(std::shared_ptr<const Dataset> data, Augment augment, LoaderOptions options)
    : data_(checked(data)),
      transform_(std::move(augment), data_->channels()),
      options_(options),
      items_(data_->size()) {
  const int64_t b = options_.batch_size;
  MOTIVE_CHECK(items_ > 0, "loader: the data set is empty");
  MOTIVE_CHECK(b >= 1, "loader: batch size must be >= 1, got ", b);
  MOTIVE_CHECK(options_.shards >= 1 && options_.shard >= 0 && options_.shard < options_.shards,
               "loader: shard ", options_.shard, " of ", options_.shards, " does not exist");
  MOTIVE_CHECK(options_.prefetch >= 1, "loader: prefetch must be >= 1, got ", options_.prefetch);
  MOTIVE_CHECK(options_.workers >= 0, "loader: workers must be >= 0 (0: one per core), got ",
               options_.workers);
  per_epoch_ = options_.drop_last ? items_ / b : (items_ + b - 1) / b;
  MOTIVE_CHECK(per_epoch_ > 0, "loader: batch size ", b, " with drop_last leaves no batch of the ",
               items_, " items");
  height_ = transform_.out_height(data_->fixed_height());
  width_ = transform_.out_width(data_->fixed_width());
  channels_ = data_->channels();
  workers_count_ = options_.workers > 0 ? options_.workers : default_threads();
  prefetch_ = options_.prefetch;
  chunk_ = std::max<int64_t>(
      1, (b + workers_count_ * kChunksPerWorker - 1) / (workers_count_ * kChunksPerWorker));
  chunks_per_batch_ = (b + chunk_ - 1) / chunk_;
  for (int64_t i = 0; i < prefetch_; ++i) slots_.push_back(std::make_unique<Slot>());
  if (options_.device == Device::CUDA) {
    MOTIVE_CHECK(cuda_available(), "loader: device cuda requested, but ", cuda_describe());
    const size_t bytes = static_cast<size_t>(b * (height_ * width_ * channels_ + 1)) * 4;
    for (auto& s : slots_) s->device.allocate(bytes);
  }
}

Loader::~Loader() { stop(); }

Shape Loader::batch_shape() const { return {options_.batch_size, height_, width_, channels_}; }

LoaderPosition Loader::position() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return {consumed_ / per_epoch_, consumed_ % per_epoch_};
}

void Loader::seek(LoaderPosition pos) {
  MOTIVE_CHECK(pos.epoch >= 0 && pos.batch >= 0 && pos.batch < per_epoch_,
               "loader: cannot seek to ", "batch ", pos.batch, " of epoch ", pos.epoch,
               ": an epoch has ", per_epoch_, " batches (", items_, " items, batch size ",
               options_.batch_size, options_.drop_last ? ", drop_last" : "", ")");
  stop();
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& s : slots_) {
    // Device buffers stay: prepare() waits for their last copy before reuse.
    s->state = Slot::State::Free;
    s->seq = -1;
    s->order.reset();
    s->cpu_images = s->cpu_labels = Tensor();
  }
  first_seq_ = consumed_ = pos.epoch * per_epoch_ + pos.batch;
  next_task_ = 0;
  epoch_ended_ = false;
}

void Loader::start() {
  for (int i = 0; i < workers_count_; ++i) threads_.emplace_back([this] { work(); });
}

void Loader::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  slot_cv_.notify_all();
  for (std::thread& t : threads_) t.join();
  threads_.clear();
  std::lock_guard<std::mutex> lock(mutex_);
  stopping_ = false;
}

std::shared_ptr<const std::vector<int64_t>> Loader::order(int64_t epoch) {
  std::lock_guard<std::mutex> lock(order_mutex_);
  auto it = orders_.find(epoch);
  if (it != orders_.end()) return it->second;
  // Workers run at most `prefetch` batches ahead, so older epochs are done
  // with (a slot still filling one holds its own reference).
  orders_.erase(orders_.begin(), orders_.lower_bound(epoch - 1));
  auto made =
      std::make_shared<const std::vector<int64_t>>(shuffled_order(items_, options_.seed, epoch));
  orders_[epoch] = made;
  return made;
}

void Loader::prepare(Slot& s, int64_t seq) {
  s.images = nullptr;
  s.labels = nullptr;
  s.error = nullptr;
  s.error_at = std::numeric_limits<int64_t>::max();
  try {
    s.epoch = seq / per_epoch_;
    s.first = seq % per_epoch_ * options_.batch_size;
    s.whole = std::min(options_.batch_size, items_ - s.first);
    // This loader's shard of the batch: [whole * k / shards, whole * (k + 1) / shards).
    const int64_t begin = s.whole * options_.shard / options_.shards;
    s.count = s.whole * (options_.shard + 1) / options_.shards - begin;
    s.first += begin;
    s.order = options_.shuffle ? order(s.epoch) : nullptr;
    if (options_.device == Device::CPU) {
      s.cpu_images = Tensor::empty({s.count, height_, width_, channels_});
      s.cpu_labels = Tensor::empty({s.count}, DType::I32);
      s.images = s.cpu_images.data<float>();
      s.labels = s.cpu_labels.data<int32_t>();
    } else {
      // The pinned buffer may still feed the copy of this slot's last batch.
      device_event_synchronize(s.device.copied);
      s.images = static_cast<float*>(s.device.pinned);
      s.labels =
          reinterpret_cast<int32_t*>(s.images + options_.batch_size * height_ * width_ * channels_);
    }
  } catch (...) {
    s.error = std::current_exception();
    s.images = nullptr;
  }
}

void Loader::fill(Slot& s, int64_t chunk, std::vector<uint8_t>& decoded,
                  std::vector<uint8_t>& resized) {
  if (!s.images) return;  // preparing failed; next() reports it
  const int64_t per_item = height_ * width_ * channels_;
  const int64_t end = std::min(s.count, (chunk + 1) * chunk_);
  for (int64_t k = chunk * chunk_; k < end; ++k) {
    const int64_t pos = s.first + k;
    const int64_t item = s.order ? (*s.order)[static_cast<size_t>(pos)] : pos;
    try {
      const ImageView image = data_->image(item, decoded);
      MOTIVE_CHECK(transform_.out_height(image.height) == height_ &&
                       transform_.out_width(image.width) == width_,
                   "loader: item ", item, " is ", image.height, "x", image.width,
                   ", the data set's items are ", height_, "x", width_);
      transform_.apply(image, options_.seed, s.epoch, item, s.images + k * per_item, resized);
      s.labels[k] = data_->label(item);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (k < s.error_at) {  // the lowest failing item: the same error on every run
        s.error = std::current_exception();
        s.error_at = k;
      }
      return;
    }
  }
}

void Loader::work() {
  std::vector<uint8_t> decoded, resized;  // this thread's scratch, reused for every item
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    const int64_t task = next_task_++;
    const int64_t seq = first_seq_ + task / chunks_per_batch_;
    const int64_t chunk = task % chunks_per_batch_;
    Slot& s = slot(seq);
    // The slot is free once the batch `prefetch` before this one was handed
    // out; the first chunk of a batch to get there prepares it, the others
    // wait for that.
    slot_cv_.wait(lock, [&] {
      return stopping_ ||
             (seq < consumed_ + prefetch_ && !(s.seq == seq && s.state == Slot::State::Preparing));
    });
    if (stopping_) break;
    if (s.seq != seq) {
      s.seq = seq;
      s.state = Slot::State::Preparing;
      lock.unlock();
      prepare(s, seq);
      lock.lock();
      s.state = Slot::State::Filling;
      s.chunks_left = chunks_per_batch_;
      slot_cv_.notify_all();
    }
    lock.unlock();
    fill(s, chunk, decoded, resized);
    lock.lock();
    if (--s.chunks_left > 0) continue;
    if (options_.device == Device::CUDA && !s.error) {
      // Copied at once, on the copy stream, while the compute stream works on
      // earlier batches; it first waits until the compute stream has read the
      // staging buffer's previous batch.
      try {
        copy_to_device_on_copy_stream(s.device.staging.raw_data(), s.device.pinned,
                                      s.device.staging.storage()->nbytes(), s.device.consumed,
                                      s.device.copied);
      } catch (...) {
        s.error = std::current_exception();
      }
    }
    s.state = Slot::State::Ready;
    ready_cv_.notify_all();
  }
}

Batch Loader::take(Slot& s) {
  Batch batch;
  if (options_.device == Device::CPU) {
    batch.images = std::move(s.cpu_images);
    batch.labels = std::move(s.cpu_labels);
    return batch;
  }
  batch.images = Tensor::empty({s.count, height_, width_, channels_}, DType::F32, Device::CUDA);
  batch.labels = Tensor::empty({s.count}, DType::I32, Device::CUDA);
  const char* staged = static_cast<const char*>(s.device.staging.raw_data());
  const size_t image_bytes = static_cast<size_t>(batch.images.numel()) * 4;
  const size_t labels_at =
      static_cast<size_t>(options_.batch_size * height_ * width_ * channels_) * 4;
  // The compute stream waits for the copy without blocking this thread, then
  // moves the batch out of the staging buffer (device bandwidth: ~1% of the
  // copy's time), so the slot can take the next batch while this one is used.
  compute_stream_wait(s.device.copied);
  copy_device_to_device(batch.images.raw_data(), staged, image_bytes);
  copy_device_to_device(batch.labels.raw_data(), staged + labels_at,
                        static_cast<size_t>(s.count) * 4);
  record_on_compute_stream(s.device.consumed);
  return batch;
}

std::optional<Batch> Loader::next() {
  std::unique_lock<std::mutex> lock(mutex_);
  if (epoch_ended_) {
    epoch_ended_ = false;
    return std::nullopt;
  }
  if (threads_.empty()) start();  // lazily, so a seek() right after construction wastes nothing
  const int64_t seq = consumed_;
  Slot& s = slot(seq);
  ready_cv_.wait(lock, [&] { return s.seq == seq && s.state == Slot::State::Ready; });
  if (s.error) std::rethrow_exception(s.error);  // the slot keeps it: a retry reports it again
  Batch batch = take(s);
  batch.epoch = seq / per_epoch_;
  batch.index = seq % per_epoch_;
  batch.whole = s.whole;
  s.state = Slot::State::Free;
  s.order.reset();
  ++consumed_;
  epoch_ended_ = batch.index == per_epoch_ - 1;
  slot_cv_.notify_all();
  return batch;
}

}  // namespace motive
