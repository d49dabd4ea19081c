#include "trainer/run_parts.h"

#include "dist/world.h"
#include "engine/device.h"
#include "engine/random.h"
#include "models/registry.h"
#include "trainer/transfer.h"

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
  spec.classes = parse_class_list(config.classes);
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

ModelShape model_shape(const RunConfig& config) {
  return {config.in_channels, config.num_classes, config.image_height, config.image_width};
}

std::vector<std::unique_ptr<ModelConfig>> chain_configs(const RunConfig& config) {
  std::vector<std::unique_ptr<ModelConfig>> out;
  for (const std::string& name : config.chain())
    out.push_back(resolve_model(name, model_shape(config)));
  return out;
}

void resolve_model_options(RunConfig& config) {
  std::string without;  // a model without running statistics
  for (const auto& cfg : chain_configs(config))
    if (!cfg->has_running_statistics()) without = cfg->name;
  if (without.empty()) {
    if (config.bn_stats.empty()) config.bn_stats = bn_stats_name(BnStats::Separate);
    parse_bn_stats(config.bn_stats);  // throws for anything but separate or shared
    return;
  }
  MOTIVE_CHECK(config.bn_stats.empty() || config.bn_stats == "none", "--bn-stats ",
               config.bn_stats, ": ", without, " has no running statistics (no BatchNorm layers)");
  MOTIVE_CHECK(config.recalibrate == 0, "--recalibrate: ", without,
               " has no running statistics to recalibrate (no BatchNorm layers)");
  config.bn_stats = "none";
}

NestedChain build_chain(const RunConfig& config) {
  Generator gen(config.seed);
  NestOptions options;
  // "none": no model has running statistics, so the mode changes nothing.
  options.bn_stats = config.bn_stats == "shared" ? BnStats::Shared : BnStats::Separate;
  options.model.device = config.run_device();
  NestedChain chain = nest(config.chain(), model_shape(config), gen, options);
  if (config.freeze == "backbone") freeze_backbone(chain);
  return chain;
}

std::unique_ptr<Optimizer> make_optimizer(const RunConfig& config, const NestedChain& chain) {
  std::unique_ptr<Optimizer> opt;
  if (config.optimizer == "sgd")
    opt = std::make_unique<SGD>(config.lr, config.momentum, 0, config.weight_decay);
  else if (config.optimizer == "adamw")
    opt = std::make_unique<AdamW>(config.lr, config.momentum, 0.999, 1e-8, config.weight_decay);
  else
    fail("unknown optimizer '", config.optimizer, "': expected sgd or adamw");
  // The largest model first, then each smaller one's views (which share its state).
  for (size_t i = chain.size(); i-- > 0;) {
    const Model& model = chain.model(i);
    for (const auto& [name, p] : model.named_parameters())
      if (config.freeze != "backbone" || model.is_classifier(name))
        opt->add_param(p, model.decays(name));
  }
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
  LoaderOptions options = loader_options(config, true);
  options.shard = dist::rank();  // this rank's shard of every global batch
  options.shards = dist::world_size();
  return std::make_unique<Loader>(data.train, data.train_augment, options);
}

std::unique_ptr<Loader> make_test_loader(const RunConfig& config, const DataSplits& data) {
  return std::make_unique<Loader>(data.test, data.test_augment, loader_options(config, false));
}

ChainPolicy make_policy(const RunConfig& config, int64_t total_steps) {
  const size_t levels = config.chain().size();
  return ChainPolicy(chain_policy_specs(config.trigger, config.duration, levels), levels,
                     total_steps, config.seed);
}

}  // namespace motive
