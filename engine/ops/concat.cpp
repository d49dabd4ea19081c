// concat: joins tensors along one dim. FLOPs: 0 (data movement only).
// Forward copies each input into its slice of a fresh output (strided copy_,
// so inputs may be views); backward hands each input its slice of the
// gradient, as a view (no copy).
#include "engine/autograd.h"
#include "engine/ops.h"

namespace motive {

Tensor concat(const std::vector<Tensor>& xs, int64_t dim) {
  MOTIVE_CHECK(!xs.empty(), "concat: empty list of tensors");
  for (const Tensor& x : xs) MOTIVE_CHECK(x.defined(), "concat: undefined tensor in the list");
  const Tensor& first = xs.front();
  MOTIVE_CHECK(first.dim() >= 1, "concat: cannot concatenate scalars (rank 0)");
  const int64_t d = wrap_dim(dim, first.dim(), "concat");
  Shape out_shape = first.shape();
  out_shape[d] = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    const Tensor& x = xs[i];
    MOTIVE_CHECK(x.dtype() == first.dtype() && x.device() == first.device(), "concat: tensor ", i,
                 " is ", dtype_name(x.dtype()), " on ", device_name(x.device()), ", tensor 0 is ",
                 dtype_name(first.dtype()), " on ", device_name(first.device()));
    bool fits = x.dim() == first.dim();
    for (int64_t j = 0; fits && j < x.dim(); ++j) fits = j == d || x.size(j) == first.size(j);
    MOTIVE_CHECK(fits, "concat: tensor ", i, " of shape ", shape_str(x.shape()),
                 " does not match tensor 0 of shape ", shape_str(first.shape()),
                 " outside dim ", d);
    out_shape[d] += x.size(d);
  }
  Tensor out = Tensor::empty(out_shape, first.dtype(), first.device());
  std::vector<int64_t> starts, lengths;
  int64_t start = 0;
  for (const Tensor& x : xs) {
    starts.push_back(start);
    lengths.push_back(x.size(d));
    out.slice(d, start, start + x.size(d)).copy_(x);
    start += x.size(d);
  }
  return record("concat", out, xs, [d, starts, lengths](const Tensor& g) {
    std::vector<Tensor> grads;
    for (size_t i = 0; i < starts.size(); ++i)
      grads.push_back(g.slice(d, starts[i], starts[i] + lengths[i]));
    return grads;
  });
}

}  // namespace motive
