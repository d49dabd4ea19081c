// The motivation policy (docs/training.md): which model trains each step. A
// policy is a trigger (when an activation starts) and a duration (how long the
// motivated model then trains):
//   triggers   loss-decrease:K   the base training loss was strictly lower than
//                                the previous base step's, K times in a row
//                                (the streak resets after an activation): the
//                                paper's rule, motivation while the base learns
//              plateau:P         the base's smoothed loss has not reached a new
//                                low for P base steps: motivation when the base
//                                stalls, for runs where loss-decrease fires too
//                                often on noisy losses
//              random-rate:P     each base step activates independently with
//                                probability P (paper ablation A)
//              random-count:N    exactly N activations at uniformly random step
//                                indices of the run (paper ablation B)
//              always            every step trains the motivated model
//              never             every step trains the base model
//   durations  steps:M           M motivated steps per activation (default 1)
//              while-improving   stay motivated while the motivated loss keeps
//                                falling (at least one motivated step)
// The decision for a step is made before it runs (next_role) and the step's
// loss is reported after it (observe). Randomness is Philox keyed by the seed
// and the step index, so a resumed policy decides exactly as an uninterrupted
// one; state()/load_state() carry everything else for checkpoints.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "models/role.h"

namespace motive {

struct PolicySpec {
  std::string trigger = "loss-decrease:3";
  std::string duration = "steps:1";
};

class MotivationPolicy {
 public:
  // total_steps: the run's step count (random-count draws its N indices from
  // [0, total_steps)). Bad specs throw motive::Error naming the spec.
  MotivationPolicy(const PolicySpec& spec, int64_t total_steps, uint64_t seed);
  // Move-only: a copy would be a second policy with the same history, and a
  // run has exactly one.
  ~MotivationPolicy();
  MotivationPolicy(MotivationPolicy&&) noexcept;
  MotivationPolicy& operator=(MotivationPolicy&&) noexcept;

  // The model the next step (index step()) trains.
  Role next_role() const;
  // Reports the loss of the step that just ran with next_role(); advances step().
  void observe(double loss);

  int64_t step() const;               // steps observed so far
  int64_t activations() const;        // activations started so far
  int64_t motivated_steps() const;    // steps that trained the motivated model
  // Step index of each activation's first motivated step, in order.
  const std::vector<int64_t>& activation_steps() const;
  // A one-line description for logs, e.g. "loss-decrease:3 + steps:1".
  std::string describe() const;

  // Everything needed to resume exactly (the spec is not included: a resumed
  // run builds the policy from its config, then loads this).
  std::vector<double> state() const;
  void load_state(const std::vector<double>& state);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The policy of a chain of N models (models/nest.h, smallest first): one
// MotivationPolicy per level above the base, policy(l) deciding whether level
// l trains instead of level l-1. A level is motivated when the level below it
// fires: each step climbs from the base while the policy above the current
// level says Motivated, so level l trains only when policy(l) fires on the
// losses of the steps level l-1 trained. After the step, the policies below
// the chosen level observe its loss as a motivated step, the policy above it
// (if any) as a base step, and the ones higher up see nothing: policy(l)
// counts only the steps that reached level l-1. With N = 2 this is the pair's
// policy exactly; N = 1 (the base alone) keeps one policy that never fires.
// Random triggers of policy(l) draw from the seed mixed with l (l = 1: the
// seed itself), so the pair's draws are the single policy's.
class ChainPolicy {
 public:
  // One spec per level above the base (N - 1 of them; one for N = 1).
  ChainPolicy(const std::vector<PolicySpec>& specs, size_t levels, int64_t total_steps,
              uint64_t seed);

  size_t next_level() const;
  void observe(double loss);  // the loss of the step that ran next_level()

  const MotivationPolicy& policy(size_t level) const { return policies_.at(level - 1); }
  // Of the base's policy, policy(1): steps above the base, activations and
  // their first steps.
  int64_t motivated_steps() const { return policies_.front().motivated_steps(); }
  int64_t activations() const { return policies_.front().activations(); }
  const std::vector<int64_t>& activation_steps() const {
    return policies_.front().activation_steps();
  }
  // Whether the last observed step started an activation of the policy of its
  // level (false for a base step). policy(l)'s own activation_steps() count
  // the steps it saw (l = 1: every step).
  bool last_started_activation() const { return last_started_; }
  // The policies' descriptions, comma-separated when they differ.
  std::string describe() const;

  // Each policy's state, in order, each prefixed by its length.
  std::vector<double> state() const;
  void load_state(const std::vector<double>& state);

 private:
  size_t levels_;
  std::vector<MotivationPolicy> policies_;
  bool last_started_ = false;
};

// The specs of a run's trigger and duration lists ("loss-decrease:1" or
// "loss-decrease:1,loss-decrease:3"): one per level above the base, a single
// spec applying to every level. Throws motive::Error when a list has another
// length.
std::vector<PolicySpec> chain_policy_specs(const std::string& triggers,
                                           const std::string& durations, size_t levels);

}  // namespace motive
