#include "models/efficientnet/plan.h"

#include <algorithm>

#include "engine/error.h"

namespace motive {
namespace {

EffConvPlan conv(const std::string& name, int64_t in, int64_t out, int64_t kernel,
                 int64_t stride = 1, bool depthwise = false) {
  return {name, in, out, kernel, stride, depthwise};
}

// Output size of a conv with padding kernel / 2 along one dim.
int64_t out_size(int64_t in, const EffConvPlan& c) {
  return (in + 2 * (c.kernel / 2) - c.kernel) / c.stride + 1;
}

// One conv's multiply-adds at input size h x w; moves h, w to its output size.
int64_t conv_macs(const EffConvPlan& c, int64_t& h, int64_t& w) {
  h = out_size(h, c);
  w = out_size(w, c);
  MOTIVE_CHECK(h >= 1 && w >= 1, c.name, ": the input is too small for this network");
  const int64_t per_output = c.kernel * c.kernel * (c.depthwise ? 1 : c.in);
  return h * w * c.out * per_output;
}

int64_t conv_bn_params(const EffConvPlan& c) {
  return c.out * c.kernel * c.kernel * (c.depthwise ? 1 : c.in) + 2 * c.out;
}

}  // namespace

EfficientNetPlan plan_efficientnet(const EfficientNetConfig& cfg) {
  cfg.validate();
  EfficientNetPlan p;
  p.stem = conv("stem", cfg.in_channels, cfg.stem_width, 3, 2);
  int64_t channels = cfg.stem_width, index = 0;
  const double total = static_cast<double>(cfg.blocks());
  for (size_t s = 0; s < cfg.stages.size(); ++s) {
    const MBConvStage& stage = cfg.stages[s];
    std::vector<MBConvPlan>& blocks = p.stages.emplace_back();
    for (int64_t b = 0; b < stage.depth; ++b, ++index) {
      MBConvPlan m;
      m.prefix = "stages." + std::to_string(s) + ".blocks." + std::to_string(b) + ".";
      const int64_t stride = b == 0 ? stage.stride : 1;
      m.in = channels;
      m.expanded = make_divisible(static_cast<double>(m.in * stage.expand_ratio));
      m.squeeze = std::max<int64_t>(1, m.in / 4);
      m.out = stage.width;
      // torchvision expands when the expanded width differs from the input's:
      // for widths that are multiples of 8 (all of them), when the ratio is not 1.
      m.has_expand = m.expanded != m.in;
      m.expand = conv(m.prefix + "expand", m.in, m.expanded, 1);
      m.depthwise =
          conv(m.prefix + "depthwise", m.expanded, m.expanded, stage.kernel, stride, true);
      m.project = conv(m.prefix + "project", m.expanded, m.out, 1);
      m.residual = stride == 1 && m.in == m.out;
      m.drop_path = cfg.stochastic_depth * static_cast<double>(index) / total;
      blocks.push_back(m);
      channels = m.out;
    }
  }
  p.head = conv("head", channels, cfg.head_width, 1);
  p.classes = cfg.num_classes;
  return p;
}

int64_t parameter_count(const EfficientNetConfig& cfg) {
  const EfficientNetPlan p = plan_efficientnet(cfg);
  int64_t n = conv_bn_params(p.stem) + conv_bn_params(p.head);
  for (const auto& stage : p.stages)
    for (const MBConvPlan& b : stage) {
      if (b.has_expand) n += conv_bn_params(b.expand);
      n += conv_bn_params(b.depthwise) + conv_bn_params(b.project);
      n += 2 * b.expanded * b.squeeze + b.squeeze + b.expanded;  // fc1, fc2 and their biases
    }
  return n + p.classes * p.head.out + p.classes;
}

int64_t forward_flops(const EfficientNetConfig& cfg, int64_t h, int64_t w) {
  MOTIVE_CHECK(h >= 1 && w >= 1, cfg.name, ": input size must be positive, got ", h, "x", w);
  const EfficientNetPlan p = plan_efficientnet(cfg);
  int64_t macs = conv_macs(p.stem, h, w);
  for (const auto& stage : p.stages)
    for (const MBConvPlan& b : stage) {
      if (b.has_expand) macs += conv_macs(b.expand, h, w);
      macs += conv_macs(b.depthwise, h, w) + 2 * b.expanded * b.squeeze;
      macs += conv_macs(b.project, h, w);
    }
  macs += conv_macs(p.head, h, w);
  return 2 * (macs + p.head.out * p.classes);
}

}  // namespace motive
