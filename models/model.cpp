#include "models/model.h"

#include "engine/error.h"

namespace motive {

void Model::recalibrate_running_statistics(int64_t,
                                           const std::function<Tensor(int64_t)>&) const {
  fail(name(), " has no running statistics to recalibrate (no BatchNorm layers)");
}

std::vector<Tensor> Model::parameters() const {
  std::vector<Tensor> out;
  for (const auto& named : named_parameters()) out.push_back(named.second);
  return out;
}

NamedTensors Model::named_tensors() const {
  NamedTensors out = named_parameters();
  for (auto& named : named_buffers()) out.push_back(std::move(named));
  return out;
}

void Model::load_state(const NamedTensors& state) const {
  load_named_tensors(named_tensors(), state, name() + ": load_state");
}

std::unique_ptr<Model> build_model(const ModelConfig& config, Generator& gen,
                                   const ModelOptions& options) {
  FreshTensors source(gen, options.dtype, options.device);
  return config.build(source);
}

}  // namespace motive
