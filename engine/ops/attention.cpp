// Scaled dot-product attention and multi-head attention.
//
// scaled_dot_product_attention runs, for CPU tensors, the fused kernel of
// kernels/cpu/attention.h (flash attention's tiles and online softmax; the
// forward keeps only the output and one log-sum-exp per query row for the
// backward, which recomputes the probabilities tile by tile), and for CUDA
// tensors the composition of mul_scalar, matmul, add and softmax, whose
// autograd comes from those primitives. The composition is public as
// scaled_dot_product_attention_composed: the reference the fused kernel is
// tested and benched against.
//
// FLOPs (multiply-add = 2). Both paths charge the composition's count, so
// flop_count() does not depend on the device. With q [B, H, Tq, Dh],
// k [B, H, Tk, Dh], v [B, H, Tk, Dv] and N = B*H*Tq*Tk scores:
//   forward   B*H*Tq*Dh (the 1/sqrt(Dh) scale of q) + 2*N*Dh (q k^T)
//             + N (the causal mask's add) + softmax's count over N
//             + 2*N*Dv (p v)
//   backward  4*N*Dv (dp, dv) + 4*N*Dh (dq, dk) + B*H*Tq*Dh (the scale)
//             + N (the causal mask's gradient, summed over B and H)
// The fused backward also recomputes q k^T (2*N*Dh more multiply-adds than it
// charges): the price of not keeping the [B, H, Tq, Tk] probabilities.
//
// multi_head_attention adds its projections (what flop_count() sees, summed
// over the primitives), x [B, T, D], H heads, Dh = D / H:
//   projections  2 * B*T*D*3D (qkv) + 2 * B*T*D*D (out) = 4 * B*T*D*D * 2
//   elementwise  3 * B*T*D (qkv bias) + B*T*D (out bias) when defined
// The GEMMs dominate: the rest is O(B*T*D + B*H*T*T).
#include <cmath>
#include <limits>

#include "engine/autocast.h"
#include "engine/autograd.h"
#include "engine/dispatch.h"
#include "engine/flops.h"
#include "engine/ops.h"
#include "kernels/cpu/attention.h"

