// ResNet's side of the weights map (models/resnet/family.cpp, models/nest.h);
// the invariants every family shares run in test_nesting.cpp. Here: the
// containment errors, prefix views of the larger presets (ImageNet stem
// included), one layer's view by hand, bf16 autocast through a nested base,
// width-nested steps that copy nothing, BN statistics per model or shared and
// their recalibration, zero-init residuals, and a float64 gradient check of a
// nested pair with uneven stages.
#include <doctest/doctest.h>

#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "engine/autocast.h"
#include "engine/autograd.h"
#include "engine/optim.h"
#include "models/copy_switch.h"
#include "models/nest.h"
#include "models/resnet/resnet.h"
#include "tests/gradcheck.h"
#include "tests/model_testing.h"
#include "tests/nesting_testing.h"

using namespace motive;

namespace {

using test::bit_identical;
using test::cycling_labels;
using test::find_tensor;
using test::mapped_region;
using test::max_rel_error;
using test::outside;
using test::rel_error;
using test::train_step;

const ModelShape kShape{3, 10};
ResNetConfig preset(const std::string& name) { return resnet_preset(name, kShape); }

NestedChain nest_pair(const ResNetConfig& base, const ResNetConfig& motivated, Generator& gen,
                      const NestOptions& options = {}) {
  return NestedChain({&base, &motivated}, gen, options);
}

void check_containment_error(const std::string& base, const std::string& motivated,
                             const std::string& expected) {
  INFO(base, " in ", motivated);
  Generator gen(0);
  CHECK_THROWS_WITH_AS(nest({base, motivated}, kShape, gen), doctest::Contains(expected.c_str()),
                       Error);
}

ForwardContext training() { return ForwardContext{true}; }

}  // namespace

TEST_CASE("containment: a base not inside the motivated model is one clear error") {
  check_containment_error(
      "resnet56", "resnet20",
      "nest: resnet20 cannot contain resnet56: stage 0 is deeper in the base (9 blocks vs 3)");
  check_containment_error("resnet20", "resnet20x0.5",
                          "the stem is wider in the base (16 channels vs 8)");
  check_containment_error("resnet20", "resnet18-cifar",
                          "not the same family (basic blocks, cifar stem, 3 stages vs basic "
                          "blocks, cifar stem, 4 stages)");
  check_containment_error("resnet18", "resnet50", "not the same family");
  check_containment_error("resnet18-cifar", "resnet34", "not the same family");
  Generator gen(0);
  CHECK_THROWS_WITH_AS(nest_pair(resnet_preset("resnet20", {1, 10}), preset("resnet32"), gen),
                       doctest::Contains("input channels differ (1 vs 3)"), Error);
  CHECK_THROWS_WITH_AS(nest_pair(resnet_preset("resnet20", {3, 100}), preset("resnet32"), gen),
                       doctest::Contains("classes differ (100 vs 10)"), Error);
  ResNetConfig wide_stage = preset("resnet20");
  wide_stage.widths[1] = 40;
  CHECK_THROWS_WITH_AS(preset("resnet56").check_contains(wide_stage),
                       doctest::Contains("stage 1 is wider in the base (40 channels vs 32)"),
                       Error);
  ResNetConfig identity;  // stem 16 -> stage 0 width 16: identity shortcut in block 0
  ResNetConfig projection = identity;
  projection.stem_width = 24;  // 24 -> 16: a projection
  CHECK_THROWS_WITH_AS(projection.check_contains(identity),
                       doctest::Contains("stages.0.blocks.0 has an identity shortcut in the base "
                                         "but a projection in the motivated model"),
                       Error);
}

TEST_CASE("the larger presets nest: prefix views, forward/backward, mapped gradients") {
  const std::vector<std::tuple<std::string, std::string, int64_t>> cases{
      {"resnet20", "resnet56", 8},     {"resnet18", "resnet34", 32},
      {"resnet20x0.5", "resnet20", 8}, {"resnet18x0.5", "resnet18", 32},
      {"resnet20x0.5", "resnet56", 8}, {"resnet18x0.5-cifar", "resnet34-cifar", 8}};
  for (size_t i = 0; i < cases.size(); ++i) {
    // BN statistics only change the buffers: alternate, so each nesting kind sees both.
    const BnStats bn = i % 2 ? BnStats::Shared : BnStats::Separate;
    const auto& [base, motivated, image] = cases[i];
    INFO(base, " in ", motivated, ", BN statistics ", bn_stats_name(bn));
    Generator gen(0);
    const NestedChain pair = nest({base, motivated}, kShape, gen, {bn, {}});
    CHECK(pair.base().name() == base);
    test::check_aliasing(pair, 0);
    const Tensor x = randn({2, image, image, 3}, gen);
    test::check_mapped_gradients(pair, 0, x);
    test::check_mapped_gradients(pair, 1, x);
  }
}

