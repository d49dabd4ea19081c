// Test accuracy of the run's models, plain and after BatchNorm recalibration
// (DESIGN.md "BatchNorm statistics").
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>

#include "data/loader.h"
#include "models/nest.h"

namespace motive {

struct Accuracy {
  int64_t correct = 0, total = 0;
  double percent() const;  // 100 * correct / total (0 for an empty set)
};

// Top-1 accuracy of `model` over one whole pass of `test` (from its first
// batch), in eval mode without gradients: BN uses the running statistics.
Accuracy test_accuracy(const ResNet& model, Loader& test);

// Recomputes `model`'s BN running statistics as the cumulative average over
// the first `count` batches of `batches` (seeked to its start, so every
// recalibration of a run sees the same images; past an epoch's end it goes on
// into the next epoch).
void recalibrate(const ResNet& model, int64_t count, Loader& batches);

// The accuracies an epoch reports, in percent; absent where not measured (no
// motivated model; no recalibration).
struct PairAccuracy {
  std::optional<double> base, motivated, base_recalibrated, motivated_recalibrated;
};
void to_json(nlohmann::json& j, const PairAccuracy& a);
void from_json(const nlohmann::json& j, PairAccuracy& a);

// Both models' accuracies (the motivated one's only when `with_motivated`).
// With `recalibration` batches (recalibrate_count > 0) each model is also
// measured after recalibrating its BN statistics; the pair's statistics are
// restored afterwards, so evaluation never changes what training continues with.
PairAccuracy evaluate_pair(const NestedPair& pair, bool with_motivated, Loader& test,
                           Loader* recalibration, int64_t recalibrate_count);

}  // namespace motive
