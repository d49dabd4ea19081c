// cast: a copy in another dtype, differentiable (the gradient is cast back).
// Mixed precision is built on it (engine/autocast.h): a float32 parameter cast
// to bf16 for a GEMM gets its gradient back in float32, added into its own
// region of the grad storage, so base-model views into motivated weights keep
// working unchanged. A strided input (a base model's weight sub-block) gives a
// dense copy, which is what cuDNN's filter descriptor needs anyway.
// FLOPs: none (a copy).
#include "engine/autograd.h"
#include "engine/ops.h"

namespace motive {

Tensor cast(const Tensor& x, DType dtype) {
  MOTIVE_CHECK(x.defined(), "cast: input is undefined");
  if (x.dtype() == dtype) return x;
  MOTIVE_CHECK(dtype != DType::I32 && x.dtype() != DType::I32, "cast: ", dtype_name(x.dtype()),
               " to ", dtype_name(dtype), " is not differentiable (int32 holds labels)");
  const DType from = x.dtype();
  return record("cast", x.detach().to(dtype), {x},
                [from](const Tensor& g) { return std::vector<Tensor>{g.to(from)}; });
}

}  // namespace motive
