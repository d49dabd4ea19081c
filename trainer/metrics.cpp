#include "trainer/metrics.h"

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "engine/error.h"
#include "trainer/json_fields.h"

namespace motive {

int64_t step_train_flops(int64_t images, int64_t forward_flops_per_image) {
  return 3 * forward_flops_per_image * images;
}

void RunCounters::add_step(Role role, int64_t images, int64_t forward_flops_per_image) {
  const int64_t flops = step_train_flops(images, forward_flops_per_image);
  (role == Role::Base ? images_base : images_motivated) += images;
  (role == Role::Base ? flops_base : flops_motivated) += flops;
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
          {"model", role_name(r.role)},
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

std::optional<double> per(const std::optional<double>& acc, double cost) {
  if (!acc) return std::nullopt;
  return *acc / cost;
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
                            const MotivationPolicy& policy, const PairAccuracy& accuracy,
                            std::optional<int64_t> reference_flops) {
  const double pflops = static_cast<double>(c.train_flops()) / 1e15;
  const int64_t images = c.images_base + c.images_motivated;
  nlohmann::json s = accuracy;
  s["base"] = config.base;
  s["motivated"] = config.has_motivated() ? nlohmann::json(config.motivated) : nlohmann::json();
  s["policy"] = policy.describe();
  s["epochs"] = c.epochs_done;
  s["steps"] = c.steps;
  s["motivated_steps"] = policy.motivated_steps();
  s["activations"] = policy.activations();
  s["activation_steps"] = policy.activation_steps();
  s["train_images_base"] = c.images_base;
  s["train_images_motivated"] = c.images_motivated;
  s["train_flops"] = c.train_flops();
  s["train_flops_base"] = c.flops_base;
  s["train_flops_motivated"] = c.flops_motivated;
  s["wall_seconds"] = c.wall_seconds;
  s["train_seconds"] = c.train_seconds;
  s["images_per_second"] = c.train_seconds > 0 ? static_cast<double>(images) / c.train_seconds : 0;
  s["switches"] = c.switches;
  s["switch_bytes_copied"] = c.switch_bytes_copied;
  s["acc_per_pflop_base"] = or_null(per(accuracy.base, pflops));
  s["acc_per_pflop_motivated"] = or_null(per(accuracy.motivated, pflops));
  if (reference_flops) {
    const double f_ratio =
        static_cast<double>(c.train_flops()) / static_cast<double>(*reference_flops);
    s["reference"] = config.reference;
    s["reference_train_flops"] = *reference_flops;
    s["f_ratio"] = f_ratio;
    s["acc_per_f_ratio_base"] = or_null(per(accuracy.base, f_ratio));
    s["acc_per_f_ratio_motivated"] = or_null(per(accuracy.motivated, f_ratio));
  }
  return s;
}

}  // namespace motive
