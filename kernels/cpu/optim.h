// Optimizer update kernels. One call updates a list of parameters: the CUDA
// twin (kernels/cuda/optim.h) updates them all in one launch, this CPU one in
// one parallel region, a parameter per thread at a time. A parameter may be a
// strided view (a sub-block of a larger weight); its
// gradient and its state buffers are the same view over their own buffers, so
// one shape and one set of strides (in elements) describe all of them. Every
// pointer points at element 0 of its view. The parameters of one call must not
// share elements (each call's updates are independent). The per-element
// arithmetic is shared with the CUDA kernel (kernels/optim_rules.h).
#pragma once
#include <cstdint>

namespace motive::cpu {

// One parameter to update.
template <class T>
struct ParamUpdate {
  int64_t rank = 0;
  const int64_t* shape = nullptr;
  const int64_t* strides = nullptr;
  T* param = nullptr;
  const T* grad = nullptr;
  // SGD: the momentum buffer (null without momentum); AdamW: exp_avg, exp_avg_sq.
  T* state[2] = {nullptr, nullptr};
  bool decay = true;  // apply the weight decay to this parameter
  int64_t step = 1;   // this parameter's step count, including this step (1-based)
};

// torch.optim.SGD's update. The first-step rule (buf = d instead of
// momentum * buf + (1 - dampening) * d) applies to parameters at step 1 when
// dampening != 0; with dampening 0 it equals the general rule on the
// zero-initialised buffer, so the general one is used.
struct SgdHyper {
  double lr = 0, momentum = 0, dampening = 0, weight_decay = 0;
  bool nesterov = false;
};
template <class T>
void sgd_step(int64_t count, const ParamUpdate<T>* params, const SgdHyper& h);

// torch.optim.AdamW's update, bias-corrected with each parameter's step.
struct AdamWHyper {
  double lr = 0, beta1 = 0, beta2 = 0, eps = 0, weight_decay = 0;
};
template <class T>
void adamw_step(int64_t count, const ParamUpdate<T>* params, const AdamWHyper& h);

}  // namespace motive::cpu
