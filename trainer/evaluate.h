// Test accuracy of a run's models, plain and after recalibrating their running
// statistics (docs/models.md, "BatchNorm").
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "data/loader.h"
#include "models/nest.h"

namespace motive {

struct Accuracy {
  int64_t correct = 0, total = 0;
  double percent() const;  // 100 * correct / total (0 for an empty set)
};

// Top-1 accuracy of `model` over one whole pass of `test` (from its first
// batch), in eval mode without gradients: BN uses the running statistics.
Accuracy test_accuracy(const Model& model, Loader& test);

// Recomputes `model`'s running statistics as the cumulative average over the
// first `count` batches of `batches` (seeked to its start, so every
// recalibration of a run sees the same images; past an epoch's end it goes on
// into the next epoch).
void recalibrate(const Model& model, int64_t count, Loader& batches);

// The accuracies an epoch reports for one model of the chain, in percent;
// absent where not measured (no recalibration).
struct LevelAccuracy {
  std::optional<double> plain, recalibrated;
};
using ChainAccuracy = std::vector<LevelAccuracy>;  // per level, the base first

// {"acc_<level>": ..., "acc_<level>_recalibrated": ...} for every level
// (models/nest.h level names), null where absent.
nlohmann::json accuracy_json(const ChainAccuracy& a);
// The inverse, for a chain of `levels` models; throws motive::Error naming a
// missing key.
ChainAccuracy accuracy_from_json(const nlohmann::json& j, size_t levels);

// Every model's accuracy. With `recalibration` batches (recalibrate_count > 0)
// each model is also measured after recalibrating its running statistics; the
// chain's statistics are restored afterwards, so evaluation never changes what
// training continues with.
ChainAccuracy evaluate_chain(const NestedChain& chain, Loader& test, Loader* recalibration,
                             int64_t recalibrate_count);

}  // namespace motive
