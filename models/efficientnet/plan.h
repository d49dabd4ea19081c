// The layer plan of an EfficientNet config: every conv + BN, every MBConv block
// with its widths, and the classifier. The model is built from it, and the
// analytic costs and the nesting check read it, so they cannot disagree about
// the network's shape.
//
// An MBConv block (torchvision's MBConv), input width `in`:
//   expand     1x1 conv to `expanded` = _make_divisible(in x expand ratio, 8)
//              + BN + SiLU (absent when the expand ratio is 1)
//   depthwise  k x k depthwise conv (the stage's stride on the first block,
//              padding k / 2) + BN + SiLU
//   se         squeeze-excitation: global average -> fc1 (expanded -> squeeze,
//              with bias) -> SiLU -> fc2 (squeeze -> expanded, with bias) ->
//              sigmoid, multiplying the block's expanded channels
//   project    1x1 conv to `out` + BN (no activation)
//   residual   + the input, when the stride is 1 and in == out, the branch
//              dropped per sample by stochastic depth in training
// squeeze = max(1, in / 4) (integer division), as torchvision. It grows with
// the block's input width, so a width-nested block's squeeze width is at most
// the larger block's and fc1/fc2 nest as leading blocks: torchvision's rule and
// prefix nesting never disagree.
//
// Parameter names (one convention, used by checkpoints; PyTorch's spelling of
// BN tensors; stages and blocks from 0; convs have no bias):
//   stem.conv.weight [stem, 3, 3, C]       stem.bn.{weight,bias,running_mean,running_var}
//   stages.<s>.blocks.<b>.expand.conv.weight [expanded, 1, 1, in]       .expand.bn.*
//   stages.<s>.blocks.<b>.depthwise.conv.weight [expanded, k, k, 1]     .depthwise.bn.*
//   stages.<s>.blocks.<b>.se.fc1.{weight [squeeze, expanded], bias}
//   stages.<s>.blocks.<b>.se.fc2.{weight [expanded, squeeze], bias}
//   stages.<s>.blocks.<b>.project.conv.weight [out, 1, 1, expanded]     .project.bn.*
//   head.conv.weight [head, 1, 1, last]    head.bn.*       head.fc.{weight, bias}
// Conv weights are OHWI; the squeeze-excitation weights are linear [out, in]
// (torchvision's 1x1 convs, [out, in, 1, 1] in the export).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "models/efficientnet/config.h"

namespace motive {

struct EffConvPlan {
  std::string name;  // "stages.1.blocks.0.expand": .conv and .bn below it
  int64_t in = 0, out = 0, kernel = 1, stride = 1;
  bool depthwise = false;  // groups = in = out
};

struct MBConvPlan {
  std::string prefix;  // "stages.1.blocks.0."
  int64_t in = 0, expanded = 0, squeeze = 0, out = 0;
  bool has_expand = false;
  EffConvPlan expand, depthwise, project;
  bool residual = false;
  double drop_path = 0;  // stochastic depth rate of the residual branch
};

struct EfficientNetPlan {
  EffConvPlan stem;
  std::vector<std::vector<MBConvPlan>> stages;
  EffConvPlan head;
  int64_t classes = 0;
};

EfficientNetPlan plan_efficientnet(const EfficientNetConfig& cfg);

// Learnable parameters (conv weights, BN gamma and beta, the squeeze-excitation
// weights and biases, the classifier); BN running statistics are buffers.
int64_t parameter_count(const EfficientNetConfig& cfg);

// Analytic forward FLOPs per image at h x w (what EfficientNetConfig says it counts).
int64_t forward_flops(const EfficientNetConfig& cfg, int64_t h, int64_t w);

}  // namespace motive
