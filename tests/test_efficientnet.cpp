// The EfficientNet family (models/efficientnet/): names and compound scaling,
// torchvision's parameter counts for B0-B7, FLOPs (torchvision's multiply-adds
// and the ops' own count), torchvision's initialisation, weight decay, forward
// shapes and input checks, reproducible dropout and stochastic depth, the
// squeeze-excitation widths that nest, BN recalibration, the containment
// errors and the torch state dict's names and layouts. Every family's nesting
// invariants run in test_nesting.cpp; the comparison with torchvision in
// test_golden.cpp.
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "engine/autograd.h"
#include "engine/flops.h"
#include "models/efficientnet/efficientnet.h"
#include "models/nest.h"
#include "models/registry.h"
#include "tests/gradcheck.h"
#include "tests/model_testing.h"

using namespace motive;
using test::find_tensor;
using test::max_rel_error;
using test::moments;

namespace {

const ModelShape kTiny{3, 10, 16, 16};
const std::string kTinyName = "efficientnet-b0x0.25-s3-do0-sd0";

std::vector<int64_t> widths(const EfficientNetConfig& c) {
  std::vector<int64_t> out{c.stem_width};
  for (const MBConvStage& s : c.stages) out.push_back(s.width);
  out.push_back(c.head_width);
  return out;
}

std::vector<int64_t> depths(const EfficientNetConfig& c) {
  std::vector<int64_t> out;
  for (const MBConvStage& s : c.stages) out.push_back(s.depth);
  return out;
}

}  // namespace

TEST_CASE("efficientnet names: variants, width and depth multipliers, stages, rates") {
  const EfficientNetConfig b0 = efficientnet_preset("efficientnet-b0");
  CHECK(widths(b0) == std::vector<int64_t>{32, 16, 24, 40, 80, 112, 192, 320, 1280});
  CHECK(depths(b0) == std::vector<int64_t>{1, 2, 2, 3, 3, 4, 1});
  CHECK(b0.stages[2].kernel == 5);
  CHECK(b0.stages[4].stride == 1);
  CHECK(b0.stages[0].expand_ratio == 1);
  CHECK(b0.num_classes == 1000);
  CHECK(b0.dropout == 0.2);
  CHECK(b0.stochastic_depth == 0.2);
  CHECK(b0.bn_eps == 1e-5);
  CHECK(b0.image_height() == 224);
  // torchvision's B2: widths x1.1 rounded to multiples of 8, depths ceil(n x 1.2).
  const EfficientNetConfig b2 = efficientnet_preset("efficientnet-b2");
  CHECK(widths(b2) == std::vector<int64_t>{32, 16, 24, 48, 88, 120, 208, 352, 1408});
  CHECK(depths(b2) == std::vector<int64_t>{2, 3, 3, 4, 4, 5, 2});
  CHECK(b2.dropout == 0.3);
  CHECK(b2.image_height() == 288);
  const EfficientNetConfig b7 = efficientnet_preset("efficientnet-b7");
  CHECK(b7.bn_eps == 1e-3);
  CHECK(b7.image_height() == 600);
  // x<W> multiplies the width coefficient: 16 x 0.25 = 4 -> at least 8; 40 x 0.25 = 10 -> 8 is
  // more than 10% below, so 16.
  const EfficientNetConfig q = efficientnet_preset("efficientnet-b0x0.25", {1, 10});
  CHECK(widths(q) == std::vector<int64_t>{8, 8, 8, 16, 24, 32, 48, 80, 320});
  CHECK(q.in_channels == 1);
  CHECK(q.num_classes == 10);
  CHECK(efficientnet_preset("efficientnet-b2x0.5").width_coefficient == 1.1 * 0.5);
  // -d multiplies the depth coefficient: B0 at B1's depths.
  CHECK(depths(efficientnet_preset("efficientnet-b0-d1.1")) ==
        depths(efficientnet_preset("efficientnet-b1")));
  const EfficientNetConfig s = efficientnet_preset("efficientnet-b1-s3-do0.1-sd0");
  CHECK(depths(s) == std::vector<int64_t>{2, 3, 3});
  CHECK(s.head_width == 4 * 40);
  CHECK(s.dropout == 0.1);
  CHECK(s.stochastic_depth == 0);
  CHECK(make_divisible(17.6) == 16);
  CHECK(make_divisible(10) == 16);
  CHECK(make_divisible(123.2) == 120);
  for (const auto& [name, says] : std::vector<std::pair<std::string, std::string>>{
           {"efficientnet-b8", "the variant 'b8' is not b0 ... b7"},
           {"efficientnet-b01", "the variant 'b01' is not b0 ... b7"},
           {"efficientnet-b0x", "must be a number after 'x'"},
           {"efficientnet-b0x-1", "must be a number after 'x'"},
           {"efficientnet-b0-q2", "unknown part '-q2'"},
           {"efficientnet-b0-s2-s3", "'-s' given twice"},
           {"efficientnet-b0-s8", "the stage count must be in [1, 7]"},
           {"efficientnet-b0-s0", "the stage count must be in [1, 7]"},
           {"efficientnet-b0-dnan", "must be a number"},
           {"efficientnet-b0x0", "multipliers must be in (0, 16]"},
           {"efficientnet-b0-do1", "rates must be in [0, 1)"},
           {"efficientnet", "not an EfficientNet name"}}) {
    INFO(name);
    CHECK_THROWS_WITH_AS(efficientnet_preset(name), doctest::Contains(says.c_str()), Error);
  }
  CHECK(&family_of("efficientnet-b0") != &family_of("resnet20"));
  CHECK_THROWS_WITH_AS(resolve_model("efficientnet_b0", {}),
                       doctest::Contains("efficientnet: efficientnet-b<0-7>"), Error);
}

