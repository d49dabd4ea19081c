// Helpers shared by batch_norm2d and layer_norm: optional 1-D per-channel
// tensors (gamma, beta, running statistics) checked and handed to kernels as
// (pointer or null, stride).
#pragma once
#include <string>

#include "engine/tensor.h"

namespace motive::norm {

// Element 0 of an optional tensor, null when undefined (the kernels' "absent").
template <class T>
T* data_or_null(const Tensor& p) {
  return p.defined() ? p.data<T>() : nullptr;
}
inline int64_t stride_or_one(const Tensor& p) { return p.defined() ? p.stride(0) : 1; }

// An optional per-channel parameter must be [channels] of dtype `dtype`, on
// the input's device. batch_norm2d passes its parameter dtype (float32 beside
// bf16 input); the overload below wants the input's own dtype.
inline void check_channel_param(const char* op, const char* what, const Tensor& p,
                                int64_t channels, const Tensor& x, DType dtype) {
  if (!p.defined()) return;
  MOTIVE_CHECK(p.dim() == 1 && p.size(0) == channels, op, ": ", what, " ", shape_str(p.shape()),
               " does not match ", channels, " channels of input ", shape_str(x.shape()));
  MOTIVE_CHECK(p.dtype() == dtype, op, ": ", what, " is ", dtype_name(p.dtype()), ", input is ",
               dtype_name(x.dtype()),
               dtype == x.dtype() ? std::string()
                                  : std::string(" (which takes ") + dtype_name(dtype) +
                                        " parameters)");
  MOTIVE_CHECK(p.device() == x.device(), op, ": ", what, " is on ", device_name(p.device()),
               ", input is on ", device_name(x.device()));
}
inline void check_channel_param(const char* op, const char* what, const Tensor& p,
                                int64_t channels, const Tensor& x) {
  check_channel_param(op, what, p, channels, x, x.dtype());
}

}  // namespace motive::norm
