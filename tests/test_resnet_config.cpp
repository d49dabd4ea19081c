// ResNet configs, presets and analytic costs, without building any tensor:
// preset names and width multipliers, the layer plan (shortcuts, strides,
// names), and parameter/FLOP counts against hand-computed and torchvision's
// published values.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "models/resnet/plan.h"
#include "trainer/models_table.h"

using namespace motive;

namespace {

using Ints = std::vector<int64_t>;

void check_bad_name(const std::string& name, const std::string& expected_part) {
  INFO("name: ", name);
  try {
    resnet_preset(name);
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find(expected_part) != std::string::npos);
  }
}

}  // namespace

TEST_CASE("presets: the CIFAR family is 6n+2 deep with 16/32/64 channels and the CIFAR stem") {
  const ResNetConfig r20 = resnet_preset("resnet20");
  CHECK(r20.block == BlockType::Basic);
  CHECK(r20.stem == Stem::Cifar);
  CHECK(r20.stem_width == 16);
  CHECK(r20.depths == Ints{3, 3, 3});
  CHECK(r20.widths == Ints{16, 32, 64});
  CHECK(r20.num_classes == 10);
  CHECK(r20.in_channels == 3);
  CHECK(resnet_preset("resnet32").depths == Ints{5, 5, 5});
  CHECK(resnet_preset("resnet44").depths == Ints{7, 7, 7});
  CHECK(resnet_preset("resnet56").depths == Ints{9, 9, 9});
  CHECK(resnet_preset("resnet110").depths == Ints{18, 18, 18});
}

TEST_CASE("presets: resnet18/34 are basic, resnet50 bottleneck, all with the ImageNet stem") {
  const ResNetConfig r18 = resnet_preset("resnet18"), r34 = resnet_preset("resnet34"),
                     r50 = resnet_preset("resnet50");
  CHECK(r18.depths == Ints{2, 2, 2, 2});
  CHECK(r34.depths == Ints{3, 4, 6, 3});
  CHECK(r50.depths == Ints{3, 4, 6, 3});
  CHECK(r18.block == BlockType::Basic);
  CHECK(r50.block == BlockType::Bottleneck);
  CHECK(r50.stage_out_channels(3) == 2048);
  for (const ResNetConfig& c : {r18, r34, r50}) {
    CHECK(c.stem == Stem::ImageNet);
    CHECK(c.stem_width == 64);
    CHECK(c.widths == Ints{64, 128, 256, 512});
    CHECK(c.num_classes == 1000);
  }
}

TEST_CASE(
    "presets: width multipliers round half away from zero, at least 1; -cifar sets the stem") {
  const ResNetConfig half = resnet_preset("resnet20x0.5");
  CHECK(half.stem_width == 8);
  CHECK(half.widths == Ints{8, 16, 32});
  CHECK(half.name == "resnet20x0.5");
  CHECK(resnet_preset("resnet56x2").widths == Ints{32, 64, 128});
  CHECK(resnet_preset("resnet20x0.3").widths == Ints{5, 10, 19});     // 4.8, 9.6, 19.2
  CHECK(resnet_preset("resnet20x0.15625").widths == Ints{3, 5, 10});  // 2.5 -> 3
  CHECK(resnet_preset("resnet20x0.01").widths == Ints{1, 1, 1});
  CHECK(resnet_preset("resnet20x0.01").stem_width == 1);
  const ResNetConfig r18 = resnet_preset("resnet18x0.5-cifar");
  CHECK(r18.stem == Stem::Cifar);
  CHECK(r18.stem_width == 32);
  CHECK(r18.widths == Ints{32, 64, 128, 256});
  CHECK(resnet_preset("resnet20-cifar").stem == Stem::Cifar);
  CHECK(resnet_preset("resnet8").depths == Ints{1, 1, 1});
}

TEST_CASE("presets: input channels and classes come from the options") {
  const ResNetConfig c = resnet_preset("resnet18-cifar", ModelShape{1, 10});
  CHECK(c.in_channels == 1);
  CHECK(c.num_classes == 10);
  CHECK(resnet_preset("resnet20", ModelShape{1, 0}).num_classes == 10);
}

TEST_CASE("presets: bad names are one clear error") {
  for (const char* name :
       {"resnet21", "resnet", "resnet101", "vgg16", "resnet20-imagenet", "resnet18x0.5x2",
        "resnet 20", "resnet2", "resnet18.5", "resnet6008", "resnet99999999999999999999"})
    check_bad_name(name, "resnet<D>");
  for (const char* name : {"resnet20x", "resnet20x0", "resnet20x-1", "resnet20xabc", "resnet20xnan",
                           "resnet20xinf", "resnet20x65"})
    check_bad_name(name, "width multiplier");
}

TEST_CASE("config: inconsistent fields are rejected") {
  ResNetConfig c;
  c.depths = {1, 1};
  CHECK_THROWS_WITH_AS(c.validate(), doctest::Contains("one depth and one width per stage"), Error);
  c.widths = {4, 0};
  CHECK_THROWS_WITH_AS(c.validate(), doctest::Contains("stage 1 needs depth >= 1"), Error);
  c.widths = {4, 4};
  c.num_classes = 0;
  CHECK_THROWS_WITH_AS(c.validate(), doctest::Contains("must be >= 1"), Error);
}

