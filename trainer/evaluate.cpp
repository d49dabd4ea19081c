#include "trainer/evaluate.h"

#include <algorithm>

#include "engine/autocast.h"
#include "engine/autograd.h"
#include "trainer/json_fields.h"

namespace motive {

double Accuracy::percent() const {
  return total == 0 ? 0.0 : 100.0 * static_cast<double>(correct) / static_cast<double>(total);
}

Accuracy test_accuracy(const Model& model, Loader& test) {
  NoGradGuard no_grad;
  test.seek({0, 0});
  Accuracy acc;
  while (auto batch = test.next()) {
    const Tensor logits =
        widen_bf16(model.forward(batch->images, ForwardContext{})).to(Device::CPU).contiguous();
    const Tensor labels = batch->labels.to(Device::CPU).contiguous();
    const float* l = logits.data<float>();
    const int32_t* y = labels.data<int32_t>();
    const int64_t n = logits.size(0), classes = logits.size(1);
    for (int64_t i = 0; i < n; ++i) {
      const float* row = l + i * classes;
      acc.correct += std::max_element(row, row + classes) - row == y[i];
    }
    acc.total += n;
  }
  return acc;
}

void recalibrate(const Model& model, int64_t count, Loader& batches) {
  batches.seek({0, 0});
  model.recalibrate_running_statistics(count, [&](int64_t) {
    auto batch = batches.next();
    if (!batch) batch = batches.next();  // an epoch ended: the next one begins
    return batch->images;
  });
}

namespace {

// Copies of every running buffer of every model of the chain, to put back
// after a recalibration (with shared statistics the smaller models' are views
// of the largest one's, and restoring both restores the same values twice).
class SavedStatistics {
 public:
  explicit SavedStatistics(const NestedChain& chain) {
    for (size_t level = 0; level < chain.size(); ++level)
      for (const auto& named : chain.model(level).named_buffers())
        saved_.emplace_back(named.second, named.second.clone());
  }
  void restore() const {
    NoGradGuard no_grad;
    for (const auto& [live, copy] : saved_) Tensor(live).copy_(copy);
  }

 private:
  std::vector<std::pair<Tensor, Tensor>> saved_;
};

}  // namespace

nlohmann::json accuracy_json(const ChainAccuracy& a) {
  nlohmann::json j = nlohmann::json::object();
  // A model trained alone has no motivated model: its keys are there, null.
  for (size_t level = 0; level < std::max<size_t>(a.size(), 2); ++level) {
    const std::string name = level_name(level, std::max<size_t>(a.size(), 2));
    const LevelAccuracy acc = level < a.size() ? a[level] : LevelAccuracy{};
    j["acc_" + name] = or_null(acc.plain);
    j["acc_" + name + "_recalibrated"] = or_null(acc.recalibrated);
  }
  return j;
}

ChainAccuracy accuracy_from_json(const nlohmann::json& j, size_t levels) {
  ChainAccuracy a(levels);
  const auto read = [&](const std::string& key) -> std::optional<double> {
    MOTIVE_CHECK(j.contains(key), "missing key '", key, "'");
    if (j.at(key).is_null()) return std::nullopt;
    return j.at(key).get<double>();
  };
  for (size_t level = 0; level < levels; ++level) {
    const std::string name = level_name(level, levels);
    a[level].plain = read("acc_" + name);
    a[level].recalibrated = read("acc_" + name + "_recalibrated");
  }
  return a;
}

ChainAccuracy evaluate_chain(const NestedChain& chain, Loader& test, Loader* recalibration,
                             int64_t recalibrate_count) {
  ChainAccuracy out(chain.size());
  for (size_t level = 0; level < chain.size(); ++level)
    out[level].plain = test_accuracy(chain.model(level), test).percent();
  if (recalibration == nullptr || recalibrate_count <= 0) return out;
  const SavedStatistics saved(chain);
  for (size_t level = 0; level < chain.size(); ++level) {
    recalibrate(chain.model(level), recalibrate_count, *recalibration);
    out[level].recalibrated = test_accuracy(chain.model(level), test).percent();
    saved.restore();
  }
  return out;
}

}  // namespace motive
