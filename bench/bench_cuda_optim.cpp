// Fused multi-tensor optimizer steps on the GPU against a device-to-device
// copy of the same byte count.
//
// The parameters are resnet18's (ImageNet shapes, OHWI convs: 62 tensors,
// 11.69M floats), each with a random gradient. Rows are "<impl>/<case>":
//   motive_fused       Optimizer::step(): one launch for all parameters, host
//                      work included (what a training step pays);
//   motive_per_tensor  the same kernel launched once per parameter (62 launches);
//   device_copy        cudaMemcpyAsync moving the same bytes (read + write).
// Cases: adamw_resnet18, sgd_resnet18 (momentum, weight decay), and
// adamw_base_views: a half-width base resnet18 whose parameters are leading
// sub-block views of the full one (strided slots, 1/4 of the elements).
// Bytes are the fewest an update must move per element: AdamW reads p, g, m, v
// and writes p, m, v (28 B in float32); SGD with momentum reads p, g, buf and
// writes p, buf (20 B). Without a GPU (or without the CUDA backend) the binary
// prints one line and exits 0.
#include "bench/cuda_bench.h"

#ifdef MOTIVE_WITH_CUDA
#include <memory>
#include <vector>

#include "engine/autograd.h"
#include "engine/optim.h"
#include "kernels/cuda/optim.h"

using namespace motive;
using namespace motive::bench;

namespace {

constexpr int kReps = 20;

// resnet18's parameter shapes: convs OHWI, each followed by BatchNorm's gamma
// and beta; a 1x1 downsample at the first block of stages 2-4; the classifier.
std::vector<Shape> resnet18_shapes() {
  std::vector<Shape> shapes = {{64, 7, 7, 3}, {64}, {64}};
  const auto conv_bn = [&](int64_t out, int64_t k, int64_t in) {
    shapes.push_back({out, k, k, in});
    shapes.push_back({out});
    shapes.push_back({out});
  };
  int64_t in = 64;
  for (int stage = 0; stage < 4; ++stage) {
    const int64_t out = int64_t{64} << stage;
    for (int block = 0; block < 2; ++block) {
      conv_bn(out, 3, block == 0 ? in : out);
      conv_bn(out, 3, out);
      if (block == 0 && stage > 0) conv_bn(out, 1, in);
    }
    in = out;
  }
  shapes.push_back({1000, 512});
  shapes.push_back({1000});
  return shapes;
}

struct Model {
  std::vector<Tensor> full;  // device leaves with gradients
  std::vector<Tensor> base;  // half-width leading sub-block views of `full`, with gradients
  int64_t full_numel = 0, base_numel = 0;
};

// Built once for all rows (drawing 23M normal numbers takes a while).
const Model& model() {
  static const Model m = [] {
    Model out;
    uint64_t seed = 1;
    for (const Shape& s : resnet18_shapes()) {
      Tensor p = device_randn(s, seed++);
      p.requires_grad_();
      accumulate_leaf_grad(p, device_randn(s, seed++));
      out.full.push_back(p);
      out.full_numel += p.numel();
      // Half the output channels and (except the RGB input) half the inputs.
      Tensor view;
      {
        NoGradGuard parameter_view;
        view = p.slice(0, 0, s[0] / 2);
        const int64_t last = p.dim() - 1;
        if (last > 0 && s[last] > 3) view = view.slice(last, 0, s[last] / 2);
      }
      Generator gen(seed++);
      accumulate_leaf_grad(view, randn(view.shape(), gen).to(Device::CUDA));
      out.base.push_back(view);
      out.base_numel += view.numel();
    }
    return out;
  }();
  return m;
}

enum class Rule { AdamW, SgdMomentum };

struct Case {
  Rule rule;
  bool base;  // the base views instead of the full parameters
  double bytes() const {
    const Model& m = model();
    const double per_element = (rule == Rule::AdamW ? 7 : 5) * sizeof(float);
    return per_element * static_cast<double>(base ? m.base_numel : m.full_numel);
  }
};

void set_rate(benchmark::State& state, double bytes, const std::vector<double>& per_call) {
  const double seconds = median(per_call);
  if (seconds == 0) return;
  state.counters["GB/s"] = bytes / seconds * 1e-9;
  state.counters["MB_moved"] = bytes * 1e-6;
}

std::unique_ptr<Optimizer> make_optimizer(Rule rule) {
  if (rule == Rule::AdamW) return std::make_unique<AdamW>(1e-3);
  return std::make_unique<SGD>(0.1, 0.9, 0, 5e-4);
}

void motive_fused(benchmark::State& state, Case c) {
  const Model& m = model();
  const auto opt = make_optimizer(c.rule);
  opt->add_params(c.base ? m.base : m.full, DecayRule::ExcludeNormAndBias);
  set_rate(state, c.bytes(), time_launches(state, kReps, [&] { opt->step(); }));
}

// The same AdamW kernel, one launch per parameter: what multi-tensor saves.
void motive_per_tensor(benchmark::State& state, Case c) {
  const Model& m = model();
  std::vector<Tensor> moments;
  std::vector<cuda::ParamUpdate<float>> args;
  for (const Tensor& p : m.full) {
    cuda::ParamUpdate<float> u;
    u.rank = p.dim();
    u.shape = p.shape().data();
    u.strides = p.strides().data();
    u.param = p.data<float>();
    u.grad = p.grad().data<float>();
    for (float*& s : u.state) {
      moments.push_back(Tensor::zeros(p.shape(), DType::F32, Device::CUDA));
      s = moments.back().data<float>();
    }
    u.decay = p.dim() > 1;
    args.push_back(u);
  }
  const cuda::AdamWHyper h{1e-3, 0.9, 0.999, 1e-8, 0.01};
  set_rate(state, c.bytes(), time_launches(state, kReps, [&] {
             for (const auto& u : args) cuda::adamw_step<float>(1, &u, h);
           }));
}

void device_copy(benchmark::State& state, Case c) {
  const size_t nbytes = static_cast<size_t>(c.bytes() / 2) / 16 * 16;
  const Tensor src = device_randn({static_cast<int64_t>(nbytes / sizeof(float))}, 99);
  const Tensor dst = Tensor::empty(src.shape(), DType::F32, Device::CUDA);
  set_rate(state, 2.0 * static_cast<double>(nbytes), time_launches(state, kReps, [&] {
             MOTIVE_CUDA_CHECK(cudaMemcpyAsync(dst.raw_data(), src.raw_data(), nbytes,
                                               cudaMemcpyDeviceToDevice, cuda::stream()),
                               "bench");
           }));
}

}  // namespace

BENCHMARK_CAPTURE(device_copy, adamw_resnet18, Case{Rule::AdamW, false})
    ->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(motive_fused, adamw_resnet18, Case{Rule::AdamW, false})
    ->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(motive_per_tensor, adamw_resnet18, Case{Rule::AdamW, false})
    ->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(device_copy, sgd_resnet18, Case{Rule::SgdMomentum, false})
    ->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(motive_fused, sgd_resnet18, Case{Rule::SgdMomentum, false})
    ->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(device_copy, adamw_base_views, Case{Rule::AdamW, true})
    ->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(motive_fused, adamw_base_views, Case{Rule::AdamW, true})
    ->UseManualTime()->Unit(benchmark::kMicrosecond);
#endif  // MOTIVE_WITH_CUDA

int main(int argc, char** argv) {
  return motive::bench::cuda_bench_main("bench_cuda_optim", argc, argv);
}
