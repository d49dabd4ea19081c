#include "trainer/train.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <memory>

#include "engine/autocast.h"
#include "engine/device.h"
#include "engine/ops.h"
#include "engine/schedule.h"
#include "trainer/checkpoint.h"
#include "trainer/evaluate.h"
#include "trainer/metrics.h"
#include "trainer/progress.h"
#include "trainer/run_parts.h"

namespace motive {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// The Philox key of the forward passes' draws (dropout, stochastic depth),
// apart from every other stream of the run's seed.
constexpr uint64_t kForwardStream = 0x666f72776172642dull;  // "forward-"

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

RunConfig with_data_facts(RunConfig config, const DataSplits& data) {
  record_data_facts(config, data);
  resolve_model_options(config);
  return config;
}

class Run {
 public:
  Run(const RunConfig& config, const TrainOptions& options, bool resuming)
      : data_(open_run_data(config)),
        config_(with_data_facts(config, data_)),
        chain_(build_chain(config_)),
        optimizer_(make_optimizer(config_, chain_)),
        train_(make_train_loader(config_, data_)),
        test_(make_test_loader(config_, data_)),
        total_steps_(config_.epochs * train_->batches_per_epoch()),
        schedule_(make_schedule(config_.schedule, config_.lr, total_steps_)),
        policy_(make_policy(config_, total_steps_)),
        options_(options),
        progress_(options.quiet, train_->batches_per_epoch()) {
    if (config_.recalibrate > 0) recalibration_ = make_train_loader(config_, data_);
    if (!config_.reference.empty()) reference_flops_ = reference_train_flops(config_);
    for (size_t level = 0; level < chain_.size(); ++level)
      forward_flops_.push_back(
          chain_.model(level).flops_per_image(config_.image_height, config_.image_width));
    if (resuming) check_data_unchanged(config);
  }

  void start_fresh() {
    const std::string& dir = config_.out;
    MOTIVE_CHECK(!fs::exists(dir + "/config.json"), "'", dir,
                 "' already holds a run: continue it with --resume ", dir,
                 ", or give another --out");
    fs::create_directories(dir);
    save_run_config(config_, dir);
    metrics_.emplace(dir + "/metrics.jsonl", std::nullopt);
    announce("training");
  }

  void resume() {
    const std::string& dir = config_.out;
    MOTIVE_CHECK(fs::exists(checkpoint_path(dir)), "'", dir,
                 "' has no checkpoint: that run stopped before writing one, so start it anew");
    state_ = load_checkpoint(checkpoint_path(dir), chain_, *optimizer_, policy_);
    checkpoint_holds_ = position_name(state_);
    train_->seek(state_.next_batch);
    first_step_ = state_.counters.steps;
    wall_before_ = state_.counters.wall_seconds;
    metrics_.emplace(dir + "/metrics.jsonl", state_.metrics_bytes);
    if (state_.counters.epochs_done >= config_.epochs)
      announce("rewriting the summary of the finished run");
    else
      announce("resuming at step " + std::to_string(state_.counters.steps) + " (epoch " +
               std::to_string(state_.counters.epochs_done + 1) + ") of");
  }

  nlohmann::json train() {
    for (int64_t epoch = state_.counters.epochs_done; epoch < config_.epochs; ++epoch) {
      if (!train_epoch(epoch)) return nullptr;
      end_epoch(epoch);
      if (!checkpoint()) return nullptr;
    }
    state_.counters.wall_seconds = wall_seconds();
    const nlohmann::json summary =
        summary_json(config_, state_.counters, policy_, state_.last_accuracy, reference_flops_);
    write_json_file(config_.out + "/summary.json", summary);
    progress_.line(result_line(config_, summary));
    return summary;
  }

 private:
  // A resumed run must see the data its config recorded.
  void check_data_unchanged(const RunConfig& recorded) const {
    MOTIVE_CHECK(recorded.in_channels == config_.in_channels &&
                     recorded.num_classes == config_.num_classes &&
                     recorded.image_height == config_.image_height &&
                     recorded.image_width == config_.image_width,
                 "the data set ", config_.data, " is not what the run was trained on (",
                 recorded.image_height, "x", recorded.image_width, "x", recorded.in_channels, ", ",
                 recorded.num_classes, " classes; now ", config_.image_height, "x",
                 config_.image_width, "x", config_.in_channels, ", ", config_.num_classes, ")");
  }

  void announce(const std::string& what) {
    progress_.line(
        "trainer: " + what + " " +
        run_banner(config_, policy_.describe(), data_.description, train_->batches_per_epoch()));
  }

  double wall_seconds() const { return wall_before_ + seconds_since(session_start_); }

