#include "trainer/run_config.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "engine/error.h"
#include "trainer/json_fields.h"

namespace motive {

void to_json(nlohmann::json& j, const RunChange& c) {
  j = {{"from_step", c.from_step}};
  if (c.lr) j["lr"] = *c.lr;
  if (c.batch_size) j["batch_size"] = *c.batch_size;
  if (c.workers) j["workers"] = *c.workers;
  if (c.memory_limit_mib) j["memory_limit_mib"] = *c.memory_limit_mib;
}

void from_json(const nlohmann::json& j, RunChange& c) {
  MOTIVE_CHECK(j.is_object(), "changes: expected objects like {\"from_step\": 120, \"lr\": 0.01}, got ",
               j.dump());
  c = RunChange{};
  c.from_step = json_value<int64_t>(j, "from_step");
  for (const auto& [key, value] : j.items()) {
    if (key == "from_step") continue;
    if (key == "lr")
      c.lr = json_value<double>(j, "lr");
    else if (key == "batch_size")
      c.batch_size = json_value<int64_t>(j, "batch_size");
    else if (key == "workers")
      c.workers = json_value<int>(j, "workers");
    else if (key == "memory_limit_mib")
      c.memory_limit_mib = json_value<int64_t>(j, "memory_limit_mib");
    else
      fail("changes: unknown key '", key, "' (a resume changes only lr, batch_size, workers and ",
           "memory_limit_mib)");
  }
}

void to_json(nlohmann::json& j, const InitReport& r) { j = fields_to_json(r); }

void from_json(const nlohmann::json& j, InitReport& r) { r = fields_from_json<InitReport>(j); }

RunConfig RunConfig::at_step(int64_t step) const {
  RunConfig c = *this;
  for (const RunChange& change : changes) {
    if (change.from_step > step) break;
    if (change.lr) c.lr = *change.lr;
    if (change.batch_size) c.batch_size = *change.batch_size;
    if (change.workers) c.workers = *change.workers;
    if (change.memory_limit_mib) c.memory_limit_mib = *change.memory_limit_mib;
  }
  return c;
}

namespace {

// Checks settings against the values the trainer accepts; an error names the
// setting by its flag (command line) or by its key in `file`, with what is
// accepted, in one line.
class SettingCheck {
 public:
  explicit SettingCheck(std::string file) : file_(std::move(file)) {}

  // An integer from lo to hi.
  void count(const std::string& key, const char* flag, int64_t v, int64_t lo, int64_t hi) const {
    if (v < lo || v > hi)
      refuse(key, flag, std::to_string(v),
             "an integer from " + std::to_string(lo) + " to " + std::to_string(hi));
  }
  // -1 (all) or an image count.
  void limit(const std::string& key, const char* flag, int64_t v) const {
    if (v != -1 && (v < 1 || v > kMaxImages))
      refuse(key, flag, std::to_string(v),
             "-1 (all the images) or a count from 1 to " + std::to_string(kMaxImages));
  }
  // A finite number in [lo, hi) (or (lo, hi) when lo is excluded).
  void number(const std::string& key, const char* flag, double v, double lo, bool lo_included,
              double hi, const std::string& expected) const {
    const bool in = std::isfinite(v) && (lo_included ? v >= lo : v > lo) && v < hi;
    if (!in) refuse(key, flag, message(v), expected);
  }
  void one_of(const std::string& key, const char* flag, const std::string& v,
              const std::vector<std::string>& names) const {
    if (std::find(names.begin(), names.end(), v) != names.end()) return;
    std::string list;
    for (size_t i = 0; i < names.size(); ++i)
      list += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + names[i];
    refuse(key, flag, "'" + v + "'", list);
  }
  void lr(const std::string& key, double v) const {
    number(key, "--lr", v, 0, false, HUGE_VAL, "a finite number above 0, e.g. 0.1");
  }
  void batch_size(const std::string& key, int64_t v) const {
    count(key, "--batch-size", v, 1, kMaxCount);
  }
  void workers(const std::string& key, int64_t v) const { count(key, "--workers", v, 0, 1024); }
  void memory_limit(const std::string& key, int64_t v) const {
    count(key, "--memory-limit", v, 0, int64_t{1} << 40);
  }

  static constexpr int64_t kMaxCount = 1'000'000'000, kMaxImages = 2'000'000'000;

