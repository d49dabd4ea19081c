// The ViT family in the registry (models/registry.h): ViTConfig's ModelConfig
// side (costs, the nesting rule, building) and the family's names.
#include "engine/error.h"
#include "models/registry.h"
#include "models/vit/vit.h"

namespace motive {
namespace {

class ViTFamily final : public ModelFamily {
 public:
  const char* name() const override { return "vit"; }
  bool claims(const std::string& model) const override { return model.rfind("vit-", 0) == 0; }
  std::unique_ptr<ModelConfig> parse(const std::string& model,
                                     const ModelShape& shape) const override {
    return std::make_unique<ViTConfig>(vit_preset(model, shape));
  }
  std::string grammar() const override { return vit_grammar(); }
  std::vector<std::string> presets() const override {
    return {"vit-ti", "vit-s", "vit-b", "vit-ti-p4", "vit-s-p4", "vit-s-p4-d6"};
  }
  std::vector<NestingExample> nesting_examples() const override {
    // Tiny ViTs: patch 4 on 8x8 images (5 tokens), heads of 8 dims.
    const ModelShape shape{3, 10, 8, 8};
    const std::string tiny = "vit-ti-p4-hd8";
    return {{{tiny + "-d1-h2", tiny + "-d2-h2"}, shape},                   // depth
            {{tiny + "-d1-h1", tiny + "-d1-h3"}, shape},                   // heads (width)
            {{tiny + "-d1-h1", tiny + "-d2-h2", tiny + "-d3-h3"}, shape}};  // a chain of three
  }
};

}  // namespace

const ModelFamily& vit_family() {
  static const ViTFamily family;
  return family;
}

std::unique_ptr<ModelConfig> ViTConfig::clone() const { return std::make_unique<ViTConfig>(*this); }

std::string ViTConfig::describe() const {
  std::string out = std::to_string(depth) + " blocks, " + std::to_string(heads) + " heads x " +
                    std::to_string(head_dim) + " (" + std::to_string(dim()) + " dims), MLP " +
                    std::to_string(mlp) + ", patch " + std::to_string(patch);
  if (dropout > 0) out += ", dropout " + std::to_string(dropout).substr(0, 4);
  if (drop_path > 0) out += ", drop path " + std::to_string(drop_path).substr(0, 4);
  return out;
}

int64_t ViTConfig::parameter_count() const {
  const int64_t d = dim(), m = mlp;
  const int64_t per_block = 2 * d                // norm1
                            + 3 * d * d + 3 * d  // q, k, v
                            + d * d + d          // output projection
                            + 2 * d              // norm2
                            + m * d + m          // fc1
                            + d * m + d;         // fc2
  return d * patch * patch * in_channels + d  // patch embedding
         + d + tokens() * d                   // class token, position embedding
         + depth * per_block + 2 * d          // blocks, final norm
         + num_classes * d + num_classes;     // head
}

int64_t ViTConfig::flops_per_image(int64_t h, int64_t w) const {
  MOTIVE_CHECK(h >= patch && w >= patch, name, ": a ", h, "x", w, " image is smaller than a patch");
  const int64_t patches = (h / patch) * (w / patch), n = patches + 1, d = dim();
  const int64_t per_block = n * d * 3 * d  // q, k, v
                            + 2 * n * n * d  // scores and the weighted sum of values
                            + n * d * d      // output projection
                            + 2 * n * d * mlp;  // fc1, fc2
  const int64_t macs = patches * d * patch * patch * in_channels + depth * per_block +
                       d * num_classes;
  return 2 * macs;
}

void ViTConfig::check_contains(const ModelConfig& smaller) const {
  const std::string who = "nest: " + name + " cannot contain " + smaller.name;
  const auto* base = dynamic_cast<const ViTConfig*>(&smaller);
  MOTIVE_CHECK(base != nullptr, who, ": not the same family (", smaller.family(), " vs ",
               family(), ")");
  const auto same = [&](const char* what, int64_t a, int64_t b) {
    MOTIVE_CHECK(a == b, who, ": ", what, " differ (", a, " vs ", b, ")");
  };
  same("patch sizes", base->patch, patch);
  same("image sizes", base->image, image);
  same("head dimensions", base->head_dim, head_dim);
  same("input channels", base->in_channels, in_channels);
  same("classes", base->num_classes, num_classes);
  const auto at_most = [&](const char* what, int64_t a, int64_t b) {
    MOTIVE_CHECK(a <= b, who, ": the base has more ", what, " (", a, " vs ", b, ")");
  };
  at_most("blocks", base->depth, depth);
  at_most("heads", base->heads, heads);
  at_most("MLP units", base->mlp, mlp);
}

std::unique_ptr<Model> ViTConfig::build(ParameterSource& source) const {
  return std::make_unique<ViT>(*this, source);
}

}  // namespace motive
