#include "models/torch_layout.h"

#include "engine/autograd.h"

namespace motive {

Tensor torch_copy(const Tensor& t) {
  NoGradGuard no_grad;
  return t.to(Device::CPU).clone();  // clone: contiguous, detached, never shared
}

Tensor torch_conv_weight(const Tensor& ohwi) {
  MOTIVE_CHECK(ohwi.dim() == 4, "torch_conv_weight: expects an OHWI filter, got ",
               shape_str(ohwi.shape()));
  return torch_copy(ohwi.to(Device::CPU).permute({0, 3, 1, 2}));
}

Tensor torch_num_batches_tracked() { return Tensor::zeros({}, DType::I32); }

}  // namespace motive
