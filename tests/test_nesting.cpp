// The weights map as superset views (models/nest.h): containment errors,
// aliasing (every base tensor is a prefix view at the expected offset and
// strides), gradients and optimizer steps that touch exactly the mapped
// elements, BN statistics per model or shared, zero-byte switches, and the
// equivalence with the paper's way (two models, copies at each switch).
#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "engine/autocast.h"
#include "engine/autograd.h"
#include "engine/optim.h"
#include "models/copy_switch.h"
#include "models/nest.h"
#include "tests/gradcheck.h"
#include "tests/model_testing.h"

using namespace motive;

namespace {

using test::cycling_labels;
using test::find_tensor;
using test::max_rel_error;
using test::rel_error;

ResNetConfig preset(const std::string& name) { return resnet_preset(name, PresetOptions{3, 10}); }

void train_step(const ResNet& model, Optimizer& opt, const Tensor& x) {
  opt.zero_grad();
  cross_entropy(model.forward(x, true), cycling_labels(x.size(0), 10)).backward();
  opt.step();
}

// Deep copies of every tensor (values only), in the same order.
std::vector<Tensor> snapshot(const NamedTensors& tensors) {
  std::vector<Tensor> out;
  for (const auto& named : tensors) out.push_back(named.second.clone());
  return out;
}

bool bit_identical(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0);
}

// The elements of `whole` outside its leading `region` shape, row-major.
std::vector<double> outside(const Tensor& whole, const Shape& region) {
  std::vector<double> out;
  const std::vector<double> v = whole.to_vector();
  const Shape strides = contiguous_strides(whole.shape());
  for (size_t i = 0; i < v.size(); ++i) {
    bool inside = true;
    for (size_t d = 0, rem = i; d < region.size(); ++d) {
      inside = inside && static_cast<int64_t>(rem) / strides[d] < region[d];
      rem %= static_cast<size_t>(strides[d]);
    }
    if (!inside) out.push_back(v[i]);
  }
  return out;
}

// Every base parameter is a prefix view of the motivated one of the same name:
// same storage, same offset and strides, its last element inside the owner.
void check_aliasing(const NestedPair& pair) {
  const NamedTensors owners = pair.motivated().named_tensors();
  for (const auto& [name, view] : pair.base().named_parameters()) {
    INFO(name);
    const Tensor owner = find_tensor(owners, name);
    CHECK(view.storage() == owner.storage());
    CHECK(view.offset() == owner.offset());
    CHECK(view.strides() == owner.strides());
    CHECK(view.is_leaf());
    CHECK(view.requires_grad());
    const auto* first = static_cast<const char*>(view.raw_data());
    const auto* begin = static_cast<const char*>(owner.raw_data());
    int64_t last = 0;
    for (int64_t d = 0; d < view.dim(); ++d) {
      CHECK(view.size(d) <= owner.size(d));
      last += (view.size(d) - 1) * view.stride(d);
    }
    CHECK(first == begin);
    CHECK(last < owner.numel());
  }
  for (const auto& [name, buffer] : pair.base().named_buffers()) {
    INFO(name);
    const bool shared = buffer.storage() == find_tensor(owners, name).storage();
    CHECK(shared == (pair.bn_stats() == BnStats::Shared));
  }
}

void check_containment_error(const std::string& base, const std::string& motivated,
                             const std::string& expected) {
  INFO(base, " in ", motivated);
  Generator gen(0);
  CHECK_THROWS_WITH_AS(nest(preset(base), preset(motivated), gen),
                       doctest::Contains(expected.c_str()), Error);
}

// The leading region of a motivated tensor that the base's tensor of the same
// name views (all zeros when the base has none, or its own storage).
Shape mapped_region(const NestedPair& pair, const std::string& name, const Tensor& owner) {
  for (const auto& [n, t] : pair.base().named_tensors())
    if (n == name && t.storage() == owner.storage()) return t.shape();
  return Shape(static_cast<size_t>(owner.dim()), 0);
}

