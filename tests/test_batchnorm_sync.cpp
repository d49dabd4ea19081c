// Synchronised batch norm (engine/batchnorm_sync.h): two threads play two
// processes of a data-parallel job, each with its shard of a batch and a sum
// over the threads; batch_norm2d and batch_norm2d_relu must then give each
// shard exactly what one process gives it on the whole batch: the output, the
// running statistics, the input's (and residual's) gradient of the job's
// loss, and gamma's and beta's gradients once the shards' are added with
// their weights. Shards of unequal size check the weighting.
#include <condition_variable>
#include <mutex>
#include <thread>

#include "engine/batchnorm_sync.h"
#include "tests/gradcheck.h"

using namespace motive;
using namespace motive::test;

namespace {

// An in-place sum over `ranks` threads, every thread receiving the same
// total (added in rank order, as a reproducible allreduce would).
class ThreadSum {
 public:
  explicit ThreadSum(int ranks) : parts_(static_cast<size_t>(ranks)) {}

  void sum(int rank, double* values, int64_t count) {
    std::unique_lock<std::mutex> lock(mutex_);
    const uint64_t round = round_;
    parts_[static_cast<size_t>(rank)].assign(values, values + count);
    if (++arrived_ == static_cast<int>(parts_.size())) {
      total_.assign(static_cast<size_t>(count), 0.0);
      for (const auto& part : parts_)
        for (int64_t i = 0; i < count; ++i) total_[i] += part[i];
      arrived_ = 0;
      ++round_;
      done_.notify_all();
    } else {
      done_.wait(lock, [&] { return round_ != round; });
    }
    // total_ is rewritten only when every thread has arrived at the next
    // round, hence after every thread has read this one.
    std::copy(total_.begin(), total_.end(), values);
  }

