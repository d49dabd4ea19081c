// The end-to-end CPU test of issue 6: resnet20x0.5 trained inside resnet20 on
// 4,000 Fashion-MNIST training images for one epoch under loss-decrease:3 +
// steps:1 reaches >= 73.5% test accuracy for the base, both models train, and
// the switches between them copy nothing.
//
// One pass over 4,000 images is little for a base of 8/16/32 channels: the
// recipe is the one that learned fastest in a sweep (AdamW at 4e-3 without
// weight decay, batch 16, one-cycle with a short warm-up, no augmentation).
// Across seeds 0-2 it gives 73.5-74.3% on the first 2,000 test images with
// the direct conv kernels and fused batch norm + relu (seed 0: 74.1%; the
// im2col kernels without ISA flags gave 73.7-75.7%, seed 0 75.7%, the
// difference being float reassociation); the bar is 73.5%. The run is
// deterministic for a given build, so the margin is fixed, but thin; a build
// for another instruction set (MOTIVE_ARCH) rounds differently.
#include <doctest/doctest.h>

#include <chrono>
#include <iostream>

#include "tests/trainer_testing.h"
#include "trainer/train.h"

using namespace motive;
using namespace motive::test;

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
  const auto start = std::chrono::steady_clock::now();
  const nlohmann::json s = train_new(config, quiet());
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "trainer e2e: base " << s.at("acc_base") << "%, motivated " << s.at("acc_motivated")
            << "%, " << s.at("motivated_steps") << " motivated steps of " << s.at("steps")
            << ", switches " << s.at("switches") << " copying " << s.at("switch_bytes_copied")
            << " bytes, " << seconds << " s\n";
  CHECK(s.at("acc_base").get<double>() >= 73.5);
  CHECK(s.at("switch_bytes_copied") == 0);
  CHECK(s.at("switches").get<int64_t>() > 0);
  CHECK(s.at("motivated_steps").get<int64_t>() > 0);
  CHECK(s.at("steps") == 250);
}
