#include "trainer/models_table.h"

#include <cstdio>
#include <sstream>

#include "models/registry.h"

namespace motive {
namespace {

std::string fixed(double value, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
  return buf;
}

}  // namespace

std::string models_table(const std::vector<std::string>& names, const ModelShape& shape) {
  std::ostringstream os;
  os << "| model | family | structure | params (M) | image | GFLOPs |\n"
     << "|---|---|---|---|---|---|\n";
  for (const std::string& name : names) {
    const auto cfg = resolve_model(name, shape);
    const int64_t h = shape.image_height > 0 ? shape.image_height : cfg->image_height();
    const int64_t w = shape.image_width > 0 ? shape.image_width : cfg->image_width();
    const double gflops = static_cast<double>(cfg->flops_per_image(h, w)) * 1e-9;
    os << "| " << name << " | " << cfg->family() << " | " << cfg->describe() << " | "
       << fixed(static_cast<double>(cfg->parameter_count()) * 1e-6, 3) << " | " << h << "x" << w
       << " | " << fixed(gflops, gflops < 10 ? 3 : 2) << " |\n";
  }
  return os.str();
}

}  // namespace motive
