#include "models/vit/config.h"

#include <cctype>
#include <set>
#include <vector>

#include "engine/error.h"
#include "models/name_parsing.h"

namespace motive {
namespace {

constexpr const char* kGrammar =
    "vit-<ti|s|b>[-p<patch>][-<image>][-d<blocks>][-h<heads>][-hd<head dim>][-do<dropout>]"
    "[-dp<drop path>] "
    "(vit-ti-p4, vit-s-p4-32-d6, vit-ti-p16-224-dp0.1)";
constexpr int64_t kMaxSize = 1 << 16;  // far below int64 overflow in every count

struct Size {
  const char* name;
  int64_t heads;
};
constexpr Size kSizes[] = {{"ti", 3}, {"s", 6}, {"b", 12}};

bool all_digits(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

}  // namespace

const char* vit_grammar() { return kGrammar; }

int64_t ViTConfig::tokens() const { return (image / patch) * (image / patch) + 1; }

double ViTConfig::drop_path_at(int64_t block) const {
  return depth > 1 ? drop_path * static_cast<double>(block) / static_cast<double>(depth - 1) : 0.0;
}

void ViTConfig::validate() const {
  for (const auto& [field, value] :
       std::vector<std::pair<const char*, int64_t>>{{"patch", patch},
                                                    {"image", image},
                                                    {"depth", depth},
                                                    {"heads", heads},
                                                    {"head_dim", head_dim},
                                                    {"mlp", mlp},
                                                    {"in_channels", in_channels},
                                                    {"num_classes", num_classes}})
    MOTIVE_CHECK(value >= 1 && value <= kMaxSize, name, ": ", field, " must be in [1, ", kMaxSize,
                 "], got ", value);
  MOTIVE_CHECK(image % patch == 0, name, ": the patch size ", patch,
               " does not divide the image side ", image);
  MOTIVE_CHECK(dropout >= 0 && dropout < 1 && drop_path >= 0 && drop_path < 1, name,
               ": dropout and drop path rates must be in [0, 1), got ", dropout, " and ",
               drop_path);
}

ViTConfig vit_preset(const std::string& name, const ModelShape& shape) {
  const auto bad = [&](const std::string& why) {
    fail("unknown model '", name, "': ", why, "; expected ", kGrammar);
  };
  const std::vector<std::string> tokens = split_name(name, '-');
  if (tokens.size() < 2 || tokens[0] != "vit") bad("not a ViT name");
  ViTConfig cfg;
  cfg.name = name;
  const Size* size = nullptr;
  for (const Size& s : kSizes)
    if (tokens[1] == s.name) size = &s;
  if (!size) bad("unknown size '" + tokens[1] + "'");
  cfg.heads = size->heads;
  int64_t image = 0;
  std::set<std::string> seen;
  for (size_t i = 2; i < tokens.size(); ++i) {
    const std::string& t = tokens[i];
    const auto once = [&](const std::string& key) {
      if (!seen.insert(key).second) bad("'" + key + "' given twice");
    };
    const auto integer = [&](size_t skip, int64_t& out, const char* what) {
      if (!parse_number(t.substr(skip), out))
        bad(std::string("the ") + what + " in '-" + t + "' must be a whole number");
    };
    const auto rate = [&](double& out, const char* what) {
      if (!parse_number(t.substr(2), out))
        bad(std::string("the ") + what + " in '-" + t + "' must be a number");
    };
    if (all_digits(t)) {
      once("image");
      integer(0, image, "image side");
    } else if (t.rfind("do", 0) == 0 && t.size() > 2) {
      once("do");
      rate(cfg.dropout, "dropout");
    } else if (t.rfind("dp", 0) == 0 && t.size() > 2) {
      once("dp");
      rate(cfg.drop_path, "drop path rate");
    } else if (t.rfind("hd", 0) == 0 && t.size() > 2) {
      once("hd");
      integer(2, cfg.head_dim, "head dimension");
    } else if (t.size() > 1 && (t[0] == 'p' || t[0] == 'd' || t[0] == 'h')) {
      once(t.substr(0, 1));
      int64_t& field = t[0] == 'p' ? cfg.patch : t[0] == 'd' ? cfg.depth : cfg.heads;
      integer(1, field, t[0] == 'p' ? "patch size" : t[0] == 'd' ? "block count" : "head count");
    } else {
      bad("unknown part '-" + t + "'");
    }
  }
  cfg.mlp = 4 * cfg.dim();
  const int64_t h = shape.image_height, w = shape.image_width;
  MOTIVE_CHECK(h == w, name, ": a ViT takes square images, the data's are ", h, "x", w);
  MOTIVE_CHECK(image == 0 || h == 0 || image == h, name, " is built for ", image, "x", image,
               " images, the data's are ", h, "x", w);
  cfg.image = image > 0 ? image : h > 0 ? h : cfg.patch >= 16 ? 224 : 32;
  cfg.in_channels = shape.in_channels;
  cfg.num_classes = shape.num_classes > 0 ? shape.num_classes : 1000;
  cfg.validate();
  return cfg;
}

}  // namespace motive
