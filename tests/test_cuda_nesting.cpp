// Nested models on the GPU (models/nest.h), for every family's nesting
// examples (models/registry.h): each smaller model's parameters are views into
// the largest model's device buffers, a switch moves 0 bytes on either device,
// and steps through the base, the largest model and the base (and each middle
// level of a chain) give the same weights and running statistics as on the CPU.
// Both sides start from the same weights (drawn on the CPU from one seed, then
// moved). TF32 off; the tolerance is test_cuda_train.cpp's for parameters
// after 20 steps, here after 3. Skips (one line) without a GPU.
#include <string>
#include <tuple>
#include <vector>

#include "engine/optim.h"
#include "models/nest.h"
#include "models/registry.h"
#include "tests/cuda_parity.h"
#include "tests/model_testing.h"

using namespace motive;
using namespace motive::test;

namespace {

constexpr double kTol = 1e-4;

int64_t bytes_copied() {
  return memory_stats(Device::CPU).bytes_copied + memory_stats(Device::CUDA).bytes_copied;
}

// Steps of a fresh chain on `device`: base, largest, base, then each middle
// level. Returns the chain's checkpoint tensors (every weight and buffer).
NamedTensors train_steps(const NestingExample& e, Device device) {
  Generator gen(0);
  const NestedChain chain = nest(e.chain, e.shape, gen, {BnStats::Separate, {DType::F32, device}});
  for (size_t level = 0; level + 1 < chain.size(); ++level)
    for (const auto& [name, p] : chain.model(level).named_parameters()) {
      INFO(name);
      CHECK(p.device() == device);
      CHECK(p.storage() == find_tensor(chain.largest().named_parameters(), name).storage());
    }
  SGD opt(0.05, 0.9, 0, 5e-4);
  for (size_t level = chain.size(); level-- > 0;)
    for (const auto& [name, p] : chain.model(level).named_parameters())
      opt.add_param(p, chain.model(level).decays(name));
  Generator data(1);
  const int64_t classes = e.shape.num_classes;
  const Tensor x = randn({4, e.shape.image_height, e.shape.image_width, e.shape.in_channels}, data)
                       .to(device),
               y = cycling_labels(4, classes).to(device);
  std::vector<size_t> order = {0, chain.size() - 1, 0};
  for (size_t level = 1; level + 1 < chain.size(); ++level) order.push_back(level);
  for (size_t level : order) {
    const int64_t before = bytes_copied();
    const Model& model = chain.model(level);  // the switch
    CHECK(bytes_copied() == before);
    opt.zero_grad();
    cross_entropy(model.forward(x, ForwardContext{true}), y).backward();
    opt.step();
  }
  return chain.named_tensors();
}

}  // namespace

TEST_CASE("cuda nesting: device views, 0-byte switches, and steps that match the CPU") {
  MOTIVE_REQUIRE_CUDA();
  set_allow_tf32(false);
  for (const ModelFamily* family : model_families())
    for (const NestingExample& e : family->nesting_examples()) {
      INFO(family->name(), ": ", e.chain.front(), " in ", e.chain.back(), ", ", e.chain.size(),
           " models");
      const NamedTensors gpu = train_steps(e, Device::CUDA);
      const NamedTensors cpu = train_steps(e, Device::CPU);
      REQUIRE(gpu.size() == cpu.size());
      for (size_t i = 0; i < gpu.size(); ++i) {
        INFO(gpu[i].first);
        CHECK(rel_error(gpu[i].second, cpu[i].second) < kTol);
      }
    }
}
