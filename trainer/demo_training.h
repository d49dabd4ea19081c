// The demo's training loop (engine issue): mini-batch SGD over the batches of
// a Loader (data/loader.h: shuffled per epoch from the seed), and test-set
// evaluation. The trainer issue replaces this with the motivated dual-model loop.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "data/idx.h"
#include "data/loader.h"
#include "engine/optim.h"
#include "models/demo_cnn.h"

namespace motive {

// The demo's data: Fashion-MNIST from `dir` (first `limit` images), normalised
// and not augmented; the train split shuffled from `seed`, the test split in order.
std::unique_ptr<Loader> fashion_loader(const std::string& dir, bool train, int64_t limit,
                                       int64_t batch_size, uint64_t seed);

struct EpochStats {
  double mean_loss = 0;
  int64_t images = 0;
  double seconds = 0;
};

// One epoch of `train`: its next() batches until the epoch ends.
EpochStats train_epoch(const DemoCnn& model, Optimizer& opt, Loader& train,
                       const std::function<void(int64_t step, double loss)>& on_step = {});

// Top-1 accuracy in percent over one epoch of `test` (an unshuffled loader).
double evaluate(const DemoCnn& model, Loader& test);

}  // namespace motive
