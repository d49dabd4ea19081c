#include "trainer/models_table.h"

#include <cstdio>
#include <sstream>

#include "models/resnet_plan.h"

namespace motive {
namespace {

std::string join(const std::vector<int64_t>& v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? "/" : "") + std::to_string(v[i]);
  return out;
}

std::string fixed(double value, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
  return buf;
}

}  // namespace

std::string models_table(const std::vector<std::string>& names, const PresetOptions& options) {
  std::ostringstream os;
  os << "| model | blocks | stem | depths | widths | params (M) | GFLOPs 32x32 | GFLOPs 224x224 |\n"
     << "|---|---|---|---|---|---|---|---|\n";
  for (const std::string& name : names) {
    const ResNetConfig cfg = resnet_preset(name, options);
    os << "| " << name << " | " << block_type_name(cfg.block) << " | " << stem_name(cfg.stem)
       << " | " << join(cfg.depths) << " | " << join(cfg.widths) << " | "
       << fixed(static_cast<double>(parameter_count(cfg)) * 1e-6, 3) << " | "
       << fixed(static_cast<double>(forward_flops(cfg, 32, 32)) * 1e-9, 3) << " | "
       << fixed(static_cast<double>(forward_flops(cfg, 224, 224)) * 1e-9, 2) << " |\n";
  }
  return os.str();
}

}  // namespace motive
