// Learning-rate schedules as pure functions of the optimizer step. The trainer
// calls optimizer.set_lr(schedule.lr_at(step)) before each step, so a schedule
// holds no mutable state and resuming from a checkpoint needs only the step.
// Steps are 0-based: lr_at(0) is the rate of the first optimizer step (PyTorch's
// rate after constructing the scheduler, before any scheduler.step()).
#pragma once
#include <cstdint>
#include <memory>
#include <string>

namespace motive {

class LRSchedule {
 public:
  virtual ~LRSchedule() = default;
  // Throws motive::Error for a negative step.
  double lr_at(int64_t step) const;

 protected:
  virtual double compute(int64_t step) const = 0;  // step >= 0
};

class ConstantLR : public LRSchedule {
 public:
  explicit ConstantLR(double lr);

 private:
  double compute(int64_t step) const override;
  double lr_;
};

// torch.optim.lr_scheduler.StepLR: base_lr * gamma^floor(step / step_size).
class StepLR : public LRSchedule {
 public:
  StepLR(double base_lr, int64_t step_size, double gamma = 0.1);

 private:
  double compute(int64_t step) const override;
  double base_lr_;
  int64_t step_size_;
  double gamma_;
};

// Linear warm-up over [0, warmup_steps) from warmup_start_factor * base_lr
// (0 by default, like Hugging Face's get_cosine_schedule_with_warmup) towards
// base_lr, then cosine annealing from base_lr at step warmup_steps to min_lr at
// step total_steps; later steps stay at min_lr.
class CosineLR : public LRSchedule {
 public:
  CosineLR(double base_lr, int64_t total_steps, int64_t warmup_steps = 0, double min_lr = 0,
           double warmup_start_factor = 0);

 private:
  double compute(int64_t step) const override;
  double base_lr_;
  int64_t total_steps_, warmup_steps_;
  double min_lr_, warmup_start_factor_;
};

// torch.optim.lr_scheduler.OneCycleLR with its defaults (two phases, cosine
// annealing): from max_lr / div_factor up to max_lr at step
// pct_start * total_steps - 1, then down to max_lr / div_factor /
// final_div_factor at step total_steps - 1; later steps stay there (PyTorch
// raises instead). Only the rate is scheduled, not momentum (PyTorch's
// cycle_momentum).
class OneCycleLR : public LRSchedule {
 public:
  OneCycleLR(int64_t total_steps, double max_lr, double pct_start = 0.3, double div_factor = 25,
             double final_div_factor = 1e4);

 private:
  double compute(int64_t step) const override;
  int64_t total_steps_;
  double max_lr_, initial_lr_, min_lr_, peak_step_;
};

// Builds a schedule from a command-line spec: a name, then arguments separated
// by ':' or ',', each positional (in the order listed) or key=value:
//   constant
//   step:<step_size>[:<gamma=0.1>]               e.g. step:30:0.1
//   cosine[:warmup=0][:min_lr=0][:warmup_start=0]  e.g. cosine:warmup=500
//   onecycle[:pct_start=0.3][:div_factor=25][:final_div_factor=1e4]
// base_lr is the constant/step/cosine base rate and onecycle's max_lr; counts
// are in optimizer steps and total_steps is the run's length. A bad spec throws
// motive::Error naming it.
std::unique_ptr<LRSchedule> make_schedule(const std::string& spec, double base_lr,
                                          int64_t total_steps);

}  // namespace motive
