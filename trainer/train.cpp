#include "trainer/train.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <memory>
#include <optional>

#include "dist/world.h"
#include "engine/autocast.h"
#include "engine/autograd.h"
#include "engine/device.h"
#include "engine/ops.h"
#include "engine/schedule.h"
#include "trainer/checkpoint.h"
#include "trainer/data_parallel.h"
#include "trainer/evaluate.h"
#include "trainer/finite.h"
#include "trainer/interrupt.h"
#include "trainer/json_fields.h"
#include "trainer/metrics.h"
#include "trainer/progress.h"
#include "trainer/run_dir.h"
#include "trainer/run_parts.h"
#include "trainer/run_plan.h"
#include "trainer/transfer.h"

namespace motive {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// The Philox key of the forward passes' draws (dropout, stochastic depth),
// apart from every other stream of the run's seed.
constexpr uint64_t kForwardStream = 0x666f72776172642dull;  // "forward-"

// An exploding loss is divergence too: a cross-entropy above kLossBound x
// ln(classes) for at least kHighLossSteps steps in a row, and higher than at
// the first of them. ln(classes) is the loss of a uniform guess, what an
// untrained model scores; a mean loss 100 times that gives the true class a
// probability below classes^-100 on average: the weights are blowing up. A
// spike is not enough (lr 10 on Fashion-MNIST spikes to 10 x ln(10) and
// falls back), nor is a loss that is high but falling (a run resumed with a
// lower --lr recovering from one); lr 50 passes the bound within a few steps
// and grows by orders of magnitude.
constexpr double kLossBound = 100;
constexpr int64_t kHighLossSteps = 5;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

RunConfig with_data_facts(RunConfig config, const DataSplits& data) {
  record_data_facts(config, data);
  resolve_model_options(config);
  return config;
}

// The largest proper divisor of a batch size: a smaller batch that still
// divides the images of the epoch so far (RunPlan).
int64_t smaller_batch(int64_t batch_size) {
  for (int64_t d = 2; d * d <= batch_size; ++d)
    if (batch_size % d == 0) return batch_size / d;
  return 1;
}

class Run {
 public:
  // `config`: the run's settings and their changes (config.json); the run
  // trains from `start_step` on with config.at_step(start_step).
  Run(const RunConfig& config, int64_t start_step, const TrainOptions& options)
      : data_(open_run_data(config)),
        config_(with_data_facts(config, data_)),
        settings_(config_.at_step(start_step)),
        plan_(config_, data_.train->size()),
        chain_(build_chain(settings_)),
        optimizer_(make_optimizer(settings_, chain_)),
        train_(make_train_loader(settings_, data_)),
        test_(make_test_loader(settings_, data_)),
        total_steps_(plan_.total_steps()),
        policy_(make_policy(settings_, plan_.planned_steps())),
        options_(options),
        parallel_(config_.run_device()),
        progress_(options.quiet || !parallel_.writes(), train_->batches_per_epoch()),
        watched_(live_checkpoint_tensors(chain_, *optimizer_)),
        loss_bound_(kLossBound * std::log(std::max<double>(2, config_.num_classes))) {
    parallel_.check_batch_size(settings_.batch_size);
    if (config_.sync_bn) parallel_.check_sync_bn(data_.train->size(), settings_.batch_size);
    if (config_.recalibrate > 0) recalibration_ = make_train_loader(settings_, data_);
    if (!config_.reference.empty()) reference_flops_ = reference_train_flops(config_);
    for (size_t level = 0; level < chain_.size(); ++level)
      forward_flops_.push_back(
          chain_.model(level).flops_per_image(config_.image_height, config_.image_width));
  }

  // A new run: its directory is created and locked by now.
  void start_fresh() {
    if (parallel_.writes()) {
      save_run_config(config_, config_.out);
      metrics_.emplace(config_.out + "/metrics.jsonl", std::nullopt);
    }
    announce("training");
  }