namespace motive {
namespace {

// Shapes, dtypes and devices both paths accept. Keys and values may have their
// own length Tk (cross attention) and v its own head size; everything else must
// agree.
void check_attention(const Tensor& q, const Tensor& k, const Tensor& v) {
  MOTIVE_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4,
               "scaled_dot_product_attention: q, k, v must be [B, H, T, Dh], got ",
               shape_str(q.shape()), ", ", shape_str(k.shape()), ", ", shape_str(v.shape()));
  MOTIVE_CHECK(q.dtype() == k.dtype() && q.dtype() == v.dtype(),
               "scaled_dot_product_attention: dtypes ", dtype_name(q.dtype()), ", ",
               dtype_name(k.dtype()), ", ", dtype_name(v.dtype()), " differ");
  MOTIVE_CHECK(q.dtype() != DType::I32,
               "scaled_dot_product_attention: q, k, v are I32; F32, F64 or BF16 needed");
  MOTIVE_CHECK(q.device() == k.device() && q.device() == v.device(),
               "scaled_dot_product_attention: q, k, v on ", device_name(q.device()), ", ",
               device_name(k.device()), ", ", device_name(v.device()));
  MOTIVE_CHECK(q.size(0) == k.size(0) && q.size(1) == k.size(1) && q.size(3) == k.size(3) &&
                   k.size(0) == v.size(0) && k.size(1) == v.size(1) && k.size(2) == v.size(2),
               "scaled_dot_product_attention: shapes q ", shape_str(q.shape()), ", k ",
               shape_str(k.shape()), ", v ", shape_str(v.shape()), " do not match");
  MOTIVE_CHECK(q.size(3) > 0, "scaled_dot_product_attention: head size is 0 in q ",
               shape_str(q.shape()));
  MOTIVE_CHECK(k.size(2) > 0, "scaled_dot_product_attention: no keys (Tk = 0) in k ",
               shape_str(k.shape()));
}

// The counts of the header comment.
int64_t attention_forward_flops(const Tensor& q, const Tensor& k, const Tensor& v, bool causal) {
  const int64_t heads = q.size(0) * q.size(1), tq = q.size(2), tk = k.size(2);
  const int64_t dh = q.size(3), dv = v.size(3), scores = heads * tq * tk;
  return heads * tq * dh + matmul_flops(heads, tq, dh, tk) + (causal ? scores : 0) +
         softmax_flops(scores) + matmul_flops(heads, tq, tk, dv);
}
int64_t attention_backward_flops(const Tensor& q, const Tensor& k, const Tensor& v, bool causal) {
  const int64_t heads = q.size(0) * q.size(1), tq = q.size(2), tk = k.size(2);
  const int64_t dh = q.size(3), dv = v.size(3), scores = heads * tq * tk;
  return 2 * matmul_flops(heads, tq, tk, dv) + 2 * matmul_flops(heads, tq, tk, dh) +
         heads * tq * dh + (causal ? scores : 0);
}

// [Tq, Tk] additive mask: 0 where key j <= query i, -inf above the diagonal
// (PyTorch's is_causal alignment). Broadcast over B and H by add().
Tensor causal_mask(int64_t tq, int64_t tk, DType dtype) {
  std::vector<double> values(static_cast<size_t>(tq * tk), 0.0);
  for (int64_t i = 0; i < tq; ++i)
    for (int64_t j = i + 1; j < tk; ++j)
      values[static_cast<size_t>(i * tk + j)] = -std::numeric_limits<double>::infinity();
  return Tensor::from_vector(values, {tq, tk}, dtype);
}

// softmax(q k^T / sqrt(Dh) [+ mask]) v from the differentiable primitives.
Tensor composed(const Tensor& q, const Tensor& k, const Tensor& v, bool causal) {
  // Scaling q rather than the scores costs T*Dh instead of T*T per head.
  const Tensor qs = mul_scalar(q, 1.0 / std::sqrt(static_cast<double>(q.size(3))));
  Tensor scores = matmul(qs, k.transpose(-1, -2));  // [B, H, Tq, Tk]; k^T is a free view
  if (causal) scores = add(scores, causal_mask(q.size(2), k.size(2), q.dtype()).to(q.device()));
  return matmul(softmax(scores), v);
}

template <class T>
cpu::HeadsView<T> heads_view(const Tensor& t) {
  return {t.data<T>(), {t.stride(0), t.stride(1), t.stride(2), t.stride(3)}};
}

// The fused CPU kernel, forward and backward, on checked inputs. Under
// autocast float32 inputs are cast to bf16 as the composition's GEMMs would
// cast them; bf16 computes in float and rounds each output (and each
// gradient) once.
Tensor fused(const Tensor& q_in, const Tensor& k_in, const Tensor& v_in, bool causal) {
  const Tensor q = autocast_operand(q_in), k = autocast_operand(k_in), v = autocast_operand(v_in);
  const cpu::AttentionShape s{q.size(0), q.size(1), q.size(2), k.size(2),
                              q.size(3), v.size(3), causal};
  const DType wide = q.dtype() == DType::F64 ? DType::F64 : DType::F32;
  Tensor out = Tensor::empty({s.batch, s.heads, s.tq, s.dv}, q.dtype());
  // One log-sum-exp per query row: all the backward keeps besides the output.
  Tensor lse = Tensor::empty({s.batch, s.heads, s.tq}, wide);
  dispatch_float_bf16(q.dtype(), "scaled_dot_product_attention", [&](auto t) {
    using T = decltype(t);
    cpu::attention_forward<T>(s, heads_view<T>(q), heads_view<T>(k), heads_view<T>(v),
                              out.data<T>(), lse.data<wide_t<T>>());
  });
  add_flops(attention_forward_flops(q, k, v, causal));
  const Tensor qd = q.detach(), kd = k.detach(), vd = v.detach(), od = out.detach();
  return record("scaled_dot_product_attention", out, {q, k, v},
                [qd, kd, vd, od, lse, s](const Tensor& g) {
                  Tensor dq = Tensor::empty(qd.shape(), qd.dtype());
                  Tensor dk = Tensor::empty(kd.shape(), kd.dtype());
                  Tensor dv = Tensor::empty(vd.shape(), vd.dtype());
                  dispatch_float_bf16(qd.dtype(), "scaled_dot_product_attention", [&](auto t) {
                    using T = decltype(t);
                    cpu::attention_backward<T>(s, heads_view<T>(qd), heads_view<T>(kd),
                                               heads_view<T>(vd), od.data<T>(),
                                               lse.data<wide_t<T>>(), heads_view<T>(g),
                                               dq.data<T>(), dk.data<T>(), dv.data<T>());
                  });
                  add_flops(attention_backward_flops(qd, kd, vd, s.causal));
                  return std::vector<Tensor>{dq, dk, dv};
                });
}

}  // namespace

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    bool causal) {
  check_attention(q, k, v);
  return q.device() == Device::CPU ? fused(q, k, v, causal) : composed(q, k, v, causal);
}

