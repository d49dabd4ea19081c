// Views: new (shape, strides, offset) over the same storage.
//
// Autograd rules.
// - Parameter views: a view of a leaf that requires grad, made in no-grad mode
//   (model building), is itself a leaf that requires grad. It shares the
//   storage, hence the grad storage, so its gradient lands in the matching
//   region of the owner's gradient with no copy. The base model's parameters
//   are such views into the motivated model's (the superset-view weights map).
// - A view of such a leaf made in grad mode (a transpose inside linear, say)
//   records a node whose backward adds the gradient straight into the leaf's
//   gradient region and marks that leaf as having a gradient: still no copy.
// - A view of a tensor with a history records a node that maps the gradient
//   back to the source's shape.
// - expand() always records: its elements overlap, so its backward sums.
#include <algorithm>

#include "engine/autograd.h"
#include "engine/ops.h"

namespace motive {
namespace {

Tensor make_view(const Tensor& src, Shape shape, Shape strides, int64_t offset, const char* name,
                 BackwardFn backward) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = src.storage();
  impl->shape = std::move(shape);
  impl->strides = std::move(strides);
  impl->offset = offset;
  impl->dtype = src.dtype();
  Tensor view(std::move(impl));
  if (src.is_leaf()) {
    if (!src.requires_grad() || !grad_enabled()) {
      view.impl().requires_grad = src.requires_grad();
      return view;
    }
    const Tensor region = view.detach();
    return record(name, view, {src}, [src, region](const Tensor& g) {
      accumulate_leaf_grad(src, g, region);
      return std::vector<Tensor>{Tensor()};
    });
  }
  return record(name, view, {src}, std::move(backward));
}

// Strides for viewing `t` as `shape` without copying, or false when the
// existing strides do not allow it (PyTorch's computeStride).
bool view_strides(const Tensor& t, const Shape& shape, Shape& out) {
  const Shape& old_shape = t.shape();
  const Shape& old_strides = t.strides();
  out.assign(shape.size(), 0);
  if (old_shape.empty()) {  // a scalar: any all-ones shape
    std::fill(out.begin(), out.end(), 1);
    return true;
  }
  if (t.numel() == 0) {
    out = contiguous_strides(shape);
    return true;
  }
  int64_t view_d = static_cast<int64_t>(shape.size()) - 1;
  int64_t chunk_base_stride = old_strides.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t d = static_cast<int64_t>(old_shape.size()) - 1; d >= 0; --d) {
    tensor_numel *= old_shape[d];
    // A chunk of dims that are contiguous among themselves ends here.
    if (d == 0 || (old_shape[d - 1] != 1 && old_strides[d - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
        out[view_d] = view_numel * chunk_base_stride;
        view_numel *= shape[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return false;
      if (d > 0) {
        chunk_base_stride = old_strides[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  return view_d == -1;
}

// Resolves one -1 entry and checks the element count.
Shape infer_shape(const Shape& shape, int64_t numel, const char* op, const Shape& from) {
  Shape out = shape;
  int64_t known = 1, infer = -1;
  for (size_t d = 0; d < out.size(); ++d) {
    if (out[d] == -1) {
      MOTIVE_CHECK(infer < 0, op, ": more than one -1 in ", shape_str(shape));
      infer = static_cast<int64_t>(d);
    } else {
      MOTIVE_CHECK(out[d] >= 0, op, ": negative size in ", shape_str(shape));
      known *= out[d];
    }
  }
  if (infer >= 0) {
    MOTIVE_CHECK(known > 0 && numel % known == 0, op, ": cannot infer -1 in ",
                 shape_str(shape), " for ", numel, " elements");
    out[infer] = numel / known;
    known *= out[infer];
  }
  MOTIVE_CHECK(known == numel, op, ": shape ", shape_str(shape), " has ", known,
               " elements, tensor ", shape_str(from), " has ", numel);
  return out;
}

}  // namespace

Tensor Tensor::slice(int64_t d, int64_t start, int64_t end, int64_t step) const {
  d = wrap_dim(d, dim(), "slice");
  const int64_t n = shape()[d];
  if (start < 0) start += n;
  if (end < 0) end += n;
  MOTIVE_CHECK(step > 0, "slice: step ", step, " must be positive");
  MOTIVE_CHECK(0 <= start && start <= end && end <= n, "slice: range [", start, ", ", end,
               ") out of bounds for dim ", d, " of ", shape_str(shape()));
  Shape s = shape(), st = strides();
  s[d] = (end - start + step - 1) / step;
  st[d] *= step;
  const Shape in_shape = shape();
  return make_view(*this, s, st, offset() + start * strides()[d], "slice",
                   [in_shape, d, start, end, step](const Tensor& g) {
                     Tensor gin = Tensor::zeros(in_shape, g.dtype(), g.device());
                     gin.slice(d, start, end, step).copy_(g);
                     return std::vector<Tensor>{gin};
                   });
}

Tensor Tensor::narrow(int64_t d, int64_t start, int64_t length) const {
  return slice(d, start, start + length);
}

Tensor Tensor::select(int64_t d, int64_t index) const {
  d = wrap_dim(d, dim(), "select");
  Tensor s = slice(d, index, index + 1);
  return s.squeeze(d);
}

Tensor Tensor::view(const Shape& shape_in) const {
  const Shape target = infer_shape(shape_in, numel(), "view", shape());
  Shape st;
  MOTIVE_CHECK(view_strides(*this, target, st), "view: cannot view ", shape_str(shape()),
               " with strides ", shape_str(strides()), " as ", shape_str(target),
               " without a copy (use reshape)");
  const Shape in_shape = shape();
  return make_view(*this, target, st, offset(), "view", [in_shape](const Tensor& g) {
    return std::vector<Tensor>{g.reshape(in_shape)};
  });
}

Tensor Tensor::reshape(const Shape& shape_in) const {
  const Shape target = infer_shape(shape_in, numel(), "reshape", shape());
  Shape st;
  if (view_strides(*this, target, st)) return view(target);
  return contiguous().view(target);
}

Tensor Tensor::permute(const Shape& dims) const {
  MOTIVE_CHECK(static_cast<int64_t>(dims.size()) == dim(), "permute: ", shape_str(dims),
               " for a tensor of rank ", dim());
  Shape s(dims.size()), st(dims.size()), inverse(dims.size());
  std::vector<bool> used(dims.size(), false);
  for (size_t i = 0; i < dims.size(); ++i) {
    const int64_t d = wrap_dim(dims[i], dim(), "permute");
    MOTIVE_CHECK(!used[d], "permute: dim ", d, " repeated in ", shape_str(dims));
    used[d] = true;
    s[i] = shape()[d];
    st[i] = strides()[d];
    inverse[d] = static_cast<int64_t>(i);
  }
  return make_view(*this, s, st, offset(), "permute", [inverse](const Tensor& g) {
    return std::vector<Tensor>{g.permute(inverse)};
  });
}

Tensor Tensor::transpose(int64_t a, int64_t b) const {
  Shape dims(dim());
  for (int64_t i = 0; i < dim(); ++i) dims[i] = i;
  std::swap(dims[wrap_dim(a, dim(), "transpose")], dims[wrap_dim(b, dim(), "transpose")]);
  return permute(dims);
}

Tensor Tensor::expand(const Shape& target) const {
  MOTIVE_CHECK(target.size() >= shape().size(), "expand: cannot expand ", shape_str(shape()),
               " to fewer dims ", shape_str(target));
  const size_t lead = target.size() - shape().size();
  Shape st(target.size(), 0);
  for (size_t i = 0; i < target.size(); ++i) {
    if (i < lead) continue;
    const int64_t have = shape()[i - lead];
    MOTIVE_CHECK(have == target[i] || have == 1, "expand: cannot expand ", shape_str(shape()),
                 " to ", shape_str(target));
    st[i] = have == 1 && target[i] != 1 ? 0 : strides()[i - lead];
  }
  if (target == shape()) return *this;
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = storage();
  impl->shape = target;
  impl->strides = st;
  impl->offset = offset();
  impl->dtype = dtype();
  const Shape in_shape = shape();
  return record("expand", Tensor(std::move(impl)), {*this}, [in_shape](const Tensor& g) {
    return std::vector<Tensor>{sum_to_shape(g, in_shape)};
  });
}

Tensor Tensor::unsqueeze(int64_t d) const {
  d = wrap_dim(d, dim() + 1, "unsqueeze");
  Shape s = shape();
  s.insert(s.begin() + d, 1);
  return view(s);
}

Tensor Tensor::squeeze(int64_t d) const {
  d = wrap_dim(d, dim(), "squeeze");
  MOTIVE_CHECK(shape()[d] == 1, "squeeze: dim ", d, " of ", shape_str(shape()), " is not 1");
  Shape s = shape(), st = strides();
  s.erase(s.begin() + d);
  st.erase(st.begin() + d);
  const Shape in_shape = shape();
  return make_view(*this, s, st, offset(), "squeeze", [in_shape](const Tensor& g) {
    return std::vector<Tensor>{g.reshape(in_shape)};
  });
}

Tensor Tensor::flatten(int64_t start, int64_t end) const {
  if (dim() == 0) return reshape({1});
  start = wrap_dim(start, dim(), "flatten");
  end = wrap_dim(end, dim(), "flatten");
  MOTIVE_CHECK(start <= end, "flatten: start ", start, " after end ", end);
  Shape s(shape().begin(), shape().begin() + start);
  int64_t merged = 1;
  for (int64_t d = start; d <= end; ++d) merged *= shape()[d];
  s.push_back(merged);
  s.insert(s.end(), shape().begin() + end + 1, shape().end());
  return reshape(s);
}

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  Tensor out = Tensor::empty(shape(), dtype(), device());
  out.copy_(*this);
  return record("contiguous", out, {*this}, [](const Tensor& g) { return std::vector<Tensor>{g}; });
}

}  // namespace motive
