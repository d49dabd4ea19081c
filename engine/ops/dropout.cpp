// dropout and drop_path (stochastic depth). FLOPs: one multiply per element.
//
// Masks come from the Philox stream (kernels/philox.h): each call reserves one
// 32-bit draw per element (dropout) or per sample (drop_path) from the
// generator, so the mask is a pure function of (seed, offset). The backward
// saves only those two numbers and regenerates the identical mask. The CUDA
// kernel draws the same masks bit for bit, so both devices agree exactly. In
// eval mode, or with p = 0, both ops are the identity and draw nothing; p = 1
// drops everything (scale 0, no division by zero).
#include "engine/autocast.h"
#include "engine/autograd.h"
#include "engine/dispatch.h"
#include "engine/flops.h"
#include "engine/ops.h"
#include "engine/random.h"
#include "kernels/cpu/dropout.h"
#include "kernels/cuda/dropout.h"

namespace motive {
namespace {

// The mask of one call: group g of x (group_size consecutive elements in
// row-major order) survives per cpu::dropout_threshold.
struct Mask {
  int64_t groups, group_size;
  uint64_t seed, offset;
  uint32_t threshold;
  double scale;
};

Tensor apply_mask(const Tensor& x_in, const Mask& m, const char* op) {
  const Tensor x = x_in.detach().contiguous();
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  dispatch_float(x.dtype(), op, [&](auto t) {
    using T = decltype(t);
    MOTIVE_KERNEL(x.device(), dropout_apply<T>, m.groups, m.group_size, x.data<T>(), m.seed,
                  m.offset, m.threshold, static_cast<T>(m.scale), out.data<T>());
  });
  return out;
}

// Shared by both ops: `groups` draws, each covering numel / groups elements.
Tensor masked(const Tensor& x_in, double p, bool training, Generator& gen, int64_t groups,
              const char* op) {
  MOTIVE_CHECK(p >= 0.0 && p <= 1.0, op, ": drop probability ", p, " is outside [0, 1]");
  if (!training || p == 0.0) return x_in;
  const Tensor x = widen_bf16(x_in);  // float32 only: engine/autocast.h
  MOTIVE_CHECK(x.dtype() == DType::F32 || x.dtype() == DType::F64, op, ": dtype ",
               dtype_name(x.dtype()), " is not supported (float32/float64 only)");
  Mask m;
  m.groups = groups;
  m.group_size = groups == 0 ? 0 : x.numel() / groups;
  m.seed = gen.seed();
  m.offset = gen.reserve(static_cast<uint64_t>(groups));
  m.threshold = cpu::dropout_threshold(p);
  m.scale = p < 1.0 ? 1.0 / (1.0 - p) : 0.0;
  Tensor out = apply_mask(x, m, op);
  add_flops(x.numel());
  return record(op, out, {x}, [m, op](const Tensor& g) {
    return std::vector<Tensor>{apply_mask(g, m, op)};
  });
}

}  // namespace

Tensor dropout(const Tensor& x, double p, bool training, Generator& gen) {
  return masked(x, p, training, gen, x.numel(), "dropout");
}

Tensor drop_path(const Tensor& x, double p, bool training, Generator& gen) {
  MOTIVE_CHECK(x.dim() >= 1, "drop_path: needs a batch dim, got shape ", shape_str(x.shape()));
  return masked(x, p, training, gen, x.size(0), "drop_path");
}

}  // namespace motive
