// sum / mean over dims. FLOPs: one add per input element.
#include <algorithm>

#include "engine/autograd.h"
#include "engine/dispatch.h"
#include "engine/flops.h"
#include "engine/ops.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cuda/elementwise.h"

namespace motive {
namespace {

// Output shape with the reduced dims kept as size 1.
Shape kept_shape(const Shape& in, const std::vector<bool>& reduced) {
  Shape out = in;
  for (size_t d = 0; d < in.size(); ++d)
    if (reduced[d]) out[d] = 1;
  return out;
}

}  // namespace

Tensor sum(const Tensor& x, const Shape& dims, bool keepdim) {
  std::vector<bool> reduced(x.dim(), false);
  for (int64_t d : dims) {
    const int64_t w = wrap_dim(d, x.dim(), "sum");
    MOTIVE_CHECK(!reduced[w], "sum: dim ", d, " listed twice in ", shape_str(dims));
    reduced[w] = true;
  }
  const Shape kept = kept_shape(x.shape(), reduced);
  Tensor out = Tensor::zeros(kept, x.dtype(), x.device());
  // The output seen through stride 0 on the reduced dims has the input's shape.
  Shape out_strides = out.strides();
  for (int64_t d = 0; d < x.dim(); ++d)
    if (reduced[d]) out_strides[d] = 0;
  dispatch_float_bf16(x.dtype(), "sum", [&](auto t) {
    using T = decltype(t);
    MOTIVE_KERNEL(x.device(), sum_into<T>, x.dim(), x.shape().data(), out.data<T>(),
                  out_strides.data(), x.data<T>(), x.strides().data());
  });
  add_flops(x.numel());
  Shape final_shape;
  for (int64_t d = 0; d < x.dim(); ++d)
    if (!reduced[d] || keepdim) final_shape.push_back(kept[d]);
  if (!keepdim) out = out.view(final_shape);
  const Shape in_shape = x.shape();
  return record("sum", out, {x}, [in_shape, kept](const Tensor& g) {
    return std::vector<Tensor>{g.reshape(kept).expand(in_shape)};
  });
}

Tensor mean(const Tensor& x, const Shape& dims, bool keepdim) {
  int64_t count = 1;
  for (int64_t d : dims) count *= x.shape()[wrap_dim(d, x.dim(), "mean")];
  return mul_scalar(sum(x, dims, keepdim), 1.0 / static_cast<double>(std::max<int64_t>(count, 1)));
}

namespace {
Shape all_dims(const Tensor& x) {
  Shape dims(x.dim());
  for (int64_t d = 0; d < x.dim(); ++d) dims[d] = d;
  return dims;
}
}  // namespace

Tensor sum(const Tensor& x) { return sum(x, all_dims(x), false); }
Tensor mean(const Tensor& x) { return mean(x, all_dims(x), false); }

}  // namespace motive