TEST_CASE("efficientnet parameter counts are torchvision's; FLOPs are its multiply-adds, doubled") {
  // torchvision.models.efficientnet_b<K>(), 1000 classes.
  const int64_t torchvision_counts[] = {5'288'548,  7'794'184,  9'109'994,  12'233'232,
                                        19'341'616, 30'389'784, 43'040'704, 66'347'960};
  for (int k = 0; k < 8; ++k) {
    INFO("b", k);
    CHECK(efficientnet_preset("efficientnet-b" + std::to_string(k)).parameter_count() ==
          torchvision_counts[k]);
  }
  // torchvision's EfficientNet(width_mult=0.5).
  CHECK(efficientnet_preset("efficientnet-b0x0.5").parameter_count() == 1'712'522);
  // The multiply-adds of torchvision's Conv2d (squeeze-excitation included) and Linear
  // modules (forward hooks, tools in the peer venv), doubled.
  CHECK(efficientnet_preset("efficientnet-b0").flops_per_image(224, 224) == 2 * 385'814'752);
  CHECK(efficientnet_preset("efficientnet-b0").flops_per_image(32, 32) == 2 * 9'742'048);
  CHECK(efficientnet_preset("efficientnet-b0x0.25-s3", {3, 10}).flops_per_image(32, 32) ==
        2 * 479'456);
  CHECK(efficientnet_preset("efficientnet-b0x0.25-s3", {3, 10}).parameter_count() == 15'118);
  // A built model has exactly that many parameters, and the ops count at least the analytic
  // FLOPs.
  for (const std::string& name : {kTinyName, std::string("efficientnet-b1x0.5-s4")}) {
    INFO(name);
    // BN, SiLU, sigmoid, pooling, gates and additions: 17-28% more at these widths.
    test::check_counts(efficientnet_preset(name, kTiny), 16, 16, 1.4);
  }
}

TEST_CASE("efficientnet init is torchvision's; weight decay skips BN and biases") {
  Generator gen(3);
  const auto model = build_model(efficientnet_preset("efficientnet-b0", {3, 100}), gen);
  const NamedTensors p = model->named_parameters();
  // Kaiming normal, fan_out = out channels x kernel area (depthwise: the same, as PyTorch).
  const auto kaiming = [&](const std::string& name, double fan_out) {
    INFO(name);
    const auto [mean, std] = moments(find_tensor(p, name));
    CHECK(std::fabs(mean) < 0.1 * std);
    CHECK(std == doctest::Approx(std::sqrt(2 / fan_out)).epsilon(0.05));
  };
  kaiming("stem.conv.weight", 32 * 9);
  kaiming("stages.5.blocks.1.expand.conv.weight", 1152);
  kaiming("stages.5.blocks.1.depthwise.conv.weight", 1152 * 25);
  kaiming("stages.5.blocks.1.se.fc1.weight", 48);  // [48, 1152]: torchvision's [48, 1152, 1, 1]
  kaiming("stages.5.blocks.1.se.fc2.weight", 1152);
  kaiming("head.conv.weight", 1280);
  CHECK(find_tensor(p, "stages.5.blocks.1.se.fc1.weight").shape() == Shape{48, 1152});
  CHECK(find_tensor(p, "stages.5.blocks.1.depthwise.conv.weight").shape() == Shape{1152, 5, 5, 1});
  const double bound = 1 / std::sqrt(100.0);  // 1/sqrt(out_features)
  const Tensor fc = find_tensor(p, "head.fc.weight");
  double largest = 0;
  for (double v : fc.to_vector()) largest = std::fmax(largest, std::fabs(v));
  CHECK(largest <= bound);
  CHECK(largest > 0.99 * bound);
  CHECK(moments(fc).second == doctest::Approx(bound / std::sqrt(3.0)).epsilon(0.05));
  for (const char* zero : {"head.fc.bias", "stages.0.blocks.0.se.fc1.bias", "head.bn.bias"})
    CHECK(moments(find_tensor(p, zero)) == std::pair<double, double>{0, 0});
  CHECK(moments(find_tensor(p, "stages.2.blocks.0.project.bn.weight")) ==
        std::pair<double, double>{1, 0});
  for (const auto& [name, buffer] : model->named_buffers()) {
    INFO(name);
    const double fill = name.find("running_var") != std::string::npos ? 1 : 0;
    CHECK(moments(buffer) == std::pair<double, double>{fill, 0});
  }
  for (const auto& [name, t] : p) {
    INFO(name);
    const bool expected =
        name.find(".bn.") == std::string::npos && name.compare(name.size() - 5, 5, ".bias") != 0;
    CHECK(model->decays(name) == expected);
    CHECK(model->decays(name) == (t.dim() > 1));
  }
}

TEST_CASE("efficientnet forward: any image size, input checks, dropout and stochastic depth") {
  Generator gen(4);
  const auto tiny = build_model(efficientnet_preset(kTinyName, kTiny), gen);
  for (const auto& [h, w] :
       std::vector<std::pair<int64_t, int64_t>>{{16, 16}, {28, 28}, {9, 13}, {1, 1}}) {
    INFO(h, "x", w);
    CHECK(tiny->forward(randn({2, h, w, 3}, gen), ForwardContext{true}).shape() == Shape{2, 10});
  }
  CHECK_THROWS_WITH_AS(tiny->forward(randn({2, 16, 16, 1}, gen), ForwardContext{}),
                       doctest::Contains("expects NHWC input [N, H, W, 3]"), Error);
  CHECK_THROWS_WITH_AS(tiny->forward(randn({16, 16, 3}, gen), ForwardContext{}),
                       doctest::Contains(kTinyName.c_str()), Error);

  // Dropout 0.3 and stochastic depth 0.5: drawn from the generator in training only.
  const auto model =
      build_model(efficientnet_preset("efficientnet-b1x0.25-s3-do0.3-sd0.5", kTiny), gen);
  const Tensor x = randn({4, 16, 16, 3}, gen);
  CHECK_THROWS_WITH_AS(model->forward(x, ForwardContext{true}),
                       doctest::Contains("needs a generator"), Error);
  NoGradGuard no_grad;
  const Tensor eval1 = model->forward(x, ForwardContext{}), eval2 = model->forward(x, {});
  CHECK(max_rel_error(eval1, eval2) == 0);
  // Training uses batch statistics, so the running ones moving between calls changes nothing.
  const auto train = [&](uint64_t seed) {
    Generator g(seed);
    return model->forward(x, ForwardContext{true, 0.1, &g});
  };
  const Tensor ta = train(9), tb = train(9), tc = train(10);
  CHECK(max_rel_error(ta, tb) == 0);  // same (seed, offset): same masks
  CHECK(max_rel_error(ta, tc) > 0);
  // Stochastic depth alone (no dropout) also draws: torchvision's StochasticDepth("row").
  const auto sd_only =
      build_model(efficientnet_preset("efficientnet-b1x0.25-s3-do0-sd0.5", kTiny), gen);
  Generator a(1), b(2);
  CHECK(max_rel_error(sd_only->forward(x, ForwardContext{true, 0.1, &a}),
                      sd_only->forward(x, ForwardContext{true, 0.1, &b})) > 0);
}

TEST_CASE("efficientnet widths nest as prefixes: expanded, depthwise and squeeze-excitation") {
  Generator gen(5);
  const NestedChain pair =
      nest({"efficientnet-b0x0.5-s3-do0-sd0", "efficientnet-b1-s3-do0-sd0"}, kTiny, gen);
  const NamedTensors base = pair.base().named_parameters();
  const NamedTensors owner = pair.largest().named_parameters();
  // stages.2.blocks.0: input 16 vs 24 channels, expanded 96 vs 144, squeeze 4 vs 6.
  const auto check = [&](const std::string& name, const Shape& small, const Shape& large) {
    INFO(name);
    const Tensor b = find_tensor(base, name), o = find_tensor(owner, name);
    CHECK(b.shape() == small);
    CHECK(o.shape() == large);
    CHECK(b.raw_data() == o.raw_data());  // the leading block of the owner's storage
  };
  check("stages.2.blocks.0.expand.conv.weight", {96, 1, 1, 16}, {144, 1, 1, 24});
  check("stages.2.blocks.0.depthwise.conv.weight", {96, 5, 5, 1}, {144, 5, 5, 1});
  check("stages.2.blocks.0.se.fc1.weight", {4, 96}, {6, 144});
  check("stages.2.blocks.0.se.fc2.weight", {96, 4}, {144, 6});
  check("stages.2.blocks.0.project.conv.weight", {24, 1, 1, 96}, {40, 1, 1, 144});
  // The depthwise filter view is dense: conv2d uses it without a copy.
  CHECK(find_tensor(base, "stages.2.blocks.0.depthwise.conv.weight").is_contiguous());
  // B1 is deeper: its second block of stage 0 is not in the base.
  CHECK(pair.largest().named_parameters().size() > base.size());
}

TEST_CASE("efficientnet containment: equal expand ratios, kernels and strides; the rest may grow") {
  Generator gen(0);
  const auto refused = [&](const std::vector<std::string>& names, const char* says) {
    INFO(names.front(), " in ", names.back());
    CHECK_THROWS_WITH_AS(nest(names, kTiny, gen), doctest::Contains(says), Error);
  };
  refused({"efficientnet-b1-s2", "efficientnet-b0-s2"},
          "stage 0's depth is larger in the base (2 vs 1)");
  refused({"efficientnet-b0-s2", "efficientnet-b0x0.5-s2"},
          "the stem width is larger in the base (32 vs 16)");
  refused({"efficientnet-b0-s2", "efficientnet-b0-s3"}, "stage counts differ (2 vs 3)");
  refused({"efficientnet-b0-s2", "resnet20"}, "not the same family (efficientnet vs resnet)");
  const EfficientNetConfig large = efficientnet_preset("efficientnet-b1-s3", kTiny);
  const auto changed = [&](auto&& edit, const char* says) {
    EfficientNetConfig small = efficientnet_preset("efficientnet-b0-s3", kTiny);
    edit(small);
    CHECK_THROWS_WITH_AS(large.check_contains(small), doctest::Contains(says), Error);
  };
  changed([](EfficientNetConfig& c) { c.stages[2].kernel = 3; },
          "stage 2's kernel sizes differ (3 vs 5)");
  changed([](EfficientNetConfig& c) { c.stages[1].stride = 1; },
          "stage 1's strides differ (1 vs 2)");
  changed([](EfficientNetConfig& c) { c.stages[0].expand_ratio = 6; },
          "stage 0's expand ratios differ (6 vs 1)");
  changed([](EfficientNetConfig& c) { c.stages[2].width = 48; },
          "stage 2's width is larger in the base (48 vs 40)");
  changed([](EfficientNetConfig& c) { c.head_width = 200; },
          "the head width is larger in the base (200 vs 160)");
  changed([](EfficientNetConfig& c) { c.num_classes = 5; }, "classes differ (5 vs 10)");
  changed([](EfficientNetConfig& c) { c.in_channels = 1; }, "input channels differ (1 vs 3)");
  CHECK_THROWS_WITH_AS(
      efficientnet_preset("efficientnet-b0-s3", kTiny).check_contains(large),
      doctest::Contains("nest: efficientnet-b0-s3 cannot contain efficientnet-b1-s3: stage 0's"),
      Error);
  CHECK_NOTHROW(efficientnet_preset("efficientnet-b2")
                    .check_contains(efficientnet_preset("efficientnet-b0")));
  CHECK_NOTHROW(efficientnet_preset("efficientnet-b1")
                    .check_contains(efficientnet_preset("efficientnet-b0")));
  CHECK_NOTHROW(efficientnet_preset("efficientnet-b0")
                    .check_contains(efficientnet_preset("efficientnet-b0x0.3")));
}

TEST_CASE("efficientnet BN recalibration: batch averages, parameters untouched, no dropout") {
  Generator gen(6);
  const auto model =
      build_model(efficientnet_preset("efficientnet-b0x0.25-s2-do0.5-sd0.5", kTiny), gen);
  const std::vector<Tensor> batches = {randn({4, 16, 16, 3}, gen), randn({4, 16, 16, 3}, gen)};
  const std::vector<double> params = model->named_parameters().front().second.to_vector();
  // No generator is given: recalibration runs neither dropout nor stochastic depth.
  model->recalibrate_running_statistics(2, [&](int64_t k) { return batches[k]; });
  CHECK(model->named_parameters().front().second.to_vector() == params);
  // The stem BN's running mean: the average of the two batches' channel means of the stem conv.
  const NamedTensors p = model->named_parameters();
  double expected = 0;
  for (const Tensor& x : batches) {
    NoGradGuard no_grad;
    const Tensor y = conv2d(x, find_tensor(p, "stem.conv.weight"), Tensor(), {2, 1, 1, 1});
    expected += mean(y, {0, 1, 2}).to_vector()[3] / 2;
  }
  CHECK(find_tensor(model->named_buffers(), "stem.bn.running_mean").to_vector()[3] ==
        doctest::Approx(expected).epsilon(1e-5));
  CHECK_THROWS_WITH_AS(
      model->recalibrate_running_statistics(0, [&](int64_t k) { return batches[k]; }),
      doctest::Contains("at least one batch"), Error);
}

TEST_CASE("efficientnet torch state dict: torchvision's names, OIHW convs, 1x1 SE convs") {
  Generator gen(7);
  const auto model = build_model(efficientnet_preset("efficientnet-b0", {3, 1000}), gen);
  const NamedTensors torch = model->torch_state_dict();
  CHECK(torch.size() == 360);  // len(torchvision.models.efficientnet_b0().state_dict())
  const auto shape = [&](const std::string& name) { return find_tensor(torch, name).shape(); };
  CHECK(shape("features.0.0.weight") == Shape{32, 3, 3, 3});
  CHECK(shape("features.1.0.block.0.0.weight") == Shape{32, 1, 3, 3});  // no expansion: dw first
  CHECK(shape("features.1.0.block.1.fc1.weight") == Shape{8, 32, 1, 1});
  CHECK(shape("features.1.0.block.2.0.weight") == Shape{16, 32, 1, 1});
  CHECK(shape("features.2.1.block.0.0.weight") == Shape{144, 24, 1, 1});
  CHECK(shape("features.2.1.block.1.0.weight") == Shape{144, 1, 3, 3});
  CHECK(shape("features.2.1.block.2.fc2.weight") == Shape{144, 6, 1, 1});
  CHECK(shape("features.6.3.block.3.1.running_var") == Shape{192});
  CHECK(shape("features.8.0.weight") == Shape{1280, 320, 1, 1});
  CHECK(shape("classifier.1.weight") == Shape{1000, 1280});
  CHECK(shape("features.8.1.num_batches_tracked") == Shape{});
  const NamedTensors ours = model->named_parameters();
  const Tensor dw = find_tensor(ours, "stages.1.blocks.1.depthwise.conv.weight");
  CHECK(find_tensor(torch, "features.2.1.block.1.0.weight").at({7, 0, 2, 1}) ==
        dw.at({7, 2, 1, 0}));
  const Tensor fc1 = find_tensor(ours, "stages.1.blocks.1.se.fc1.weight");
  CHECK(find_tensor(torch, "features.2.1.block.2.fc1.weight").at({5, 100, 0, 0}) ==
        fc1.at({5, 100}));
}
