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

namespace motive {

// Basic: two 3x3 convs. Bottleneck: 1x1 (width) -> 3x3 (width, carries the
// stage's stride, as torchvision's "v1.5") -> 1x1 (4 x width).
enum class BlockType { Basic, Bottleneck };

// Cifar: 3x3 conv, stride 1, no pooling. ImageNet: 7x7 conv stride 2, then a
// 3x3 max-pool stride 2.
enum class Stem { Cifar, ImageNet };

const char* block_type_name(BlockType b);
const char* stem_name(Stem s);

struct ResNetConfig {
  std::string name = "resnet";  // for tables and error messages
  BlockType block = BlockType::Basic;
  Stem stem = Stem::Cifar;
  int64_t stem_width = 16;
  std::vector<int64_t> depths = {3, 3, 3};     // residual blocks per stage
  std::vector<int64_t> widths = {16, 32, 64};  // inner channel width per stage
  int64_t in_channels = 3;
  int64_t num_classes = 10;

  // Channels a block of this type outputs per unit of width: 1 or 4.
  int64_t expansion() const { return block == BlockType::Bottleneck ? 4 : 1; }
  // Channels stage s outputs (and the head sees after the last stage).
  int64_t stage_out_channels(size_t s) const { return widths.at(s) * expansion(); }
  // Throws motive::Error naming the first inconsistent field.
  void validate() const;
};

// Every width (stem and stages) times `multiplier`, rounded half away from
// zero, at least 1. The name gets the `x<multiplier>` suffix.
ResNetConfig widened(const ResNetConfig& cfg, double multiplier);

// What a preset leaves to the data: input channels, classes (0: the family's
// default, 10 for the CIFAR family and 1000 for the ImageNet one).
struct PresetOptions {
  int64_t in_channels = 3;
  int64_t num_classes = 0;
};

// Parses a preset name (grammar above). Throws motive::Error on anything else,
// listing what is accepted.
ResNetConfig resnet_preset(const std::string& name, const PresetOptions& options = {});

// The standard presets, for tables: resnet20 ... resnet110, resnet18/34/50.
std::vector<std::string> standard_preset_names();

}  // namespace motive
