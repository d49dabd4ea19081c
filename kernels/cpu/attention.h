// Fused scaled dot-product attention on the CPU, in the manner of flash
// attention: per (batch, head), the scores, the softmax and the weighted sum of
// the values run tile by tile with an online softmax, so no [Tq, Tk] matrix is
// ever materialised beyond one cache-sized tile, and the forward keeps for the
// backward only each query row's log-sum-exp. The backward (FlashAttention-2's)
// recomputes the probabilities tile by tile from it.
//
// q [B, H, Tq, Dh], k [B, H, Tk, Dh], v [B, H, Tk, Dv], any strides; with
// causal, query i sees keys j <= i (PyTorch's is_causal alignment: the mask's
// diagonal starts at the top left even when Tq != Tk). float, double and bf16:
// bf16 widens to float, computes in float and rounds each output once.
#pragma once
#include <cstdint>

#include "kernels/bf16.h"

namespace motive::cpu {

struct AttentionShape {
  int64_t batch, heads, tq, tk, dh, dv;
  bool causal;
};

// A [B, H, T, D] operand read through its element strides: the permuted heads
// of a [B, T, H, Dh] projection, a transpose or a slice are used in place.
template <class T>
struct HeadsView {
  const T* data;
  int64_t stride[4];
};

// out (dense [B, H, Tq, Dv]) = softmax(q k^T / sqrt(Dh)) v;
// lse (dense [B, H, Tq]) = log(sum_j exp(q_i . k_j / sqrt(Dh))) over each
// query's visible keys. Needs Tk >= 1.
template <class T>
void attention_forward(const AttentionShape& s, HeadsView<T> q, HeadsView<T> k, HeadsView<T> v,
                       T* out, wide_t<T>* lse);

// dq, dk, dv (dense, the shapes of q, k, v) from the output gradient dout and
// the forward's out and lse: with P = exp(S - lse), S = q k^T / sqrt(Dh),
//   D = rowsum(dout * out),  dS = P * (dout v^T - D),
//   dq = dS k / sqrt(Dh),  dk = dS^T q / sqrt(Dh),  dv = P^T dout.
template <class T>
void attention_backward(const AttentionShape& s, HeadsView<T> q, HeadsView<T> k, HeadsView<T> v,
                        const T* out, const wide_t<T>* lse, HeadsView<T> dout, T* dq, T* dk,
                        T* dv);

}  // namespace motive::cpu
