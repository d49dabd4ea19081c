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
// A non-finite loss stops the run before the weights are touched: the last
// checkpoint stays as it was, and the error names the step. So does a
// failed step (out of memory included: the error then says to try a smaller
// batch).
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
  // Resume only: loader threads, overriding the config's (batches do not
  // depend on the worker count, so results stay the same).
  std::optional<int> workers;
  // Called after each checkpoint (epoch end or --checkpoint-every) with the
  // counters it saved; returning false stops the run there, as an
  // interruption would (no summary). Tests interrupt a run with it.
  std::function<bool(const RunCounters& saved)> after_checkpoint;
  std::optional<int64_t> memory_limit_mib;  // resume only: the memory cap, overriding the config's
};

// Starts the run `config` describes in config.out, which must not hold a run
// yet. Everything is built and checked (data, models, policy, schedule,
// reference) before the first file is written. Returns the summary.
nlohmann::json train_new(RunConfig config, const TrainOptions& options = {});

// Continues the run in `run_dir` from its checkpoint with the settings of its
// config.json; a finished run only gets its summary rewritten.
nlohmann::json train_resume(const std::string& run_dir, const TrainOptions& options = {});

}  // namespace motive