  // --init-from: the exported model's tensors over the seed's initialisation,
  // for a new run (before its directory exists: a bad file leaves nothing),
  // and for one resumed before its first checkpoint, which must find the
  // tensors the run started from (`recorded`: config.json's init_loaded).
  void load_init_from(const InitReport* recorded) {
    if (config_.init_from.empty()) return;
    const InitReport loaded = motive::load_init_from(config_, chain_);
    MOTIVE_CHECK(recorded == nullptr || loaded == *recorded, "--resume: '", config_.init_from,
                 "' is not the model the run in '", config_.out, "' started from (config.json: ",
                 recorded->arch, ", tensors crc32 ", recorded->crc32, "; the file now: ",
                 loaded.arch, ", crc32 ", loaded.crc32, "); put that file back");
    config_.init_loaded = loaded;
  }

  // From `checkpoint`, or from step 0 when the run stopped before writing one.
  void resume(const RunConfig& recorded, const RunCheckpoint* checkpoint) {
    check_data_unchanged(recorded);
    const std::string& dir = config_.out;
    if (checkpoint != nullptr) {
      check_fits_plan(*checkpoint);
      restore_checkpoint(*checkpoint, chain_, *optimizer_, policy_);
      state_ = checkpoint->state;
      checkpoint_holds_ = position_name(state_);
      if (parallel_.writes()) metrics_.emplace(dir + "/metrics.jsonl", state_.metrics_bytes);
    } else if (parallel_.writes()) {
      metrics_.emplace(dir + "/metrics.jsonl", std::nullopt);
    }
    train_->seek(plan_.position(state_.counters.steps));
    first_step_ = state_.counters.steps;
    wall_before_ = state_.counters.wall_seconds;
    if (state_.counters.epochs_done >= config_.epochs)
      announce("rewriting the summary of the finished run");
    else
      announce("resuming at step " + std::to_string(state_.counters.steps) + " (epoch " +
               std::to_string(state_.counters.epochs_done + 1) +
               (checkpoint ? "" : "; no checkpoint was written, so from the start") + ") of");
  }

  nlohmann::json train() {
    // In a data-parallel job the ranks may see a signal at different steps:
    // they agree after each step whether any rank got one (stop_signal), so
    // that all stop after the same step and none waits for a stopped one.
    const StopOnSignals stop_on_signals(!parallel_.active());
    for (int64_t epoch = state_.counters.epochs_done; epoch < config_.epochs; ++epoch) {
      if (!train_epoch(epoch)) return nullptr;
      end_epoch(epoch);
      if (!checkpoint()) return nullptr;
      if (stop_signal() != 0 && epoch + 1 < config_.epochs) interrupted();
    }
    state_.counters.wall_seconds = wall_seconds();
    nlohmann::json summary =
        summary_json(config_, state_.counters, policy_, state_.last_accuracy, reference_flops_);
    if (parallel_.active()) summary["data_parallel"] = data_parallel_json();
    if (!parallel_.writes()) return summary;
    write_json_file(config_.out + "/summary.json", summary);
    progress_.line(result_line(config_, summary));
    return summary;
  }

 private:
  // A checkpoint's counters and data position must be where the run's plan
  // puts its step (a checkpoint of this run always is).
  void check_fits_plan(const RunCheckpoint& checkpoint) const {
    const TrainState& s = checkpoint.state;
    const int64_t step = s.counters.steps;
    MOTIVE_CHECK(step <= total_steps_ && s.counters.epochs_done <= config_.epochs, "'",
                 checkpoint.path, "': its step ", step, " (", s.counters.epochs_done,
                 " epochs done) is past the end of the run (", total_steps_, " steps, ",
                 config_.epochs, " epochs)");
    const LoaderPosition at = plan_.position(step);
    const int64_t image = step == 0 ? 0 : s.next_batch.batch * plan_.batch_size(step - 1);
    MOTIVE_CHECK(s.next_batch.epoch == at.epoch && s.counters.epochs_done == at.epoch &&
                     image == at.batch * plan_.batch_size(step),
                 "'", checkpoint.path, "': its data position (epoch ", s.next_batch.epoch + 1,
                 ", batch ", s.next_batch.batch, ", ", s.counters.epochs_done,
                 " epochs done) is not where its step ", step, " stands in the run (epoch ",
                 at.epoch + 1, ", batch ", at.batch, ")");
  }

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
    const std::string ranks =
        parallel_.active()
            ? ", " + parallel_.describe() +
                  (config_.sync_bn ? ", batch norm synchronised over the ranks" : "")
            : "";
    progress_.line("trainer: " + what + " " +
                   run_banner(settings_, policy_.describe(), data_.description,
                              train_->batches_per_epoch()) +
                   ranks);
    if (!config_.init_from.empty()) progress_.line("trainer: " + init_from_line(config_));
  }