// A base backward writes gradients into the mapped regions of the owners'
// gradient buffers only (the owner tensors themselves get no has_grad); then
// the motivated model runs and every one of its parameters gets a gradient.
void check_forward_backward(const NestedPair& pair, const Tensor& x) {
  const int64_t n = x.size(0);
  cross_entropy(pair.base().forward(x, true), cycling_labels(n, 10)).backward();
  for (const Tensor& p : pair.base().parameters()) CHECK(p.has_grad());
  for (const auto& [name, owner] : pair.motivated().named_parameters()) {
    INFO(name);
    CHECK_FALSE(owner.has_grad());
    const std::vector<double> rest = outside(owner.grad_buffer(), mapped_region(pair, name, owner));
    CHECK(bit_identical(rest, std::vector<double>(rest.size(), 0.0)));
  }
  const Tensor logits = pair.motivated().forward(x, true);
  CHECK(logits.shape() == Shape{n, 10});
  cross_entropy(logits, cycling_labels(n, 10)).backward();
  for (const Tensor& p : pair.motivated().parameters()) CHECK(p.has_grad());
}

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
  CHECK_THROWS_WITH_AS(nest(resnet_preset("resnet20", {1, 10}), preset("resnet32"), gen),
                       doctest::Contains("input channels differ (1 vs 3)"), Error);
  CHECK_THROWS_WITH_AS(nest(resnet_preset("resnet20", {3, 100}), preset("resnet32"), gen),
                       doctest::Contains("classes differ (100 vs 10)"), Error);
  ResNetConfig wide_stage = preset("resnet20");
  wide_stage.widths[1] = 40;
  CHECK_THROWS_WITH_AS(check_nestable(wide_stage, preset("resnet56")),
                       doctest::Contains("stage 1 is wider in the base (40 channels vs 32)"),
                       Error);
  ResNetConfig identity;  // stem 16 -> stage 0 width 16: identity shortcut in block 0
  ResNetConfig projection = identity;
  projection.stem_width = 24;  // 24 -> 16: a projection
  CHECK_THROWS_WITH_AS(check_nestable(identity, projection),
                       doctest::Contains("stages.0.blocks.0 has an identity shortcut in the base "
                                         "but a projection in the motivated model"),
                       Error);
}

TEST_CASE("depth, width and both nestings: prefix views, forward/backward, mapped gradients") {
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
    const NestedPair pair = nest(preset(base), preset(motivated), gen, {bn, {}});
    CHECK(pair.base().config().name == base);
    check_aliasing(pair);
    check_forward_backward(pair, randn({2, image, image, 3}, gen));
  }
}

