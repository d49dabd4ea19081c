#include "trainer/checkpoint.h"

#include <cmath>

#include "engine/serialize.h"
#include "trainer/finite.h"
#include "trainer/json_fields.h"

namespace motive {
namespace {

constexpr const char* kFormat = "motive-run-checkpoint/2";
constexpr const char* kFormatFamily = "motive-run-checkpoint/";
constexpr const char* kModels = "models.";
constexpr const char* kOptimizer = "optimizer.";
constexpr const char* kPolicy = "policy.state";

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

void add_prefixed(NamedTensors& out, const std::string& prefix, const NamedTensors& tensors) {
  for (const auto& [name, t] : tensors) out.emplace_back(prefix + name, t);
}

// The entries of `tensors` under `prefix`, with the prefix taken off.
NamedTensors under(const NamedTensors& tensors, const std::string& prefix) {
  NamedTensors out;
  for (const auto& [name, t] : tensors)
    if (starts_with(name, prefix)) out.emplace_back(name.substr(prefix.size()), t);
  return out;
}

SafetensorsFile open_checkpoint(const std::string& path) {
  SafetensorsFile file = load_safetensors(path);
  const auto format = file.metadata.find("format");
  const std::string given = format == file.metadata.end() ? "" : format->second;
  MOTIVE_CHECK(!starts_with(given, kFormatFamily) || given == kFormat, "'", path, "' is a ", given,
               " checkpoint, written by another version of the trainer (this one reads ", kFormat,
               "): start the run anew");
  MOTIVE_CHECK(given == kFormat, "'", path, "' is not a motive run checkpoint (", kFormat,
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

// A count or a time a checkpoint cannot hold below 0.
template <class T>
T at_least_zero(const std::string& key, T value) {
  MOTIVE_CHECK(value >= 0 && std::isfinite(static_cast<double>(value)), "key '", key, "' is ",
               value, "; expected a finite number >= 0");
  return value;
}

// Every per-level list must have one entry per model of the chain.
template <class T>
std::vector<T> level_list(const nlohmann::json& j, const char* key, size_t levels) {
  const auto v = json_value<std::vector<T>>(j, key);
  MOTIVE_CHECK(v.size() == levels, "'", key, "' has ", v.size(), " entries for ", levels,
               " models");
  for (const T& x : v) at_least_zero(key, x);
  return v;
}

TrainState state_from_json(const nlohmann::json& j, size_t levels) {
  TrainState s(levels);
  s.counters = fields_from_json<RunCounters>(json_value<nlohmann::json>(j, "counters"));
  RunCounters& c = s.counters;
  at_least_zero("steps", c.steps);
  at_least_zero("epochs_done", c.epochs_done);
  at_least_zero("switches", c.switches);
  at_least_zero("switch_bytes_copied", c.switch_bytes_copied);
  at_least_zero("train_seconds", c.train_seconds);
  at_least_zero("wall_seconds", c.wall_seconds);
  int64_t steps = 0;
  for (const auto& [key, list] : {std::pair{"level_steps", &c.level_steps},
                                  std::pair{"images", &c.images}, std::pair{"flops", &c.flops}}) {
    MOTIVE_CHECK(list->size() == levels, "counters '", key, "' for ", list->size(),
                 " models, expected ", levels);
    for (const int64_t n : *list) at_least_zero(key, n);
  }
  for (const int64_t n : c.level_steps) steps += n;
  MOTIVE_CHECK(steps == c.steps, "counters 'level_steps' add up to ", steps, ", 'steps' is ",
               c.steps);
  s.next_batch = {at_least_zero("next_epoch", json_value<int64_t>(j, "next_epoch")),
                  at_least_zero("next_batch", json_value<int64_t>(j, "next_batch"))};
  s.metrics_bytes = at_least_zero("metrics_bytes", json_value<int64_t>(j, "metrics_bytes"));
  s.last_accuracy = accuracy_from_json(json_value<nlohmann::json>(j, "accuracy"), levels);
  s.epoch_losses.sum = level_list<double>(j, "epoch_loss_sums", levels);
  s.epoch_losses.count = level_list<int64_t>(j, "epoch_loss_counts", levels);
  MOTIVE_CHECK(j.contains("last_level"), "missing key 'last_level'");
  if (!j.at("last_level").is_null()) {
    s.last_level = json_value<size_t>(j, "last_level");
    MOTIVE_CHECK(*s.last_level < levels, "last_level ", *s.last_level, " of ", levels, " models");
  }
  return s;
}

// The metadata entry `key`, parsed as JSON.
nlohmann::json metadata_json(const SafetensorsFile& file, const char* key) {
  const auto it = file.metadata.find(key);
  MOTIVE_CHECK(it != file.metadata.end(), "no '", key, "' in its metadata");
  try {
    return nlohmann::json::parse(it->second);
  } catch (const nlohmann::json::exception& e) {
    fail("its '", key, "' metadata is not valid JSON (", e.what(), ")");
  }
}

}  // namespace

std::string checkpoint_path(const std::string& run_dir) {
  return run_dir + "/checkpoint.safetensors";
}

NamedTensors live_checkpoint_tensors(const NestedChain& chain, const Optimizer& optimizer) {
  NamedTensors tensors;
  add_prefixed(tensors, kModels, chain.named_tensors());
  const NamedTensors state = optimizer.state_tensors();
  // The per-storage buffers; the step counts, one per parameter, come last.
  const auto buffers_end = state.end() - static_cast<std::ptrdiff_t>(optimizer.params().size());
  add_prefixed(tensors, kOptimizer, NamedTensors(state.begin(), buffers_end));
  return tensors;
}

NamedTensors checkpoint_tensors(const NestedChain& chain, const Optimizer& optimizer,
                                const ChainPolicy& policy) {
  NamedTensors tensors;
  add_prefixed(tensors, kModels, chain.named_tensors());
  add_prefixed(tensors, kOptimizer, optimizer.state_tensors());
  const std::vector<double> policy_state = policy.state();
  tensors.emplace_back(
      kPolicy,
      Tensor::from_vector(policy_state, {static_cast<int64_t>(policy_state.size())}, DType::F64));
  return tensors;
}

void save_checkpoint(const std::string& path, const RunConfig& config, const NestedChain& chain,
                     const Optimizer& optimizer, const ChainPolicy& policy,
                     const TrainState& state) {
  const NamedTensors tensors = checkpoint_tensors(chain, optimizer, policy);
  if (!all_finite(tensors))
    fail("not writing '", path, "': ", find_non_finite(tensors).value_or("a tensor"),
         "; the previous checkpoint stays");
  save_safetensors(path, tensors,
                   {{"format", kFormat},
                    {"state", state_json(state).dump()},
                    {"config", fields_to_json(config).dump()}});
}

RunCheckpoint read_checkpoint(const std::string& path, size_t levels) {
  SafetensorsFile file = open_checkpoint(path);
  RunCheckpoint checkpoint;
  checkpoint.path = path;
  try {
    checkpoint.state = state_from_json(metadata_json(file, "state"), levels);
    checkpoint.config = metadata_json(file, "config");
    MOTIVE_CHECK(checkpoint.config.is_object(), "its 'config' metadata is not a JSON object");
  } catch (const Error& e) {
    fail("'", path, "': bad run state: ", e.what());
  } catch (const nlohmann::json::exception& e) {
    fail("'", path, "': bad run state: ", e.what());
  }
  if (!all_finite(file.tensors))
    fail("'", path, "': ", find_non_finite(file.tensors).value_or("a tensor is not finite"),
         "; the trainer never writes such a checkpoint, so it was changed since: restore it or "
         "start the run anew");
  checkpoint.tensors = std::move(file.tensors);
  return checkpoint;
}

void restore_checkpoint(const RunCheckpoint& checkpoint, const NestedChain& chain,
                        Optimizer& optimizer, ChainPolicy& policy) {
  try {
    chain.load_state(under(checkpoint.tensors, kModels));
    optimizer.load_state(under(checkpoint.tensors, kOptimizer));
    const NamedTensors policy_state = under(checkpoint.tensors, kPolicy);
    MOTIVE_CHECK(policy_state.size() == 1, "no policy state");
    policy.load_state(policy_state.front().second.to_vector());
  } catch (const Error& e) {
    fail("'", checkpoint.path, "' does not fit this run: ", e.what());
  }
}

TrainState load_checkpoint(const std::string& path, const NestedChain& chain, Optimizer& optimizer,
                           ChainPolicy& policy) {
  const RunCheckpoint checkpoint = read_checkpoint(path, chain.size());
  restore_checkpoint(checkpoint, chain, optimizer, policy);
  return checkpoint.state;
}

void load_checkpoint_models(const std::string& path, const NestedChain& chain) {
  const SafetensorsFile file = open_checkpoint(path);
  try {
    chain.load_state(under(file.tensors, kModels));
  } catch (const Error& e) {
    fail("'", path, "' does not fit this run: ", e.what());
  }
}

}  // namespace motive
