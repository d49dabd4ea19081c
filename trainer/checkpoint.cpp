#include "trainer/checkpoint.h"

#include "engine/serialize.h"
#include "trainer/json_fields.h"

namespace motive {
namespace {

constexpr const char* kFormat = "motive-run-checkpoint/1";
constexpr const char* kPair = "pair.";
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
          {"accuracy", s.last_accuracy},
          {"epoch_loss_sums", s.epoch_losses.sum},
          {"epoch_loss_counts", s.epoch_losses.count},
          {"last_role", s.last_role ? nlohmann::json(role_name(*s.last_role)) : nlohmann::json()}};
}

TrainState state_from_json(const nlohmann::json& j) {
  TrainState s;
  s.counters = fields_from_json<RunCounters>(j.at("counters"));
  s.next_batch = {j.at("next_epoch").get<int64_t>(), j.at("next_batch").get<int64_t>()};
  s.metrics_bytes = j.at("metrics_bytes").get<int64_t>();
  s.last_accuracy = j.at("accuracy").get<PairAccuracy>();
  for (int i = 0; i < 2; ++i) {
    s.epoch_losses.sum[i] = j.at("epoch_loss_sums").at(i).get<double>();
    s.epoch_losses.count[i] = j.at("epoch_loss_counts").at(i).get<int64_t>();
  }
  const nlohmann::json& role = j.at("last_role");
  if (!role.is_null())
    s.last_role = role.get<std::string>() == role_name(Role::Base) ? Role::Base : Role::Motivated;
  return s;
}

}  // namespace

std::string checkpoint_path(const std::string& run_dir) {
  return run_dir + "/checkpoint.safetensors";
}

void save_checkpoint(const std::string& path, const RunConfig& config, const NestedPair& pair,
                     const Optimizer& optimizer, const MotivationPolicy& policy,
                     const TrainState& state) {
  NamedTensors tensors;
  add_prefixed(tensors, kPair, pair.named_tensors());
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

TrainState load_checkpoint(const std::string& path, const NestedPair& pair, Optimizer& optimizer,
                           MotivationPolicy& policy) {
  const SafetensorsFile file = open_checkpoint(path);
  try {
    pair.load_state(under(file, kPair));
    optimizer.load_state(under(file, kOptimizer));
    const NamedTensors policy_state = under(file, kPolicy);
    MOTIVE_CHECK(policy_state.size() == 1, "no policy state");
    policy.load_state(policy_state.front().second.to_vector());
    return state_from_json(nlohmann::json::parse(file.metadata.at("state")));
  } catch (const nlohmann::json::exception& e) {
    fail("'", path, "': bad run state: ", e.what());
  } catch (const Error& e) {
    fail("'", path, "' does not fit this run: ", e.what());
  }
}

void load_checkpoint_pair(const std::string& path, const NestedPair& pair) {
  const SafetensorsFile file = open_checkpoint(path);
  try {
    pair.load_state(under(file, kPair));
  } catch (const Error& e) {
    fail("'", path, "' does not fit this run: ", e.what());
  }
}

}  // namespace motive
