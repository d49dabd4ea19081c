// Mixed precision, in the manner of PyTorch's autocast: inside an Autocast
// scope the GEMM-shaped ops read bf16 copies of their float32 operands, with
// float32 accumulation (cuBLAS/cuDNN compute type float; Eigen in float on the
// CPU), and write bf16. Parameters stay float32 ("master weights"): the cast is
// an op, so its backward turns the bf16 weight gradient back into float32 and
// adds it to the parameter's float32 gradient (sub-region views included), and
// the optimizer updates float32 weights.
//
// What each op does with bf16 (the policy):
//   cast to bf16 when autocast is on:  matmul, linear, conv2d (and the GEMMs
//                                       inside attention)
//   run in bf16 when given bf16:       add/sub/mul/div (a bf16/float32 pair
//                                       runs in float32), scalar ops, sum/mean,
//                                       relu/gelu/silu/sigmoid, max/avg/global
//                                       pooling, batch_norm2d (bf16 data,
//                                       float32 scale, shift and statistics),
//                                       views, copies, concat
//   always float32 (bf16 input cast up): softmax, cross_entropy, layer_norm,
//                                       dropout, drop_path
// The float32-only list holds the ops whose accuracy needs float (exponentials,
// variance over a row) or that have no bf16 kernel yet.
//
// Backward runs outside the scope (as in PyTorch); gradients take the dtype of
// the tensors they belong to. Float64 tensors are never cast.
#pragma once
#include "engine/tensor.h"

namespace motive {

// RAII: turns bf16 autocast on (or, with enabled = false, off) for this thread
// within its scope; scopes nest.
class Autocast {
 public:
  explicit Autocast(bool enabled = true);
  ~Autocast();
  Autocast(const Autocast&) = delete;
  Autocast& operator=(const Autocast&) = delete;

 private:
  bool previous_;
};

bool autocast_enabled();

// A GEMM/conv operand: float32 cast to bf16 when autocast is on, else itself.
// Undefined tensors pass through.
Tensor autocast_operand(const Tensor& x);
// For the float32-only ops: a bf16 input cast up to float32, else itself.
Tensor widen_bf16(const Tensor& x);

}  // namespace motive
