// The demo's training loop (engine issue): mini-batch SGD over an in-memory
// image data set with a seeded shuffle per epoch, and test-set evaluation.
// The trainer issue replaces this with the motivated dual-model loop.
#pragma once
#include <cstdint>
#include <functional>

#include "data/idx.h"
#include "engine/optim.h"
#include "models/demo_cnn.h"

namespace motive {

// Fashion-MNIST's per-pixel mean and std over the training set.
inline constexpr float kFashionMean = 0.2860f, kFashionStd = 0.3530f;

struct EpochStats {
  double mean_loss = 0;
  int64_t images = 0;
  double seconds = 0;
};

// One pass over `train` in shuffled mini-batches (the last partial batch is
// kept). The shuffle is a pure function of (seed, epoch).
EpochStats train_epoch(const DemoCnn& model, Optimizer& opt, const ImageDataset& train,
                       int64_t batch_size, uint64_t seed, int64_t epoch,
                       const std::function<void(int64_t step, double loss)>& on_step = {});

// Top-1 accuracy in percent.
double evaluate(const DemoCnn& model, const ImageDataset& test, int64_t batch_size);

}  // namespace motive