 private:
  std::mutex mutex_;
  std::condition_variable done_;
  std::vector<std::vector<double>> parts_;
  std::vector<double> total_;
  int arrived_ = 0;
  uint64_t round_ = 0;
};

struct Result {
  Tensor y, dx, dres, dgamma, dbeta, running_mean, running_var;
};

Tensor copy_of(const Tensor& t, bool requires_grad) {
  Tensor c = t.detach().clone();
  if (requires_grad) c.requires_grad_();
  return c;
}

// One process's step: BN (+ relu with a residual when `fused`) of its shard
// x, loss = mean over its images of sum(y * r), backward.
Result step(bool fused, const Tensor& x_in, const Tensor& res_in, const Tensor& r,
            const Tensor& gamma_in, const Tensor& beta_in, const Tensor& rm, const Tensor& rv) {
  Result out;
  const Tensor x = copy_of(x_in, true), res = copy_of(res_in, true);
  const Tensor gamma = copy_of(gamma_in, true), beta = copy_of(beta_in, true);
  out.running_mean = rm.clone();
  out.running_var = rv.clone();
  out.y = fused ? batch_norm2d_relu(x, gamma, beta, out.running_mean, out.running_var, true, res)
                : batch_norm2d(x, gamma, beta, out.running_mean, out.running_var, true);
  mul_scalar(sum(mul(out.y, r)), 1.0 / static_cast<double>(x.size(0))).backward();
  out.dx = x.grad();
  if (fused) out.dres = res.grad();
  out.dgamma = gamma.grad();
  out.dbeta = beta.grad();
  return out;
}

void check_close(const Tensor& got, const Tensor& want, double scale = 1) {
  const std::vector<double> g = got.to_vector(), w = want.to_vector();
  REQUIRE(g.size() == w.size());
  double worst = 0;
  for (size_t i = 0; i < g.size(); ++i) worst = std::max(worst, std::abs(g[i] * scale - w[i]));
  CHECK(worst < 1e-12);
}

// A batch of n images of h x w x 5, shards of `split` and n - split images.
void check_sync_matches_whole_batch(bool fused, int64_t n, int64_t split, int64_t h, int64_t w) {
  Generator gen(fused ? 71 : 72);
  const Tensor x = input({n, h, w, 5}, gen, false), res = input({n, h, w, 5}, gen, false);
  const Tensor r = input({n, h, w, 5}, gen, false);
  const Tensor gamma = input({5}, gen, false), beta = input({5}, gen, false);
  const Tensor rm = input({5}, gen, false), rv = add_scalar(input({5}, gen, false), 2.0);
  const Result whole = step(fused, x, res, r, gamma, beta, rm, rv);

  const int64_t begin[2] = {0, split}, end[2] = {split, n};
  Result shard[2];
  ThreadSum job(2);
  std::vector<std::thread> ranks;
  for (int k = 0; k < 2; ++k)
    ranks.emplace_back([&, k] {
      const double weight = static_cast<double>(end[k] - begin[k]) / static_cast<double>(n);
      BatchNormSyncScope scope({[&job, k](double* v, int64_t count) { job.sum(k, v, count); },
                                weight});
      auto part = [&](const Tensor& t) { return t.narrow(0, begin[k], end[k] - begin[k]); };
      shard[k] = step(fused, part(x), part(res), part(r), gamma, beta, rm, rv);
    });
  for (auto& t : ranks) t.join();

  Tensor dgamma = Tensor::zeros({5}, DType::F64), dbeta = Tensor::zeros({5}, DType::F64);
  for (int k = 0; k < 2; ++k) {
    INFO("rank " << k);
    const double weight = static_cast<double>(end[k] - begin[k]) / static_cast<double>(n);
    auto part = [&](const Tensor& t) { return t.narrow(0, begin[k], end[k] - begin[k]); };
    check_close(shard[k].y, part(whole.y));
    // Each rank's gradients are of its own loss: weighted, they are the job's.
    check_close(shard[k].dx, part(whole.dx), weight);
    if (fused) check_close(shard[k].dres, part(whole.dres), weight);
    check_close(shard[k].running_mean, whole.running_mean);
    check_close(shard[k].running_var, whole.running_var);
    dgamma = add(dgamma, mul_scalar(shard[k].dgamma, weight));
    dbeta = add(dbeta, mul_scalar(shard[k].dbeta, weight));
  }
  check_close(dgamma, whole.dgamma);
  check_close(dbeta, whole.dbeta);
  // Without the sync, a shard normalises with its own statistics (and one of
  // a single value per channel cannot train at all).
  if (split * h * w < 2) return;
  const Result alone = step(fused, x.narrow(0, 0, split), res.narrow(0, 0, split),
                            r.narrow(0, 0, split), gamma, beta, rm, rv);
  const std::vector<double> a = alone.y.to_vector();
  const std::vector<double> b = whole.y.narrow(0, 0, split).to_vector();
  double differs = 0;
  for (size_t i = 0; i < a.size(); ++i) differs = std::max(differs, std::abs(a[i] - b[i]));
  CHECK(differs > 1e-3);
}

}  // namespace

TEST_CASE("synchronised batch_norm2d: two shards give what the whole batch gives") {
  check_sync_matches_whole_batch(false, 4, 3, 3, 2);  // weights 3/4 and 1/4
  // One value per channel in each shard (a 1x1 feature map, one image each):
  // the statistics exist only over both.
  check_sync_matches_whole_batch(false, 2, 1, 1, 1);
}

TEST_CASE("synchronised batch_norm2d_relu: two shards give what the whole batch gives") {
  check_sync_matches_whole_batch(true, 4, 3, 3, 2);
  check_sync_matches_whole_batch(true, 2, 1, 1, 1);
}

TEST_CASE("batch norm sync: eval mode and scopes that close make no collective calls") {
  Generator gen(73);
  const Tensor x = input({2, 2, 2, 3}, gen, false);
  const Tensor rm = input({3}, gen, false), rv = add_scalar(input({3}, gen, false), 2.0);
  int calls = 0;
  {
    BatchNormSyncScope scope({[&](double*, int64_t) { ++calls; }, 1.0});
    batch_norm2d(x, Tensor(), Tensor(), rm, rv, false);
    CHECK(calls == 0);
    batch_norm2d(x, Tensor(), Tensor(), Tensor(), Tensor(), true);
    CHECK(calls == 2);  // the global mean, then the spread about it
  }
  CHECK(batch_norm_sync() == nullptr);
  batch_norm2d(x, Tensor(), Tensor(), Tensor(), Tensor(), true);
  CHECK(calls == 2);
}
