// The engine issue's main job: train the demo CNN on Fashion-MNIST on the CPU,
// printing the loss and test accuracy per epoch. Bad flags or a missing data
// set give one line and exit code 2.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>

#include "engine/optim.h"
#include "engine/schedule.h"
#include "trainer/cli.h"
#include "trainer/demo_training.h"

using namespace motive;

int main(int argc, char** argv) {
  CLI::App app{"motive demo: a small CNN trained on Fashion-MNIST on the CPU"};
  std::string data_dir = kFashionMnistDir;
  int64_t limit_train = -1, limit_test = -1, batch = 64, epochs = 2;
  double lr = 0.05, momentum = 0.9, weight_decay = 5e-4;
  uint64_t seed = 0;
  app.add_option("--data", data_dir, "Fashion-MNIST directory (IDX files, plain or .gz)");
  app.add_option("--limit-train", limit_train, "use the first N training images (-1: all)");
  app.add_option("--limit-test", limit_test, "use the first N test images (-1: all)");
  app.add_option("--epochs", epochs, "passes over the training set")->check(CLI::PositiveNumber);
  app.add_option("--batch-size", batch, "images per step")->check(CLI::PositiveNumber);
  app.add_option("--lr", lr, "peak learning rate (one-cycle schedule)")->check(CLI::PositiveNumber);
  app.add_option("--momentum", momentum, "SGD momentum")->check(CLI::Range(0.0, 1.0));
  app.add_option("--weight-decay", weight_decay, "L2 decay (not on biases)")->check(CLI::NonNegativeNumber);
  app.add_option("--seed", seed, "seed for init and shuffling");
  return run_cli(app, argc, argv, "demo", [&] {
    const auto train = fashion_loader(data_dir, true, limit_train, batch, seed);
    const auto test = fashion_loader(data_dir, false, limit_test, 256, seed);
    Generator gen(seed);
    DemoCnn model(gen);
    SGD opt(lr, momentum, 0, weight_decay, true);
    opt.add_params(model.parameters(), DecayRule::ExcludeNormAndBias);
    const int64_t steps_per_epoch = train->batches_per_epoch();
    OneCycleLR schedule(epochs * steps_per_epoch, lr);
    opt.set_lr(schedule.lr_at(0));
    std::printf("demo: %lld train / %lld test images, batch %lld, %lld epochs, %.2f MFLOPs/image forward\n",
                static_cast<long long>(train->size()), static_cast<long long>(test->size()),
                static_cast<long long>(batch), static_cast<long long>(epochs),
                model.flops_per_image() / 1e6);
    int64_t global_step = 0;
    for (int64_t epoch = 0; epoch < epochs; ++epoch) {
      const EpochStats s = train_epoch(model, opt, *train, [&](int64_t step, double loss) {
        opt.set_lr(schedule.lr_at(++global_step));
        if (step % 100 == 0)
          std::printf("  epoch %lld step %5lld  loss %.4f\n", static_cast<long long>(epoch),
                      static_cast<long long>(step), loss);
      });
      const double acc = evaluate(model, *test);
      std::printf("epoch %lld: train loss %.4f  test accuracy %.2f%%  (%.0f images/s)\n",
                  static_cast<long long>(epoch), s.mean_loss, acc, s.images / s.seconds);
    }
  });
}
