#include "trainer/run_parts.h"

#include "engine/device.h"
#include "engine/random.h"

namespace motive {

std::string resolve_device(const std::string& device) {
  if (device == "auto") return cuda_available() ? "cuda" : "cpu";
  MOTIVE_CHECK(device != "cuda" || cuda_available(), "--device cuda: no usable GPU (",
               cuda_describe(), "); use --device cpu or auto");
  return device;
}

DataSplits open_run_data(const RunConfig& config) {
  DataSpec spec;
  spec.name = config.data;
  spec.root = config.data_root;
  spec.limit_train = config.limit_train;
  spec.limit_test = config.limit_test;
  spec.augment = config.augment;
  return open_data(spec);
}

void record_data_facts(RunConfig& config, const DataSplits& data) {
  const Dataset& train = *data.train;
  const Transform transform(data.train_augment, train.channels());
  config.in_channels = train.channels();
  config.num_classes = train.num_classes();
  config.image_height = transform.out_height(train.fixed_height());
  config.image_width = transform.out_width(train.fixed_width());
}

namespace {

ResNetConfig preset(const std::string& name, const RunConfig& config) {
  return resnet_preset(name, {config.in_channels, config.num_classes});
}

}  // namespace

ResNetConfig base_config(const RunConfig& config) { return preset(config.base, config); }

ResNetConfig motivated_config(const RunConfig& config) {
  return preset(config.has_motivated() ? config.motivated : config.base, config);
}

NestedPair build_pair(const RunConfig& config) {
  Generator gen(config.seed);
  NestOptions options;
  options.bn_stats = parse_bn_stats(config.bn_stats);
  options.model.device = config.run_device();
  return nest(base_config(config), motivated_config(config), gen, options);
}

std::unique_ptr<Optimizer> make_optimizer(const RunConfig& config, const NestedPair& pair) {
  std::unique_ptr<Optimizer> opt;
  if (config.optimizer == "sgd")
    opt = std::make_unique<SGD>(config.lr, config.momentum, 0, config.weight_decay);
  else if (config.optimizer == "adamw")
    opt = std::make_unique<AdamW>(config.lr, config.momentum, 0.999, 1e-8, config.weight_decay);
  else
    fail("unknown optimizer '", config.optimizer, "': expected sgd or adamw");
  opt->add_params(pair.parameters(), DecayRule::ExcludeNormAndBias);
  return opt;
}

namespace {

LoaderOptions loader_options(const RunConfig& config, bool train) {
  LoaderOptions options;
  options.batch_size = config.batch_size;
  options.shuffle = train;
  options.seed = config.seed;
  options.workers = config.workers;
  options.device = config.run_device();
  return options;
}

}  // namespace

std::unique_ptr<Loader> make_train_loader(const RunConfig& config, const DataSplits& data) {
  return std::make_unique<Loader>(data.train, data.train_augment, loader_options(config, true));
}

std::unique_ptr<Loader> make_test_loader(const RunConfig& config, const DataSplits& data) {
  return std::make_unique<Loader>(data.test, data.test_augment, loader_options(config, false));
}

PolicySpec policy_spec(const RunConfig& config) { return {config.trigger, config.duration}; }

}  // namespace motive
