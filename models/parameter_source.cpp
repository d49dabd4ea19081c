#include "models/parameter_source.h"

#include "engine/autograd.h"

namespace motive {

FreshTensors::FreshTensors(Generator& gen, DType dtype, Device device)
    : gen_(gen), dtype_(dtype), device_(device) {}

Tensor FreshTensors::parameter(const std::string&, const Shape& shape, const Init& init) {
  Tensor t = Tensor::empty(shape, dtype_);  // the initialisers run on the CPU
  switch (init.kind) {
    case Init::Kind::KaimingFanOut:
      kaiming_normal_(t, fan_out(t), gen_);
      break;
    case Init::Kind::Constant:
      t.fill_(init.value);
      break;
    case Init::Kind::Uniform:
      uniform_(t, -init.value, init.value, gen_);
      break;
    case Init::Kind::Normal:
      normal_(t, 0.0, init.value, gen_);
      break;
    case Init::Kind::TruncNormal:
      trunc_normal_(t, 0.0, init.value, -2.0, 2.0, gen_);
      break;
  }
  return t.to(device_).requires_grad_();
}

Tensor FreshTensors::buffer(const std::string&, const Shape& shape, double fill) {
  return Tensor::full(shape, fill, dtype_, device_);
}

PrefixViews::PrefixViews(const NamedTensors& owner, bool share_buffers)
    : owner_(owner.begin(), owner.end()), share_buffers_(share_buffers) {}

Tensor PrefixViews::view_of(const std::string& name, const Shape& shape) const {
  const auto it = owner_.find(name);
  MOTIVE_CHECK(it != owner_.end(), "weights map: the motivated model has no tensor '", name, "'");
  return prefix_view(it->second, shape);
}

Tensor PrefixViews::parameter(const std::string& name, const Shape& shape, const Init&) {
  NoGradGuard parameter_view;  // a leaf view, not a recorded op
  return view_of(name, shape);
}

Tensor PrefixViews::buffer(const std::string& name, const Shape& shape, double fill) {
  if (share_buffers_) return view_of(name, shape);
  const Tensor& like = view_of(name, shape);
  return Tensor::full(shape, fill, like.dtype(), like.device());
}

void load_named_tensors(const NamedTensors& into, const NamedTensors& from,
                        const std::string& who) {
  const std::map<std::string, Tensor> targets(into.begin(), into.end());
  MOTIVE_CHECK(from.size() == targets.size(), who, ": got ", from.size(), " tensors, expected ",
               targets.size());
  NoGradGuard no_grad;
  for (const auto& [name, src] : from) {
    const auto it = targets.find(name);
    MOTIVE_CHECK(it != targets.end(), who, ": unexpected tensor '", name, "'");
    MOTIVE_CHECK(src.shape() == it->second.shape(), who, ": '", name, "' has shape ",
                 shape_str(src.shape()), ", expected ", shape_str(it->second.shape()));
    Tensor dst = it->second;
    dst.copy_(src);
  }
}

Tensor prefix_view(const Tensor& t, const Shape& shape) {
  MOTIVE_CHECK(static_cast<int64_t>(shape.size()) == t.dim(), "prefix_view: shape ",
               shape_str(shape), " does not have the rank of ", shape_str(t.shape()));
  Tensor v = t;
  for (size_t d = 0; d < shape.size(); ++d) {
    MOTIVE_CHECK(shape[d] <= t.size(static_cast<int64_t>(d)), "prefix_view: shape ",
                 shape_str(shape), " does not fit inside ", shape_str(t.shape()));
    v = v.slice(static_cast<int64_t>(d), 0, shape[d]);
  }
  return v;
}

}  // namespace motive
