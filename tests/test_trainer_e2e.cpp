// End-to-end CPU training on Fashion-MNIST subsets, one test per family:
// each nested pair learns to a stated accuracy, both models train, and the
// switches between them copy nothing.
//
// ResNet: resnet20x0.5 trained inside resnet20 on 4,000 training images for
// one epoch under loss-decrease:3 + steps:1 reaches >= 72% for the base.
//
// One pass over 4,000 images is little for a base of 8/16/32 channels: the
// recipe is the one that learned fastest in a sweep (AdamW at 4e-3 without
// weight decay, batch 16, one-cycle with a short warm-up, no augmentation).
// Across seeds 0-2 it gives 73.5-74.3% on the first 2,000 test images with
// the direct conv kernels and fused batch norm + relu (seed 0: 74.1%; the
// im2col kernels without ISA flags gave 73.7-75.7%, seed 0 75.7%, the
// difference being float reassociation); the bar, 72%, keeps 1.5 points
// under the lowest. The run is deterministic for a given build; a build for
// another instruction set (MOTIVE_ARCH) rounds differently, and the margin is
// for that. A broken conv tile gave 39%.
#include <doctest/doctest.h>

#include <chrono>
#include <iostream>

#include "tests/trainer_testing.h"
#include "trainer/train.h"

using namespace motive;
using namespace motive::test;

namespace {

nlohmann::json timed_run(const RunConfig& config) {
  const auto start = std::chrono::steady_clock::now();
  const nlohmann::json s = train_new(config, quiet());
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "trainer e2e: " << config.base << " in " << config.motivated << ": base "
            << s.at("acc_base") << "%, motivated " << s.at("acc_motivated") << "%, "
            << s.at("motivated_steps") << " motivated steps of " << s.at("steps")
            << ", switches " << s.at("switches") << " copying " << s.at("switch_bytes_copied")
            << " bytes, " << seconds << " s\n";
  CHECK(s.at("switch_bytes_copied") == 0);
  CHECK(s.at("switches").get<int64_t>() > 0);
  CHECK(s.at("motivated_steps").get<int64_t>() > 0);
  return s;
}

// The ViT and EfficientNet pairs' recipe: one epoch of batch 16 on the CPU,
// AdamW with a one-cycle schedule and a short warm-up, no augmentation, and
// loss-decrease:1 so that both models train.
RunConfig adamw_pair(const std::string& base, const std::string& motivated, int64_t train,
                     int64_t test, double lr, double weight_decay, const TempDir& dir) {
  RunConfig config;
  config.base = base;
  config.motivated = motivated;
  config.trigger = "loss-decrease:1";
  config.limit_train = train;
  config.limit_test = test;
  config.augment = false;
  config.epochs = 1;
  config.batch_size = 16;
  config.optimizer = "adamw";
  config.lr = lr;
  config.weight_decay = weight_decay;
  config.schedule = "onecycle:pct_start=0.15";
  config.device = "cpu";
  config.out = dir / "run";
  return config;
}

}  // namespace

TEST_CASE("trainer e2e: resnet20x0.5 in resnet20, 4,000 Fashion-MNIST images, 1 epoch") {
  TempDir dir;
  RunConfig config;  // the pair is `trainer train`'s default
  config.trigger = "loss-decrease:3";
  config.duration = "steps:1";
  config.limit_train = 4000;
  config.limit_test = 2000;
  config.augment = false;
  config.epochs = 1;
  config.batch_size = 16;
  config.optimizer = "adamw";
  config.lr = 0.004;
  config.weight_decay = 0;
  config.schedule = "onecycle:pct_start=0.15";
  config.device = "cpu";
  config.out = dir / "run";
  const nlohmann::json s = timed_run(config);
  CHECK(s.at("acc_base").get<double>() >= 72.0);
  CHECK(s.at("steps") == 250);
}

// ViT: a 2-block, 2-head (64 dims) ViT inside a 3-block, 3-head (96 dims) one,
// patch 7 (16 patches of 28x28), on 2,000 training images for one epoch of
// batch 16 (AdamW 2e-3, one-cycle with a short warm-up, no augmentation,
// loss-decrease:1). ViTs learn slowly from so little data: across seeds 0-2
// the base reached 44.0 / 44.9 / 43.0% and the motivated model 49.7 / 37.5 /
// 46.2% on the first 1,000 test images; the thresholds keep 5 points under the
// lowest.
TEST_CASE("trainer e2e: a nested ViT pair, 2,000 Fashion-MNIST images, 1 epoch") {
  TempDir dir;
  const nlohmann::json s = timed_run(
      adamw_pair("vit-ti-p7-d2-h2-hd32", "vit-ti-p7-d3-h3-hd32", 2000, 1000, 0.002, 0.05, dir));
  CHECK(s.at("acc_base").get<double>() >= 38.0);
  CHECK(s.at("acc_motivated").get<double>() >= 32.0);
  CHECK(s.at("steps") == 125);
}

// EfficientNet: the first 3 stages of B0 at width x0.25 (stem 8; 8, 8, 16; head
// 64) inside the same at x0.5 (16; 8, 16, 24; 96), with B0's dropout and
// stochastic depth (drawn from each step's generator), on 4,000 training
// images at 28x28 for one epoch of batch 16 (the ResNet recipe: AdamW 4e-3,
// one-cycle with a short warm-up, no augmentation), loss-decrease:1 so that
// both models train. Across seeds 0-2 the base reached 70.3 / 73.25 / 73.35%
// and the motivated model 71.0 / 70.05 / 72.35% on the first 2,000 test images
// with 2 threads (one thread: 71.05% for seed 0's motivated model, as the dense
// convolutions' sums depend on the thread count); the thresholds keep 5 points
// under the lowest. About 4 s of CPU with one thread.
TEST_CASE("trainer e2e: a nested EfficientNet pair, 4,000 Fashion-MNIST images, 1 epoch") {
  TempDir dir;
  const nlohmann::json s = timed_run(
      adamw_pair("efficientnet-b0x0.25-s3", "efficientnet-b0x0.5-s3", 4000, 2000, 0.004, 0.0, dir));
  CHECK(s.at("acc_base").get<double>() >= 65.0);
  CHECK(s.at("acc_motivated").get<double>() >= 65.0);
  CHECK(s.at("steps") == 250);
}
