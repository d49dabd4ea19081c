// Optimizers: SGD and AdamW with PyTorch's exact update rules.
//
// State follows the superset-view design of the gradients (see tensor.h): the
// state buffers (momentum, Adam moments) are kept per data *Storage*, each with
// the storage's element count, and a parameter's state is the same view
// (shape, strides, offset) over the state buffer as the parameter is over its
// storage. So the state of a base parameter that is a sub-block of a motivated
// weight lives in the matching sub-block of the motivated weight's state, and
// the base model (views) and the motivated model (owners) can share one
// optimizer: a step through either continues the same per-element state.
//
// A step updates only the parameters whose has_grad() is set (a gradient
// arrived since their last zero_grad()); every other element of every
// parameter and state buffer stays bit-identical.
//
// Parameters may live on any device (each one's state lives on its device).
// A step hands the kernels batches of parameters, so the CUDA kernel updates
// a whole batch in one launch (multi-tensor); the CPU kernel runs the same
// per-element arithmetic one parameter after another, and the two devices
// agree bit for bit (kernels/optim_rules.h).
#pragma once
#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "engine/tensor.h"

namespace motive {

namespace cpu {
template <class T>
struct ParamUpdate;
}

// Which parameters add_params() subjects to weight decay.
enum class DecayRule {
  All,
  // Parameters with at most one dim are not decayed: BatchNorm/LayerNorm
  // gamma and beta and the biases (timm's and most recipes' convention).
  ExcludeNormAndBias,
};

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // Registers a leaf parameter (float32/float64, on any device, possibly a
  // strided view; not an expanded view, whose elements overlap). Registering
  // the same tensor twice is an error; registering a view and its owner is
  // fine (they share the state of their storage).
  void add_param(Tensor p, bool decay = true);
  void add_params(const std::vector<Tensor>& ps, DecayRule rule = DecayRule::All);

  // Updates every parameter with has_grad(), in no-grad mode. If overlapping
  // parameters (a view and its owner) both got a gradient, each applies its
  // own update to the shared elements, in registration order.
  void step();
  void zero_grad();  // zero_grad() on every parameter

  void set_lr(double lr);
  double lr() const { return lr_; }
  const std::vector<Tensor>& params() const { return params_; }

  // The state, for checkpoints and tests: for each storage, its state buffers
  // named "param<i>.<buffer>" (i: index of the first registered parameter on
  // that storage), shaped like a registered parameter that covers the whole
  // storage (the owner) or flat when none does. These are views of the live
  // buffers, not copies. Then "param<i>.step" for every parameter: a float64
  // scalar counting the steps it took.
  NamedTensors state_tensors() const;
  // Restores what state_tensors() returned for the same registrations (same
  // order, shapes); dtypes are converted. Every name must be present and no
  // other: a mismatch throws motive::Error naming the entry.
  void load_state(const NamedTensors& state);

 protected:
  // buffer_names: the per-element state, e.g. {"momentum_buffer"}.
  Optimizer(const char* name, double lr, std::vector<std::string> buffer_names);

  struct Update {
    Tensor param;
    Tensor grad;                // same geometry as param
    std::vector<Tensor> state;  // one per buffer name, same geometry as param
    bool decay;
    int64_t step;  // this parameter's step count, including the current step (1-based)
  };
  // Updates a batch: parameters on one device, of one dtype, no two of them
  // sharing elements (so their updates are independent).
  virtual void update(const std::vector<Update>& batch) = 0;
  // The batch as kernel arguments; they point into `batch`'s tensors.
  template <class T>
  static std::vector<cpu::ParamUpdate<T>> kernel_args(const std::vector<Update>& batch);

  const char* name_;  // "SGD", "AdamW": prefixes errors
  double lr_;

 private:
  struct StorageState {
    size_t first_param;           // names the state
    std::vector<Tensor> buffers;  // flat, one per buffer name, zero-initialised
  };
  struct Param {
    size_t state;  // index into states_
    bool decay;
    int64_t steps = 0;
  };

  std::vector<std::string> buffer_names_;
  std::vector<Tensor> params_;
  std::vector<Param> info_;  // parallel to params_
  std::vector<StorageState> states_;  // in registration order
  std::unordered_map<const Storage*, size_t> state_of_storage_;

  Shape state_shape(const StorageState& st) const;
};

// torch.optim.SGD: d = grad (+ weight_decay * p); with momentum,
// buf = d on the parameter's first step, else momentum * buf + (1 - dampening) * d,
// and d = buf (or d + momentum * buf with Nesterov); p -= lr * d.
// With dampening 0 (the default) the first-step rule equals the general one on
// the zero-initialised buffer, so the general one is always used and the shared
// per-storage state is exact per element however views and owners interleave.
// With dampening != 0 the first-step rule applies on each registered tensor's
// first step, over that tensor's region.
class SGD : public Optimizer {
 public:
  explicit SGD(double lr, double momentum = 0, double dampening = 0, double weight_decay = 0,
               bool nesterov = false);

 private:
  void update(const std::vector<Update>& batch) override;
  double momentum_, dampening_, weight_decay_;
  bool nesterov_;
};

// torch.optim.AdamW: p *= 1 - lr * wd (decoupled decay); m = lerp(m, g, 1 - beta1);
// v = beta2 v + (1 - beta2) g^2; p -= lr / (1 - beta1^t) * m / (sqrt(v / (1 - beta2^t)) + eps).
// The moments are shared per storage, but the step count t is kept per
// registered parameter tensor, as PyTorch keeps it per parameter: a base view
// and its owner are two parameters with their own t. When the motivated model
// steps after base steps, the mapped elements continue from the moments the
// base built but are bias-corrected with the owner's t, whereas copying the
// base's state at each switch (the paper's way) would carry the base's t too.
// The two agree exactly on the unmapped elements and only approximately on the
// mapped ones (the gap vanishes as both t grow and the corrections tend to 1).
class AdamW : public Optimizer {
 public:
  explicit AdamW(double lr, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8,
                 double weight_decay = 0.01);

 private:
  void update(const std::vector<Update>& batch) override;
  double beta1_, beta2_, eps_, weight_decay_;
};

}  // namespace motive
