// matmul (batched) and linear. FLOPs: 2 * batch * M * K * N.
// Operands are used through their strides (transposes, sub-blocks): a base
// layer's weight that is a view into the motivated weight is never copied.
// float32, float64 and bf16 (float32 accumulation); under Autocast float32
// operands are cast to bf16 first (engine/autocast.h), so the product, its
// gradients and linear's bias add run in bf16 and the casts' backward returns
// float32 gradients to float32 parameters.
#include "engine/autocast.h"
#include "engine/autograd.h"
#include "engine/dispatch.h"
#include "engine/flops.h"
#include "engine/ops.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cuda/matmul.h"

namespace motive {

int64_t matmul_flops(int64_t batch, int64_t m, int64_t k, int64_t n) { return 2 * batch * m * k * n; }

namespace {

// A 2-D operand is usable in place when one of its last two strides is 1. On
// CUDA the other must also be a valid cuBLAS leading dimension (>= the extent
// it steps over, so not a broadcast 0); kernels/cuda/matmul.cu mirrors this.
Tensor gemm_ready(const Tensor& t) {
  const int64_t rows = t.size(-2), cols = t.size(-1), rs = t.stride(-2), cs = t.stride(-1);
  const bool cuda = t.device() == Device::CUDA;
  const bool row_major = (cs == 1 || cols == 1) && (!cuda || rows == 1 || rs >= cols);
  const bool col_major = (rs == 1 || rows == 1) && (!cuda || cols == 1 || cs >= rows);
  if (row_major || col_major) return t;
  return t.detach().contiguous();
}

// A batch dim of the product: its size and its element strides in a and b.
struct BatchDim {
  int64_t size, a, b;
};

// The batch dims with adjacent ones merged wherever both operands step through
// them uniformly, so the innermost merged dim is one strided-batched GEMM and
// only the rest loops (attention's k^T, heads [B, H] sliced from a fused qkv
// projection, does not merge: B launches of H GEMMs each).
std::vector<BatchDim> merged_batch_dims(const Tensor& a, const Tensor& b) {
  std::vector<BatchDim> dims;
  for (int64_t d = 0; d < a.dim() - 2; ++d) {
    const BatchDim next{a.size(d), a.stride(d), b.dim() == 2 ? 0 : b.stride(d)};
    if (next.size == 1) continue;  // its strides are meaningless
    BatchDim* last = dims.empty() ? nullptr : &dims.back();
    if (last && last->a == next.a * next.size && last->b == next.b * next.size)
      *last = {last->size * next.size, next.a, next.b};
    else
      dims.push_back(next);
  }
  if (dims.empty()) dims.push_back({1, 0, 0});
  return dims;
}

// Plain product without autograd. b is [K, N] (shared) or has a's batch dims.
Tensor compute(const Tensor& a_in, const Tensor& b_in) {
  const Tensor a = gemm_ready(a_in), b = gemm_ready(b_in);
  const int64_t m = a.size(-2), k = a.size(-1), n = b.size(-1);
  Shape out_shape(a.shape().begin(), a.shape().end() - 1);
  out_shape.push_back(n);
  Tensor out = Tensor::empty(out_shape, a.dtype(), a.device());
  const std::vector<BatchDim> dims = merged_batch_dims(a, b);
  const BatchDim inner = dims.back();
  // Offsets of each inner batch run, the first dim slowest (the output's order).
  std::vector<int64_t> a_off{a.offset()}, b_off{b.offset()};
  for (size_t d = 0; d + 1 < dims.size(); ++d) {
    std::vector<int64_t> na, nb;
    for (size_t j = 0; j < a_off.size(); ++j)
      for (int64_t i = 0; i < dims[d].size; ++i) {
        na.push_back(a_off[j] + i * dims[d].a);
        nb.push_back(b_off[j] + i * dims[d].b);
      }
    a_off.swap(na);
    b_off.swap(nb);
  }
  const cpu::MatrixView av{a.stride(-2), a.stride(-1)}, bv{b.stride(-2), b.stride(-1)};
  dispatch_float_bf16(a.dtype(), "matmul", [&](auto t) {
    using T = decltype(t);
    const T* ab = static_cast<const T*>(a.storage()->data());
    const T* bb = static_cast<const T*>(b.storage()->data());
    T* c = out.data<T>();
    for (size_t j = 0; j < a_off.size(); ++j)
      MOTIVE_KERNEL_TF32(out.device(), gemm_batched<T>, inner.size, m, n, k, ab + a_off[j], av,
                         inner.a, bb + b_off[j], bv, inner.b,
                         c + static_cast<int64_t>(j) * inner.size * m * n, n, m * n, false);
  });
  add_flops(matmul_flops(static_cast<int64_t>(a_off.size()) * inner.size, m, k, n));
  return out;
}

}  // namespace

Tensor matmul(const Tensor& a_in, const Tensor& b_in) {
  const Tensor a = autocast_operand(a_in), b = autocast_operand(b_in);
  MOTIVE_CHECK(a.dim() >= 2 && b.dim() >= 2, "matmul: needs rank >= 2, got ", shape_str(a.shape()),
               " and ", shape_str(b.shape()));
  MOTIVE_CHECK(a.dtype() == b.dtype(), "matmul: dtypes ", dtype_name(a.dtype()), " and ",
               dtype_name(b.dtype()), " differ");
  MOTIVE_CHECK(a.device() == b.device(), "matmul: inputs on ", device_name(a.device()), " and ",
               device_name(b.device()));
  MOTIVE_CHECK(a.size(-1) == b.size(-2), "matmul: inner dims differ in ", shape_str(a.shape()),
               " x ", shape_str(b.shape()));
  const bool shared_b = b.dim() == 2;
  MOTIVE_CHECK(shared_b || Shape(a.shape().begin(), a.shape().end() - 2) ==
                               Shape(b.shape().begin(), b.shape().end() - 2),
               "matmul: batch dims differ in ", shape_str(a.shape()), " x ", shape_str(b.shape()));
  // [..., M, K] x [K, N] is one GEMM over all rows when the batch dims merge.
  if (shared_b && a.dim() > 2) {
    Tensor flat = a.detach().reshape({-1, a.size(-1)});
    if (flat.storage() == a.storage()) {
      Shape out_shape(a.shape().begin(), a.shape().end() - 1);
      out_shape.push_back(b.size(-1));
      Tensor out = compute(flat, b).view(out_shape);
      const Tensor ad = a.detach(), bd = b.detach();
      return record("matmul", out, {a, b}, [ad, bd](const Tensor& g) {
        const Tensor g2 = g.reshape({-1, g.size(-1)});
        const Tensor a2 = ad.reshape({-1, ad.size(-1)});
        return std::vector<Tensor>{matmul(g, bd.transpose(0, 1)),
                                   matmul(a2.transpose(0, 1), g2)};
      });
    }
  }
  Tensor out = compute(a, b);
  const Tensor ad = a.detach(), bd = b.detach();
  return record("matmul", out, {a, b}, [ad, bd, shared_b](const Tensor& g) {
    const Tensor ga = matmul(g, bd.transpose(-1, -2));
    Tensor gb;
    if (shared_b) {
      const Tensor a2 = ad.reshape({-1, ad.size(-1)});
      gb = matmul(a2.transpose(0, 1), g.reshape({-1, g.size(-1)}));
    } else {
      gb = matmul(ad.transpose(-1, -2), g);
    }
    return std::vector<Tensor>{ga, gb};
  });
}

Tensor linear(const Tensor& x_in, const Tensor& w_in, const Tensor& b_in) {
  const Tensor x = autocast_operand(x_in), w = autocast_operand(w_in), b = autocast_operand(b_in);
  MOTIVE_CHECK(w.dim() == 2 && x.dim() >= 1 && x.size(-1) == w.size(1), "linear: input ",
               shape_str(x.shape()), " does not fit weight ", shape_str(w.shape()));
  MOTIVE_CHECK(!b.defined() || (b.dim() == 1 && b.size(0) == w.size(0)), "linear: bias ",
               shape_str(b.shape()), " does not fit weight ", shape_str(w.shape()));
  MOTIVE_CHECK(x.device() == w.device() && (!b.defined() || b.device() == w.device()),
               "linear: input on ", device_name(x.device()), ", weight on ",
               device_name(w.device()), b.defined() ? ", bias on " : "",
               b.defined() ? device_name(b.device()) : "");
  const Tensor x2 = x.dim() == 1 ? x.unsqueeze(0) : x;
  Tensor y = matmul(x2, w.transpose(0, 1));
  if (b.defined()) y = add(y, b);
  return x.dim() == 1 ? y.squeeze(0) : y;
}

}  // namespace motive
