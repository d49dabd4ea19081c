// RUN/checkpoint.safetensors: everything a run needs to continue exactly,
// written at each epoch end (and every --checkpoint-every steps), atomically
// (engine/serialize.h: tmp + rename, so an interrupted write leaves the
// previous checkpoint intact).
//   tensors   "pair.<name>"       the nested pair (models/nest.h named_tensors:
//                                 weights, both models' BN statistics)
//             "optimizer.<name>"  the optimizer state (momentum / Adam moments, steps)
//             "policy.state"      the motivation policy's state (float64)
//   metadata  "format"            "motive-run-checkpoint/1"
//             "state"             JSON: the run's counters, the loader position
//                                 (the data order and augmentation are pure
//                                 functions of the seed, the epoch and this
//                                 position: there is no other RNG state), the
//                                 length of metrics.jsonl, the last accuracies,
//                                 the current epoch's loss sums
//             "config"            JSON: the run's config.json, for provenance
// PyTorch opens it with safetensors.torch.load_file.
#pragma once
#include <optional>
#include <string>

#include "data/loader.h"
#include "engine/optim.h"
#include "models/nest.h"
#include "trainer/evaluate.h"
#include "trainer/metrics.h"
#include "trainer/policy.h"
#include "trainer/run_config.h"

namespace motive {

struct TrainState {
  RunCounters counters;
  LoaderPosition next_batch;      // where the training loader continues
  int64_t metrics_bytes = 0;      // metrics.jsonl's length when the checkpoint was written
  PairAccuracy last_accuracy;     // the last epoch's evaluation
  EpochLosses epoch_losses;       // of the epoch in progress (empty at an epoch end)
  std::optional<Role> last_role;  // the model of the last step (a switch is a change of it)
};

std::string checkpoint_path(const std::string& run_dir);

void save_checkpoint(const std::string& path, const RunConfig& config, const NestedPair& pair,
                     const Optimizer& optimizer, const MotivationPolicy& policy,
                     const TrainState& state);

// Restores the pair, the optimizer and the policy (built from the run's
// config) and returns the rest. Throws motive::Error naming the file and what
// does not match.
TrainState load_checkpoint(const std::string& path, const NestedPair& pair, Optimizer& optimizer,
                           MotivationPolicy& policy);

// Restores only the pair's tensors (export).
void load_checkpoint_pair(const std::string& path, const NestedPair& pair);

}  // namespace motive
