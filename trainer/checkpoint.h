// RUN/checkpoint.safetensors: everything a run needs to continue exactly,
// written at each epoch end (and every --checkpoint-every steps), atomically
// (engine/serialize.h: tmp + rename, so an interrupted write leaves the
// previous checkpoint intact).
//   tensors   "models.<name>"     the nested models (models/nest.h named_tensors:
//                                 weights, every model's running statistics)
//             "optimizer.<name>"  the optimizer state (momentum / Adam moments, steps)
//             "policy.state"      the motivation policies' state (float64)
//   metadata  "format"            "motive-run-checkpoint/2"
//             "state"             JSON: the run's counters, the loader position
//                                 (the data order and augmentation are pure
//                                 functions of the seed, the epoch and this
//                                 position: there is no other RNG state), the
//                                 length of metrics.jsonl, the last accuracies,
//                                 the current epoch's loss sums
//             "config"            JSON: the run's config.json as it was when the
//                                 checkpoint was written; a resume refuses a
//                                 config.json that disagrees with it
// Every tensor is finite: the trainer refuses to write any other, and to
// read one (a checkpoint edited by hand).
// PyTorch opens it with safetensors.torch.load_file.
#pragma once
#include <nlohmann/json.hpp>
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
  ChainAccuracy last_accuracy;    // the last epoch's evaluation
  EpochLosses epoch_losses;       // of the epoch in progress (empty at an epoch end)
  std::optional<size_t> last_level;  // the model of the last step (a switch is a change of it)

  // Zero counters for a chain of `levels` models.
  explicit TrainState(size_t levels = 0)
      : counters(levels), last_accuracy(levels), epoch_losses(levels) {}
};

std::string checkpoint_path(const std::string& run_dir);

// The tensors of a checkpoint under their names: "models.*" and "optimizer.*"
// are views of the live tensors; the optimizer's step counts and the policy's
// state are copies.
NamedTensors checkpoint_tensors(const NestedChain& chain, const Optimizer& optimizer,
                                const ChainPolicy& policy);
// Those of them a training step changes, as views of the live tensors: the
// models' (weights, running statistics) and the optimizer's per-element state.
NamedTensors live_checkpoint_tensors(const NestedChain& chain, const Optimizer& optimizer);

// Throws motive::Error naming the tensor, and writes nothing, when a tensor
// holds a NaN or an infinity.
void save_checkpoint(const std::string& path, const RunConfig& config, const NestedChain& chain,
                     const Optimizer& optimizer, const ChainPolicy& policy,
                     const TrainState& state);

// A checkpoint read and checked (format, metadata keys, types and ranges,
// finite tensors), not yet applied to a run.
struct RunCheckpoint {
  std::string path;
  TrainState state;
  nlohmann::json config;  // the "config" metadata
  NamedTensors tensors;
};
// Throws motive::Error naming the file and the key or tensor at fault.
RunCheckpoint read_checkpoint(const std::string& path, size_t levels);
// Restores the models, the optimizer and the policy (built from the run's
// config). Throws motive::Error naming the file and what does not match.
void restore_checkpoint(const RunCheckpoint& checkpoint, const NestedChain& chain,
                        Optimizer& optimizer, ChainPolicy& policy);
// Both: reads, restores and returns the rest.
TrainState load_checkpoint(const std::string& path, const NestedChain& chain, Optimizer& optimizer,
                           ChainPolicy& policy);

// Restores only the models' tensors (export).
void load_checkpoint_models(const std::string& path, const NestedChain& chain);

}  // namespace motive