TEST_CASE("aliasing by hand: resnet20x0.5's stages.1.blocks.0.conv1 is [16,3,3,8] of [32,3,3,16]") {
  Generator gen(0);
  const NestedPair pair = nest(preset("resnet20x0.5"), preset("resnet20"), gen);
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
  const NestedPair pair = nest(base_cfg, preset("resnet20"), gen);
  const ResNet standalone(base_cfg, gen);
  standalone.load_state(pair.base().named_tensors());
  const Tensor x = randn({8, 8, 8, 3}, gen), y = cycling_labels(8, 10);
  const Tensor logits32 = standalone.forward(x, true);
  Tensor nested_logits, standalone_logits;
  {
    Autocast bf16;
    nested_logits = pair.base().forward(x, true);
    standalone_logits = standalone.forward(x, true);
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
  for (const auto& [name, owner] : pair.motivated().named_parameters()) {
    INFO(name);
    const std::vector<double> rest = outside(owner.grad_buffer(), mapped_region(pair, name, owner));
    CHECK(bit_identical(rest, std::vector<double>(rest.size(), 0.0)));
  }
}

TEST_CASE("one base step changes exactly the mapped elements of the motivated parameters") {
  for (BnStats bn : {BnStats::Separate, BnStats::Shared}) {
    INFO("BN statistics ", bn_stats_name(bn));
    Generator gen(2);
    const NestedPair pair = nest(preset("resnet20x0.5"), preset("resnet32"), gen, {bn, {}});
    const double lr = 0.1, wd = 5e-4;
    SGD opt(lr, 0.9, 0, wd);
    opt.add_params(pair.parameters());
    const NamedTensors owners = pair.motivated().named_tensors();
    const std::vector<Tensor> before = snapshot(owners);
    const std::vector<Tensor> base_buffers_before = snapshot(pair.base().named_buffers());
    const Tensor x = randn({4, 8, 8, 3}, gen);
    train_step(pair.base(), opt, x);

    for (size_t i = 0; i < owners.size(); ++i) {
      const auto& [name, owner] = owners[i];
      INFO(name);
      const bool buffer = name.find("running_") != std::string::npos;
      const Shape region = mapped_region(pair, name, owner);
      CHECK(bit_identical(outside(owner, region), outside(before[i], region)));
      if (buffer || region[0] == 0) continue;
      // The mapped region took SGD's first step: p - lr * (g + wd * p).
      const Tensor view = find_tensor(pair.base().named_parameters(), name);
      const Tensor p0 = prefix_view(before[i], region);
      const Tensor expected = p0 - (view.grad() + p0 * wd) * lr;
      CHECK(max_rel_error(view, expected) < 1e-6);
      CHECK(max_rel_error(view, p0) > 0);
    }
    // Separate statistics: the base's own buffers moved, the motivated ones did not.
    const NamedTensors base_buffers = pair.base().named_buffers();
    for (size_t i = 0; i < base_buffers.size(); ++i)
      CHECK(max_rel_error(base_buffers[i].second, base_buffers_before[i]) > 0);
  }
}

TEST_CASE(
    "a base step then a motivated step equals the paper's way: two models, copies at each switch") {
  const ResNetConfig base_cfg = preset("resnet20x0.5"), motivated_cfg = preset("resnet32");
  Generator gen(4);
  const NestedPair pair = nest(base_cfg, motivated_cfg, gen, {BnStats::Shared, {}});
  // The paper's way: two standalone models starting from the same values.
  const ResNet base(base_cfg, gen), motivated(motivated_cfg, gen);
  base.load_state(pair.base().named_tensors());
  motivated.load_state(pair.motivated().named_tensors());
  auto make_sgd = [] { return SGD(0.05, 0.9, 0, 5e-4, true); };
  SGD nested_opt = make_sgd(), base_opt = make_sgd(), motivated_opt = make_sgd();
  nested_opt.add_params(pair.parameters(), DecayRule::ExcludeNormAndBias);
  base_opt.add_params(base.parameters(), DecayRule::ExcludeNormAndBias);
  motivated_opt.add_params(motivated.parameters(), DecayRule::ExcludeNormAndBias);
  // The paper's switch: weights, BN buffers and optimizer state follow the model.
  auto paper_switch = [](const ResNet& from, const Optimizer& from_opt, const ResNet& to,
                         const Optimizer& to_opt) {
    copy_mapped_tensors(from.named_tensors(), to.named_tensors());
    copy_mapped_tensors(named_optimizer_state(from_opt, from.named_parameters()),
                        named_optimizer_state(to_opt, to.named_parameters()));
  };
  auto compare = [](const ResNet& nested, const ResNet& standalone) {
    const NamedTensors a = nested.named_tensors(), b = standalone.named_tensors();
    REQUIRE(a.size() == b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      INFO(a[i].first);
      CHECK(max_rel_error(a[i].second, b[i].second) < 1e-6);
    }
  };
  std::vector<Tensor> xs;
  for (int k = 0; k < 3; ++k) xs.push_back(randn({4, 8, 8, 3}, gen));

  train_step(pair.base(), nested_opt, xs[0]);
  train_step(base, base_opt, xs[0]);
  compare(pair.base(), base);
  paper_switch(base, base_opt, motivated, motivated_opt);
  train_step(pair.motivated(), nested_opt, xs[1]);
  train_step(motivated, motivated_opt, xs[1]);
  compare(pair.motivated(), motivated);
  paper_switch(motivated, motivated_opt, base, base_opt);
  train_step(pair.base(), nested_opt, xs[2]);
  train_step(base, base_opt, xs[2]);
  compare(pair.base(), base);
  paper_switch(base, base_opt, motivated, motivated_opt);
  compare(pair.motivated(), motivated);
}

TEST_CASE("a switch moves 0 bytes; the paper's copy moves the mapped bytes") {
  Generator gen(5);
  const NestedPair pair = nest(preset("resnet20x0.5"), preset("resnet32"), gen);
  SGD opt(0.1, 0.9);
  opt.add_params(pair.parameters());
  const Tensor x = randn({2, 8, 8, 3}, gen);
  train_step(pair.base(), opt, x);
  const MemoryStats before = memory_stats();
  const ResNet& next = pair.model(Role::Motivated);
  const MemoryStats after = memory_stats();
  CHECK(after.bytes_copied == before.bytes_copied);
  CHECK(after.allocations == before.allocations);
  CHECK(&next == &pair.motivated());
  train_step(next, opt, x);

  // The paper's switch for the same pair copies every base tensor's bytes.
  const ResNet standalone(preset("resnet20x0.5"), gen);
  int64_t mapped_bytes = 0;
  for (const auto& named : standalone.named_tensors())
    mapped_bytes += named.second.numel() * static_cast<int64_t>(sizeof(float));
  const int64_t copied = memory_stats().bytes_copied;
  copy_mapped_tensors(standalone.named_tensors(), pair.motivated().named_tensors());
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
    const NestedPair pair = nest(preset(base), preset("resnet32"), gen);
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
    const NestedPair pair = nest(preset("resnet8x0.5"), preset("resnet14"), gen, {bn, {}});
    const Tensor x = randn({2, 8, 8, 3}, gen);
    const Tensor base_mean = find_tensor(pair.base().named_buffers(), "stem.bn.running_mean");
    const Tensor owner_mean = find_tensor(pair.motivated().named_buffers(), "stem.bn.running_mean");
    const Tensor owner_before = owner_mean.clone();
    NoGradGuard no_grad;
    pair.base().forward(x, true);
    CHECK(max_rel_error(base_mean, Tensor::zeros({8})) > 0);
    // Shared: the base's update is the owner's prefix; separate: the owner is untouched.
    CHECK((max_rel_error(owner_mean, owner_before) > 0) == (bn == BnStats::Shared));
    CHECK(bit_identical(outside(owner_mean, {8}), outside(owner_before, {8})));

    pair.base().recalibrate_batch_norm(2, [&](int64_t) { return x; });
    CHECK(bit_identical(outside(owner_mean, {8}), outside(owner_before, {8})));
    CHECK(parse_bn_stats(bn_stats_name(bn)) == bn);
  }
  CHECK_THROWS_WITH_AS(parse_bn_stats("both"), doctest::Contains("separate or shared"), Error);
}