TEST_CASE("aliasing by hand: resnet20x0.5's stages.1.blocks.0.conv1 is [16,3,3,8] of [32,3,3,16]") {
  Generator gen(0);
  const NestedChain pair = nest({"resnet20x0.5", "resnet20"}, kShape, gen);
  const Tensor w = find_tensor(pair.base().named_parameters(), "stages.1.blocks.0.conv1.weight");
  CHECK(w.shape() == Shape{16, 3, 3, 8});
  CHECK(w.strides() == Shape{144, 48, 16, 1});
  CHECK(find_tensor(pair.base().named_buffers(), "stages.1.blocks.0.bn1.running_mean").shape() ==
        Shape{16});
}

TEST_CASE("bf16 autocast: the nested base computes what a standalone copy does, bit for bit") {
  // Under autocast each weight view is cast to a dense bf16 copy, so the base
  // inside the pair must run exactly the standalone model's arithmetic, and its
  // float32 gradients must land in the mapped regions only.
  const ResNetConfig base_cfg = preset("resnet20x0.5");
  Generator gen(4);
  const NestedChain pair = nest_pair(base_cfg, preset("resnet20"), gen);
  FreshTensors fresh(gen);
  const ResNet standalone(base_cfg, fresh);
  standalone.load_state(pair.base().named_tensors());
  const Tensor x = randn({8, 8, 8, 3}, gen), y = cycling_labels(8, 10);
  const Tensor logits32 = standalone.forward(x, training());
  Tensor nested_logits, standalone_logits;
  {
    Autocast bf16;
    nested_logits = pair.base().forward(x, training());
    standalone_logits = standalone.forward(x, training());
  }
  CHECK(nested_logits.dtype() == DType::BF16);
  CHECK(bit_identical(nested_logits.to_vector(), standalone_logits.to_vector()));
  // 20 layers of bf16 rounding: a few percent from the float32 logits, no more.
  CHECK(rel_error(standalone_logits, logits32) < 5e-2);
  cross_entropy(nested_logits, y).backward();
  cross_entropy(standalone_logits, y).backward();
  const NamedTensors nested_params = pair.base().named_parameters();
  const NamedTensors standalone_params = standalone.named_parameters();
  REQUIRE(nested_params.size() == standalone_params.size());
  for (size_t i = 0; i < nested_params.size(); ++i) {
    INFO(nested_params[i].first);
    const Tensor& p = nested_params[i].second;
    REQUIRE(p.has_grad());
    CHECK(p.grad().dtype() == DType::F32);
    CHECK(bit_identical(p.grad().to_vector(), standalone_params[i].second.grad().to_vector()));
  }
  for (const auto& [name, owner] : pair.largest().named_parameters()) {
    INFO(name);
    const std::vector<double> rest =
        outside(owner.grad_buffer(), mapped_region(pair.base(), name, owner));
    CHECK(bit_identical(rest, std::vector<double>(rest.size(), 0.0)));
  }
}

TEST_CASE("the paper's switch moves every mapped byte (superset views move 0: test_nesting)") {
  Generator gen(5);
  const NestedChain pair = nest({"resnet20x0.5", "resnet32"}, kShape, gen);
  const auto standalone = build_model(preset("resnet20x0.5"), gen);
  int64_t mapped_bytes = 0;
  for (const auto& named : standalone->named_tensors())
    mapped_bytes += named.second.numel() * static_cast<int64_t>(sizeof(float));
  const int64_t copied = memory_stats().bytes_copied;
  copy_mapped_tensors(standalone->named_tensors(), pair.largest().named_tensors());
  CHECK(memory_stats().bytes_copied - copied == mapped_bytes);
}

TEST_CASE("a depth- or width-nested base step copies nothing on the CPU") {
  // A width-nested base's filters are strided views (narrowed in C_in); the
  // CPU conv kernels read them in place (on CUDA, conv2d packs them densely
  // for cuDNN).
  for (const auto& [base, width_nested] :
       std::vector<std::pair<std::string, bool>>{{"resnet20", false}, {"resnet20x0.5", true}}) {
    INFO(base);
    Generator gen(6);
    const NestedChain pair = nest({base, "resnet32"}, kShape, gen);
    SGD opt(0.1, 0.9);
    opt.add_params(pair.parameters());
    const Tensor x = randn({2, 8, 8, 3}, gen);
    int64_t strided_filters = 0;
    for (const Tensor& p : pair.base().parameters())
      strided_filters += p.dim() == 4 && !p.is_contiguous();
    CHECK((strided_filters > 0) == width_nested);
    const int64_t copied = memory_stats().bytes_copied;
    train_step(pair.base(), opt, x);
    CHECK(memory_stats().bytes_copied - copied == 0);
  }
}

