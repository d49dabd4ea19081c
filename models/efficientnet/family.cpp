// The EfficientNet family in the registry (models/registry.h):
// EfficientNetConfig's ModelConfig side (costs, the nesting rule, building)
// and the family's names.
#include "engine/error.h"
#include "models/efficientnet/efficientnet.h"
#include "models/registry.h"

namespace motive {
namespace {

// "16/24/40" from the stages' field.
template <class F>
std::string join_stages(const EfficientNetConfig& c, F&& field) {
  std::string out;
  for (size_t i = 0; i < c.stages.size(); ++i)
    out += (i ? "/" : "") + std::to_string(field(c.stages[i]));
  return out;
}

std::string multiplier_str(double m) {
  std::string s = std::to_string(m);
  s.erase(s.find_last_not_of('0') + 1);
  if (s.back() == '.') s.pop_back();
  return s;
}

class EfficientNetFamily final : public ModelFamily {
 public:
  const char* name() const override { return "efficientnet"; }
  bool claims(const std::string& model) const override {
    return model.rfind("efficientnet-", 0) == 0;
  }
  std::unique_ptr<ModelConfig> parse(const std::string& model,
                                     const ModelShape& shape) const override {
    return std::make_unique<EfficientNetConfig>(efficientnet_preset(model, shape));
  }
  std::string grammar() const override { return efficientnet_grammar(); }
  std::vector<std::string> presets() const override {
    std::vector<std::string> names;
    for (int k = 0; k <= 7; ++k) names.push_back("efficientnet-b" + std::to_string(k));
    names.push_back("efficientnet-b0x0.5");
    return names;
  }
  std::vector<NestingExample> nesting_examples() const override {
    // Two stages (a 3x3 expand-1 stage of stride 1, a 3x3 expand-6 stage of
    // stride 2) on 8x8 images; no dropout or stochastic depth, so that a
    // training forward needs no generator (the suite's gradient checks).
    const ModelShape shape{3, 10, 8, 8};
    const auto tiny = [](const std::string& variant) {
      return "efficientnet-" + variant + "-s2-do0-sd0";
    };
    return {{{tiny("b0x0.25"), tiny("b1x0.25")}, shape},                  // depth: B0 in B1
            {{tiny("b0x0.25"), tiny("b0x0.5")}, shape},                   // width
            {{tiny("b0x0.25"), tiny("b2x0.5")}, shape},                   // both: B0 in B2
            {{tiny("b0x0.25"), tiny("b0x0.5"), tiny("b1x0.5")}, shape}};  // a chain of three
  }
};

}  // namespace

const ModelFamily& efficientnet_family() {
  static const EfficientNetFamily family;
  return family;
}

std::unique_ptr<ModelConfig> EfficientNetConfig::clone() const {
  return std::make_unique<EfficientNetConfig>(*this);
}

std::string EfficientNetConfig::describe() const {
  return "MBConv, width x" + multiplier_str(width_coefficient) + ", depth x" +
         multiplier_str(depth_coefficient) + ", depths " +
         join_stages(*this, [](const MBConvStage& s) { return s.depth; }) + ", widths " +
         std::to_string(stem_width) + "/" +
         join_stages(*this, [](const MBConvStage& s) { return s.width; }) + "/" +
         std::to_string(head_width);
}

int64_t EfficientNetConfig::image_height() const {
  static const int64_t kNative[] = {224, 240, 288, 300, 380, 456, 528, 600};
  return kNative[variant];
}

int64_t EfficientNetConfig::parameter_count() const { return motive::parameter_count(*this); }

int64_t EfficientNetConfig::flops_per_image(int64_t h, int64_t w) const {
  return forward_flops(*this, h, w);
}

void EfficientNetConfig::check_contains(const ModelConfig& smaller) const {
  const std::string who = "nest: " + name + " cannot contain " + smaller.name;
  const auto* base = dynamic_cast<const EfficientNetConfig*>(&smaller);
  MOTIVE_CHECK(base != nullptr, who, ": not the same family (", smaller.family(), " vs ", family(),
               ")");
  const auto same = [&](const std::string& what, int64_t a, int64_t b) {
    MOTIVE_CHECK(a == b, who, ": ", what, " differ (", a, " vs ", b, ")");
  };
  const auto at_most = [&](const std::string& what, int64_t a, int64_t b) {
    MOTIVE_CHECK(a <= b, who, ": ", what, " is larger in the base (", a, " vs ", b, ")");
  };
  same("input channels", base->in_channels, in_channels);
  same("classes", base->num_classes, num_classes);
  same("stage counts", static_cast<int64_t>(base->stages.size()),
       static_cast<int64_t>(stages.size()));
  at_most("the stem width", base->stem_width, stem_width);
  for (size_t i = 0; i < stages.size(); ++i) {
    const MBConvStage &b = base->stages[i], &m = stages[i];
    const std::string stage = "stage " + std::to_string(i) + "'s ";
    same(stage + "expand ratios", b.expand_ratio, m.expand_ratio);
    same(stage + "kernel sizes", b.kernel, m.kernel);
    same(stage + "strides", b.stride, m.stride);
    at_most(stage + "width", b.width, m.width);
    at_most(stage + "depth", b.depth, m.depth);
  }
  at_most("the head width", base->head_width, head_width);
}

std::unique_ptr<Model> EfficientNetConfig::build(ParameterSource& source) const {
  return std::make_unique<EfficientNet>(*this, source);
}

}  // namespace motive
