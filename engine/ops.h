// The differentiable op set. Each op lives in one place: engine/ops/<op>.cpp
// holds its autograd wiring, FLOP formula and shape checks; kernels/cpu/<op>.cpp
// (and kernels/cuda/<op>.cu later) hold the raw-pointer kernels.
//
// Layout conventions: activations are NHWC; conv weights are OHWI
// ([C_out, kH, kW, C_in/groups]); linear weights are [out, in] (PyTorch's).
// Every op checks dtypes/shapes and throws motive::Error naming itself.
#pragma once
#include <vector>

#include "engine/tensor.h"

namespace motive {

class Generator;

// ---- dtype conversion (engine/ops/cast.cpp) ----
// x in `dtype` (x itself when it has it already); the gradient is cast back.
// Mixed precision moves between float32 and bf16 with it (engine/autocast.h).
Tensor cast(const Tensor& x, DType dtype);

// ---- elementwise, NumPy broadcasting (engine/ops/elementwise.cpp) ----
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor add_scalar(const Tensor& a, double s);
Tensor mul_scalar(const Tensor& a, double s);
// out = a * s written into `out` (same shape and dtype, any strides; one pass,
// nothing allocated, not recorded): packing scaled gradients into a buffer.
void mul_scalar_into(const Tensor& out, const Tensor& a, double s);
inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator*(const Tensor& a, double s) { return mul_scalar(a, s); }
inline Tensor operator+(const Tensor& a, double s) { return add_scalar(a, s); }
// Sums `grad` over broadcast dims so it has `shape` (the backward of broadcasting).
Tensor sum_to_shape(const Tensor& grad, const Shape& shape);

// ---- reductions (engine/ops/reduce.cpp) ----
Tensor sum(const Tensor& x, const Shape& dims, bool keepdim = false);
Tensor mean(const Tensor& x, const Shape& dims, bool keepdim = false);
Tensor sum(const Tensor& x);   // all elements -> scalar
Tensor mean(const Tensor& x);  // all elements -> scalar

// ---- GEMM (engine/ops/matmul.cpp) ----
// a [..., M, K] x b [..., K, N] (or b [K, N] shared by every batch). Operands
// may be strided views (transposes and sub-blocks are used in place: no copy).
Tensor matmul(const Tensor& a, const Tensor& b);
// x [..., in], w [out, in], b [out] (may be undefined).
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b = Tensor());

// ---- convolution (engine/ops/conv2d.cpp) ----
struct Conv2dOptions {
  int64_t stride = 1, padding = 0, dilation = 1, groups = 1;
};
// x [N, H, W, C_in], w [C_out, kH, kW, C_in/groups], b [C_out] (may be undefined).
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b = Tensor(),
              const Conv2dOptions& opt = {});

// ---- normalisation (engine/ops/batchnorm.cpp, engine/ops/layernorm.cpp) ----
// x [N, H, W, C]; per-channel statistics over N*H*W. In training, normalises
// with the batch statistics (biased variance) and, when the running buffers are
// defined, updates them in place: r = (1 - momentum) r + momentum * batch
// (unbiased variance), like PyTorch. In eval, normalises with the running ones.
Tensor batch_norm2d(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                    const Tensor& running_mean, const Tensor& running_var, bool training,
                    double momentum = 0.1, double eps = 1e-5);
// relu(batch_norm2d(x, ...) + residual), or relu(batch_norm2d(x, ...)) when
// residual is undefined, as one op (engine/ops/batchnorm_relu.cpp): the tail
// of a ResNet layer and of a block, one pass over the data instead of three
// ops' passes, and relu's backward folded into batch norm's.
Tensor batch_norm2d_relu(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                         const Tensor& running_mean, const Tensor& running_var, bool training,
                         const Tensor& residual = Tensor(), double momentum = 0.1,
                         double eps = 1e-5);
// Over the last dim; gamma/beta [D] (may be undefined).
Tensor layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps = 1e-5);

// ---- activations (engine/ops/activations.cpp) ----
enum class GeluApprox { Erf, Tanh };
Tensor relu(const Tensor& x);
Tensor gelu(const Tensor& x, GeluApprox approx = GeluApprox::Erf);
Tensor silu(const Tensor& x);
Tensor sigmoid(const Tensor& x);

// ---- softmax and loss (engine/ops/softmax.cpp, engine/ops/cross_entropy.cpp) ----
Tensor softmax(const Tensor& x);  // over the last dim
// logits [N, C], labels int32 [N]; mean over the batch. With smoothing s the
// target is (1 - s) one-hot + s / C (PyTorch's label_smoothing).
Tensor cross_entropy(const Tensor& logits, const Tensor& labels, double label_smoothing = 0.0);

// ---- pooling (engine/ops/pool.cpp), NHWC ----
struct Pool2dOptions {
  int64_t kernel = 2, stride = 2, padding = 0;
};
Tensor max_pool2d(const Tensor& x, const Pool2dOptions& opt);
// Padding counts toward the divisor (PyTorch's count_include_pad=True).
Tensor avg_pool2d(const Tensor& x, const Pool2dOptions& opt);
Tensor global_avg_pool2d(const Tensor& x);  // [N, H, W, C] -> [N, C]

// ---- regularisation (engine/ops/dropout.cpp) ----
// Counter-based (Philox) masks: reproducible from (generator seed, offset).
Tensor dropout(const Tensor& x, double p, bool training, Generator& gen);
// Stochastic depth: drops whole samples (dim 0), scales survivors by 1/(1-p).
Tensor drop_path(const Tensor& x, double p, bool training, Generator& gen);

// ---- attention (engine/ops/attention.cpp) ----
// q [B, H, Tq, Dh], k [B, H, Tk, Dh], v [B, H, Tk, Dv] -> [B, H, Tq, Dv]:
// softmax(q k^T / sqrt(Dh)) v; with causal, query i sees keys j <= i
// (PyTorch's is_causal). Any strides (the heads of a [B, T, H, Dh] projection
// are used in place). On the CPU a fused kernel (flash attention: tiles, online
// softmax, only a log-sum-exp per query row kept for the backward); on CUDA the
// composition below. Under autocast float32 inputs run in bf16.
Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    bool causal = false);
// The same from matmul, mul_scalar, add and softmax (autograd and FLOPs from
// those): what CUDA runs, and the reference the fused kernel is checked against.
Tensor scaled_dot_product_attention_composed(const Tensor& q, const Tensor& k, const Tensor& v,
                                             bool causal = false);
// x [B, T, D] -> [B, T, D] with `heads` heads; w_qkv [3D, D], w_out [D, D].
Tensor multi_head_attention(const Tensor& x, const Tensor& w_qkv, const Tensor& b_qkv,
                            const Tensor& w_out, const Tensor& b_out, int64_t heads,
                            bool causal = false);

// ---- shape ops (engine/ops/concat.cpp) ----
Tensor concat(const std::vector<Tensor>& xs, int64_t dim);

}  // namespace motive
