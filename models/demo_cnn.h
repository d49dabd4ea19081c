// The engine's demo network: a two-conv CNN for 28x28 grey images
//   conv3x3(1->16) relu maxpool2 -> conv3x3(16->32) relu maxpool2 -> linear(32*7*7 -> 10)
// Small enough to train on two CPU cores in seconds; the scalable ResNet
// families (models/registry.h) are what the trainer trains.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "engine/random.h"
#include "engine/tensor.h"

namespace motive {

class DemoCnn {
 public:
  DemoCnn(Generator& gen, int64_t in_channels = 1, int64_t num_classes = 10,
          int64_t image_size = 28);
  Tensor forward(const Tensor& x) const;  // [N, H, W, C] -> logits [N, classes]
  std::vector<std::pair<std::string, Tensor>> named_parameters() const;
  std::vector<Tensor> parameters() const;
  // Moves every parameter to `device`, or converts it to `dtype` (PyTorch's
  // module.to): each becomes a fresh leaf with requires_grad, so an optimizer
  // must be built after.
  DemoCnn& to(Device device);
  DemoCnn& to(DType dtype);
  // Forward FLOPs for one image (multiply-add = 2).
  int64_t flops_per_image() const;

 private:
  template <class F> DemoCnn& replace_parameters(F&& f);

  int64_t image_size_;
  Tensor conv1_w_, conv1_b_, conv2_w_, conv2_b_, fc_w_, fc_b_;
};

}  // namespace motive
