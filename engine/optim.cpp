#include "engine/optim.h"

#include <algorithm>
#include <cmath>
#include <unordered_set>

#include "engine/autograd.h"
#include "engine/dispatch.h"
#include "kernels/cpu/optim.h"
#include "kernels/cuda/optim.h"

namespace motive {
namespace {

// `geometry`'s view (shape, strides, offset, dtype) over `buffer`'s storage:
// how a parameter's state is laid over its storage's state buffer.
Tensor same_view(const Tensor& buffer, const Tensor& geometry) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = buffer.storage();
  impl->shape = geometry.shape();
  impl->strides = geometry.strides();
  impl->offset = geometry.offset();
  impl->dtype = geometry.dtype();
  return Tensor(std::move(impl));
}

int64_t storage_numel(const Tensor& p) {
  return static_cast<int64_t>(p.storage()->nbytes() / dtype_size(p.dtype()));
}

bool covers_storage(const Tensor& p) {
  return p.offset() == 0 && p.is_contiguous() && p.numel() == storage_numel(p);
}

std::string param_prefix(size_t i) { return "param" + std::to_string(i) + "."; }

// The elements [lo, hi] of its storage a view may touch (its state and grad
// views touch the same range of their buffers).
struct Extent {
  const Storage* storage;
  int64_t lo, hi;
  bool overlaps(const Extent& o) const { return storage == o.storage && lo <= o.hi && o.lo <= hi; }
};

Extent extent_of(const Tensor& p) {
  if (p.numel() == 0) return {p.storage().get(), 0, -1};  // touches nothing
  Extent e{p.storage().get(), p.offset(), p.offset()};
  for (int64_t d = 0; d < p.dim(); ++d) {
    const int64_t reach = (p.size(d) - 1) * p.stride(d);
    (reach < 0 ? e.lo : e.hi) += reach;
  }
  return e;
}

}  // namespace

Optimizer::Optimizer(const char* name, double lr, std::vector<std::string> buffer_names)
    : name_(name), lr_(0), buffer_names_(std::move(buffer_names)) {
  set_lr(lr);
}

void Optimizer::add_param(Tensor p, bool decay) {
  const size_t index = params_.size();
  MOTIVE_CHECK(p.defined(), name_, ": parameter ", index, " is an undefined tensor");
  const std::string what = std::string(name_) + ": parameter " + std::to_string(index) + " " +
                           shape_str(p.shape());
  MOTIVE_CHECK(p.is_leaf(), what, " is not a leaf (it has autograd history)");
  MOTIVE_CHECK(p.dtype() == DType::F32 || p.dtype() == DType::F64, what, " has dtype ",
               dtype_name(p.dtype()), "; optimizers take F32 or F64");
  for (int64_t d = 0; d < p.dim(); ++d) {
    MOTIVE_CHECK(p.stride(d) != 0 || p.size(d) <= 1, what,
                 " is an expanded view (its elements overlap)");
  }
  for (size_t i = 0; i < params_.size(); ++i) {
    MOTIVE_CHECK(!params_[i].same(p), what, " is parameter ", i, " registered again");
  }

  const Storage* storage = p.storage().get();
  auto found = state_of_storage_.find(storage);
  size_t state;
  if (found == state_of_storage_.end()) {
    state = states_.size();
    StorageState st{index, {}};
    for (size_t b = 0; b < buffer_names_.size(); ++b) {
      st.buffers.push_back(Tensor::zeros({storage_numel(p)}, p.dtype(), p.device()));
    }
    states_.push_back(std::move(st));
    state_of_storage_.emplace(storage, state);
  } else {
    state = found->second;
    const Tensor& first = params_[states_[state].first_param];
    MOTIVE_CHECK(first.dtype() == p.dtype(), what, " has dtype ", dtype_name(p.dtype()),
                 " but shares its storage with parameter ", states_[state].first_param,
                 " of dtype ", dtype_name(first.dtype()));
  }
  params_.push_back(std::move(p));
  info_.push_back(Param{state, decay});
}

