// End to end on real data: the demo CNN trained for one epoch on 2,000
// Fashion-MNIST images reaches >= 70% on 1,000 test images, and the run is
// reproducible from its seed.
#include <doctest/doctest.h>

#include <iostream>

#include "engine/schedule.h"
#include "trainer/demo_training.h"

using namespace motive;

namespace {

struct Run {
  std::vector<double> losses;
  double accuracy;
};

Run train_once(uint64_t seed) {
  const auto train = fashion_loader(MOTIVE_FASHION_MNIST_DIR, true, 2000, 32, seed);
  const auto test = fashion_loader(MOTIVE_FASHION_MNIST_DIR, false, 1000, 250, seed);
  Generator gen(seed);
  DemoCnn model(gen);
  SGD opt(0.05, 0.9, 0, 5e-4, true);
  opt.add_params(model.parameters(), DecayRule::ExcludeNormAndBias);
  OneCycleLR schedule(train->batches_per_epoch(), 0.05);
  opt.set_lr(schedule.lr_at(0));
  Run run;
  train_epoch(model, opt, *train, [&](int64_t step, double loss) {
    run.losses.push_back(loss);
    opt.set_lr(schedule.lr_at(step + 1));
  });
  run.accuracy = evaluate(model, *test);
  return run;
}

}  // namespace

TEST_CASE("demo CNN: 1 epoch on 2,000 Fashion-MNIST images reaches >= 70% test accuracy") {
  const Run a = train_once(0);
  std::cout << "demo CNN: first loss " << a.losses.front() << ", last loss " << a.losses.back()
            << ", test accuracy " << a.accuracy << "%\n";
  CHECK(a.losses.size() == 63);
  CHECK(a.losses.back() < a.losses.front());
  CHECK(a.accuracy >= 70.0);
  const Run b = train_once(0);
  CHECK(a.losses == b.losses);  // bit-identical from the same seed
  CHECK(a.accuracy == b.accuracy);
}
