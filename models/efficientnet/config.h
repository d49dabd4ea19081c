// EfficientNet configurations (Tan & Le 2019, as torchvision builds
// efficientnet_b0 ... efficientnet_b7): what a network is made of, before any
// tensor exists.
//
// The network: a 3x3 stride-2 stem conv (+ BN + SiLU); stages of MBConv blocks
// (models/efficientnet/plan.h); a 1x1 head conv to 4x the last stage's width
// (+ BN + SiLU), global average pooling, dropout and the classifier. B0's
// stages (expand ratio, kernel, stride, output channels, blocks):
//   1 3 1 16 1 | 6 3 2 24 2 | 6 5 2 40 2 | 6 3 2 80 3 | 6 5 1 112 3 | 6 5 2 192 4 | 6 3 1 320 1
// with a stem of 32 channels. B1-B7 scale every width by w and every stage's
// block count by d (compound scaling), as torchvision: widths become
// _make_divisible(c * w, 8) (the nearest multiple of 8, at least 8 and at
// least 90% of c * w), block counts ceil(n * d).
//
// Names: efficientnet-b<K>[x<W>][-d<D>][-s<S>][-do<RATE>][-sd<RATE>]
//   b<K>      K in 0-7: torchvision's efficientnet_b<K> (width w, depth d,
//             dropout, BatchNorm eps; stochastic depth 0.2)
//   x<W>      multiplies the width coefficient by W (efficientnet-b0x0.5:
//             w = 0.5; efficientnet-b2x0.5: w = 1.1 x 0.5)
//   -d<D>     multiplies the depth coefficient by D (efficientnet-b0-d1.1 has
//             B1's block counts at B0's widths)
//   -s<S>     only the first S stages (1-7), then the head (4x the last kept
//             stage's width), as torchvision's EfficientNet builds a shortened
//             inverted_residual_setting; for small images and tests
//   -do<RATE> dropout before the classifier (the variant's: 0.2 0.2 0.3 0.3
//             0.4 0.4 0.5 0.5 for B0-B7)
//   -sd<RATE> stochastic depth (torchvision's stochastic_depth_prob, 0.2):
//             block i of T drops its residual branch with rate RATE * i / T
// e.g. efficientnet-b0, efficientnet-b0x0.5, efficientnet-b1-s3-do0-sd0.
//
// Image size: an EfficientNet runs on any image size (global pooling before
// the classifier); a run uses its data's, and the models of a nested run train
// at that one size (one loader feeds them). Tables use each variant's native
// size, torchvision's evaluation crop: 224 240 288 300 380 456 528 600.
//
// Nesting (check_contains): a smaller EfficientNet is a prefix of a larger one
// when they have the same number of stages with equal expand ratios, kernel
// sizes and strides, the same input channels and classes, and every stage of
// the smaller one is at most as deep and as wide (stem and head included).
// Each block's expanded and squeeze-excitation widths follow from its input
// width and grow with it, so they nest too.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "models/model.h"

namespace motive {

// One stage of MBConv blocks.
struct MBConvStage {
  int64_t expand_ratio = 6;  // expanded channels = _make_divisible(input channels * ratio, 8)
  int64_t kernel = 3;        // of the depthwise conv
  int64_t stride = 1;        // of the stage's first block (the others have stride 1)
  int64_t width = 16;        // output channels of every block of the stage
  int64_t depth = 1;         // blocks
};

struct EfficientNetConfig final : ModelConfig {
  int64_t variant = 0;             // b<variant>: native image size, description
  double width_coefficient = 1.0;  // w (variant's x the name's x<W>)
  double depth_coefficient = 1.0;  // d (variant's x the name's -d<D>)
  int64_t stem_width = 32;
  std::vector<MBConvStage> stages;  // resolved: widths and depths after scaling
  int64_t head_width = 1280;
  double dropout = 0.2;           // before the classifier
  double stochastic_depth = 0.2;  // the last block's rate is just below it
  // BatchNorm eps: torchvision's default 1e-5 for B0-B4, 1e-3 for B5-B7.
  // (torchvision's B5-B7 also use momentum 0.01; here the running statistics
  // move by ForwardContext::norm_momentum, which the trainer sets to 0.1 for
  // every model.)
  double bn_eps = 1e-5;

  EfficientNetConfig() { name = "efficientnet"; }

  // Total MBConv blocks (what stochastic depth rates are spread over).
  int64_t blocks() const;
  // Throws motive::Error naming the first inconsistent field.
  void validate() const;

  // ModelConfig (models/efficientnet/family.cpp). FLOPs: 2 x the multiply-adds
  // of every convolution (stem, expansion, depthwise, projection, head), of the
  // squeeze-excitation's two fully connected layers and of the classifier;
  // BatchNorm, SiLU, sigmoid, pooling, the gating product, the residual
  // additions and biases are not counted.
  std::unique_ptr<ModelConfig> clone() const override;
  const char* family() const override { return "efficientnet"; }
  std::string describe() const override;
  int64_t image_height() const override;  // the variant's native size
  int64_t image_width() const override { return image_height(); }
  int64_t parameter_count() const override;
  int64_t flops_per_image(int64_t h, int64_t w) const override;
  bool has_running_statistics() const override { return true; }
  void check_contains(const ModelConfig& smaller) const override;
  std::unique_ptr<Model> build(ParameterSource& source) const override;
};

// torchvision's _make_divisible(v, 8): v rounded to the nearest multiple of 8,
// at least 8, and raised by 8 when rounding lost more than 10%.
int64_t make_divisible(double v);

// Parses a name (grammar above) with the data's channels and classes (0
// classes: 1000, torchvision's default). Throws motive::Error on anything else,
// listing what is accepted.
EfficientNetConfig efficientnet_preset(const std::string& name, const ModelShape& shape = {});

// The names efficientnet_preset accepts, in one line.
const char* efficientnet_grammar();

}  // namespace motive
