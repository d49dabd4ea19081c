// A data-parallel training step (docs/distributed.md), under mpirun:
// `mpirun -np 2 -x OMP_NUM_THREADS=1 build/bin/bench_overlap [MODELS] [BATCH] [REPS] [BUCKET_MIB,...]`.
// For each model (32x32x3, 10 classes) and bucket size, the step the trainer
// takes (forward, backward with each gradient bucket's allreduce started as
// soon as its gradients are final, the wait for the buckets, an SGD update:
// dist/gradient_sync.h) beside the same step with the whole averaging after
// backward, alternating in one run; BATCH is the global batch, split over
// the ranks. Rank 0 prints the medians, their ratio (overlap / after), how
// many buckets backward started before the wait, and the averaging left
// after backward in each (overlap: the wait for the buckets and the scatter;
// after: pack, allreduce and scatter). A plain program (bench/rank_bench.h).
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "dist/gradient_sync.h"
#include "bench/rank_bench.h"
#include "dist/world.h"
#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/optim.h"
#include "engine/random.h"
#include "models/name_parsing.h"
#include "models/registry.h"

using namespace motive;
using motive::bench::median;
using motive::bench::seconds;

namespace {

struct Step {
  Generator gen{0};
  std::unique_ptr<Model> model;
  std::vector<Tensor> params;
  SGD opt{0.01, 0.9};
  Tensor x, y;
  dist::GradientSync sync;
  double weight;
  size_t started_in_backward = 0;

  Step(const std::string& name, int64_t global_batch, int64_t bucket_bytes)
      : model(build_model(*resolve_model(name, {3, 10, 32, 32}), gen)),
        sync(Device::CPU, bucket_bytes),
        weight(1.0 / dist::world_size()) {
    const int64_t batch = global_batch / dist::world_size();
    x = randn({batch, 32, 32, 3}, gen);
    y = Tensor::empty({batch}, DType::I32);
    for (int64_t i = 0; i < batch; ++i) y.set({i}, static_cast<double>(i % 10));
    for (const auto& [pname, p] : model->named_parameters()) params.push_back(p);
    opt.add_params(params);
  }

  // One step: its seconds, and those of the averaging left after backward
  // (the wait in finish(), or the whole averaging after backward).
  std::pair<double, double> run(bool overlap) {
    using Clock = std::chrono::steady_clock;
    const auto seconds = [](Clock::time_point t) {
      return std::chrono::duration<double>(Clock::now() - t).count();
    };
    const auto start = Clock::now();
    opt.zero_grad();
    const Tensor loss = cross_entropy(model->forward(x, ForwardContext{true}), y);
    if (overlap) {
      sync.begin(params, weight);
      backward_with(loss, [this](const Tensor& leaf) { sync.ready(leaf); });
      started_in_backward = sync.started();
    } else {
      loss.backward();
    }
    const auto backward_done = Clock::now();
    if (!overlap) sync.begin(params, weight);
    sync.finish();
    const double averaging = seconds(backward_done);
    opt.step();
    return {seconds(start), averaging};
  }
};

}  // namespace

int main(int argc, char** argv) {
  const char* usage = "[MODELS] [BATCH] [REPS] [BUCKET_MIB,...]";
  return bench::run_on_ranks(argc, argv, "bench_overlap", usage, [](int argc, char** argv) {
    const std::string names = argc > 1 ? argv[1] : "resnet20,vit-ti-p4";
    const int64_t batch = argc > 2 ? std::stoll(argv[2]) : 32;
    const int reps = argc > 3 ? std::stoi(argv[3]) : 5;
    const std::string buckets = argc > 4 ? argv[4] : "25,1";
    if (dist::rank() == 0)
      std::printf("train step over %d ranks (%s), global batch %lld, median of %d\n"
                  "%-12s %10s %8s %8s %12s %10s %8s %14s %12s\n",
                  dist::world_size(), dist::backend().c_str(), static_cast<long long>(batch), reps,
                  "model", "bucket", "buckets", "in bwd", "overlap ms", "after ms", "ratio",
                  "overlap wait ms", "after avg ms");
    for (const std::string& name : split_name(names, ',')) {
      for (const std::string& mib : split_name(buckets, ',')) {
        Step step(name, batch, static_cast<int64_t>(std::stod(mib) * (1 << 20)));
        std::vector<double> overlap_s, after_s, wait_s, averaging_s;
        for (int r = 0; r <= reps; ++r) {  // the first of each is a warm-up
          const auto [o, wait] = step.run(true);
          const auto [a, averaging] = step.run(false);
          if (r == 0) continue;
          overlap_s.push_back(o);
          after_s.push_back(a);
          wait_s.push_back(wait);
          averaging_s.push_back(averaging);
        }
        if (dist::rank() == 0) {
          const double o = median(overlap_s), a = median(after_s);
          std::printf("%-12s %6s MiB %8zu %8zu %12.1f %10.1f %8.3f %14.1f %12.1f\n", name.c_str(),
                      mib.c_str(), step.sync.buckets(), step.started_in_backward, o * 1e3, a * 1e3,
                      o / a, median(wait_s) * 1e3, median(averaging_s) * 1e3);
        }
      }
    }
  });
}