  // summary.json's "data_parallel": the job's shape and the bytes one step of
  // each model allreduces (its parameters' bytes).
  nlohmann::json data_parallel_json() const {
    nlohmann::json bytes;
    for (size_t level = 0; level < chain_.size(); ++level)
      if (allreduce_bytes_[level] > 0) bytes[level_name(level)] = allreduce_bytes_[level];
    return {{"world_size", parallel_.world_size()},
            {"backend", parallel_.backend()},
            {"sync_bn", config_.sync_bn},
            {"allreduce_bytes_per_step", bytes}};
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
  //
  // In a data-parallel job (trainer/data_parallel.h) the loss is the global
  // batch's and the gradients are averaged over the ranks before the step,
  // each bucket's allreduce started during backward; a rank whose shard of a
  // short last batch is empty runs no forward. With --sync-bn batch norm
  // takes its statistics over every rank's shard.
  double step(const Model& model, size_t level, const Batch& batch, double lr, int64_t index) {
    optimizer_->set_lr(lr);
    optimizer_->zero_grad();
    // Dropout and stochastic depth draw from (seed, step): a resumed run draws
    // exactly what the uninterrupted one did.
    Generator gen;
    gen.set_state(config_.seed ^ kForwardStream, static_cast<uint64_t>(index) << 40);
    // A frozen backbone is a fixed feature extractor: evaluation mode (running
    // statistics, no dropout), so that nothing of it changes.
    const ForwardContext ctx{config_.freeze != "backbone", 0.1, &gen};
    const int64_t images = batch.images.size(0);
    double value = 0;
    const LeafFinal on_final = parallel_.begin_average(model, images, batch.whole);
    if (images > 0) {
      std::optional<BatchNormSyncScope> sync_bn;  // backward keeps what forward saw
      if (config_.sync_bn && parallel_.active())
        sync_bn.emplace(parallel_.batch_norm_sync(images, batch.whole));
      const Tensor loss = cross_entropy(model.forward(batch.images, ctx), batch.labels);
      backward_with(loss, on_final);
      value = loss.item();
    }
    value = parallel_.global_loss(value, images, batch.whole);
    const int64_t allreduce_bytes = parallel_.finish_average();
    if (!std::isfinite(value)) return value;
    allreduce_bytes_[level] = allreduce_bytes;
    optimizer_->step();
    return value;
  }

  // Where a checkpoint of `s` stands: "epoch 2" at an epoch end, else the
  // last step it holds, counted from 0 as in metrics.jsonl: "step 11 (in
  // epoch 3)".
  static std::string position_name(const TrainState& s) {
    return s.next_batch.batch == 0 ? "epoch " + std::to_string(s.counters.epochs_done)
                                   : "step " + std::to_string(s.counters.steps - 1) +
                                         " (in epoch " +
                                         std::to_string(s.counters.epochs_done + 1) + ")";
  }

  // What a stopped run leaves behind, for its error line.
  std::string kept_state() const {
    if (checkpoint_holds_.empty())
      return "no checkpoint was written yet (a resume starts over at step 0), metrics.jsonl has "
             "every step before";
    return checkpoint_path(config_.out) + " keeps the state after " + checkpoint_holds_ +
           ", and metrics.jsonl every step before";
  }

  std::string resume_command() const { return "trainer train --resume " + config_.out; }

  // Step `index` (of `level`'s model, in `epoch`) diverged: `what` says how.
  [[noreturn]] void diverged(int64_t index, int64_t epoch, size_t level,
                             const std::string& what) const {
    fail("training diverged at step ", index, " (counted from 0, as in metrics.jsonl; epoch ",
         epoch + 1, ", ", level_name(level), " model): ", what, "; ", kept_state(),
         "; resume with a lower learning rate: ", resume_command(), " --lr ", settings_.lr / 10);
  }

  // After step `index`: a non-finite loss, state or an exploding loss stops
  // the run before the step is recorded or checkpointed.
  void check_divergence(int64_t index, int64_t epoch, size_t level, double loss) {
    if (!std::isfinite(loss)) diverged(index, epoch, level, message("the loss is ", loss));
    if (!all_finite(watched_))
      diverged(index, epoch, level,
               "after its update, " + find_non_finite(watched_).value_or("a tensor is not finite"));
    if (loss <= loss_bound_) {
      high_loss_steps_ = 0;
      return;
    }
    if (high_loss_steps_++ == 0) high_loss_first_ = loss;
    if (high_loss_steps_ >= kHighLossSteps && loss > high_loss_first_)
      diverged(index, epoch, level,
               message("the loss has been above ", loss_bound_, " (", kLossBound, " x ln(",
                       config_.num_classes, " classes): ", kLossBound,
                       " times a uniform guess's) for ", high_loss_steps_,
                       " steps in a row and grew from ", high_loss_first_, " to ", loss));
  }

  // The signal that asks the run to stop, or 0: this process's, or in a
  // data-parallel job the largest number any rank got (every rank calls this
  // at the same points and gets the same answer).
  int stop_signal() {
    stop_signal_ = parallel_.agreed_signal(StopOnSignals::received());
    return stop_signal_;
  }

  // A signal asked the run to stop, and the checkpoint is written. The
  // ranks of a job stop together; rank 0 alone says so.
  [[noreturn]] void interrupted() const {
    throw Interrupted(stop_signal_, parallel_.writes() ? "stopped by " + signal_name(stop_signal_) +
                                                             ": " + kept_state() +
                                                             "; continue with: " + resume_command()
                                                       : "");
  }

  // Saves the checkpoint of the state now; false when the caller asked to
  // stop here (TrainOptions::after_checkpoint). Not while the loss is above
  // the divergence bound, unless the run has ended: the checkpoint kept is
  // then the last one before, a state that a resume with a lower --lr can
  // continue from (and a resumed run counts such steps from 0, as the
  // uninterrupted one had at that checkpoint).
  bool checkpoint() {
    if (high_loss_steps_ > 0 && state_.counters.epochs_done < config_.epochs) return true;
    state_.counters.wall_seconds = wall_seconds();
    state_.next_batch = train_->position();
    // One checkpoint per run, rank 0's (its BN running statistics: each rank's
    // come from its own shards).
    if (parallel_.writes()) {
      state_.metrics_bytes = metrics_->bytes();
      save_checkpoint(checkpoint_path(config_.out), config_, chain_, *optimizer_, policy_, state_);
    }
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
      const double lr = plan_.lr_at(index);
      double loss = 0;
      try {
        loss = step(select(level), level, *batch, lr, index);
      } catch (const Error& e) {
        const bool oom = dynamic_cast<const OutOfMemory*>(&e) != nullptr;
        fail("step ", index, " (epoch ", epoch + 1, ", ", level_name(level), " model): ", e.what(),
             "; ", kept_state(), oom ? "; " + out_of_memory_advice() : "");
      }
      check_divergence(index, epoch, level, loss);
      policy_.observe(loss);
      const int64_t images = batch->whole;
      c.add_step(level, images, forward_flops_[level]);
      state_.epoch_losses.add(level, loss);
      session_images_ += images;
      const bool activation = policy_.last_started_activation();
      if (metrics_) {
        nlohmann::json record =
            step_json({index, epoch, level_name(level), loss, lr, c.train_flops(), activation});
        if (parallel_.active()) record["allreduce_bytes"] = allreduce_bytes_[level];
        metrics_->write(record);
      }
      count_time();
      report(epoch, level, loss, session_train_seconds_);
      // The epoch's last step is checkpointed by end_epoch, after evaluation.
      const bool last_of_epoch = batch->index + 1 == train_->batches_per_epoch();
      const bool stop = stop_signal() != 0;
      const bool every = config_.checkpoint_every > 0 && c.steps % config_.checkpoint_every == 0;
      if (!last_of_epoch && (every || stop) && !checkpoint()) return false;
      if (stop && !last_of_epoch) interrupted();
      mark = Clock::now();
    }
    count_time();  // the wait for the end of the epoch
    return true;
  }

