// The layer plan of a ResNet config: every conv+BN pair and the classifier,
// with its parameter name prefix and channel counts. The model is built from
// it, and the analytic costs (FLOPs, parameter counts) and the nesting checks
// read it, so the three can never disagree about the network's shape.
//
// Parameter names (one convention, used by checkpoints and export; PyTorch's
// spelling of BN tensors):
//   stem.conv.weight                         stem.bn.{weight,bias,running_mean,running_var}
//   stages.<s>.blocks.<b>.conv<i>.weight     stages.<s>.blocks.<b>.bn<i>.{...}   (i = 1, 2[, 3])
//   stages.<s>.blocks.<b>.shortcut.conv.weight   stages.<s>.blocks.<b>.shortcut.bn.{...}
//   head.fc.weight  head.fc.bias
// Stages and blocks count from 0. Convs have no bias (BN follows each).
//
// Shortcuts: a block whose stride is not 1 or whose input and output channels
// differ has a projection shortcut (1x1 conv with the block's stride, then
// BN): He et al.'s option B, used for both families (the CIFAR paper used
// option A, zero-padding, which adds no parameters: our resnet20 has 2,752
// parameters more). The first block of every stage after the first has stride 2.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "models/resnet/config.h"

namespace motive {

struct ConvBnPlan {
  std::string conv_name;  // "stages.1.blocks.0.conv1"
  std::string bn_name;    // "stages.1.blocks.0.bn1"
  int64_t in = 0, out = 0, kernel = 3, stride = 1, padding = 1;
};

struct BlockPlan {
  std::vector<ConvBnPlan> main;        // conv1/bn1, conv2/bn2[, conv3/bn3], ReLU between
  std::optional<ConvBnPlan> shortcut;  // projection; identity when absent
};

struct ResNetPlan {
  ConvBnPlan stem;
  bool stem_max_pool = false;  // 3x3, stride 2, padding 1 (ImageNet stem)
  std::vector<std::vector<BlockPlan>> stages;
  int64_t features = 0;  // channels into the classifier
  int64_t classes = 0;
};

ResNetPlan plan_resnet(const ResNetConfig& cfg);

// Learnable parameters (conv weights, BN gamma and beta, classifier weight and
// bias); BN running statistics are buffers and not counted.
int64_t parameter_count(const ResNetConfig& cfg);

// Analytic forward FLOPs per image at input size h x w: 2 x the multiply-adds
// of every conv and of the classifier. BatchNorm, ReLU, the residual
// additions, pooling and the classifier's bias are not counted (the ops count
// them: 1-2% more for resnet20 or resnet18x0.25), matching the multiply-add
// counts of the papers and torchvision.
int64_t forward_flops(const ResNetConfig& cfg, int64_t h, int64_t w);

}  // namespace motive
