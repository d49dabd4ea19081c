#include "models/running_statistics.h"

#include "engine/autograd.h"

namespace motive {

void recalibrate_running_statistics(
    const std::string& model, const NamedTensors& buffers, int64_t count,
    const std::function<Tensor(int64_t k)>& batch,
    const std::function<void(const Tensor& x, double momentum)>& forward) {
  MOTIVE_CHECK(count >= 1, model, ": BN recalibration needs at least one batch, got ", count);
  NoGradGuard no_grad;
  const auto ends_with = [](const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() &&
           s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  for (const auto& [name, buffer] : buffers) {
    Tensor t = buffer;
    if (ends_with(name, "running_mean")) t.fill_(0.0);
    if (ends_with(name, "running_var")) t.fill_(1.0);
  }
  for (int64_t k = 0; k < count; ++k) forward(batch(k), 1.0 / static_cast<double>(k + 1));
}

}  // namespace motive
