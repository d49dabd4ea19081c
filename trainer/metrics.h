// What a run measures and writes (docs/training.md, the definitions):
//   metrics.jsonl  one JSON object per line: a "step" record per optimizer
//                  step, an "epoch" record per epoch end (test accuracies);
//   summary.json   the run's totals, accuracies and cost ratios.
// Definitions (also in docs/training.md):
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
#include <vector>

#include "models/nest.h"
#include "trainer/evaluate.h"
#include "trainer/policy.h"
#include "trainer/run_config.h"

namespace motive {

// The running totals of a run; checkpointed, so a resumed run continues them.
// Per-model counts are indexed by level (models/nest.h: 0 is the base).
struct RunCounters {
  int64_t steps = 0;        // optimizer steps done
  int64_t epochs_done = 0;  // epochs finished (evaluated and checkpointed)
  std::vector<int64_t> level_steps, images, flops;  // per level; flops: training FLOPs
  int64_t switches = 0;             // steps whose model differs from the previous step's
  int64_t switch_bytes_copied = 0;  // bytes the engine copied during those switches
  double train_seconds = 0;         // inside training steps (data waits included)
  double wall_seconds = 0;          // the whole run: training, evaluation, checkpoints

  explicit RunCounters(size_t levels = 0) : level_steps(levels), images(levels), flops(levels) {}
  int64_t train_flops() const;
  int64_t train_images() const;
  // Charges one step of the model at `level` on `images` images.
  void add_step(size_t level, int64_t images, int64_t forward_flops_per_image);

  template <class Self, class Visit>
  static void fields(Self& c, Visit&& visit) {
    visit("steps", c.steps);
    visit("epochs_done", c.epochs_done);
    visit("level_steps", c.level_steps);
    visit("images", c.images);
    visit("flops", c.flops);
    visit("switches", c.switches);
    visit("switch_bytes_copied", c.switch_bytes_copied);
    visit("train_seconds", c.train_seconds);
    visit("wall_seconds", c.wall_seconds);
  }
};

// Mean training loss of each level's model over the current epoch, for its
// epoch record; checkpointed with the counters, so a run resumed in mid-epoch
// reports the same means.
struct EpochLosses {
  std::vector<double> sum;
  std::vector<int64_t> count;

  explicit EpochLosses(size_t levels = 0) : sum(levels), count(levels) {}
  void add(size_t level, double loss) {
    sum.at(level) += loss;
    ++count.at(level);
  }
  nlohmann::json mean(size_t level) const {
    return count.at(level) ? nlohmann::json(sum[level] / static_cast<double>(count[level]))
                           : nlohmann::json();
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
  std::string model;  // the level name of the model that ran (models/nest.h)
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

// summary.json (see the definitions above). Per-model keys are spelled with
// the level names (acc_base, acc_motivated, train_flops_level1, ...).
// `reference_flops` adds f_ratio and acc_per_f_ratio_<level>.
nlohmann::json summary_json(const RunConfig& config, const RunCounters& counters,
                            const ChainPolicy& policy, const ChainAccuracy& accuracy,
                            std::optional<int64_t> reference_flops);

}  // namespace motive