Tensor scaled_dot_product_attention_composed(const Tensor& q, const Tensor& k, const Tensor& v,
                                             bool causal) {
  check_attention(q, k, v);
  return composed(q, k, v, causal);
}

Tensor multi_head_attention(const Tensor& x, const Tensor& w_qkv, const Tensor& b_qkv,
                            const Tensor& w_out, const Tensor& b_out, int64_t heads,
                            bool causal) {
  MOTIVE_CHECK(x.dim() == 3, "multi_head_attention: x must be [B, T, D], got ",
               shape_str(x.shape()));
  const int64_t b = x.size(0), t = x.size(1), d = x.size(2);
  MOTIVE_CHECK(heads > 0 && d % heads == 0, "multi_head_attention: ", heads,
               " heads do not divide D = ", d, " of x ", shape_str(x.shape()));
  MOTIVE_CHECK(w_qkv.shape() == Shape({3 * d, d}), "multi_head_attention: w_qkv ",
               shape_str(w_qkv.shape()), " must be [3D, D] = ", shape_str({3 * d, d}));
  MOTIVE_CHECK(!b_qkv.defined() || b_qkv.shape() == Shape({3 * d}),
               "multi_head_attention: b_qkv ", shape_str(b_qkv.shape()), " must be [3D] = [",
               3 * d, "]");
  MOTIVE_CHECK(w_out.shape() == Shape({d, d}), "multi_head_attention: w_out ",
               shape_str(w_out.shape()), " must be [D, D] = ", shape_str({d, d}));
  MOTIVE_CHECK(!b_out.defined() || b_out.shape() == Shape({d}), "multi_head_attention: b_out ",
               shape_str(b_out.shape()), " must be [D] = [", d, "]");
  const int64_t dh = d / heads;
  // [B, T, 3D] -> [B, T, 3, H, Dh] -> [3, B, H, T, Dh]: q, k and v are strided
  // views of the one projection output, consumed in place by matmul.
  const Tensor qkv =
      linear(x, w_qkv, b_qkv).view({b, t, 3, heads, dh}).permute({2, 0, 3, 1, 4});
  const Tensor attn = scaled_dot_product_attention(qkv.select(0, 0), qkv.select(0, 1),
                                                   qkv.select(0, 2), causal);
  // Merge heads: [B, H, T, Dh] -> [B, T, H, Dh] -> [B, T, D] (a copy), then project.
  return linear(attn.transpose(1, 2).reshape({b, t, d}), w_out, b_out);
}

}  // namespace motive
