#include "models/registry.h"

#include "engine/error.h"

namespace motive {

// Each family defines its accessor in its own folder (models/<family>/family.cpp).
const ModelFamily& resnet_family();
const ModelFamily& vit_family();
const ModelFamily& efficientnet_family();

const std::vector<const ModelFamily*>& model_families() {
  static const std::vector<const ModelFamily*> families = {&resnet_family(), &vit_family(),
                                                              &efficientnet_family()};
  return families;
}

const ModelFamily& family_of(const std::string& model) {
  std::string accepted;
  for (const ModelFamily* f : model_families()) {
    if (f->claims(model)) return *f;
    accepted += std::string(accepted.empty() ? "" : "; ") + f->name() + ": " + f->grammar();
  }
  fail("unknown model '", model, "': expected ", accepted);
}

std::unique_ptr<ModelConfig> resolve_model(const std::string& model, const ModelShape& shape) {
  return family_of(model).parse(model, shape);
}

std::vector<std::string> preset_names() {
  std::vector<std::string> out;
  for (const ModelFamily* f : model_families())
    for (std::string& name : f->presets()) out.push_back(std::move(name));
  return out;
}

}  // namespace motive