  // The switch: picking the model the step runs. Nothing may be copied; the
  // engine's copy counter proves it.
  const Model& select(size_t level) {
    const Device device = config_.run_device();
    const int64_t before = memory_stats(device).bytes_copied;
    const Model& model = chain_.model(level);
    const int64_t copied = memory_stats(device).bytes_copied - before;
    if (state_.last_level && *state_.last_level != level) {
      ++state_.counters.switches;
      state_.counters.switch_bytes_copied += copied;
    }
    state_.last_level = level;
    return model;
  }

  std::string level_name(size_t level) const { return motive::level_name(level, chain_.size()); }

  // One optimizer step of `model`; returns the loss. A non-finite loss returns
  // before the optimizer step, leaving weights and optimizer state untouched.
  // Backward is queued before the loss is read: on a GPU the host's wait for
  // that value then overlaps the backward kernels instead of stalling the
  // device between forward and backward.
  double step(const Model& model, const Batch& batch, double lr, int64_t index) {
    optimizer_->set_lr(lr);
    optimizer_->zero_grad();
    // Dropout and stochastic depth draw from (seed, step): a resumed run draws
    // exactly what the uninterrupted one did.
    Generator gen;
    gen.set_state(config_.seed ^ kForwardStream, static_cast<uint64_t>(index) << 40);
    const ForwardContext ctx{true, 0.1, &gen};
    const Tensor loss = cross_entropy(model.forward(batch.images, ctx), batch.labels);
    loss.backward();
    const double value = loss.item();
    if (!std::isfinite(value)) return value;
    optimizer_->step();
    return value;
  }

  // Where a checkpoint of `s` stands: "epoch 2" at an epoch end, else
  // "step 12 (in epoch 3)".
  static std::string position_name(const TrainState& s) {
    return s.next_batch.batch == 0 ? "epoch " + std::to_string(s.counters.epochs_done)
                                   : "step " + std::to_string(s.counters.steps) + " (in epoch " +
                                         std::to_string(s.counters.epochs_done + 1) + ")";
  }

  // What a stopped run leaves behind, for its error line.
  std::string kept_state() const {
    if (checkpoint_holds_.empty())
      return "no checkpoint was written yet, metrics.jsonl has every step before";
    return checkpoint_path(config_.out) + " keeps the state after " + checkpoint_holds_ +
           ", and metrics.jsonl every step before";
  }

  [[noreturn]] void diverged(int64_t step_index, int64_t epoch, size_t level, double loss) const {
    fail("training diverged: the loss is ", loss, " at step ", step_index,
         " (counted from 0, as in metrics.jsonl; epoch ", epoch + 1, ", ", level_name(level),
         " model); ", kept_state(), "; try a lower --lr");
  }

  // Saves the checkpoint of the state now; false when the caller asked to
  // stop here (TrainOptions::after_checkpoint).
  bool checkpoint() {
    state_.counters.wall_seconds = wall_seconds();
    state_.next_batch = train_->position();
    state_.metrics_bytes = metrics_->bytes();
    save_checkpoint(checkpoint_path(config_.out), config_, chain_, *optimizer_, policy_, state_);
    checkpoint_holds_ = position_name(state_);
    return !options_.after_checkpoint || options_.after_checkpoint(state_.counters);
  }

  // The epoch's remaining steps (all of them, unless resumed in mid-epoch);
  // false when stopped after a --checkpoint-every checkpoint.
  bool train_epoch(int64_t epoch) {
    RunCounters& c = state_.counters;
    // Training time: steps and data waits, not checkpoints or evaluation.
    Clock::time_point mark = Clock::now();
    const auto count_time = [&] {
      const double seconds = seconds_since(mark);
      c.train_seconds += seconds;
      session_train_seconds_ += seconds;
    };
    while (auto batch = train_->next()) {
      const int64_t index = c.steps;
      const size_t level = policy_.next_level();
      const double lr = schedule_->lr_at(index);
      double loss = 0;
      try {
        loss = step(select(level), *batch, lr, index);
      } catch (const Error& e) {
        const bool oom = dynamic_cast<const OutOfMemory*>(&e) != nullptr;
        fail("step ", index, " (epoch ", epoch + 1, ", ", level_name(level), " model): ", e.what(),
             "; ", kept_state(), oom ? "; try a smaller --batch-size" : "",
             oom && config_.memory_limit_mib > 0 ? " or a larger --memory-limit" : "");
      }
      if (!std::isfinite(loss)) diverged(index, epoch, level, loss);
      policy_.observe(loss);
      const int64_t images = batch->images.size(0);
      c.add_step(level, images, forward_flops_[level]);
      state_.epoch_losses.add(level, loss);
      session_images_ += images;
      const bool activation = policy_.last_started_activation();
      metrics_->write(
          step_json({index, epoch, level_name(level), loss, lr, c.train_flops(), activation}));
      count_time();
      report(epoch, level, loss, session_train_seconds_);
      // The epoch's last step is checkpointed by end_epoch, after evaluation.
      const bool last_of_epoch = batch->index + 1 == train_->batches_per_epoch();
      if (config_.checkpoint_every > 0 && c.steps % config_.checkpoint_every == 0 &&
          !last_of_epoch && !checkpoint())
        return false;
      mark = Clock::now();
    }
    count_time();  // the wait for the end of the epoch
    return true;
  }

