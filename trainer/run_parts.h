// What a run is made of, built from its RunConfig: the data and its loaders,
// the nested pair of models, the optimizer and the policy spec. `train`,
// `export` and `eval` build through here, so a resumed run, an exported model
// and the run that made it agree on every piece.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

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

// The model presets of a run with the data's channels and classes.
ResNetConfig base_config(const RunConfig& config);
ResNetConfig motivated_config(const RunConfig& config);  // the base itself when there is none

// The nested pair on the run's device, initialised from the run's seed.
// Throws motive::Error unless the motivated model contains the base.
NestedPair build_pair(const RunConfig& config);

// SGD (momentum, weight decay, not on norms and biases) or AdamW over both
// models' parameters: one optimizer, whose state the two models share.
std::unique_ptr<Optimizer> make_optimizer(const RunConfig& config, const NestedPair& pair);

// The training loader (shuffled, augmented, the last partial batch kept) and the
// test loader (in order, not augmented), on the run's device.
std::unique_ptr<Loader> make_train_loader(const RunConfig& config, const DataSplits& data);
std::unique_ptr<Loader> make_test_loader(const RunConfig& config, const DataSplits& data);

PolicySpec policy_spec(const RunConfig& config);

}  // namespace motive
