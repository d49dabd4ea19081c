// The `trainer models` table: each model's structure, parameters and forward FLOPs.
#pragma once
#include <string>
#include <vector>

#include "models/model.h"

namespace motive {

// A Markdown table, one row per model name (models/registry.h): family, a
// one-line structure, learnable parameters, the image size and the analytic
// forward GFLOPs per image at it (multiply-add = 2; each family says which
// layers it counts). The image size is `shape`'s, else each preset's native
// one (ResNet: 32 with the CIFAR stem, 224 with the ImageNet one; ViT: see
// models/vit/config.h). Throws motive::Error on a bad name.
std::string models_table(const std::vector<std::string>& names, const ModelShape& shape);

}  // namespace motive
