// The `trainer models` table: each model's parameters and forward FLOPs.
#pragma once
#include <string>
#include <vector>

#include "models/resnet_config.h"

namespace motive {

// A Markdown table, one row per model name (resnet_preset grammar): block
// type, stem, depths, widths, learnable parameters, and analytic forward
// GFLOPs per image at 32x32 and 224x224 (multiply-add = 2, convs and the
// classifier; models/resnet_plan.h). Throws motive::Error on a bad name.
std::string models_table(const std::vector<std::string>& names, const PresetOptions& options);

}  // namespace motive
