// The dual-model training loop (docs/architecture.md; arXiv 2602.21064). Each step the
// policy picks the model (base or motivated); that model of the nested pair
// runs forward and backward on the batch and the one optimizer over both
// models' parameters steps (the learning rate from the schedule at the global
// step; gradients zeroed every step); the policy then observes the loss. A
// switch between models is choosing which forward to run: the bytes the
// engine copies during it are counted, and are 0 by design. Each epoch ends
// with the test accuracy of both models (and of the BN-recalibrated models
// with --recalibrate), a metrics record and a checkpoint; --checkpoint-every N
// also checkpoints after every N-th step, so a long epoch loses at most N steps.
//
// A run lives in a directory: config.json, metrics.jsonl, checkpoint.safetensors,
// and summary.json once finished (trainer/metrics.h, trainer/checkpoint.h).
// Divergence stops the run (exit code 2): a NaN or infinite loss (before the
// weights are touched), a NaN or infinity in any weight, running statistic or
// optimizer state after a step (checked after every step, one reduction over
// all of them), or a loss above 100 x ln(classes) for 5 steps in a row and
// growing (a uniform guess's loss is ln(classes); the model then gives the
// true class a probability below classes^-100 on average). The last
// checkpoint stays as it was (no checkpoint is ever written with a
// non-finite value), and the error names the step, the model, the tensor or
// the loss, and the resume command with a lower --lr. So does a failed step
// (out of memory: the resume command with a smaller --batch-size).
// SIGINT/SIGTERM stop it after the current step with a checkpoint
// (trainer/interrupt.h).
#pragma once
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "trainer/metrics.h"
#include "trainer/run_config.h"

namespace motive {

struct TrainOptions {
  bool quiet = false;
  // Resume only: settings to change from the step the run resumes at on
  // (from_step is that step); recorded in config.json's "changes", so that
  // every later resume continues with them.
  RunChange change;
  // Called after each checkpoint (epoch end or --checkpoint-every) with the
  // counters it saved; returning false stops the run there, as an
  // interruption would (no summary). Tests interrupt a run with it.
  std::function<bool(const RunCounters& saved)> after_checkpoint;
};

// Starts the run `config` describes in config.out, a new or empty directory
// (trainer/run_dir.h: locked for the whole run). Everything is built and
// checked (settings, data, models, policy, schedule, reference) before the
// first file is written. Returns the summary; throws Interrupted when a
// signal stopped the run (trainer/interrupt.h).
nlohmann::json train_new(RunConfig config, const TrainOptions& options = {});

// Continues the run in `run_dir` from its checkpoint (from step 0 when it has
// none yet) with the settings of its config.json, which must agree with what
// the checkpoint recorded, and options.change from there on; a finished run
// only gets its summary rewritten.
nlohmann::json train_resume(const std::string& run_dir, const TrainOptions& options = {});

}  // namespace motive