 private:
  [[noreturn]] void refuse(const std::string& key, const char* flag, const std::string& value,
                           const std::string& expected) const {
    if (file_.empty()) fail(flag, " ", value, ": expected ", expected);
    fail("'", file_, "': ", key, " ", value, ": expected ", expected);
  }
  std::string file_;
};

}  // namespace

void check_run_config(const RunConfig& c, const std::string& file) {
  const SettingCheck check(file);
  constexpr int64_t kMax = SettingCheck::kMaxCount;
  check.limit("limit_train", "--limit-train", c.limit_train);
  check.limit("limit_test", "--limit-test", c.limit_test);
  // "" until the run resolves it (run_parts.h), "none" for models without running statistics.
  if (!c.bn_stats.empty())
    check.one_of("bn_stats", "--bn-stats", c.bn_stats, {"separate", "shared", "none"});
  check.count("recalibrate", "--recalibrate", c.recalibrate, 0, 1'000'000);
  check.count("checkpoint_every", "--checkpoint-every", c.checkpoint_every, 0, kMax);
  check.count("epochs", "--epochs", c.epochs, 1, kMax);
  check.batch_size("batch_size", c.batch_size);
  check.one_of("optimizer", "--optimizer", c.optimizer, {"sgd", "adamw"});
  check.lr("lr", c.lr);
  check.number("momentum", "--momentum", c.momentum, 0, true, 1, "a number from 0 to below 1");
  check.number("weight_decay", "--weight-decay", c.weight_decay, 0, true, HUGE_VAL,
               "a finite number from 0");
  check.one_of("device", "--device", c.device, {"cpu", "cuda"});
  check.one_of("precision", "--precision", c.precision, {"fp32", "bf16"});
  check.workers("workers", c.workers);
  check.memory_limit("memory_limit_mib", c.memory_limit_mib);
  if (!c.freeze.empty()) {
    check.one_of("freeze", "--freeze", c.freeze, {"backbone"});
    // A linear probe on the random features of a fresh backbone is rarely what
    // is meant: a forgotten --init-from would go unnoticed.
    MOTIVE_CHECK(!c.init_from.empty(), file.empty() ? "" : "'" + file + "': ",
                 "--freeze backbone trains the classifier on a pre-trained backbone: give "
                 "--init-from FILE (an export of the pre-trained model)");
    MOTIVE_CHECK(c.recalibrate == 0, file.empty() ? "" : "'" + file + "': ",
                 "--recalibrate with --freeze backbone: a frozen backbone keeps its running "
                 "statistics; recalibrating them would change it");
  }
  MOTIVE_CHECK(!c.sync_bn || c.device == "cpu", file.empty() ? "" : "'" + file + "': ",
               "--sync-bn runs on the CPU backend only (synchronised batch statistics have no "
               "CUDA kernels yet): drop --sync-bn or train with --device cpu");
  MOTIVE_CHECK(!c.reinit_head || !c.init_from.empty(), file.empty() ? "" : "'" + file + "': ",
               "--reinit-head re-initialises the classifier of the model --init-from loads: give "
               "--init-from FILE");
  int64_t previous = 0;
  for (size_t i = 0; i < c.changes.size(); ++i) {
    const RunChange& change = c.changes[i];
    const std::string key = "changes[" + std::to_string(i) + "].";
    check.count(key + "from_step", "--resume", change.from_step, previous, INT64_MAX);
    previous = change.from_step;
    if (change.lr) check.lr(key + "lr", *change.lr);
    if (change.batch_size) check.batch_size(key + "batch_size", *change.batch_size);
    if (change.workers) check.workers(key + "workers", *change.workers);
    if (change.memory_limit_mib) check.memory_limit(key + "memory_limit_mib", *change.memory_limit_mib);
  }
}

bool RunConfig::bf16_autocast() const {
  MOTIVE_CHECK(precision == "fp32" || precision == "bf16", "precision '", precision,
               "' is not fp32 or bf16");
  return precision == "bf16";
}

std::vector<std::string> RunConfig::chain() const {
  std::vector<std::string> out = {base};
  if (!has_motivated()) return out;
  out.insert(out.end(), middle.begin(), middle.end());
  out.push_back(motivated);
  return out;
}

nlohmann::json read_json_file(const std::string& path) {
  std::ifstream in(path);
  MOTIVE_CHECK(in, "cannot read '", path, "': ", std::strerror(errno));
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    fail("'", path, "' is not valid JSON: ", e.what());
  }
}

void write_json_file(const std::string& path, const nlohmann::json& j) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    MOTIVE_CHECK(out, "cannot write '", tmp, "': ", std::strerror(errno));
    out << j.dump(2) << '\n';
    MOTIVE_CHECK(out.flush(), "writing '", tmp, "' failed: ", std::strerror(errno));
  }
  MOTIVE_CHECK(std::rename(tmp.c_str(), path.c_str()) == 0, "renaming '", tmp, "' to '", path,
               "' failed: ", std::strerror(errno));
}

void add_absent_run_keys(nlohmann::json& config) {
  if (!config.is_object()) return;
  const nlohmann::json absent = {{"changes", nlohmann::json::array()},
                                 {"init_from", ""},
                                 {"reinit_head", false},
                                 {"sync_bn", false},
                                 {"freeze", ""},
                                 {"init_loaded", InitReport{}}};
  for (const auto& [key, value] : absent.items())
    if (!config.contains(key)) config[key] = value;
}

void save_run_config(const RunConfig& config, const std::string& run_dir) {
  write_json_file(run_dir + "/config.json", fields_to_json(config));
}

RunConfig load_run_config(const std::string& run_dir) {
  const std::string path = run_dir + "/config.json";
  nlohmann::json j = read_json_file(path);
  add_absent_run_keys(j);
  RunConfig config;
  try {
    config = fields_from_json<RunConfig>(j);
  } catch (const Error& e) {
    fail("'", path, "': ", e.what());
  }
  check_run_config(config, path);
  return config;
}

}  // namespace motive
