// ResNet models: forward/backward of every preset on tiny inputs, the naming
// convention, initialisation, checkpoints, BN recalibration, and the analytic
// FLOPs against what the ops count.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <set>
#include <string>

#include "engine/autograd.h"
#include "engine/flops.h"
#include "engine/serialize.h"
#include "models/resnet/resnet.h"
#include "tests/gradcheck.h"
#include "tests/model_testing.h"

using namespace motive;

namespace {

using test::find_tensor;
using test::moments;

const ForwardContext kTrain{true}, kEval{};

// One training step's forward and backward; every parameter must get a gradient.
void check_forward_backward(const std::string& name, int64_t image) {
  INFO("model ", name, " at ", image, "x", image);
  Generator gen(1);
  const auto model = build_model(resnet_preset(name, ModelShape{3, 10}), gen);
  const Tensor x = randn({2, image, image, 3}, gen);
  const Tensor logits = model->forward(x, kTrain);
  REQUIRE(logits.shape() == Shape{2, 10});
  const Tensor loss = cross_entropy(logits, test::cycling_labels(2, 10));
  CHECK(std::isfinite(loss.item()));
  loss.backward();
  for (const auto& [pname, p] : model->named_parameters()) {
    INFO(pname);
    CHECK(p.has_grad());
  }
  NoGradGuard eval;
  CHECK(model->forward(x, kEval).shape() == Shape{2, 10});
}

}  // namespace

TEST_CASE("every CIFAR preset runs forward and backward on 8x8 images") {
  for (const char* name : {"resnet20", "resnet32", "resnet44", "resnet56", "resnet110"})
    check_forward_backward(name, 8);
}

TEST_CASE(
    "every ImageNet preset runs forward and backward: CIFAR stem at 8x8, ImageNet stem at 32x32") {
  for (const char* name : {"resnet18-cifar", "resnet34-cifar", "resnet50-cifar"})
    check_forward_backward(name, 8);
  for (const char* name : {"resnet18x0.25", "resnet50x0.125"}) check_forward_backward(name, 32);
}

TEST_CASE("parameter names follow the documented convention, each once") {
  Generator gen(0);
  const auto model = build_model(resnet_preset("resnet20"), gen);
  const NamedTensors params = model->named_parameters(), buffers = model->named_buffers();
  // 21 conv+BN pairs (stem, 18 in blocks, 2 shortcuts), 3 parameters each, and the classifier.
  REQUIRE(params.size() == 21 * 3 + 2);
  REQUIRE(buffers.size() == 21 * 2);
  CHECK(params[0].first == "stem.conv.weight");
  CHECK(params[1].first == "stem.bn.weight");
  CHECK(params[2].first == "stem.bn.bias");
  CHECK(params[3].first == "stages.0.blocks.0.conv1.weight");
  CHECK(params.end()[-2].first == "head.fc.weight");
  CHECK(params.end()[-1].first == "head.fc.bias");
  CHECK(buffers[0].first == "stem.bn.running_mean");
  CHECK(buffers[1].first == "stem.bn.running_var");
  CHECK(find_tensor(params, "stages.1.blocks.0.conv1.weight").shape() == Shape{32, 3, 3, 16});
  CHECK(find_tensor(params, "stages.1.blocks.0.shortcut.conv.weight").shape() ==
        Shape{32, 1, 1, 16});
  CHECK(find_tensor(params, "stages.2.blocks.2.bn2.bias").shape() == Shape{64});
  CHECK(find_tensor(params, "head.fc.weight").shape() == Shape{10, 64});
  std::set<std::string> names;
  int64_t numel = 0;
  for (const auto& [name, t] : model->named_tensors()) names.insert(name);
  for (const Tensor& p : model->parameters()) numel += p.numel();
  CHECK(names.size() == params.size() + buffers.size());
  CHECK(numel == model->parameter_count());
}

