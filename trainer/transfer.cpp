#include "trainer/transfer.h"

#include <zlib.h>

#include <cstdio>
#include <map>
#include <sstream>

#include "engine/autograd.h"
#include "engine/serialize.h"

namespace motive {
namespace {

constexpr const char* kModelFormat = "motive-model/1";  // trainer/model_io.h

std::string metadata(const SafetensorsFile& file, const std::string& key) {
  const auto it = file.metadata.find(key);
  return it == file.metadata.end() ? "" : it->second;
}

// The file is one of `trainer export`'s, for this run's family and input
// channels; anything else is refused, naming what it is.
void check_file(const RunConfig& config, const NestedChain& chain, const SafetensorsFile& file) {
  const std::string who = "--init-from '" + config.init_from + "'";
  const std::string format = metadata(file, "format");
  MOTIVE_CHECK(format.rfind("motive-run", 0) != 0, who,
               " is a run checkpoint (every model of a run); export the model to start from: "
               "trainer export --run DIR --model base|motivated --out FILE");
  MOTIVE_CHECK(format == kModelFormat, who, " is not a model written by trainer export (format '",
               format, "'; a --format torch export is for PyTorch: give the motive export)");
  const std::string family = metadata(file, "family"), arch = metadata(file, "arch");
  const char* run_family = chain.largest().config().family();
  MOTIVE_CHECK(family == run_family, who, " holds ", arch, ", a ", family,
               " model; this run trains ", run_family, " models (transfer needs one family)");
  const std::string channels = metadata(file, "in_channels");
  MOTIVE_CHECK(channels == std::to_string(config.in_channels), who, " holds ", arch,
               " for images of ", channels, " channels; this run's data (", config.data,
               ") has ", config.in_channels);
}

// The names and shapes of `level`'s tensors that match one of the file's
// (the classifier left out with --reinit-head).
std::map<std::string, Tensor> matches(const RunConfig& config, const Model& model,
                                      const SafetensorsFile& file) {
  std::map<std::string, Tensor> own;
  for (const auto& [name, t] : model.named_tensors()) own.emplace(name, t);
  std::map<std::string, Tensor> out;
  for (const auto& [name, t] : file.tensors) {
    const auto it = own.find(name);
    if (it == own.end() || it->second.shape() != t.shape()) continue;
    if (config.reinit_head && model.is_classifier(name)) continue;
    out.emplace(name, it->second);
  }
  return out;
}

// The level the file goes into (the rule in transfer.h).
size_t choose_level(const RunConfig& config, const NestedChain& chain,
                    const SafetensorsFile& file) {
  const std::string arch = metadata(file, "arch");
  for (size_t level = chain.size(); level-- > 0;)
    if (chain.model(level).name() == arch) return level;
  size_t best = chain.size() - 1, most = 0;
  for (size_t level = chain.size(); level-- > 0;) {
    const size_t n = matches(config, chain.model(level), file).size();
    if (n > most) best = level, most = n;
  }
  return best;
}

// zlib's crc32 of every tensor's name and bytes, in file order, as 8 hex digits.
std::string tensors_crc32(const SafetensorsFile& file) {
  uLong crc = crc32(0L, Z_NULL, 0);
  for (const auto& [name, t] : file.tensors) {
    crc = crc32(crc, reinterpret_cast<const Bytef*>(name.data()), static_cast<uInt>(name.size()));
    const auto& storage = *t.storage();
    crc = crc32(crc, static_cast<const Bytef*>(storage.data()), static_cast<uInt>(storage.nbytes()));
  }
  char hex[16];
  std::snprintf(hex, sizeof hex, "%08lx", static_cast<unsigned long>(crc));
  return hex;
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& name : names) out += (out.empty() ? "" : ", ") + name;
  return out.empty() ? "none" : out;
}

}  // namespace

InitReport load_init_from(const RunConfig& config, const NestedChain& chain) {
  SafetensorsFile file;
  try {
    file = load_safetensors(config.init_from);
  } catch (const Error& e) {
    fail("--init-from '", config.init_from, "': ", e.what());
  }
  check_file(config, chain, file);
  const size_t level = choose_level(config, chain, file);
  const Model& model = chain.model(level);
  const std::map<std::string, Tensor> targets = matches(config, model, file);
  MOTIVE_CHECK(!targets.empty(), "--init-from '", config.init_from, "' (", metadata(file, "arch"),
               ") has no tensor of the name and shape of one of ", model.name(),
               "'s: nothing to load");

  InitReport report;
  report.arch = metadata(file, "arch");
  report.level = level_name(level, chain.size());
  report.crc32 = tensors_crc32(file);
  NoGradGuard no_grad;
  for (const auto& [name, t] : file.tensors) {
    const auto it = targets.find(name);
    if (it == targets.end()) {
      report.skipped.push_back(name);
      continue;
    }
    Tensor dst = it->second;
    dst.copy_(t);
    ++report.loaded;
  }
  for (const auto& [name, t] : model.named_tensors())
    if (targets.count(name) == 0) report.kept.push_back(name);
  return report;
}

std::string init_from_line(const RunConfig& config) {
  const InitReport& r = config.init_loaded;
  std::ostringstream os;
  os << "init from " << config.init_from << " (" << r.arch << "): " << r.loaded << " of "
     << r.loaded + static_cast<int64_t>(r.skipped.size()) << " tensors loaded into the " << r.level
     << " model; skipped from the file: " << joined(r.skipped) << "; left at the initialisation: "
     << joined(r.kept);
  if (config.freeze == "backbone") os << "; backbone frozen (only the classifier trains)";
  return os.str();
}

void freeze_backbone(const NestedChain& chain) {
  for (size_t level = 0; level < chain.size(); ++level) {
    const Model& model = chain.model(level);
    for (auto& [name, p] : model.named_parameters())
      if (!model.is_classifier(name)) p.requires_grad_(false);
  }
}

}  // namespace motive
