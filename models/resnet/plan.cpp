#include "models/resnet/plan.h"

#include "engine/error.h"

namespace motive {
namespace {

ConvBnPlan conv_bn(const std::string& prefix, const std::string& conv, const std::string& bn,
                   int64_t in, int64_t out, int64_t kernel, int64_t stride) {
  return {prefix + conv, prefix + bn, in, out, kernel, stride, kernel / 2};
}

BlockPlan block_plan(const ResNetConfig& cfg, const std::string& prefix, int64_t in, int64_t width,
                     int64_t stride) {
  BlockPlan b;
  const int64_t out = width * cfg.expansion();
  if (cfg.block == BlockType::Basic) {
    b.main = {conv_bn(prefix, "conv1", "bn1", in, width, 3, stride),
              conv_bn(prefix, "conv2", "bn2", width, width, 3, 1)};
  } else {
    b.main = {conv_bn(prefix, "conv1", "bn1", in, width, 1, 1),
              conv_bn(prefix, "conv2", "bn2", width, width, 3, stride),
              conv_bn(prefix, "conv3", "bn3", width, out, 1, 1)};
  }
  if (stride != 1 || in != out)
    b.shortcut = conv_bn(prefix + "shortcut.", "conv", "bn", in, out, 1, stride);
  return b;
}

// Output size of a window op along one dim.
int64_t out_size(int64_t in, int64_t kernel, int64_t stride, int64_t padding) {
  return (in + 2 * padding - kernel) / stride + 1;
}

// Adds one conv's multiply-adds at input size h x w and moves h, w to its output size.
int64_t conv_macs(const ConvBnPlan& c, int64_t& h, int64_t& w) {
  h = out_size(h, c.kernel, c.stride, c.padding);
  w = out_size(w, c.kernel, c.stride, c.padding);
  MOTIVE_CHECK(h >= 1 && w >= 1, c.conv_name, ": the input is too small for this network");
  return h * w * c.out * c.kernel * c.kernel * c.in;
}

int64_t conv_bn_params(const ConvBnPlan& c) {
  return c.out * c.kernel * c.kernel * c.in + 2 * c.out;
}

}  // namespace

ResNetPlan plan_resnet(const ResNetConfig& cfg) {
  cfg.validate();
  ResNetPlan p;
  const int64_t stem_kernel = cfg.stem == Stem::ImageNet ? 7 : 3;
  const int64_t stem_stride = cfg.stem == Stem::ImageNet ? 2 : 1;
  p.stem =
      conv_bn("stem.", "conv", "bn", cfg.in_channels, cfg.stem_width, stem_kernel, stem_stride);
  p.stem_max_pool = cfg.stem == Stem::ImageNet;
  int64_t channels = cfg.stem_width;
  for (size_t s = 0; s < cfg.depths.size(); ++s) {
    std::vector<BlockPlan>& blocks = p.stages.emplace_back();
    for (int64_t b = 0; b < cfg.depths[s]; ++b) {
      const std::string prefix =
          "stages." + std::to_string(s) + ".blocks." + std::to_string(b) + ".";
      const int64_t stride = s > 0 && b == 0 ? 2 : 1;
      blocks.push_back(block_plan(cfg, prefix, channels, cfg.widths[s], stride));
      channels = cfg.stage_out_channels(s);
    }
  }
  p.features = channels;
  p.classes = cfg.num_classes;
  return p;
}

int64_t parameter_count(const ResNetConfig& cfg) {
  const ResNetPlan p = plan_resnet(cfg);
  int64_t n = conv_bn_params(p.stem);
  for (const auto& stage : p.stages)
    for (const BlockPlan& b : stage) {
      for (const ConvBnPlan& c : b.main) n += conv_bn_params(c);
      if (b.shortcut) n += conv_bn_params(*b.shortcut);
    }
  return n + p.classes * p.features + p.classes;
}

int64_t forward_flops(const ResNetConfig& cfg, int64_t h, int64_t w) {
  MOTIVE_CHECK(h >= 1 && w >= 1, cfg.name, ": input size must be positive, got ", h, "x", w);
  const ResNetPlan p = plan_resnet(cfg);
  int64_t macs = conv_macs(p.stem, h, w);
  if (p.stem_max_pool) h = out_size(h, 3, 2, 1), w = out_size(w, 3, 2, 1);
  for (const auto& stage : p.stages)
    for (const BlockPlan& b : stage) {
      int64_t h_main = h, w_main = w;
      for (const ConvBnPlan& c : b.main) macs += conv_macs(c, h_main, w_main);
      if (b.shortcut) macs += conv_macs(*b.shortcut, h, w);
      h = h_main, w = w_main;
    }
  return 2 * (macs + p.features * p.classes);
}

}  // namespace motive