void Optimizer::add_params(const std::vector<Tensor>& ps, DecayRule rule) {
  for (const Tensor& p : ps) {
    add_param(p, rule == DecayRule::All || !p.defined() || p.dim() > 1);
  }
}

void Optimizer::set_lr(double lr) {
  MOTIVE_CHECK(std::isfinite(lr) && lr >= 0, name_, ": learning rate ", lr,
               " must be finite and >= 0");
  lr_ = lr;
}

void Optimizer::step() {
  NoGradGuard no_grad;
  // Batches are runs of parameters in registration order, cut where the device
  // or dtype changes or a parameter's elements may overlap one already in the
  // batch: the parameters of a batch are independent (one launch may update
  // them all at once), and a view and its owner that both got a gradient still
  // update in registration order. Disjoint views of one storage share a batch.
  std::vector<Update> batch;
  std::vector<Extent> extents;
  const auto flush = [&] {
    if (!batch.empty()) update(batch);
    batch.clear();
    extents.clear();
  };
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i];
    if (!p.has_grad()) continue;
    const Extent extent = extent_of(p);
    const bool independent =
        batch.empty() || (p.device() == batch.front().param.device() &&
                          p.dtype() == batch.front().param.dtype() &&
                          std::none_of(extents.begin(), extents.end(),
                                       [&](const Extent& e) { return e.overlaps(extent); }));
    if (!independent) flush();
    // grad() is p's own geometry over the grad storage (tensor.h), and the
    // state views are built the same way: one set of strides serves all three.
    Param& info = info_[i];
    std::vector<Tensor> state;
    for (const Tensor& buffer : states_[info.state].buffers) state.push_back(same_view(buffer, p));
    batch.push_back(Update{p, p.grad(), std::move(state), info.decay, info.steps + 1});
    extents.push_back(extent);
    ++info.steps;
  }
  flush();
}

template <class T>
std::vector<cpu::ParamUpdate<T>> Optimizer::kernel_args(const std::vector<Update>& batch) {
  std::vector<cpu::ParamUpdate<T>> args(batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    const Update& u = batch[i];
    cpu::ParamUpdate<T>& a = args[i];
    a.rank = u.param.dim();
    a.shape = u.param.shape().data();
    a.strides = u.param.strides().data();
    a.param = u.param.data<T>();
    a.grad = u.grad.data<T>();
    for (size_t b = 0; b < u.state.size(); ++b) a.state[b] = u.state[b].data<T>();
    a.decay = u.decay;
    a.step = u.step;
  }
  return args;
}

void Optimizer::zero_grad() {
  for (Tensor& p : params_) p.zero_grad();
}

Shape Optimizer::state_shape(const StorageState& st) const {
  for (size_t i = st.first_param; i < params_.size(); ++i) {
    if (params_[i].storage() == params_[st.first_param].storage() && covers_storage(params_[i])) {
      return params_[i].shape();
    }
  }
  return {storage_numel(params_[st.first_param])};
}

NamedTensors Optimizer::state_tensors() const {
  NamedTensors out;
  for (const StorageState& st : states_) {
    const Shape shape = state_shape(st);
    for (size_t b = 0; b < buffer_names_.size(); ++b) {
      out.emplace_back(param_prefix(st.first_param) + buffer_names_[b], st.buffers[b].view(shape));
    }
  }
  for (size_t i = 0; i < params_.size(); ++i) {
    out.emplace_back(param_prefix(i) + "step",
                     Tensor::scalar(static_cast<double>(info_[i].steps), DType::F64));
  }
  return out;
}

