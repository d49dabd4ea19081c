#include "models/efficientnet/config.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <set>

#include "engine/error.h"
#include "models/name_parsing.h"

namespace motive {
namespace {

constexpr const char* kGrammar =
    "efficientnet-b<0-7>[x<width multiplier>][-d<depth multiplier>][-s<stages>][-do<dropout>]"
    "[-sd<stochastic depth>] (efficientnet-b0, efficientnet-b0x0.5, efficientnet-b1-s3-do0-sd0)";
constexpr double kMaxMultiplier = 16;  // keeps every count far from int64 overflow

// torchvision's B0 stages (Table 1 of the paper): expand ratio, kernel, stride,
// output channels, blocks; the stem has 32 channels.
constexpr int64_t kStemWidth = 32;
const MBConvStage kB0Stages[] = {{1, 3, 1, 16, 1}, {6, 3, 2, 24, 2},  {6, 5, 2, 40, 2},
                                 {6, 3, 2, 80, 3}, {6, 5, 1, 112, 3}, {6, 5, 2, 192, 4},
                                 {6, 3, 1, 320, 1}};

// torchvision's efficientnet_b0 ... b7: width and depth coefficients, dropout,
// and the evaluation crop of its weights (the native image size).
struct Variant {
  double width, depth, dropout;
  int64_t image;
};
constexpr Variant kVariants[] = {{1.0, 1.0, 0.2, 224}, {1.0, 1.1, 0.2, 240}, {1.1, 1.2, 0.3, 288},
                                 {1.2, 1.4, 0.3, 300}, {1.4, 1.8, 0.4, 380}, {1.6, 2.2, 0.4, 456},
                                 {1.8, 2.6, 0.5, 528}, {2.0, 3.1, 0.5, 600}};

}  // namespace

const char* efficientnet_grammar() { return kGrammar; }

int64_t make_divisible(double v) {
  int64_t out = std::max<int64_t>(8, static_cast<int64_t>(v + 4.0) / 8 * 8);
  if (static_cast<double>(out) < 0.9 * v) out += 8;
  return out;
}

int64_t EfficientNetConfig::blocks() const {
  int64_t n = 0;
  for (const MBConvStage& s : stages) n += s.depth;
  return n;
}

void EfficientNetConfig::validate() const {
  MOTIVE_CHECK(!stages.empty(), name, ": needs at least one stage");
  MOTIVE_CHECK(stem_width >= 1 && head_width >= 1 && in_channels >= 1 && num_classes >= 1, name,
               ": stem width (", stem_width, "), head width (", head_width, "), input channels (",
               in_channels, ") and classes (", num_classes, ") must be >= 1");
  for (size_t i = 0; i < stages.size(); ++i) {
    const MBConvStage& s = stages[i];
    MOTIVE_CHECK(s.expand_ratio >= 1 && s.kernel >= 1 && s.kernel % 2 == 1 &&
                     (s.stride == 1 || s.stride == 2) && s.width >= 1 && s.depth >= 1,
                 name, ": stage ", i, " needs expand ratio >= 1, an odd kernel, stride 1 or 2, ",
                 "width >= 1 and depth >= 1; got ", s.expand_ratio, ", ", s.kernel, ", ", s.stride,
                 ", ", s.width, ", ", s.depth);
  }
  MOTIVE_CHECK(dropout >= 0 && dropout < 1 && stochastic_depth >= 0 && stochastic_depth < 1, name,
               ": dropout and stochastic depth rates must be in [0, 1), got ", dropout, " and ",
               stochastic_depth);
  MOTIVE_CHECK(bn_eps > 0, name, ": BatchNorm eps must be positive, got ", bn_eps);
}

EfficientNetConfig efficientnet_preset(const std::string& name, const ModelShape& shape) {
  const auto bad = [&](const std::string& why) {
    fail("unknown model '", name, "': ", why, "; expected ", kGrammar);
  };
  const std::vector<std::string> tokens = split_name(name, '-');
  if (tokens.size() < 2 || tokens[0] != "efficientnet") bad("not an EfficientNet name");
  // b<K>[x<W>]
  const std::string& head = tokens[1];
  if (head.size() < 2 || head[0] != 'b' || head[1] < '0' || head[1] > '7' ||
      (head.size() > 2 && head[2] != 'x'))
    bad("the variant '" + head + "' is not b0 ... b7");
  const Variant& v = kVariants[head[1] - '0'];
  double width = 1, depth = 1;
  if (head.size() > 2) {
    if (!parse_number(head.substr(3), width))
      bad("the width multiplier in '" + head + "' must be a number after 'x'");
  }
  int64_t stages = static_cast<int64_t>(std::size(kB0Stages));
  EfficientNetConfig cfg;
  cfg.name = name;
  cfg.dropout = v.dropout;
  std::set<std::string> seen;
  for (size_t i = 2; i < tokens.size(); ++i) {
    const std::string& t = tokens[i];
    const auto once = [&](const std::string& key) {
      if (!seen.insert(key).second) bad("'-" + key + "' given twice");
    };
    const auto number = [&](size_t skip, auto& out, const char* what) {
      if (!parse_number(t.substr(skip), out))
        bad(std::string("the ") + what + " in '-" + t + "' must be a number");
    };
    if (t.rfind("do", 0) == 0) {
      once("do");
      number(2, cfg.dropout, "dropout");
    } else if (t.rfind("sd", 0) == 0) {
      once("sd");
      number(2, cfg.stochastic_depth, "stochastic depth rate");
    } else if (t.rfind('d', 0) == 0) {
      once("d");
      number(1, depth, "depth multiplier");
    } else if (t.rfind('s', 0) == 0) {
      once("s");
      number(1, stages, "stage count");
    } else {
      bad("unknown part '-" + t + "'");
    }
  }
  MOTIVE_CHECK(width > 0 && width <= kMaxMultiplier && depth > 0 && depth <= kMaxMultiplier, name,
               ": width and depth multipliers must be in (0, ", kMaxMultiplier, "], got ", width,
               " and ", depth);
  MOTIVE_CHECK(stages >= 1 && stages <= static_cast<int64_t>(std::size(kB0Stages)), name,
               ": the stage count must be in [1, ", std::size(kB0Stages), "], got ", stages);

  // As torchvision's MBConvConfig: the coefficient products, then each width
  // and block count scaled on its own.
  cfg.variant = head[1] - '0';
  cfg.width_coefficient = v.width * width;
  cfg.depth_coefficient = v.depth * depth;
  cfg.stem_width = make_divisible(static_cast<double>(kStemWidth) * cfg.width_coefficient);
  for (int64_t i = 0; i < stages; ++i) {
    MBConvStage s = kB0Stages[i];
    s.width = make_divisible(static_cast<double>(s.width) * cfg.width_coefficient);
    s.depth = static_cast<int64_t>(std::ceil(static_cast<double>(s.depth) * cfg.depth_coefficient));
    cfg.stages.push_back(s);
  }
  cfg.head_width = 4 * cfg.stages.back().width;
  cfg.bn_eps = cfg.variant >= 5 ? 1e-3 : 1e-5;
  cfg.in_channels = shape.in_channels;
  cfg.num_classes = shape.num_classes > 0 ? shape.num_classes : 1000;
  cfg.validate();
  return cfg;
}

}  // namespace motive
