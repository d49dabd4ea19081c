// Optimizer update kernels (CPU), one parameter at a time. The parameter may be
// a strided view (a sub-block of a larger weight); its gradient and its state
// buffers are the same view over their own buffers, so one shape and one set
// of strides (in elements) describe all of them. Every pointer points at
// element 0 of its view.
#pragma once
#include <cstdint>

namespace motive::cpu {

// torch.optim.SGD's update.
struct SgdHyper {
  double lr = 0, momentum = 0, dampening = 0, weight_decay = 0;
  bool nesterov = false;
  bool first_step = false;  // buf = d instead of momentum * buf + (1 - dampening) * d
};
// momentum_buf is null when momentum == 0.
template <class T>
void sgd_step(int64_t rank, const int64_t* shape, const int64_t* strides, T* param,
              const T* grad, T* momentum_buf, const SgdHyper& h);

// torch.optim.AdamW's update; step is the 1-based count including this step.
struct AdamWHyper {
  double lr = 0, beta1 = 0, beta2 = 0, eps = 0, weight_decay = 0;
  int64_t step = 1;
};
template <class T>
void adamw_step(int64_t rank, const int64_t* shape, const int64_t* strides, T* param,
                const T* grad, T* exp_avg, T* exp_avg_sq, const AdamWHyper& h);

}  // namespace motive::cpu