void Optimizer::load_state(const NamedTensors& state) {
  // The step entries come last, one per parameter, in registration order.
  NamedTensors live = state_tensors();
  const size_t first_step_entry = live.size() - params_.size();

  std::unordered_map<std::string, const Tensor*> given;
  for (const auto& [name, tensor] : state) {
    MOTIVE_CHECK(given.emplace(name, &tensor).second, name_, ": load_state: '", name,
                 "' given twice");
  }
  std::unordered_set<std::string> known;
  std::vector<const Tensor*> sources;
  for (size_t k = 0; k < live.size(); ++k) {
    const auto& [name, target] = live[k];
    known.insert(name);
    auto it = given.find(name);
    MOTIVE_CHECK(it != given.end(), name_, ": load_state: '", name, "' is missing");
    const Tensor& src = *it->second;
    MOTIVE_CHECK(src.defined() && src.shape() == target.shape(), name_, ": load_state: '", name,
                 "' has shape ", src.defined() ? shape_str(src.shape()) : "(undefined)",
                 ", expected ", shape_str(target.shape()));
    if (k >= first_step_entry) {
      const double steps = src.item();
      MOTIVE_CHECK(std::isfinite(steps) && steps >= 0 && steps == std::floor(steps), name_,
                   ": load_state: '", name, "' = ", steps, " is not a step count");
    }
    sources.push_back(&src);
  }
  for (const auto& entry : state) {
    MOTIVE_CHECK(known.count(entry.first), name_, ": load_state: unexpected entry '", entry.first,
                 "'");
  }

  // Validated as a whole: only now change anything.
  for (size_t k = 0; k < live.size(); ++k) {
    if (k < first_step_entry) {
      live[k].second.copy_(*sources[k]);
    } else {
      info_[k - first_step_entry].steps = static_cast<int64_t>(sources[k]->item());
    }
  }
}

// ---- SGD ----

SGD::SGD(double lr, double momentum, double dampening, double weight_decay, bool nesterov)
    : Optimizer("SGD", lr, momentum != 0 ? std::vector<std::string>{"momentum_buffer"}
                                         : std::vector<std::string>{}),
      momentum_(momentum),
      dampening_(dampening),
      weight_decay_(weight_decay),
      nesterov_(nesterov) {
  MOTIVE_CHECK(momentum >= 0, "SGD: momentum ", momentum, " must be >= 0");
  MOTIVE_CHECK(weight_decay >= 0, "SGD: weight_decay ", weight_decay, " must be >= 0");
  MOTIVE_CHECK(!nesterov || (momentum > 0 && dampening == 0),
               "SGD: Nesterov momentum needs momentum > 0 and dampening 0 (got momentum ",
               momentum, ", dampening ", dampening, ")");
}

void SGD::update(const std::vector<Update>& batch) {
  const cpu::SgdHyper h{lr_, momentum_, dampening_, weight_decay_, nesterov_};
  const Tensor& first = batch.front().param;
  dispatch_float(first.dtype(), name_, [&](auto tag) {
    using T = decltype(tag);
    const auto args = kernel_args<T>(batch);
    MOTIVE_KERNEL(first.device(), sgd_step<T>, static_cast<int64_t>(args.size()), args.data(), h);
  });
}

// ---- AdamW ----

AdamW::AdamW(double lr, double beta1, double beta2, double eps, double weight_decay)
    : Optimizer("AdamW", lr, {"exp_avg", "exp_avg_sq"}),
      beta1_(beta1),
      beta2_(beta2),
      eps_(eps),
      weight_decay_(weight_decay) {
  MOTIVE_CHECK(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1, "AdamW: betas (", beta1, ", ",
               beta2, ") must lie in [0, 1)");
  MOTIVE_CHECK(eps >= 0, "AdamW: eps ", eps, " must be >= 0");
  MOTIVE_CHECK(weight_decay >= 0, "AdamW: weight_decay ", weight_decay, " must be >= 0");
}

void AdamW::update(const std::vector<Update>& batch) {
  const cpu::AdamWHyper h{lr_, beta1_, beta2_, eps_, weight_decay_};
  const Tensor& first = batch.front().param;
  dispatch_float(first.dtype(), name_, [&](auto tag) {
    using T = decltype(tag);
    const auto args = kernel_args<T>(batch);
    MOTIVE_KERNEL(first.device(), adamw_step<T>, static_cast<int64_t>(args.size()), args.data(),
                  h);
  });
}

}  // namespace motive