TEST_CASE("weight decay: conv and classifier weights, not BN gamma/beta nor the classifier bias") {
  Generator gen(0);
  const auto model = build_model(resnet_preset("resnet20"), gen);
  int64_t decayed = 0;
  for (const auto& [name, p] : model->named_parameters()) {
    INFO(name);
    const bool weight = name.find(".conv") != std::string::npos || name == "head.fc.weight";
    CHECK(model->decays(name) == weight);
    CHECK(model->decays(name) == (p.dim() >= 2));
    decayed += model->decays(name);
  }
  CHECK(decayed == 21 + 1);  // 21 convs and the classifier
}

TEST_CASE("init: Kaiming normal (fan_out) convs, BN 1/0, Linear default, seeded") {
  Generator gen(5);
  const auto model = build_model(resnet_preset("resnet20"), gen);
  const NamedTensors params = model->named_parameters();
  const auto [mean, std] = moments(find_tensor(params, "stages.2.blocks.2.conv2.weight"));
  CHECK(mean == doctest::Approx(0).epsilon(0.002));
  CHECK(std == doctest::Approx(std::sqrt(2.0 / (64 * 9))).epsilon(0.03));
  CHECK(moments(find_tensor(params, "stages.0.blocks.1.bn2.weight")) ==
        std::pair<double, double>{1, 0});
  CHECK(moments(find_tensor(params, "stages.0.blocks.1.bn2.bias")) ==
        std::pair<double, double>{0, 0});
  const NamedTensors buffers = model->named_buffers();
  CHECK(moments(find_tensor(buffers, "stem.bn.running_mean")) == std::pair<double, double>{0, 0});
  CHECK(moments(find_tensor(buffers, "stem.bn.running_var")) == std::pair<double, double>{1, 0});
  const double bound = 1 / std::sqrt(64.0);
  for (const char* name : {"head.fc.weight", "head.fc.bias"}) {
    const std::vector<double> v = find_tensor(params, name).to_vector();
    for (double e : v) CHECK(std::fabs(e) <= bound);
  }

  Generator same(5), other(6);
  const auto again = build_model(resnet_preset("resnet20"), same);
  const auto different = build_model(resnet_preset("resnet20"), other);
  const Tensor w = find_tensor(params, "stem.conv.weight");
  CHECK(test::max_rel_error(find_tensor(again->named_parameters(), "stem.conv.weight"), w) == 0);
  CHECK(test::max_rel_error(find_tensor(different->named_parameters(), "stem.conv.weight"), w) > 0);
}

TEST_CASE("init: zero_init_residual zeroes the last BN gamma of each block's main path only") {
  ResNetConfig cfg;  // a tiny bottleneck network with a projection in each stage
  cfg.block = BlockType::Bottleneck;
  cfg.stem_width = 4;
  cfg.depths = {2, 1};
  cfg.widths = {2, 3};
  Generator gen(0);
  cfg.zero_init_residual = true;
  const auto model = build_model(cfg, gen);
  for (const auto& [name, p] : model->named_parameters()) {
    if (name.find(".weight") == std::string::npos || p.dim() != 1) continue;
    INFO(name);
    const bool last = name.find(".bn3.") != std::string::npos;
    CHECK(moments(p).first == (last ? 0.0 : 1.0));
  }
}

TEST_CASE("checkpoints: named tensors round-trip through safetensors; mismatches are errors") {
  Generator gen(2);
  const ResNetConfig cfg = resnet_preset("resnet8x0.5");
  const auto a = build_model(cfg, gen), b = build_model(cfg, gen);
  const Tensor x = randn({2, 8, 8, 3}, gen);
  a->forward(x, kTrain);  // running statistics away from their init
  const std::string path = "test_resnet_checkpoint.safetensors";
  save_safetensors(path, a->named_tensors());
  b->load_state(load_safetensors(path).tensors);
  std::remove(path.c_str());
  NoGradGuard eval;
  CHECK(test::max_rel_error(b->forward(x, kEval), a->forward(x, kEval)) == 0);

  NamedTensors state = a->named_tensors();
  state.pop_back();
  CHECK_THROWS_WITH_AS(b->load_state(state), doctest::Contains("got 46 tensors, expected 47"),
                       Error);
  state.emplace_back("stem.bn.running_var", Tensor::zeros({3}));
  CHECK_THROWS_WITH_AS(b->load_state(state),
                       doctest::Contains("'stem.bn.running_var' has shape [3]"), Error);
}

