// The engine's end-to-end check on real data: the two-conv demo
// CNN trained with SGD for one epoch on 2,000 Fashion-MNIST images reaches
// >= 70% on 1,000 test images, and the run is bit-reproducible from its seed.
#include <doctest/doctest.h>

#include <algorithm>
#include <iostream>
#include <memory>

#include "data/idx.h"
#include "data/loader.h"
#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/optim.h"
#include "engine/schedule.h"
#include "models/demo_cnn.h"

using namespace motive;

namespace {

std::unique_ptr<Loader> fashion(bool train, int64_t limit, int64_t batch, uint64_t seed) {
  Augment normalise;
  normalise.normalize = {{kFashionMean}, {kFashionStd}};
  LoaderOptions options;
  options.batch_size = batch;
  options.shuffle = train;
  options.seed = seed;
  return std::make_unique<Loader>(
      in_memory(load_fashion_mnist(MOTIVE_FASHION_MNIST_DIR, train, limit)), normalise, options);
}

double accuracy(const DemoCnn& model, Loader& test) {
  NoGradGuard no_grad;
  int64_t correct = 0, seen = 0;
  while (auto batch = test.next()) {
    const Tensor logits = model.forward(batch->images);
    const int64_t n = logits.size(0), classes = logits.size(1);
    for (int64_t i = 0; i < n; ++i) {
      const float* row = logits.data<float>() + i * classes;
      correct += (std::max_element(row, row + classes) - row) == batch->labels.data<int32_t>()[i];
    }
    seen += n;
  }
  return 100.0 * static_cast<double>(correct) / static_cast<double>(seen);
}

struct Run {
  std::vector<double> losses;
  double accuracy;
};

Run train_once(uint64_t seed) {
  const auto train = fashion(true, 2000, 32, seed);
  const auto test = fashion(false, 1000, 250, seed);
  Generator gen(seed);
  DemoCnn model(gen);
  SGD opt(0.05, 0.9, 0, 5e-4, true);
  opt.add_params(model.parameters(), DecayRule::ExcludeNormAndBias);
  OneCycleLR schedule(train->batches_per_epoch(), 0.05);
  Run run;
  while (auto batch = train->next()) {
    opt.set_lr(schedule.lr_at(static_cast<int64_t>(run.losses.size())));
    opt.zero_grad();
    Tensor loss = cross_entropy(model.forward(batch->images), batch->labels);
    loss.backward();
    opt.step();
    run.losses.push_back(loss.item());
  }
  run.accuracy = accuracy(model, *test);
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
