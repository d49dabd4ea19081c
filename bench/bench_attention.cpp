// CPU attention forward + backward at ViT shapes: the fused kernel
// (scaled_dot_product_attention) against the plain composition of matmul and
// softmax (scaled_dot_product_attention_composed), in the same run.
// bench/peers/pytorch_attention.py times PyTorch's
// F.scaled_dot_product_attention the same way; tools/bench.sh prints the three
// side by side.
//
// As in a ViT block, q, k and v are the heads [B, H, T, Dh] of one
// [B, T, 3, H, Dh] projection output that requires grad (strided views, used in
// place). One iteration: forward, backward with a fixed output gradient, and
// zeroing the buffer's gradient. Counters: GFLOP/s of the charged count
// (forward + backward); cpu_ms, the process's CPU time (all threads) per
// iteration, which other jobs on a shared machine disturb less than the wall
// clock when OpenMP threads wait passively; and saved_bytes, the tensor
// memory the forward leaves alive for the backward beyond its output (the
// fused kernel: one float per query row; the composition: the [B, H, T, T]
// probabilities).
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include "engine/autograd.h"
#include "engine/flops.h"
#include "engine/ops.h"
#include "engine/random.h"

using namespace motive;

namespace {

using Attention = Tensor (*)(const Tensor&, const Tensor&, const Tensor&, bool);

double process_cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const auto seconds = [](const timeval& t) { return t.tv_sec + 1e-6 * t.tv_usec; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

void BM_Attention(benchmark::State& state, Attention attention) {
  const int64_t b = state.range(0), h = state.range(1), t = state.range(2), dh = state.range(3);
  Generator gen(0);
  Tensor qkv = rand_uniform({b, t, 3, h, dh}, -1.0, 1.0, gen);
  qkv.requires_grad_();
  const Tensor seed = rand_uniform({b, h, t, dh}, -1.0, 1.0, gen);
  // The views are part of the graph, as in a model: made anew each step.
  // Selecting before transposing makes each a view of the leaf itself, whose
  // gradient is added straight into the leaf's gradient region.
  const auto forward = [&] {
    const auto head = [&](int64_t i) { return qkv.select(2, i).transpose(1, 2); };
    return attention(head(0), head(1), head(2), false);
  };
  // What the forward keeps for the backward, beyond the output itself.
  const int64_t before = memory_stats().current_bytes;
  int64_t saved_bytes = 0;
  {
    const Tensor y = forward();
    saved_bytes = memory_stats().current_bytes - before - y.numel() * 4;
  }
  reset_flop_count();
  const double cpu_start = process_cpu_seconds();
  for (auto _ : state) {
    forward().backward(seed);
    qkv.zero_grad();
  }
  const double iterations = static_cast<double>(state.iterations());
  state.counters["cpu_ms"] = (process_cpu_seconds() - cpu_start) * 1e3 / iterations;
  state.counters["GFLOP/s"] = benchmark::Counter(static_cast<double>(flop_count()) * 1e-9,
                                                 benchmark::Counter::kIsRate);
  state.counters["saved_bytes"] = static_cast<double>(saved_bytes);
}

// (B, H, T, Dh): vit-ti with patch 4 on 32x32 images (64 patches + the class
// token, 3 heads of 64) at batch 32, and vit-s on 224x224 with patch 16 (196 +
// 1 tokens, 6 heads of 64) at batch 8.
void vit_shapes(benchmark::internal::Benchmark* bench) {
  bench->Args({32, 3, 65, 64})->Args({8, 6, 197, 64});
  bench->ArgNames({"B", "H", "T", "Dh"})->Unit(benchmark::kMillisecond)->UseRealTime();
}

}  // namespace

BENCHMARK_CAPTURE(BM_Attention, fused, &scaled_dot_product_attention)->Apply(vit_shapes);
BENCHMARK_CAPTURE(BM_Attention, composed, &scaled_dot_product_attention_composed)
    ->Apply(vit_shapes);
BENCHMARK_MAIN();