TEST_CASE("forward checks the input layout and names the model") {
  Generator gen(0);
  const auto model = build_model(resnet_preset("resnet8"), gen);
  CHECK_THROWS_WITH_AS(model->forward(Tensor::zeros({1, 3, 8, 8}), kTrain),
                       doctest::Contains("resnet8: expects NHWC input [N, H, W, 3]"), Error);
}

TEST_CASE("BN recalibration: cumulative average of batch statistics, parameters untouched") {
  Generator gen(3);
  const auto model = build_model(resnet_preset("resnet8x0.5"), gen);
  std::vector<Tensor> batches;
  for (int k = 0; k < 3; ++k) batches.push_back(randn({2, 6, 6, 3}, gen));
  const NamedTensors before = model->named_parameters();
  std::vector<Tensor> snapshot;
  for (const auto& named : before) snapshot.push_back(named.second.clone());

  model->recalibrate_running_statistics(3, [&](int64_t k) { return batches[static_cast<size_t>(k)]; });

  // The stem BN sees the stem conv's output: its statistics can be computed here.
  const Tensor w = find_tensor(before, "stem.conv.weight");
  std::vector<double> mean(8, 0), var(8, 0);
  for (const Tensor& x : batches) {
    const std::vector<double> y = conv2d(x, w.detach(), Tensor(), {1, 1, 1, 1}).to_vector();
    const double n = static_cast<double>(y.size() / 8);
    for (size_t c = 0; c < 8; ++c) {
      double s = 0, sq = 0;
      for (size_t i = c; i < y.size(); i += 8) s += y[i];
      for (size_t i = c; i < y.size(); i += 8) sq += (y[i] - s / n) * (y[i] - s / n);
      mean[c] += s / n / 3;
      var[c] += sq / (n - 1) / 3;  // unbiased, as the running variance
    }
  }
  const NamedTensors buffers = model->named_buffers();
  CHECK(test::max_rel_error(find_tensor(buffers, "stem.bn.running_mean"),
                            Tensor::from_vector(mean, {8})) < 1e-5);
  CHECK(test::max_rel_error(find_tensor(buffers, "stem.bn.running_var"),
                            Tensor::from_vector(var, {8})) < 1e-5);
  for (size_t i = 0; i < before.size(); ++i) {
    INFO(before[i].first);
    CHECK(test::max_rel_error(before[i].second, snapshot[i]) == 0);
    CHECK_FALSE(before[i].second.has_grad());
  }
  CHECK_THROWS_AS(model->recalibrate_running_statistics(0, [&](int64_t) { return batches[0]; }), Error);
}

TEST_CASE(
    "analytic FLOPs are what the convs and the classifier count; the other ops add under 3%") {
  for (const char* name : {"resnet20", "resnet18x0.25", "resnet50x0.25-cifar"}) {
    INFO(name);
    Generator gen(0);
    const auto model = build_model(resnet_preset(name, ModelShape{3, 10}), gen);
    const Tensor x = randn({1, 32, 32, 3}, gen);
    NoGradGuard eval;
    reset_flop_count();
    model->forward(x, kEval);
    const int64_t analytic = model->flops_per_image(32, 32);
    CHECK(flop_count() >= analytic);
    CHECK(static_cast<double>(flop_count()) <= 1.03 * static_cast<double>(analytic));
  }
}
