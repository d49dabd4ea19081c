#include "trainer/checkpoint.h"

#include "engine/serialize.h"
#include "trainer/json_fields.h"

namespace motive {
namespace {

constexpr const char* kFormat = "motive-run-checkpoint/2";
constexpr const char* kModels = "models.";
constexpr const char* kOptimizer = "optimizer.";
constexpr const char* kPolicy = "policy.state";

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

void add_prefixed(NamedTensors& out, const std::string& prefix, const NamedTensors& tensors) {
  for (const auto& [name, t] : tensors) out.emplace_back(prefix + name, t);
}

// The entries of `file` under `prefix`, with the prefix taken off.
NamedTensors under(const SafetensorsFile& file, const std::string& prefix) {
  NamedTensors out;
  for (const auto& [name, t] : file.tensors)
    if (starts_with(name, prefix)) out.emplace_back(name.substr(prefix.size()), t);
  return out;
}

SafetensorsFile open_checkpoint(const std::string& path) {
  SafetensorsFile file = load_safetensors(path);
  const auto format = file.metadata.find("format");
  MOTIVE_CHECK(format != file.metadata.end() && format->second == kFormat, "'", path,
               "' is not a motive run checkpoint (", kFormat,
               "); a model exported with `trainer export` is evaluated with `trainer eval`");
  return file;
}

nlohmann::json state_json(const TrainState& s) {
  return {{"counters", fields_to_json(s.counters)},
          {"next_epoch", s.next_batch.epoch},
          {"next_batch", s.next_batch.batch},
          {"metrics_bytes", s.metrics_bytes},
          {"accuracy", accuracy_json(s.last_accuracy)},
          {"epoch_loss_sums", s.epoch_losses.sum},
          {"epoch_loss_counts", s.epoch_losses.count},
          {"last_level", s.last_level ? nlohmann::json(*s.last_level) : nlohmann::json()}};
}

// Every per-level list must have one entry per model of the chain.
template <class T>
std::vector<T> level_list(const nlohmann::json& j, const char* key, size_t levels) {
  const auto v = j.at(key).get<std::vector<T>>();
  MOTIVE_CHECK(v.size() == levels, "'", key, "' has ", v.size(), " entries for ", levels,
               " models");
  return v;
}

TrainState state_from_json(const nlohmann::json& j, size_t levels) {
  TrainState s(levels);
  s.counters = fields_from_json<RunCounters>(j.at("counters"));
  for (const auto* list : {&s.counters.level_steps, &s.counters.images, &s.counters.flops})
    MOTIVE_CHECK(list->size() == levels, "counters for ", list->size(), " models, expected ",
                 levels);
  s.next_batch = {j.at("next_epoch").get<int64_t>(), j.at("next_batch").get<int64_t>()};
  s.metrics_bytes = j.at("metrics_bytes").get<int64_t>();
  s.last_accuracy = accuracy_from_json(j.at("accuracy"), levels);
  s.epoch_losses.sum = level_list<double>(j, "epoch_loss_sums", levels);
  s.epoch_losses.count = level_list<int64_t>(j, "epoch_loss_counts", levels);
  const nlohmann::json& level = j.at("last_level");
  if (!level.is_null()) {
    s.last_level = level.get<size_t>();
    MOTIVE_CHECK(*s.last_level < levels, "last_level ", *s.last_level, " of ", levels, " models");
  }
  return s;
}

}  // namespace

std::string checkpoint_path(const std::string& run_dir) {
  return run_dir + "/checkpoint.safetensors";
}

void save_checkpoint(const std::string& path, const RunConfig& config, const NestedChain& chain,
                     const Optimizer& optimizer, const ChainPolicy& policy,
                     const TrainState& state) {
  NamedTensors tensors;
  add_prefixed(tensors, kModels, chain.named_tensors());
  add_prefixed(tensors, kOptimizer, optimizer.state_tensors());
  const std::vector<double> policy_state = policy.state();
  tensors.emplace_back(
      kPolicy,
      Tensor::from_vector(policy_state, {static_cast<int64_t>(policy_state.size())}, DType::F64));
  save_safetensors(path, tensors,
                   {{"format", kFormat},
                    {"state", state_json(state).dump()},
                    {"config", fields_to_json(config).dump()}});
}

TrainState load_checkpoint(const std::string& path, const NestedChain& chain, Optimizer& optimizer,
                           ChainPolicy& policy) {
  const SafetensorsFile file = open_checkpoint(path);
  try {
    chain.load_state(under(file, kModels));
    optimizer.load_state(under(file, kOptimizer));
    const NamedTensors policy_state = under(file, kPolicy);
    MOTIVE_CHECK(policy_state.size() == 1, "no policy state");
    policy.load_state(policy_state.front().second.to_vector());
    const auto state = file.metadata.find("state");
    MOTIVE_CHECK(state != file.metadata.end(), "no run state in its metadata");
    return state_from_json(nlohmann::json::parse(state->second), chain.size());
  } catch (const nlohmann::json::exception& e) {
    fail("'", path, "': bad run state: ", e.what());
  } catch (const Error& e) {
    fail("'", path, "' does not fit this run: ", e.what());
  }
}

void load_checkpoint_models(const std::string& path, const NestedChain& chain) {
  const SafetensorsFile file = open_checkpoint(path);
  try {
    chain.load_state(under(file, kModels));
  } catch (const Error& e) {
    fail("'", path, "' does not fit this run: ", e.what());
  }
}

}  // namespace motive