TEST_CASE(
    "depth nesting with zero-init residuals: the motivated model computes the base's function") {
  Generator gen(8);
  const NestedPair pair = nest(preset("resnet20"), preset("resnet32"), gen,
                               {BnStats::Separate, ResNetOptions{DType::F32, Device::CPU, true}});
  const Tensor x = randn({2, 8, 8, 3}, gen);
  NoGradGuard no_grad;
  CHECK(max_rel_error(pair.motivated().forward(x, true), pair.base().forward(x, true)) == 0);
}

TEST_CASE("pair checkpoints: each storage once, restored exactly") {
  Generator gen(9);
  const NestedPair pair = nest(preset("resnet8x0.5"), preset("resnet14"), gen);
  const NamedTensors state = pair.named_tensors();
  CHECK(state.size() ==
        pair.motivated().named_tensors().size() + pair.base().named_buffers().size());
  CHECK(state.front().first == "motivated.stem.conv.weight");
  CHECK(state.back().first == "base.stages.2.blocks.0.shortcut.bn.running_var");
  const std::vector<Tensor> saved = snapshot(state);
  NamedTensors saved_named;
  for (size_t i = 0; i < state.size(); ++i) saved_named.emplace_back(state[i].first, saved[i]);
  SGD opt(0.1);
  opt.add_params(pair.parameters());
  train_step(pair.base(), opt, randn({2, 8, 8, 3}, gen));
  pair.load_state(saved_named);
  for (size_t i = 0; i < state.size(); ++i) CHECK(max_rel_error(state[i].second, saved[i]) == 0);
  CHECK_THROWS_WITH_AS(pair.load_state({}),
                       doctest::Contains("nested pair resnet8x0.5 in resnet14"), Error);
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
  const NestedPair pair =
      nest(base, motivated, gen, {BnStats::Separate, {DType::F64, Device::CPU, false}});
  const Tensor x = test::input({2, 6, 6, 2}, gen);
  const NamedTensors b = pair.base().named_parameters(), m = pair.motivated().named_parameters();
  for (const auto& [model, params] : std::vector<std::pair<const ResNet*, std::vector<Tensor>>>{
           {&pair.base(),
            {x, find_tensor(b, "stem.conv.weight"),
             find_tensor(b, "stages.1.blocks.0.conv1.weight"),
             find_tensor(b, "stages.0.blocks.0.bn2.weight"), find_tensor(b, "head.fc.weight")}},
           {&pair.motivated(),
            {find_tensor(m, "stem.bn.bias"),
             find_tensor(m, "stages.1.blocks.0.shortcut.conv.weight"),
             find_tensor(m, "stages.1.blocks.1.conv2.weight"), find_tensor(m, "head.fc.bias")}}}) {
    INFO(model->config().depths.back(), " blocks in the last stage");
    test::check_gradients(
        [model = model, &x](const std::vector<Tensor>&) { return model->forward(x, true); },
        params);
  }
}
