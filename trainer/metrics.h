// What a run measures and writes (DESIGN.md "Cost accounting and metrics"):
//   metrics.jsonl  one JSON object per line: a "step" record per optimizer
//                  step, an "epoch" record per epoch end (test accuracies);
//   summary.json   the run's totals, accuracies and cost ratios.
// Definitions (also in the README, "Training"):
//   training FLOPs of a step = 3 x the model's analytic forward FLOPs per image
//                              x the images of the batch (forward + backward,
//                              multiply-add = 2), charged to the model that ran;
//   ACC/FLOPs  = test accuracy (%) / the run's training PFLOPs (both models);
//   F_Ratio    = the run's training FLOPs / those of the reference run (the
//                standalone motivated model over the same epochs and data);
//   ACC/F_Ratio = test accuracy (%) / F_Ratio.
#pragma once
#include <cstdint>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "models/nest.h"
#include "trainer/evaluate.h"
#include "trainer/policy.h"
#include "trainer/run_config.h"

namespace motive {

// The running totals of a run; checkpointed, so a resumed run continues them.
struct RunCounters {
  int64_t steps = 0;        // optimizer steps done
  int64_t epochs_done = 0;  // epochs finished (evaluated and checkpointed)
  int64_t images_base = 0, images_motivated = 0;
  int64_t flops_base = 0, flops_motivated = 0;  // training FLOPs per model
  int64_t switches = 0;             // steps whose model differs from the previous step's
  int64_t switch_bytes_copied = 0;  // bytes the engine copied during those switches
  double train_seconds = 0;         // inside training steps (data waits included)
  double wall_seconds = 0;          // the whole run: training, evaluation, checkpoints

  int64_t train_flops() const { return flops_base + flops_motivated; }
  // Charges one step of `role` on `images` images.
  void add_step(Role role, int64_t images, int64_t forward_flops_per_image);

  template <class Self, class Visit>
  static void fields(Self& c, Visit&& visit) {
    visit("steps", c.steps);
    visit("epochs_done", c.epochs_done);
    visit("images_base", c.images_base);
    visit("images_motivated", c.images_motivated);
    visit("flops_base", c.flops_base);
    visit("flops_motivated", c.flops_motivated);
    visit("switches", c.switches);
    visit("switch_bytes_copied", c.switch_bytes_copied);
    visit("train_seconds", c.train_seconds);
    visit("wall_seconds", c.wall_seconds);
  }
};

// Mean training loss of each model over the current epoch, for its epoch
// record; checkpointed with the counters, so a run resumed in mid-epoch
// reports the same means.
struct EpochLosses {
  double sum[2] = {0, 0};
  int64_t count[2] = {0, 0};
  void add(Role r, double loss) {
    sum[static_cast<int>(r)] += loss;
    ++count[static_cast<int>(r)];
  }
  nlohmann::json mean(Role r) const {
    const int i = static_cast<int>(r);
    return count[i] ? nlohmann::json(sum[i] / static_cast<double>(count[i])) : nlohmann::json();
  }
};

// Training FLOPs of one step: forward + backward = 3 x forward.
int64_t step_train_flops(int64_t images, int64_t forward_flops_per_image);

// RUN/metrics.jsonl, appended one flushed line per record. A resumed run
// first cuts the file back to `keep_bytes`, its length at the checkpoint, so
// the records of an interrupted epoch are not there twice.
class MetricsLog {
 public:
  MetricsLog(const std::string& path, std::optional<int64_t> keep_bytes);
  void write(const nlohmann::json& record);
  int64_t bytes() const { return bytes_; }

 private:
  std::ofstream out_;
  int64_t bytes_ = 0;
};

struct StepRecord {
  int64_t step, epoch;
  Role role;
  double loss, lr;
  int64_t train_flops;  // cumulative, after this step
  bool activation;      // this step starts an activation
};
nlohmann::json step_json(const StepRecord& r);

// The training FLOPs of a reference run: RUN/summary.json of a finished run
// that trained `config`'s motivated model alone (trigger always, or that model
// as the base with no motivated one) on the same data and epochs. Throws
// motive::Error saying what does not match.
int64_t reference_train_flops(const RunConfig& config);

// summary.json (see the definitions above). `reference_flops` adds f_ratio
// and acc_per_f_ratio_{base,motivated}.
nlohmann::json summary_json(const RunConfig& config, const RunCounters& counters,
                            const MotivationPolicy& policy, const PairAccuracy& accuracy,
                            std::optional<int64_t> reference_flops);

}  // namespace motive