TEST_CASE("plan: projection shortcuts exactly where the shape changes, stride 2 on stage entry") {
  const ResNetPlan p = plan_resnet(resnet_preset("resnet20"));
  REQUIRE(p.stages.size() == 3);
  CHECK(p.stem.conv_name == "stem.conv");
  CHECK(p.stem.kernel == 3);
  CHECK_FALSE(p.stem_max_pool);
  CHECK_FALSE(p.stages[0][0].shortcut.has_value());
  REQUIRE(p.stages[1][0].shortcut.has_value());
  CHECK(p.stages[1][0].shortcut->conv_name == "stages.1.blocks.0.shortcut.conv");
  CHECK(p.stages[1][0].shortcut->bn_name == "stages.1.blocks.0.shortcut.bn");
  CHECK(p.stages[1][0].shortcut->stride == 2);
  CHECK(p.stages[1][0].main[0].stride == 2);
  CHECK(p.stages[1][0].main[0].conv_name == "stages.1.blocks.0.conv1");
  CHECK(p.stages[1][0].main[1].bn_name == "stages.1.blocks.0.bn2");
  CHECK_FALSE(p.stages[1][1].shortcut.has_value());
  CHECK(p.features == 64);

  const ResNetPlan b = plan_resnet(resnet_preset("resnet50"));
  CHECK(b.stem.kernel == 7);
  CHECK(b.stem.stride == 2);
  CHECK(b.stem_max_pool);
  REQUIRE(b.stages[0][0].shortcut.has_value());  // 64 -> 256 channels
  CHECK(b.stages[0][0].shortcut->stride == 1);
  CHECK(b.stages[1][0].main[0].stride == 1);  // the stride is on the 3x3 conv (v1.5)
  CHECK(b.stages[1][0].main[1].stride == 2);
  CHECK(b.stages[1][0].main[2].out == 512);
  CHECK(b.features == 2048);
}

TEST_CASE("costs: resnet20 has 0.27 M parameters and about 41 M multiply-adds at 32x32") {
  const ResNetConfig r20 = resnet_preset("resnet20");
  // By hand: 269,722 with the paper's option A shortcuts, plus two projections
  // (16*32 + 32*64 weights, 2*(32 + 64) BN parameters).
  CHECK(parameter_count(r20) == 269'722 + 2'560 + 192);
  // stem 442,368 + stage 1 6 x 2,359,296 + stages 2 and 3 13,107,200 each + fc 640.
  const int64_t macs = 442'368 + 6 * 2'359'296 + 2 * 13'107'200 + 640;
  CHECK(macs == 40'813'184);
  CHECK(forward_flops(r20, 32, 32) == 2 * macs);
}

TEST_CASE("costs: ImageNet ResNets at 224x224 match torchvision (parameters, GMACs)") {
  // torchvision's documented parameter counts (1000 classes), exactly.
  CHECK(parameter_count(resnet_preset("resnet18")) == 11'689'512);
  CHECK(parameter_count(resnet_preset("resnet34")) == 21'797'672);
  CHECK(parameter_count(resnet_preset("resnet50")) == 25'557'032);
  // resnet18 by hand: stem 118,013,952 + stage 1 462,422,016 + 3 stages of
  // 411,041,792 + fc 512,000 = 1.814 GMACs (He et al.'s "1.8 x 10^9", torchvision's 1.81).
  const int64_t macs18 = forward_flops(resnet_preset("resnet18"), 224, 224) / 2;
  CHECK(macs18 == 118'013'952 + 462'422'016 + 3 * 411'041'792 + 512'000);
  CHECK(macs18 == doctest::Approx(1.82e9).epsilon(0.005));
  CHECK(forward_flops(resnet_preset("resnet34"), 224, 224) / 2 ==
        doctest::Approx(3.66e9).epsilon(0.005));
  CHECK(forward_flops(resnet_preset("resnet50"), 224, 224) / 2 ==
        doctest::Approx(4.09e9).epsilon(0.005));
}

TEST_CASE("costs: FLOPs scale with width squared and the input area; too small inputs fail") {
  const ResNetConfig r20 = resnet_preset("resnet20"), r20x2 = resnet_preset("resnet20x2");
  // Everything but the stem (input channels fixed) and the fc scales by 4.
  const int64_t stem = 2 * 442'368, fc = 2 * 640;
  CHECK(forward_flops(r20x2, 32, 32) - 2 * stem - 2 * fc ==
        4 * (forward_flops(r20, 32, 32) - stem - fc));
  CHECK(forward_flops(r20, 64, 64) - fc == 4 * (forward_flops(r20, 32, 32) - fc));
  CHECK_THROWS_WITH_AS(forward_flops(resnet_preset("resnet18"), 0, 8),
                       doctest::Contains("input size must be positive"), Error);
}

TEST_CASE("trainer models: the table lists each model with its parameters and FLOPs") {
  const std::string table = models_table({"resnet20", "resnet18-cifar", "resnet18"}, ModelShape{});
  CHECK(table.find("| model | family | structure | params (M) | image | GFLOPs |") == 0);
  CHECK(table.find("| resnet20 | resnet | basic blocks, cifar stem, depths 3/3/3, widths "
                   "16/32/64 | 0.272 | 32x32 | 0.082 |") != std::string::npos);
  CHECK(table.find("| resnet18-cifar | resnet | basic blocks, cifar stem, depths 2/2/2/2, widths "
                   "64/128/256/512 | 11.682 | 32x32 | 1.112 |") != std::string::npos);
  CHECK(table.find("| resnet18 | resnet | basic blocks, imagenet stem, depths 2/2/2/2, widths "
                   "64/128/256/512 | 11.690 | 224x224 | 3.628 |") != std::string::npos);
  // --image-size: every row at that size.
  CHECK(models_table({"resnet20"}, ModelShape{3, 0, 224, 224}).find("| 224x224 | 4.000 |") !=
        std::string::npos);
  CHECK_THROWS_AS(models_table({"resnet19"}, ModelShape{}), Error);
}
