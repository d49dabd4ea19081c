// The ResNet family in the registry (models/registry.h): ResNetConfig's
// ModelConfig side (costs, the nesting rule, building) and the family's names.
//
// Nesting rule: a ResNet contains another when both have the same block type,
// stem, number of stages, input channels and classes; every stage of the
// smaller one is at most as deep and as wide (stem included); and every block
// the smaller one has uses the same shortcut kind (identity or projection) as
// the larger one's block at that place. Depth nesting runs the first
// depths[s] blocks of each stage; width nesting the leading channel block of
// every conv, BN and linear tensor.
#include <sstream>

#include "engine/error.h"
#include "models/registry.h"
#include "models/resnet/plan.h"
#include "models/resnet/resnet.h"

namespace motive {
namespace {

std::string join(const std::vector<int64_t>& v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? "/" : "") + std::to_string(v[i]);
  return out;
}

std::string family_str(const ResNetConfig& c) {
  return std::string(block_type_name(c.block)) + " blocks, " + stem_name(c.stem) + " stem, " +
         std::to_string(c.depths.size()) + " stages";
}

// A base block's shortcut kind must be the motivated one's: an identity cannot
// map onto a projection, nor the other way round.
void check_shortcuts(const ResNetPlan& base, const ResNetPlan& motivated, const std::string& who) {
  for (size_t s = 0; s < base.stages.size(); ++s)
    for (size_t b = 0; b < base.stages[s].size(); ++b) {
      const bool in_base = base.stages[s][b].shortcut.has_value();
      const bool in_motivated = motivated.stages[s][b].shortcut.has_value();
      MOTIVE_CHECK(in_base == in_motivated, who, ": stages.", s, ".blocks.", b, " has ",
                   in_base ? "a projection" : "an identity", " shortcut in the base but ",
                   in_motivated ? "a projection" : "an identity",
                   " in the motivated model (a block's input and output widths must differ in "
                   "both models or in neither)");
    }
}

class ResNetFamily final : public ModelFamily {
 public:
  const char* name() const override { return "resnet"; }
  bool claims(const std::string& model) const override { return model.rfind("resnet", 0) == 0; }
  std::unique_ptr<ModelConfig> parse(const std::string& model,
                                     const ModelShape& shape) const override {
    return std::make_unique<ResNetConfig>(resnet_preset(model, shape));
  }
  std::string grammar() const override { return resnet_grammar(); }
  std::vector<std::string> presets() const override {
    std::vector<std::string> names = standard_preset_names();
    for (const char* cifar_stem : {"resnet18-cifar", "resnet34-cifar", "resnet50-cifar"})
      names.push_back(cifar_stem);
    return names;
  }
  std::vector<NestingExample> nesting_examples() const override {
    const ModelShape shape{3, 10, 8, 8};
    return {{{"resnet8", "resnet14"}, shape},                        // depth
            {{"resnet8x0.5", "resnet8"}, shape},                     // width
            {{"resnet8x0.5", "resnet14"}, shape},                    // both
            {{"resnet8x0.25", "resnet8x0.5", "resnet14"}, shape}};  // a chain of three
  }
};

}  // namespace

const ModelFamily& resnet_family() {
  static const ResNetFamily family;
  return family;
}

std::unique_ptr<ModelConfig> ResNetConfig::clone() const {
  return std::make_unique<ResNetConfig>(*this);
}

std::string ResNetConfig::describe() const {
  return std::string(block_type_name(block)) + " blocks, " + stem_name(stem) + " stem, depths " +
         join(depths) + ", widths " + join(widths);
}

int64_t ResNetConfig::image_height() const { return stem == Stem::Cifar ? 32 : 224; }

int64_t ResNetConfig::parameter_count() const { return motive::parameter_count(*this); }

int64_t ResNetConfig::flops_per_image(int64_t h, int64_t w) const {
  return forward_flops(*this, h, w);
}

void ResNetConfig::check_contains(const ModelConfig& smaller) const {
  const std::string who = "nest: " + name + " cannot contain " + smaller.name;
  const auto* base = dynamic_cast<const ResNetConfig*>(&smaller);
  MOTIVE_CHECK(base != nullptr, who, ": not the same family (", smaller.family(), " vs ",
               family(), ")");
  MOTIVE_CHECK(base->block == block && base->stem == stem && base->depths.size() == depths.size(),
               who, ": not the same family (", family_str(*base), " vs ", family_str(*this), ")");
  MOTIVE_CHECK(base->in_channels == in_channels, who, ": input channels differ (",
               base->in_channels, " vs ", in_channels, ")");
  MOTIVE_CHECK(base->num_classes == num_classes, who, ": classes differ (", base->num_classes,
               " vs ", num_classes, ")");
  MOTIVE_CHECK(base->stem_width <= stem_width, who, ": the stem is wider in the base (",
               base->stem_width, " channels vs ", stem_width, ")");
  for (size_t s = 0; s < depths.size(); ++s) {
    MOTIVE_CHECK(base->depths[s] <= depths[s], who, ": stage ", s, " is deeper in the base (",
                 base->depths[s], " blocks vs ", depths[s], ")");
    MOTIVE_CHECK(base->widths[s] <= widths[s], who, ": stage ", s, " is wider in the base (",
                 base->widths[s], " channels vs ", widths[s], ")");
  }
  // Every layer's widths follow from the stem and stage widths, so only the
  // shortcut kinds are left to compare.
  check_shortcuts(plan_resnet(*base), plan_resnet(*this), who);
}

std::unique_ptr<Model> ResNetConfig::build(ParameterSource& source) const {
  return std::make_unique<ResNet>(*this, source);
}

}  // namespace motive
