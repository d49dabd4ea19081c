// BatchNorm running statistics recomputed from data, shared by the families
// that have them (Model::recalibrate_running_statistics, models/model.h).
#pragma once
#include <cstdint>
#include <functional>
#include <string>

#include "models/parameter_source.h"

namespace motive {

// Resets `buffers` (every "*running_mean" to 0, every "*running_var" to 1) and
// runs forward(batch(k), 1 / (k + 1)) for k < count without gradients: a
// training-mode forward that moves the statistics by that momentum leaves
// their cumulative average over the batches (PyTorch's momentum=None).
// Resetting first matters even though momentum 1 overwrites them, as 0 * NaN
// would keep a NaN from a diverged run. Throws motive::Error naming `model`
// when count < 1.
void recalibrate_running_statistics(
    const std::string& model, const NamedTensors& buffers, int64_t count,
    const std::function<Tensor(int64_t k)>& batch,
    const std::function<void(const Tensor& x, double momentum)>& forward);

}  // namespace motive
