#include "trainer/metrics.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "engine/error.h"
#include "trainer/json_fields.h"

namespace motive {

int64_t step_train_flops(int64_t images, int64_t forward_flops_per_image) {
  return 3 * forward_flops_per_image * images;
}

int64_t RunCounters::train_flops() const {
  int64_t total = 0;
  for (int64_t f : flops) total += f;
  return total;
}

int64_t RunCounters::train_images() const {
  int64_t total = 0;
  for (int64_t n : images) total += n;
  return total;
}

void RunCounters::add_step(size_t level, int64_t step_images, int64_t forward_flops_per_image) {
  ++level_steps.at(level);
  images.at(level) += step_images;
  flops.at(level) += step_train_flops(step_images, forward_flops_per_image);
  ++steps;
}

MetricsLog::MetricsLog(const std::string& path, std::optional<int64_t> keep_bytes) {
  namespace fs = std::filesystem;
  if (keep_bytes) {
    std::error_code ec;
    const auto size = fs::file_size(path, ec);
    MOTIVE_CHECK(!ec && static_cast<int64_t>(size) >= *keep_bytes, "'", path,
                 "' is shorter than its checkpoint says (", *keep_bytes,
                 " bytes): the run directory was changed since");
    fs::resize_file(path, static_cast<uintmax_t>(*keep_bytes));
    bytes_ = *keep_bytes;
  }
  out_.open(path, keep_bytes ? std::ios::app : std::ios::trunc);
  MOTIVE_CHECK(out_, "cannot write '", path, "': ", std::strerror(errno));
}

void MetricsLog::write(const nlohmann::json& record) {
  const std::string line = record.dump() + "\n";
  out_ << line << std::flush;  // a plot or `tail -f` sees each step as it ends
  bytes_ += static_cast<int64_t>(line.size());
}

nlohmann::json step_json(const StepRecord& r) {
  return {{"type", "step"},
          {"step", r.step},
          {"epoch", r.epoch},
          {"model", r.model},
          {"loss", r.loss},
          {"lr", r.lr},
          {"train_flops", r.train_flops},
          {"activation", r.activation}};
}

namespace {

// The model a run trained alone: its motivated model under trigger always, or
// its base when it has no motivated model; "" when it trained a pair.
std::string standalone_model(const RunConfig& c) {
  if (!c.has_motivated()) return c.base;
  return c.trigger == "always" ? c.motivated : "";
}

// Accuracy per unit of cost, null when the accuracy is absent.
nlohmann::json per(const std::optional<double>& acc, double cost) {
  return acc ? nlohmann::json(*acc / cost) : nlohmann::json();
}

}  // namespace

int64_t reference_train_flops(const RunConfig& config) {
  const std::string& dir = config.reference;
  const RunConfig ref = load_run_config(dir);
  const std::string who = "--reference " + dir;
  const std::string alone = standalone_model(ref);
  MOTIVE_CHECK(!alone.empty(), who, ": not a standalone run (it trains ", ref.base, " in ",
               ref.motivated, " with trigger ", ref.trigger,
               "); F_Ratio compares with the motivated model trained alone (--trigger always)");
  MOTIVE_CHECK(config.has_motivated() && alone == config.motivated, who, ": it trains ", alone,
               ", but this run's motivated model is ",
               config.has_motivated() ? config.motivated : "absent");
  MOTIVE_CHECK(ref.data == config.data && ref.limit_train == config.limit_train &&
                   ref.epochs == config.epochs,
               who, ": trained on ", ref.data, " (limit-train ", ref.limit_train, ") for ",
               ref.epochs, " epochs, this run on ", config.data, " (limit-train ",
               config.limit_train, ") for ", config.epochs,
               " epochs: F_Ratio needs the same data and epochs");
  const nlohmann::json summary = read_json_file(dir + "/summary.json");
  MOTIVE_CHECK(summary.contains("train_flops") && summary.at("train_flops").is_number_integer(),
               who, ": summary.json has no train_flops");
  const int64_t flops = summary.at("train_flops").get<int64_t>();
  MOTIVE_CHECK(flops > 0, who, ": summary.json says train_flops ", flops);
  return flops;
}

nlohmann::json summary_json(const RunConfig& config, const RunCounters& c,
                            const ChainPolicy& policy, const ChainAccuracy& accuracy,
                            std::optional<int64_t> reference_flops) {
  const double pflops = static_cast<double>(c.train_flops()) / 1e15;
  nlohmann::json s = accuracy_json(accuracy);
  s["base"] = config.base;
  if (!config.middle.empty()) s["middle"] = config.middle;
  s["motivated"] = config.has_motivated() ? nlohmann::json(config.motivated) : nlohmann::json();
  s["policy"] = policy.describe();
  s["epochs"] = c.epochs_done;
  s["steps"] = c.steps;
  s["motivated_steps"] = policy.motivated_steps();
  s["activations"] = policy.activations();
  s["activation_steps"] = policy.activation_steps();
  s["train_flops"] = c.train_flops();
  s["wall_seconds"] = c.wall_seconds;
  s["train_seconds"] = c.train_seconds;
  s["images_per_second"] =
      c.train_seconds > 0 ? static_cast<double>(c.train_images()) / c.train_seconds : 0;
  s["switches"] = c.switches;
  s["switch_bytes_copied"] = c.switch_bytes_copied;
  std::optional<double> f_ratio;
  if (reference_flops) {
    f_ratio = static_cast<double>(c.train_flops()) / static_cast<double>(*reference_flops);
    s["reference"] = config.reference;
    s["reference_train_flops"] = *reference_flops;
    s["f_ratio"] = *f_ratio;
  }
  // Per model, by level name; a model trained alone reports its absent
  // motivated model as 0 images and FLOPs and null accuracies.
  const size_t levels = std::max<size_t>(accuracy.size(), 2);
  for (size_t level = 0; level < levels; ++level) {
    const std::string name = level_name(level, levels);
    const bool present = level < accuracy.size();
    if (levels > 2) s["steps_" + name] = c.level_steps[level];
    s["train_images_" + name] = present ? c.images[level] : 0;
    s["train_flops_" + name] = present ? c.flops[level] : 0;
    s["acc_per_pflop_" + name] = present ? per(accuracy[level].plain, pflops) : nlohmann::json();
    if (f_ratio)
      s["acc_per_f_ratio_" + name] =
          present ? per(accuracy[level].plain, *f_ratio) : nlohmann::json();
  }
  return s;
}

}  // namespace motive
