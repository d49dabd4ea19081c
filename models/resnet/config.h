// ResNet configurations: what a network is made of, before any tensor exists.
//
// A config names the block type, the stem, the channel width of the stem and
// of every stage, the number of residual blocks per stage, the input channels
// and the classes. The common networks are presets of it (resnet_preset):
//
//   resnet<D>  with D = 6n+2 (resnet20, 32, 44, 56, 110, ...): He et al. 2016's
//              CIFAR family, 3 stages of n basic blocks, widths 16/32/64,
//              CIFAR stem, 10 classes by default.
//   resnet18, resnet34 (basic blocks) and resnet50 (bottleneck blocks): the
//              ImageNet family, 4 stages, widths 64/128/256/512, ImageNet stem,
//              1000 classes by default.
//
// Name suffixes: `x<W>` multiplies every width by W (resnet20x0.5,
// resnet56x2): each width becomes round(width * W), halves away from zero, and
// at least 1. `-cifar` selects the CIFAR stem (for 32x32 inputs), e.g.
// resnet18x0.5-cifar; the CIFAR family has it already.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/error.h"
#include "models/model.h"

namespace motive {

// Basic: two 3x3 convs. Bottleneck: 1x1 (width) -> 3x3 (width, carries the
// stage's stride, as torchvision's "v1.5") -> 1x1 (4 x width).
enum class BlockType { Basic, Bottleneck };

// Cifar: 3x3 conv, stride 1, no pooling. ImageNet: 7x7 conv stride 2, then a
// 3x3 max-pool stride 2.
enum class Stem { Cifar, ImageNet };

const char* block_type_name(BlockType b);
const char* stem_name(Stem s);

// The ModelConfig interface (models/model.h) is implemented in
// models/resnet/family.cpp; name, in_channels and num_classes live there too.
struct ResNetConfig final : ModelConfig {
  BlockType block = BlockType::Basic;
  Stem stem = Stem::Cifar;
  int64_t stem_width = 16;
  std::vector<int64_t> depths = {3, 3, 3};     // residual blocks per stage
  std::vector<int64_t> widths = {16, 32, 64};  // inner channel width per stage
  // Zero gamma in the last BN of each residual block's main path (Goyal et
  // al. 2017, torchvision's zero_init_residual); a fresh model's init only.
  bool zero_init_residual = false;

  ResNetConfig() { name = "resnet"; }

  // Channels a block of this type outputs per unit of width: 1 or 4.
  int64_t expansion() const { return block == BlockType::Bottleneck ? 4 : 1; }
  // Channels stage s outputs (and the head sees after the last stage).
  int64_t stage_out_channels(size_t s) const { return widths.at(s) * expansion(); }
  // Throws motive::Error naming the first inconsistent field.
  void validate() const;

  // ModelConfig (models/resnet/family.cpp). FLOPs: 2 x the multiply-adds of
  // every conv and of the classifier (models/resnet/plan.h).
  std::unique_ptr<ModelConfig> clone() const override;
  const char* family() const override { return "resnet"; }
  std::string describe() const override;
  int64_t image_height() const override;  // 32 with the CIFAR stem, 224 with the ImageNet one
  int64_t image_width() const override { return image_height(); }
  int64_t parameter_count() const override;
  int64_t flops_per_image(int64_t h, int64_t w) const override;
  bool has_running_statistics() const override { return true; }
  void check_contains(const ModelConfig& smaller) const override;
  std::unique_ptr<Model> build(ParameterSource& source) const override;
};

// Every width (stem and stages) times `multiplier`, rounded half away from
// zero, at least 1. The name gets the `x<multiplier>` suffix.
ResNetConfig widened(const ResNetConfig& cfg, double multiplier);

// Parses a preset name (grammar above) with the data's input channels and
// classes (0 classes: the family's default, 10 for the CIFAR family and 1000
// for the ImageNet one; the image size does not change a ResNet). Throws
// motive::Error on anything else, listing what is accepted.
ResNetConfig resnet_preset(const std::string& name, const ModelShape& shape = {});

// The names resnet_preset accepts, in one line.
const char* resnet_grammar();

// The standard presets, for tables: resnet20 ... resnet110, resnet18/34/50.
std::vector<std::string> standard_preset_names();

}  // namespace motive
