#include "trainer/demo_training.h"

#include <algorithm>
#include <chrono>

#include "engine/autograd.h"
#include "engine/ops.h"

namespace motive {

std::unique_ptr<Loader> fashion_loader(const std::string& dir, bool train, int64_t limit,
                                       int64_t batch_size, uint64_t seed) {
  Augment normalise;
  normalise.normalize = {{kFashionMean}, {kFashionStd}};
  LoaderOptions options;
  options.batch_size = batch_size;
  options.shuffle = train;
  options.seed = seed;
  return std::make_unique<Loader>(in_memory(load_fashion_mnist(dir, train, limit)), normalise,
                                  options);
}

EpochStats train_epoch(const DemoCnn& model, Optimizer& opt, Loader& train,
                       const std::function<void(int64_t, double)>& on_step) {
  const auto start = std::chrono::steady_clock::now();
  EpochStats stats;
  double loss_sum = 0;
  while (auto batch = train.next()) {
    const int64_t n = batch->images.size(0);
    opt.zero_grad();
    Tensor loss = cross_entropy(model.forward(batch->images), batch->labels);
    loss.backward();
    opt.step();
    const double l = loss.item();
    loss_sum += l * static_cast<double>(n);
    stats.images += n;
    if (on_step) on_step(batch->index, l);
  }
  stats.mean_loss = loss_sum / static_cast<double>(std::max<int64_t>(stats.images, 1));
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return stats;
}

double evaluate(const DemoCnn& model, Loader& test) {
  NoGradGuard no_grad;
  int64_t correct = 0, seen = 0;
  while (auto batch = test.next()) {
    const Tensor logits = model.forward(batch->images);
    const float* l = logits.data<float>();
    const int64_t n = logits.size(0), classes = logits.size(1);
    for (int64_t i = 0; i < n; ++i) {
      const float* row = l + i * classes;
      const int64_t pred = std::max_element(row, row + classes) - row;
      correct += pred == batch->labels.data<int32_t>()[i];
    }
    seen += n;
  }
  return 100.0 * static_cast<double>(correct) / static_cast<double>(std::max<int64_t>(seen, 1));
}

}  // namespace motive