  // What to change after running out of memory, as a command.
  std::string out_of_memory_advice() const {
    const std::string larger_cap = settings_.memory_limit_mib > 0
                                       ? "a larger --memory-limit than " +
                                             std::to_string(settings_.memory_limit_mib)
                                       : "";
    if (settings_.batch_size == 1)
      return larger_cap.empty() ? "the model does not fit the device even with a batch of 1"
                                : "resume with " + larger_cap;
    return "resume with a smaller batch: " + resume_command() + " --batch-size " +
           std::to_string(smaller_batch(settings_.batch_size)) +
           (larger_cap.empty() ? "" : " (or with " + larger_cap + ")");
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
    // Rank 0 evaluates and records; the others go on to the next epoch (and
    // wait for rank 0 in its first step).
    if (!parallel_.writes()) {
      c.epochs_done = epoch + 1;
      state_.epoch_losses = EpochLosses(chain_.size());
      return;
    }
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
  RunConfig config_;    // config.json: the settings and their changes
  RunConfig settings_;  // the settings of this session's steps (config_.at_step of the first)
  RunPlan plan_;
  NestedChain chain_;
  std::unique_ptr<Optimizer> optimizer_;
  std::unique_ptr<Loader> train_, test_, recalibration_;
  int64_t total_steps_;
  ChainPolicy policy_;
  TrainOptions options_;
  DataParallel parallel_;
  std::vector<int64_t> allreduce_bytes_ = std::vector<int64_t>(chain_.size());  // per level, last step
  Progress progress_;
  NamedTensors watched_;  // what a step can make non-finite (live views)
  double loss_bound_;     // kLossBound x ln(classes)
  int64_t high_loss_steps_ = 0;  // the last steps in a row whose loss passed it
  double high_loss_first_ = 0;   // the loss of the first of them
  std::optional<int64_t> reference_flops_;
  std::vector<int64_t> forward_flops_;  // per level, at the run's image size
  TrainState state_{chain_.size()};
  std::string checkpoint_holds_;  // position_name of the checkpoint on disk ("": none yet)
  std::optional<MetricsLog> metrics_;
  // This session (a resumed run starts a new one): for images/s and the ETA.
  const Clock::time_point session_start_ = Clock::now();
  double session_train_seconds_ = 0;
  int64_t session_images_ = 0;
  int stop_signal_ = 0;  // the last stop_signal()
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

// config.json must hold what the checkpoint recorded when it was written, but
// for the changes made at a resume from it (from its step on) and the
// directory (a run may move).
void check_config_matches(const RunConfig& config, const RunCheckpoint& checkpoint,
                          const std::string& file) {
  RunConfig expected = config;
  const int64_t step = checkpoint.state.counters.steps;
  auto& changes = expected.changes;
  changes.erase(std::remove_if(changes.begin(), changes.end(),
                               [&](const RunChange& c) { return c.from_step >= step; }),
                changes.end());
  nlohmann::json now = fields_to_json(expected), then = checkpoint.config;
  now.erase("out");
  then.erase("out");
  add_absent_run_keys(then);  // a checkpoint from before some keys existed
  nlohmann::json keys = now;
  keys.update(then);
  for (const auto& [key, value] : keys.items()) {
    const nlohmann::json a = now.value(key, nlohmann::json()), b = then.value(key, nlohmann::json());
    MOTIVE_CHECK(a == b, "'", file, "' disagrees with its checkpoint on ", key, " (config.json: ",
                 a.dump(), ", the checkpoint: ", b.dump(),
                 "): a run's settings change only with --resume and --lr, --batch-size, "
                 "--workers or --memory-limit, which record the change; put back ",
                 b.dump());
  }
}

// Adds `change` (a resume's flags) to `config` from `step` on, leaving out
// what it would not change; merged into a change at the same step (an earlier
// resume from the same checkpoint). Returns what it changed, as flags ("" for
// nothing). Throws motive::Error for a value out of range, naming the flag.
std::string record_change(RunConfig& config, RunChange change, int64_t step) {
  const RunConfig now = config.at_step(step);
  std::string flags;
  const auto keep = [&](auto& value, const auto& current, const char* flag) {
    if (value && *value == current) value.reset();
    if (value) flags += (flags.empty() ? "" : ", ") + std::string(flag);
  };
  keep(change.lr, now.lr, "--lr");
  keep(change.batch_size, now.batch_size, "--batch-size");
  keep(change.workers, now.workers, "--workers");
  keep(change.memory_limit_mib, now.memory_limit_mib, "--memory-limit");
  if (change.empty()) return "";
  change.from_step = step;
  RunConfig probe = config;
  probe.changes = {change};
  check_run_config(probe.at_step(step));  // the new values, named by their flags
  std::vector<RunChange>& changes = config.changes;
  if (changes.empty() || changes.back().from_step != step) {
    changes.push_back(change);
    return flags;
  }
  RunChange& same_step = changes.back();
  if (change.lr) same_step.lr = change.lr;
  if (change.batch_size) same_step.batch_size = change.batch_size;
  if (change.workers) same_step.workers = change.workers;
  if (change.memory_limit_mib) same_step.memory_limit_mib = change.memory_limit_mib;
  return flags;
}

}  // namespace

nlohmann::json train_new(RunConfig config, const TrainOptions& options) {
  MOTIVE_CHECK(!config.out.empty(), "train: no output directory (--out)");
  check_run_config(config);
  const RunSettings settings(config);
  Run run(config, 0, options);
  run.load_init_from(nullptr);
  // Rank 0 of a data-parallel job owns the directory; the others write nothing.
  std::optional<RunDirLock> lock;
  if (dist::rank() == 0) lock.emplace(RunDirLock::create(config.out));
  run.start_fresh();
  return run.train();
}

nlohmann::json train_resume(const std::string& run_dir, const TrainOptions& options) {
  std::optional<RunDirLock> lock;
  if (dist::rank() == 0) lock.emplace(RunDirLock::open(run_dir));
  RunConfig config = load_run_config(run_dir);
  config.out = run_dir;  // the directory may have moved since
  std::optional<RunCheckpoint> checkpoint;
  if (fs::exists(checkpoint_path(run_dir))) {
    checkpoint = read_checkpoint(checkpoint_path(run_dir), config.chain().size());
    check_config_matches(config, *checkpoint, run_dir + "/config.json");
  }
  const int64_t step = checkpoint ? checkpoint->state.counters.steps : 0;
  const RunConfig recorded = config;
  const std::string changed = record_change(config, options.change, step);
  MOTIVE_CHECK(changed.empty() || !checkpoint ||
                   checkpoint->state.counters.epochs_done < config.epochs,
               "the run in '", run_dir, "' is finished: ", changed,
               " would change nothing (a resume of a finished run only rewrites its summary)");
  config.device = resolve_device(config.device);  // a GPU run resumes only where there is one
  const RunSettings settings(config.at_step(step));
  Run run(config, step, options);
  if (!checkpoint) run.load_init_from(&recorded.init_loaded);
  run.resume(recorded, checkpoint ? &*checkpoint : nullptr);
  if (!changed.empty() && dist::rank() == 0) save_run_config(config, run_dir);
  return run.train();
}

}  // namespace motive
