#include "models/nest.h"

#include "engine/error.h"

namespace motive {
namespace {

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

ResNet nested_base(const ResNetConfig& cfg, const ResNet& owner, BnStats bn_stats) {
  PrefixViews views(owner.named_tensors(), bn_stats == BnStats::Shared);
  return ResNet(cfg, views);
}

NamedTensors with_prefix(const std::string& prefix, const NamedTensors& tensors) {
  NamedTensors out;
  for (const auto& [name, t] : tensors) out.emplace_back(prefix + name, t);
  return out;
}

}  // namespace

const char* bn_stats_name(BnStats s) { return s == BnStats::Separate ? "separate" : "shared"; }

BnStats parse_bn_stats(const std::string& s) {
  if (s == "separate") return BnStats::Separate;
  if (s == "shared") return BnStats::Shared;
  fail("unknown BN statistics mode '", s, "': expected separate or shared");
}

const char* role_name(Role r) { return r == Role::Base ? "base" : "motivated"; }

void check_nestable(const ResNetConfig& base, const ResNetConfig& motivated) {
  const std::string who = "nest: " + motivated.name + " cannot contain " + base.name;
  MOTIVE_CHECK(base.block == motivated.block && base.stem == motivated.stem &&
                   base.depths.size() == motivated.depths.size(),
               who, ": not the same family (", family_str(base), " vs ", family_str(motivated),
               ")");
  MOTIVE_CHECK(base.in_channels == motivated.in_channels, who, ": input channels differ (",
               base.in_channels, " vs ", motivated.in_channels, ")");
  MOTIVE_CHECK(base.num_classes == motivated.num_classes, who, ": classes differ (",
               base.num_classes, " vs ", motivated.num_classes, ")");
  MOTIVE_CHECK(base.stem_width <= motivated.stem_width, who, ": the stem is wider in the base (",
               base.stem_width, " channels vs ", motivated.stem_width, ")");
  for (size_t s = 0; s < base.depths.size(); ++s) {
    MOTIVE_CHECK(base.depths[s] <= motivated.depths[s], who, ": stage ", s,
                 " is deeper in the base (", base.depths[s], " blocks vs ", motivated.depths[s],
                 ")");
    MOTIVE_CHECK(base.widths[s] <= motivated.widths[s], who, ": stage ", s,
                 " is wider in the base (", base.widths[s], " channels vs ", motivated.widths[s],
                 ")");
  }
  // Every layer's widths follow from the stem and stage widths, so only the
  // shortcut kinds are left to compare.
  check_shortcuts(plan_resnet(base), plan_resnet(motivated), who);
}

NestedPair::NestedPair(const ResNetConfig& base, const ResNetConfig& motivated, Generator& gen,
                       const NestOptions& options)
    : bn_stats_(options.bn_stats),
      motivated_(motivated, gen, options.model),
      base_(nested_base(base, motivated_, options.bn_stats)) {}

NestedPair nest(const ResNetConfig& base, const ResNetConfig& motivated, Generator& gen,
                const NestOptions& options) {
  check_nestable(base, motivated);
  return NestedPair(base, motivated, gen, options);
}

std::vector<Tensor> NestedPair::parameters() const {
  std::vector<Tensor> out = motivated_.parameters();
  for (const Tensor& p : base_.parameters()) out.push_back(p);
  return out;
}

NamedTensors NestedPair::named_tensors() const {
  NamedTensors out = with_prefix("motivated.", motivated_.named_tensors());
  if (bn_stats_ == BnStats::Separate)
    for (auto& named : with_prefix("base.", base_.named_buffers())) out.push_back(std::move(named));
  return out;
}

void NestedPair::load_state(const NamedTensors& state) const {
  load_named_tensors(named_tensors(), state,
                     "nested pair " + base_.config().name + " in " + motivated_.config().name);
}

}  // namespace motive
