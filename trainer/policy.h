// The motivation policy (DESIGN.md "Motivation policy"): which model trains
// each step. A policy is a trigger (when an activation starts) and a duration
// (how long the motivated model then trains):
//   triggers   loss-decrease:K   the base training loss was strictly lower than
//                                the previous base step's, K times in a row
//                                (the streak resets after an activation)
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

#include "models/nest.h"  // Role

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

}  // namespace motive
