#include "trainer/data_parallel.h"

#include "dist/world.h"
#include "engine/error.h"

namespace motive {

DataParallel::DataParallel(Device device) : rank_(dist::rank()), world_(dist::world_size()) {
  if (active()) sync_.emplace(device);
}

void DataParallel::check_batch_size(int64_t batch_size) const {
  MOTIVE_CHECK(batch_size % world_ == 0, "--batch-size ", batch_size,
               " is the global batch and must split evenly over the ", world_,
               " ranks: give a multiple of ", world_);
}

void DataParallel::check_sync_bn(int64_t train_images, int64_t batch_size) const {
  const int64_t last = train_images % batch_size;
  MOTIVE_CHECK(last == 0 || last >= world_, "--sync-bn: each epoch ends in a batch of ", last,
               " images (", train_images, " images in batches of ", batch_size,
               "), fewer than the ", world_, " ranks, and a rank without images cannot take part "
               "in the batch statistics; choose a --batch-size or --limit-train that leaves a "
               "last batch of at least ", world_, " images or none");
}

BatchNormSync DataParallel::batch_norm_sync(int64_t images, int64_t whole) const {
  return {[](double* values, int64_t count) { dist::allreduce_sum(values, count); },
          static_cast<double>(images) / static_cast<double>(whole)};
}

int DataParallel::agreed_signal(int signal) const {
  if (!active()) return signal;
  double value = signal;
  dist::allreduce_max(&value, 1);
  return static_cast<int>(value);
}

double DataParallel::global_loss(double loss, int64_t images, int64_t whole) const {
  if (!active()) return loss;
  double sum = images > 0 ? loss * static_cast<double>(images) : 0.0;
  dist::allreduce_sum(&sum, 1);
  return sum / static_cast<double>(whole);
}

LeafFinal DataParallel::begin_average(const Model& model, int64_t images, int64_t whole) {
  if (!active()) return {};
  std::vector<Tensor> params;
  for (const auto& [name, p] : model.named_parameters())
    if (p.requires_grad()) params.push_back(p);
  sync_->begin(params, static_cast<double>(images) / static_cast<double>(whole));
  return [this](const Tensor& leaf) { sync_->ready(leaf); };
}

int64_t DataParallel::finish_average() { return active() ? sync_->finish() : 0; }

std::string DataParallel::backend() const { return active() ? sync_->backend() : "none"; }

std::string DataParallel::describe() const {
  if (!active()) return "";
  return std::to_string(world_) + " ranks (gradients: " + backend() + " allreduce, " +
         std::to_string(sync_->bucket_bytes() >> 20) + " MiB buckets)";
}

}  // namespace motive
