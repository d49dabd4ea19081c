// Scaled dot-product attention and multi-head attention: reference
// implementations composed of matmul, mul_scalar, add, softmax and views, so
// autograd and FLOP counting come from those primitives. A fused kernel
// (flash attention) comes with the CUDA backend.
//
// FLOPs of one multi_head_attention forward, x [B, T, D], H heads, Dh = D / H
// (what flop_count() sees, summed over the primitives):
//   projections  2 * B*T*D*3D (qkv) + 2 * B*T*D*D (out) = 4 * B*T*D*D * 2
//   attention    2 * B*H*T*T*Dh (q k^T) + 2 * B*H*T*T*Dh (p v) = 2 * 2 * B*H*T*T*Dh
//   elementwise  B*T*D (the 1/sqrt(Dh) scale of q), + 3 * B*T*D (qkv bias)
//                + B*T*D (out bias) when defined, + B*H*T*T (causal mask add)
//   softmax      softmax's own count over [B, H, T, T]
// The GEMMs dominate: the rest is O(B*T*D + B*H*T*T).
#include <cmath>
#include <limits>

#include "engine/autograd.h"
#include "engine/ops.h"

namespace motive {
namespace {

// [Tq, Tk] additive mask: 0 where key j <= query i, -inf above the diagonal
// (PyTorch's is_causal alignment). Broadcast over B and H by add().
Tensor causal_mask(int64_t tq, int64_t tk, DType dtype) {
  std::vector<double> values(static_cast<size_t>(tq * tk), 0.0);
  for (int64_t i = 0; i < tq; ++i)
    for (int64_t j = i + 1; j < tk; ++j)
      values[static_cast<size_t>(i * tk + j)] = -std::numeric_limits<double>::infinity();
  return Tensor::from_vector(values, {tq, tk}, dtype);
}

}  // namespace

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    bool causal) {
  MOTIVE_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4,
               "scaled_dot_product_attention: q, k, v must be [B, H, T, Dh], got ",
               shape_str(q.shape()), ", ", shape_str(k.shape()), ", ", shape_str(v.shape()));
  MOTIVE_CHECK(q.dtype() == k.dtype() && q.dtype() == v.dtype(),
               "scaled_dot_product_attention: dtypes ", dtype_name(q.dtype()), ", ",
               dtype_name(k.dtype()), ", ", dtype_name(v.dtype()), " differ");
  // Keys and values may have their own length Tk (cross attention) and v its
  // own head size; everything else must agree.
  MOTIVE_CHECK(q.size(0) == k.size(0) && q.size(1) == k.size(1) && q.size(3) == k.size(3) &&
                   k.size(0) == v.size(0) && k.size(1) == v.size(1) && k.size(2) == v.size(2),
               "scaled_dot_product_attention: shapes q ", shape_str(q.shape()), ", k ",
               shape_str(k.shape()), ", v ", shape_str(v.shape()), " do not match");
  MOTIVE_CHECK(q.size(3) > 0, "scaled_dot_product_attention: head size is 0 in q ",
               shape_str(q.shape()));
  // Scaling q rather than the scores costs T*Dh instead of T*T per head.
  const Tensor qs = mul_scalar(q, 1.0 / std::sqrt(static_cast<double>(q.size(3))));
  Tensor scores = matmul(qs, k.transpose(-1, -2));  // [B, H, Tq, Tk]; k^T is a free view
  if (causal) scores = add(scores, causal_mask(q.size(2), k.size(2), q.dtype()).to(q.device()));
  return matmul(softmax(scores), v);
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