TEST_CASE("BN statistics: separate buffers per model, or shared prefix views") {
  for (BnStats bn : {BnStats::Separate, BnStats::Shared}) {
    INFO(bn_stats_name(bn));
    Generator gen(7);
    const NestedChain pair = nest({"resnet8x0.5", "resnet14"}, kShape, gen, {bn, {}});
    const Tensor x = randn({2, 8, 8, 3}, gen);
    const Tensor base_mean = find_tensor(pair.base().named_buffers(), "stem.bn.running_mean");
    const Tensor owner_mean = find_tensor(pair.largest().named_buffers(), "stem.bn.running_mean");
    const Tensor owner_before = owner_mean.clone();
    NoGradGuard no_grad;
    pair.base().forward(x, training());
    CHECK(max_rel_error(base_mean, Tensor::zeros({8})) > 0);
    // Shared: the base's update is the owner's prefix; separate: the owner is untouched.
    CHECK((max_rel_error(owner_mean, owner_before) > 0) == (bn == BnStats::Shared));
    CHECK(bit_identical(outside(owner_mean, {8}), outside(owner_before, {8})));

    pair.base().recalibrate_running_statistics(2, [&](int64_t) { return x; });
    CHECK(bit_identical(outside(owner_mean, {8}), outside(owner_before, {8})));
    CHECK(parse_bn_stats(bn_stats_name(bn)) == bn);
  }
  CHECK_THROWS_WITH_AS(parse_bn_stats("both"), doctest::Contains("separate or shared"), Error);
}

TEST_CASE(
    "depth nesting with zero-init residuals: the motivated model computes the base's function") {
  Generator gen(8);
  ResNetConfig base = preset("resnet20"), motivated = preset("resnet32");
  motivated.zero_init_residual = true;  // the owner's init decides
  const NestedChain pair = nest_pair(base, motivated, gen);
  const Tensor x = randn({2, 8, 8, 3}, gen);
  NoGradGuard no_grad;
  CHECK(max_rel_error(pair.largest().forward(x, training()), pair.base().forward(x, training())) ==
        0);
}

TEST_CASE("pair checkpoints: the names of the largest model's tensors, then the base's buffers") {
  Generator gen(9);
  const NestedChain pair = nest({"resnet8x0.5", "resnet14"}, kShape, gen);
  const NamedTensors state = pair.named_tensors();
  CHECK(state.front().first == "motivated.stem.conv.weight");
  CHECK(state.back().first == "base.stages.2.blocks.0.shortcut.bn.running_var");
  CHECK_THROWS_WITH_AS(pair.load_state({}),
                       doctest::Contains("nested models resnet8x0.5 resnet14"), Error);
}

TEST_CASE("gradient check (float64) of a full small nested pair, through both models") {
  ResNetConfig base;
  base.stem_width = 2;
  base.depths = {1, 1};
  base.widths = {2, 3};
  base.in_channels = 2;
  base.num_classes = 3;
  ResNetConfig motivated = base;
  motivated.stem_width = 3;
  motivated.depths = {1, 2};
  motivated.widths = {3, 4};
  Generator gen(10);
  const NestedChain pair =
      nest_pair(base, motivated, gen, {BnStats::Separate, {DType::F64, Device::CPU}});
  const Tensor x = test::input({2, 6, 6, 2}, gen);
  const NamedTensors b = pair.base().named_parameters(), m = pair.largest().named_parameters();
  for (const auto& [model, params] : std::vector<std::pair<const Model*, std::vector<Tensor>>>{
           {&pair.base(),
            {x, find_tensor(b, "stem.conv.weight"),
             find_tensor(b, "stages.1.blocks.0.conv1.weight"),
             find_tensor(b, "stages.0.blocks.0.bn2.weight"), find_tensor(b, "head.fc.weight")}},
           {&pair.largest(),
            {find_tensor(m, "stem.bn.bias"),
             find_tensor(m, "stages.1.blocks.0.shortcut.conv.weight"),
             find_tensor(m, "stages.1.blocks.1.conv2.weight"), find_tensor(m, "head.fc.bias")}}}) {
    INFO(model->name());
    test::check_gradients(
        [model = model, &x](const std::vector<Tensor>&) { return model->forward(x, training()); },
        params);
  }
}
