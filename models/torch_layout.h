// Helpers for Model::torch_state_dict (models/model.h): PyTorch's layouts of
// the tensors motive stores its own way. Every result is a contiguous copy on
// the CPU, detached from the model.
#pragma once
#include "engine/tensor.h"

namespace motive {

// A contiguous CPU copy of `t` (any strides, any device).
Tensor torch_copy(const Tensor& t);
// A conv filter: motive's OHWI [out, kh, kw, in] -> PyTorch's OIHW.
Tensor torch_conv_weight(const Tensor& ohwi);
// A BatchNorm's num_batches_tracked: a 0-dim integer PyTorch reads only when
// the layer's momentum is None; motive does not count batches, so 0.
Tensor torch_num_batches_tracked();

}  // namespace motive
