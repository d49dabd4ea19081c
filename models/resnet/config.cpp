#include "models/resnet/config.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include "engine/error.h"

namespace motive {
namespace {

constexpr double kMaxMultiplier = 64;
constexpr int64_t kMaxCifarDepth = 6 * 1000 + 2;
constexpr const char* kGrammar =
    "resnet<D> with D = 6n+2, n <= 1000 (CIFAR family: resnet20, resnet32, resnet44, "
    "resnet56, resnet110, ...) or resnet18, resnet34, resnet50, optionally followed by x<width "
    "multiplier> "
    "(resnet20x0.5) and -cifar (CIFAR stem: resnet18x0.5-cifar)";

ResNetConfig cifar_family(int64_t depth) {
  ResNetConfig cfg;
  const int64_t n = (depth - 2) / 6;
  cfg.depths = {n, n, n};
  return cfg;  // the defaults are the CIFAR family's
}

ResNetConfig imagenet_family(int64_t depth) {
  ResNetConfig cfg;
  cfg.block = depth >= 50 ? BlockType::Bottleneck : BlockType::Basic;
  cfg.stem = Stem::ImageNet;
  cfg.stem_width = 64;
  cfg.depths = depth == 18 ? std::vector<int64_t>{2, 2, 2, 2} : std::vector<int64_t>{3, 4, 6, 3};
  cfg.widths = {64, 128, 256, 512};
  cfg.num_classes = 1000;
  return cfg;
}

// Reads a whole decimal number at the front of `s`, advancing `pos`; false if none.
bool read_number(const std::string& s, size_t& pos, double& value, bool integer) {
  const char* begin = s.c_str() + pos;
  char* end = nullptr;
  value = integer ? static_cast<double>(std::strtoll(begin, &end, 10)) : std::strtod(begin, &end);
  if (end == begin || !(std::isdigit(static_cast<unsigned char>(*begin)) || *begin == '.'))
    return false;  // strtod would also take signs, blanks, "inf" and "nan"
  pos += static_cast<size_t>(end - begin);
  return true;
}

std::string multiplier_str(double m) {
  std::ostringstream os;
  os << m;
  return os.str();
}

}  // namespace

const char* resnet_grammar() { return kGrammar; }

const char* block_type_name(BlockType b) { return b == BlockType::Basic ? "basic" : "bottleneck"; }
const char* stem_name(Stem s) { return s == Stem::Cifar ? "cifar" : "imagenet"; }

void ResNetConfig::validate() const {
  MOTIVE_CHECK(!depths.empty() && depths.size() == widths.size(), name,
               ": needs one depth and one width per stage, got ", depths.size(), " depths and ",
               widths.size(), " widths");
  for (size_t s = 0; s < depths.size(); ++s)
    MOTIVE_CHECK(depths[s] >= 1 && widths[s] >= 1, name, ": stage ", s,
                 " needs depth >= 1 and width >= 1, got depth ", depths[s], " and width ",
                 widths[s]);
  MOTIVE_CHECK(stem_width >= 1 && in_channels >= 1 && num_classes >= 1, name, ": stem width (",
               stem_width, "), input channels (", in_channels, ") and classes (", num_classes,
               ") must be >= 1");
}

ResNetConfig widened(const ResNetConfig& cfg, double multiplier) {
  // The cap keeps every count far from int64 overflow (a 64x resnet50 has 1e11 parameters).
  MOTIVE_CHECK(multiplier > 0 && multiplier <= kMaxMultiplier, cfg.name,
               ": width multiplier must be in (0, ", kMaxMultiplier, "], got ", multiplier);
  auto scale = [multiplier](int64_t w) {
    return std::max<int64_t>(1, std::llround(static_cast<double>(w) * multiplier));
  };
  ResNetConfig out = cfg;
  out.name = cfg.name + "x" + multiplier_str(multiplier);
  out.stem_width = scale(cfg.stem_width);
  for (int64_t& w : out.widths) w = scale(w);
  return out;
}

ResNetConfig resnet_preset(const std::string& name, const ModelShape& shape) {
  const std::string prefix = "resnet";
  size_t pos = prefix.size();
  double depth = 0, multiplier = 1;
  MOTIVE_CHECK(name.compare(0, pos, prefix) == 0 && read_number(name, pos, depth, true) &&
                   depth <= kMaxCifarDepth,
               "unknown model '", name, "': expected ", kGrammar);
  const bool has_multiplier = pos < name.size() && name[pos] == 'x';
  if (has_multiplier) {
    ++pos;
    MOTIVE_CHECK(read_number(name, pos, multiplier, false), "model '", name,
                 "': the width multiplier after 'x' must be a number");
  }
  const std::string rest = name.substr(pos);
  MOTIVE_CHECK(rest.empty() || rest == "-cifar", "unknown model '", name, "': expected ", kGrammar);

  const auto d = static_cast<int64_t>(depth);
  ResNetConfig cfg;
  if (d == 18 || d == 34 || d == 50) {
    cfg = imagenet_family(d);
  } else {
    MOTIVE_CHECK(d >= 8 && (d - 2) % 6 == 0, "unknown model '", name, "': expected ", kGrammar);
    cfg = cifar_family(d);
  }
  cfg.name = name;  // errors from widened() name the model asked for
  if (has_multiplier) {
    cfg = widened(cfg, multiplier);
    cfg.name = name;
  }
  if (!rest.empty()) cfg.stem = Stem::Cifar;
  cfg.in_channels = shape.in_channels;
  if (shape.num_classes > 0) cfg.num_classes = shape.num_classes;
  cfg.validate();
  return cfg;
}

std::vector<std::string> standard_preset_names() {
  return {"resnet20",  "resnet32", "resnet44", "resnet56",
          "resnet110", "resnet18", "resnet34", "resnet50"};
}

}  // namespace motive
