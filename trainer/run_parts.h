// What a run is made of, built from its RunConfig: the data and its loaders,
// the nested models, the optimizer and the policy. `train`,
// `export` and `eval` build through here, so a resumed run, an exported model
// and the run that made it agree on every piece.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/loader.h"
#include "data/registry.h"
#include "engine/optim.h"
#include "models/nest.h"
#include "trainer/policy.h"
#include "trainer/run_config.h"

namespace motive {

// cpu | cuda from cpu | cuda | auto (the GPU when one is usable); throws
// motive::Error for cuda on a machine without a usable GPU, saying why.
std::string resolve_device(const std::string& device);

// The data set of a run (name, root, limits), opened: both splits and their
// standard augmentation. Throws motive::Error for unknown or absent data.
DataSplits open_run_data(const RunConfig& config);

// Records what the data decides about the models (input channels, classes,
// image size) in `config`; a resumed run checks that the data still agrees.
void record_data_facts(RunConfig& config, const DataSplits& data);

// What the run's data decides about its models (recorded in the config).
ModelShape model_shape(const RunConfig& config);

// Resolves the settings that depend on what the models are, once the data
// facts are recorded: bn_stats "" becomes separate, or none for models without
// running statistics. Throws motive::Error, naming the flag and the model, for
// --bn-stats or --recalibrate on models without running statistics.
void resolve_model_options(RunConfig& config);

// The configs of the run's models (config.chain(), smallest first) with the
// data's shape. Throws motive::Error for an unknown name.
std::vector<std::unique_ptr<ModelConfig>> chain_configs(const RunConfig& config);

// The nested models on the run's device, initialised from the run's seed
// (--init-from is loaded by the run: trainer/transfer.h), the backbone frozen
// with --freeze backbone. Throws motive::Error unless each model contains the
// one before it.
NestedChain build_chain(const RunConfig& config);

// SGD (momentum, weight decay where each model's family applies it: not on
// norms and biases) or AdamW over every model's parameters (the classifiers'
// alone with --freeze backbone): one optimizer, whose state the models share.
std::unique_ptr<Optimizer> make_optimizer(const RunConfig& config, const NestedChain& chain);

// The training loader (shuffled, augmented, the last partial batch kept; in a
// data-parallel job, this rank's shard of each batch) and the test loader (in
// order, not augmented, whole), on the run's device.
std::unique_ptr<Loader> make_train_loader(const RunConfig& config, const DataSplits& data);
std::unique_ptr<Loader> make_test_loader(const RunConfig& config, const DataSplits& data);

// The run's motivation policy for its chain of models.
ChainPolicy make_policy(const RunConfig& config, int64_t total_steps);

}  // namespace motive
