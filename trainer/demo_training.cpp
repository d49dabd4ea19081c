#include "trainer/demo_training.h"

#include <chrono>
#include <numeric>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "kernels/philox.h"

namespace motive {
namespace {

// Fisher-Yates driven by Philox draws keyed on (seed, epoch).
std::vector<int64_t> shuffled_indices(int64_t n, uint64_t seed, int64_t epoch) {
  std::vector<int64_t> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  for (int64_t i = n - 1; i > 0; --i) {
    const float u = philox_uniform(seed, static_cast<uint64_t>(epoch) << 32, i);
    const int64_t j = std::min<int64_t>(i, static_cast<int64_t>(u * static_cast<float>(i + 1)));
    std::swap(idx[i], idx[j]);
  }
  return idx;
}

// Normalised NHWC float images and int32 labels for the listed samples.
std::pair<Tensor, Tensor> gather(const ImageDataset& ds, const int64_t* idx, int64_t count) {
  const int64_t pixels = ds.height * ds.width * ds.channels;
  Tensor x = Tensor::empty({count, ds.height, ds.width, ds.channels});
  Tensor y = Tensor::empty({count}, DType::I32);
  float* xp = x.data<float>();
  int32_t* yp = y.data<int32_t>();
  for (int64_t i = 0; i < count; ++i) {
    const uint8_t* src = ds.pixels.data() + idx[i] * pixels;
    for (int64_t p = 0; p < pixels; ++p)
      xp[i * pixels + p] = (src[p] / 255.0f - kFashionMean) / kFashionStd;
    yp[i] = ds.labels[idx[i]];
  }
  return {x, y};
}

}  // namespace

EpochStats train_epoch(const DemoCnn& model, Optimizer& opt, const ImageDataset& train,
                       int64_t batch_size, uint64_t seed, int64_t epoch,
                       const std::function<void(int64_t, double)>& on_step) {
  const auto start = std::chrono::steady_clock::now();
  const std::vector<int64_t> order = shuffled_indices(train.count, seed, epoch);
  EpochStats stats;
  double loss_sum = 0;
  int64_t step = 0;
  for (int64_t b = 0; b < train.count; b += batch_size, ++step) {
    const int64_t n = std::min(batch_size, train.count - b);
    auto [x, y] = gather(train, order.data() + b, n);
    opt.zero_grad();
    Tensor loss = cross_entropy(model.forward(x), y);
    loss.backward();
    opt.step();
    const double l = loss.item();
    loss_sum += l * static_cast<double>(n);
    stats.images += n;
    if (on_step) on_step(step, l);
  }
  stats.mean_loss = loss_sum / static_cast<double>(std::max<int64_t>(stats.images, 1));
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return stats;
}

double evaluate(const DemoCnn& model, const ImageDataset& test, int64_t batch_size) {
  NoGradGuard no_grad;
  std::vector<int64_t> all(test.count);
  std::iota(all.begin(), all.end(), 0);
  int64_t correct = 0;
  for (int64_t b = 0; b < test.count; b += batch_size) {
    const int64_t n = std::min(batch_size, test.count - b);
    auto [x, y] = gather(test, all.data() + b, n);
    const Tensor logits = model.forward(x);
    const float* l = logits.data<float>();
    const int64_t classes = logits.size(1);
    for (int64_t i = 0; i < n; ++i) {
      const float* row = l + i * classes;
      const int64_t pred = std::max_element(row, row + classes) - row;
      correct += pred == y.data<int32_t>()[i];
    }
  }
  return 100.0 * static_cast<double>(correct) / static_cast<double>(std::max<int64_t>(test.count, 1));
}

}  // namespace motive
