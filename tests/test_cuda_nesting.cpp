// Nested models on the GPU (models/nest.h): the base's parameters are views
// into the motivated model's device buffers, a switch moves 0 bytes on either
// device, and a base step, a motivated step and a base step give the same
// weights and BN statistics as on the CPU, for depth, width and both nestings.
// Both sides start from the same weights (drawn on the CPU from one seed, then
// moved). TF32 off; the tolerance is test_cuda_train.cpp's for parameters
// after 20 steps, here after 3. Skips (one line) without a GPU.
#include <string>
#include <tuple>
#include <vector>

#include "engine/optim.h"
#include "models/nest.h"
#include "tests/cuda_parity.h"
#include "tests/model_testing.h"

using namespace motive;
using namespace motive::test;

namespace {

constexpr double kTol = 1e-4;

int64_t bytes_copied() {
  return memory_stats(Device::CPU).bytes_copied + memory_stats(Device::CUDA).bytes_copied;
}

// Three steps (base, motivated, base) of a fresh pair on `device`; returns the
// pair's checkpoint tensors (every weight and BN buffer), as views.
NamedTensors train_three_steps(const std::string& base, const std::string& motivated,
                               Device device) {
  Generator gen(0);
  const NestedPair pair = nest(resnet_preset(base, {3, 10}), resnet_preset(motivated, {3, 10}), gen,
                               {BnStats::Separate, {DType::F32, device, false}});
  for (const auto& [name, p] : pair.base().named_parameters()) {
    INFO(name);
    CHECK(p.device() == device);
    CHECK(p.storage() == find_tensor(pair.motivated().named_parameters(), name).storage());
  }
  SGD opt(0.05, 0.9, 0, 5e-4);
  opt.add_params(pair.parameters(), DecayRule::ExcludeNormAndBias);
  Generator data(1);
  const Tensor x = randn({4, 8, 8, 3}, data).to(device), y = cycling_labels(4, 10).to(device);
  Role role = Role::Base;
  for (int step = 0; step < 3; ++step) {
    const int64_t before = bytes_copied();
    const ResNet& model = pair.model(role);  // the switch
    CHECK(bytes_copied() == before);
    opt.zero_grad();
    cross_entropy(model.forward(x, true), y).backward();
    opt.step();
    role = role == Role::Base ? Role::Motivated : Role::Base;
  }
  return pair.named_tensors();
}

}  // namespace

TEST_CASE("cuda nesting: device views, 0-byte switches, and steps that match the CPU") {
  MOTIVE_REQUIRE_CUDA();
  set_allow_tf32(false);
  for (const auto& [base, motivated] : std::vector<std::pair<std::string, std::string>>{
           {"resnet20", "resnet32"}, {"resnet20x0.5", "resnet20"}, {"resnet20x0.5", "resnet32"}}) {
    INFO(base, " in ", motivated);
    const NamedTensors gpu = train_three_steps(base, motivated, Device::CUDA);
    const NamedTensors cpu = train_three_steps(base, motivated, Device::CPU);
    REQUIRE(gpu.size() == cpu.size());
    for (size_t i = 0; i < gpu.size(); ++i) {
      INFO(gpu[i].first);
      CHECK(rel_error(gpu[i].second, cpu[i].second) < kTol);
    }
  }
}
