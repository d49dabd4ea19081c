#include "trainer/evaluate.h"

#include <algorithm>

#include "engine/autocast.h"
#include "engine/autograd.h"
#include "trainer/json_fields.h"

namespace motive {

double Accuracy::percent() const {
  return total == 0 ? 0.0 : 100.0 * static_cast<double>(correct) / static_cast<double>(total);
}

Accuracy test_accuracy(const ResNet& model, Loader& test) {
  NoGradGuard no_grad;
  test.seek({0, 0});
  Accuracy acc;
  while (auto batch = test.next()) {
    const Tensor logits =
        widen_bf16(model.forward(batch->images, false)).to(Device::CPU).contiguous();
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

void recalibrate(const ResNet& model, int64_t count, Loader& batches) {
  batches.seek({0, 0});
  model.recalibrate_batch_norm(count, [&](int64_t) {
    auto batch = batches.next();
    if (!batch) batch = batches.next();  // an epoch ended: the next one begins
    return batch->images;
  });
}

namespace {

std::optional<double> optional_from(const nlohmann::json& j, const char* key) {
  if (!j.contains(key) || j.at(key).is_null()) return std::nullopt;
  return j.at(key).get<double>();
}

// Copies of every BN running buffer of both models, to put back after a
// recalibration (with shared statistics the base's are views of the
// motivated model's, and restoring both restores the same values twice).
class SavedStatistics {
 public:
  explicit SavedStatistics(const NestedPair& pair) {
    for (const ResNet* m : {&pair.base(), &pair.motivated()})
      for (const auto& named : m->named_buffers())
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

void to_json(nlohmann::json& j, const PairAccuracy& a) {
  j = {{"acc_base", or_null(a.base)},
       {"acc_motivated", or_null(a.motivated)},
       {"acc_base_recalibrated", or_null(a.base_recalibrated)},
       {"acc_motivated_recalibrated", or_null(a.motivated_recalibrated)}};
}

void from_json(const nlohmann::json& j, PairAccuracy& a) {
  a.base = optional_from(j, "acc_base");
  a.motivated = optional_from(j, "acc_motivated");
  a.base_recalibrated = optional_from(j, "acc_base_recalibrated");
  a.motivated_recalibrated = optional_from(j, "acc_motivated_recalibrated");
}

PairAccuracy evaluate_pair(const NestedPair& pair, bool with_motivated, Loader& test,
                           Loader* recalibration, int64_t recalibrate_count) {
  PairAccuracy out;
  out.base = test_accuracy(pair.base(), test).percent();
  if (with_motivated) out.motivated = test_accuracy(pair.motivated(), test).percent();
  if (recalibration == nullptr || recalibrate_count <= 0) return out;
  const SavedStatistics saved(pair);
  recalibrate(pair.base(), recalibrate_count, *recalibration);
  out.base_recalibrated = test_accuracy(pair.base(), test).percent();
  saved.restore();
  if (with_motivated) {
    recalibrate(pair.motivated(), recalibrate_count, *recalibration);
    out.motivated_recalibrated = test_accuracy(pair.motivated(), test).percent();
    saved.restore();
  }
  return out;
}

}  // namespace motive
