#include "models/nest.h"

#include "engine/error.h"
#include "models/registry.h"

namespace motive {
namespace {

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

std::string level_name(size_t level, size_t count) {
  if (level == 0) return "base";
  if (level + 1 == count) return "motivated";
  return "level" + std::to_string(level);
}

NestedChain::NestedChain(const std::vector<const ModelConfig*>& configs, Generator& gen,
                         const NestOptions& options)
    : bn_stats_(options.bn_stats) {
  MOTIVE_CHECK(!configs.empty(), "nest: no models");
  for (size_t i = 1; i < configs.size(); ++i) configs[i]->check_contains(*configs[i - 1]);
  models_.resize(configs.size());
  models_.back() = build_model(*configs.back(), gen, options.model);
  PrefixViews views(models_.back()->named_tensors(), bn_stats_ == BnStats::Shared);
  for (size_t i = 0; i + 1 < configs.size(); ++i) models_[i] = configs[i]->build(views);
}

std::vector<Tensor> NestedChain::parameters() const {
  std::vector<Tensor> out = largest().parameters();
  for (size_t i = 0; i + 1 < size(); ++i)
    for (const Tensor& p : models_[i]->parameters()) out.push_back(p);
  return out;
}

NamedTensors NestedChain::named_tensors() const {
  NamedTensors out = with_prefix(level_name(size() - 1, size()) + ".", largest().named_tensors());
  if (bn_stats_ == BnStats::Separate)
    for (size_t i = 0; i + 1 < size(); ++i)
      for (auto& named : with_prefix(level_name(i, size()) + ".", models_[i]->named_buffers()))
        out.push_back(std::move(named));
  return out;
}

void NestedChain::load_state(const NamedTensors& state) const {
  std::string who = "nested models";
  for (const auto& m : models_) who += " " + m->name();
  load_named_tensors(named_tensors(), state, who);
}

NestedChain nest(const std::vector<std::string>& names, const ModelShape& shape, Generator& gen,
                 const NestOptions& options) {
  std::vector<std::unique_ptr<ModelConfig>> owned;
  std::vector<const ModelConfig*> configs;
  for (const std::string& name : names) {
    owned.push_back(resolve_model(name, shape));
    configs.push_back(owned.back().get());
  }
  return NestedChain(configs, gen, options);
}

}  // namespace motive
