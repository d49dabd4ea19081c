#include "engine/batchnorm_sync.h"

#include <vector>

namespace motive {
namespace {
thread_local std::shared_ptr<const BatchNormSync> g_sync;
}  // namespace

BatchNormSyncScope::BatchNormSyncScope(BatchNormSync sync) : previous_(std::move(g_sync)) {
  g_sync = std::make_shared<const BatchNormSync>(std::move(sync));
}
BatchNormSyncScope::~BatchNormSyncScope() { g_sync = std::move(previous_); }

std::shared_ptr<const BatchNormSync> batch_norm_sync() { return g_sync; }

namespace bn {

double combine_moments(const BatchNormSync& sync, int64_t rows, int64_t c, double* mean,
                       double* m2) {
  const double n = static_cast<double>(rows);
  // [count, count x mean per channel], summed: the global count and mean.
  std::vector<double> first(static_cast<size_t>(c + 1));
  first[0] = n;
  for (int64_t ch = 0; ch < c; ++ch) first[ch + 1] = n * mean[ch];
  sync.sum(first.data(), c + 1);
  const double total = first[0];
  // m2 about the global mean: m2_k + n_k (mean_k - mean)^2, summed. Exact,
  // unlike sums of x^2, when the mean is large against the spread.
  std::vector<double> second(static_cast<size_t>(c));
  for (int64_t ch = 0; ch < c; ++ch) {
    const double global = first[ch + 1] / total, d = mean[ch] - global;
    second[ch] = m2[ch] + n * d * d;
    mean[ch] = global;
  }
  sync.sum(second.data(), c);
  for (int64_t ch = 0; ch < c; ++ch) m2[ch] = second[ch];
  return total;
}

void combine_grad_sums(const BatchNormSync& sync, int64_t c, double* sums) {
  for (int64_t i = 0; i < 2 * c; ++i) sums[i] *= sync.weight;
  sync.sum(sums, 2 * c);
  for (int64_t i = 0; i < 2 * c; ++i) sums[i] /= sync.weight;
}

}  // namespace bn
}  // namespace motive