  void report(int64_t epoch, size_t level, double loss, double train_seconds) {
    const int64_t session_steps = state_.counters.steps - first_step_;
    StepProgress p;
    p.epoch = epoch;
    p.epochs = config_.epochs;
    p.steps_done = state_.counters.steps;
    p.total_steps = total_steps_;
    p.loss = loss;
    p.model = level_name(level);
    p.activations = policy_.activations();
    p.images_per_second = static_cast<double>(session_images_) / std::max(train_seconds, 1e-9);
    p.eta_seconds = train_seconds / static_cast<double>(std::max<int64_t>(session_steps, 1)) *
                    static_cast<double>(total_steps_ - state_.counters.steps);
    progress_.step(p);
  }

  void end_epoch(int64_t epoch) {
    RunCounters& c = state_.counters;
    state_.last_accuracy =
        evaluate_chain(chain_, *test_, recalibration_.get(), config_.recalibrate);
    nlohmann::json record = accuracy_json(state_.last_accuracy);
    record["type"] = "epoch";
    record["epoch"] = epoch;
    record["steps"] = c.steps;
    record["train_flops"] = c.train_flops();
    for (size_t level = 0; level < chain_.size(); ++level)
      record["train_loss_" + level_name(level)] = state_.epoch_losses.mean(level);
    record["motivated_steps"] = policy_.motivated_steps();
    record["activations"] = policy_.activations();
    metrics_->write(record);
    progress_.line(epoch_line(config_, record));
    c.epochs_done = epoch + 1;
    state_.epoch_losses = EpochLosses(chain_.size());
  }

  DataSplits data_;
  RunConfig config_;
  NestedChain chain_;
  std::unique_ptr<Optimizer> optimizer_;
  std::unique_ptr<Loader> train_, test_, recalibration_;
  int64_t total_steps_;
  std::unique_ptr<LRSchedule> schedule_;
  ChainPolicy policy_;
  TrainOptions options_;
  Progress progress_;
  std::optional<int64_t> reference_flops_;
  std::vector<int64_t> forward_flops_;  // per level, at the run's image size
  TrainState state_{chain_.size()};
  std::string checkpoint_holds_;  // position_name of the checkpoint on disk ("": none yet)
  std::optional<MetricsLog> metrics_;
  // This session (a resumed run starts a new one): for images/s and the ETA.
  const Clock::time_point session_start_ = Clock::now();
  double session_train_seconds_ = 0;
  int64_t session_images_ = 0;
  int64_t first_step_ = 0;
  double wall_before_ = 0;
};

// What a run sets for the process while it trains: TF32, its memory cap on its
// device (lifted when the run ends) and its precision. The Autocast scope
// covers the backward passes too: they only see tensors already in their
// forward dtype, so this equals a forward-only scope.
class RunSettings {
 public:
  explicit RunSettings(const RunConfig& c)
      : device_(c.run_device()), previous_limit_(memory_limit(device_)),
        precision_(c.bf16_autocast()) {
    set_allow_tf32(c.tf32);
    set_memory_limit(device_, c.memory_limit_mib << 20);
  }
  ~RunSettings() { set_memory_limit(device_, previous_limit_); }
  RunSettings(const RunSettings&) = delete;
  RunSettings& operator=(const RunSettings&) = delete;

 private:
  Device device_;
  int64_t previous_limit_;
  Autocast precision_;
};

}  // namespace

nlohmann::json train_new(RunConfig config, const TrainOptions& options) {
  MOTIVE_CHECK(!config.out.empty(), "train: no output directory (--out)");
  const RunSettings settings(config);
  Run run(config, options, false);
  run.start_fresh();
  return run.train();
}

nlohmann::json train_resume(const std::string& run_dir, const TrainOptions& options) {
  RunConfig config = load_run_config(run_dir);
  config.out = run_dir;  // the directory may have moved since
  if (options.workers) config.workers = *options.workers;
  if (options.memory_limit_mib) config.memory_limit_mib = *options.memory_limit_mib;
  config.device = resolve_device(config.device);  // a GPU run resumes only where there is one
  const RunSettings settings(config);
  Run run(config, options, true);
  run.resume();
  return run.train();
}

}  // namespace motive
