// Gradient allreduce of a data-parallel step (docs/distributed.md), under
// mpirun: `mpirun -np 2 build/bin/bench_allreduce [SMALLER,LARGER] [REPS]`.
// For each model of a nested pair, the bucketed path a training step takes
// (dist/gradient_sync.h: pack the model's gradient regions, strided views of
// the shared buffers for the smaller model, scaled, into 25 MiB buckets,
// allreduce each, scatter back; all after backward, as bench_overlap's
// "after" rows) beside one plain MPI_Allreduce of the same bytes on a
// contiguous buffer (dist::allreduce_sum), the same run, alternating; rank 0
// prints the medians and their ratio. The last column is the same plain
// buffer summed as the buckets are, non-blocking (MPI_Iallreduce, then the
// wait: dist::start_sum), which separates the collective's own cost from the
// packing. A plain program (bench/rank_bench.h).
#include <cstdio>
#include <string>
#include <vector>

#include "dist/gradient_sync.h"
#include "bench/rank_bench.h"
#include "dist/world.h"
#include "engine/random.h"
#include "models/name_parsing.h"
#include "models/nest.h"

using namespace motive;
using motive::bench::median;
using motive::bench::seconds;

int main(int argc, char** argv) {
  const char* usage = "[SMALLER,LARGER] [REPS]";
  return bench::run_on_ranks(argc, argv, "bench_allreduce", usage, [](int argc, char** argv) {
    const std::string names = argc > 1 ? argv[1] : "vit-ti-p4,vit-s-p4";
    const int reps = argc > 2 ? std::stoi(argv[2]) : 7;
    Generator gen(0);
    const NestedChain chain = nest(split_name(names, ','), {3, 10, 32, 32}, gen);
    dist::GradientSync sync(Device::CPU);
    if (dist::rank() == 0)
      std::printf("allreduce over %d ranks (%s), median of %d; MB/s counts the gradient bytes\n"
                  "%-14s %12s %12s %12s %9s %9s %15s\n",
                  dist::world_size(), dist::backend().c_str(), reps, "model", "bytes",
                  "bucketed ms", "plain ms", "ratio", "MB/s", "plain nonblk ms");
    for (size_t level = 0; level < chain.size(); ++level) {
      std::vector<Tensor> params;
      for (const auto& [name, p] : chain.model(level).named_parameters()) {
        p.grad_buffer().fill_(1.0);
        params.push_back(p);
      }
      int64_t bytes = 0;
      for (const Tensor& p : params) bytes += p.numel() * 4;
      Tensor plain = Tensor::ones({bytes / 4});
      std::vector<double> bucketed_s, plain_s, nonblocking_s;
      for (int r = 0; r <= reps; ++r) {  // the first of each is a warm-up
        const double b = seconds([&] {
          sync.begin(params, 0.5);
          sync.finish();
        });
        const double p = seconds([&] { dist::allreduce_sum(plain.data<float>(), plain.numel()); });
        const double n = seconds([&] {
          dist::start_sum(plain.data<float>(), plain.numel());
          dist::wait_sums();
        });
        if (r == 0) continue;
        bucketed_s.push_back(b);
        plain_s.push_back(p);
        nonblocking_s.push_back(n);
      }
      if (dist::rank() == 0) {
        const double b = median(bucketed_s), p = median(plain_s);
        std::printf("%-14s %12lld %12.2f %12.2f %9.2f %9.0f %15.2f\n",
                    chain.model(level).name().c_str(), static_cast<long long>(bytes), b * 1e3,
                    p * 1e3, b / p, bytes / b / 1e6, median(nonblocking_s) * 1e3);
      }
    }
  });
}
