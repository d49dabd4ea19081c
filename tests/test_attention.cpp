// scaled_dot_product_attention (the fused CPU kernel) and its composition
// from matmul and softmax, and multi_head_attention: forward against naive
// loops (float32), gradient checks (float64, views included, more than one
// tile), the fused kernel against the composition (float64 and float32,
// forward and gradients), bf16, the memory kept for the backward, causality,
// the FLOP totals, edge cases and bad input.
#include <cmath>

#include "engine/autocast.h"
#include "engine/flops.h"
#include "tests/bf16_testing.h"
#include "tests/gradcheck.h"

using namespace motive;
using namespace motive::test;

namespace {

using Attention = Tensor (*)(const Tensor&, const Tensor&, const Tensor&, bool);
const Attention kFused = &scaled_dot_product_attention;  // on CPU tensors
const Attention kComposed = &scaled_dot_product_attention_composed;

// n leaf views [B, H, T, D] of one [B, T, n, H, D] leaf: a ViT block's q, k, v
// are such strided heads of its fused projection output.
std::vector<Tensor> projection_heads(int64_t n, int64_t b, int64_t t, int64_t h, int64_t d,
                                     Generator& gen, DType dtype = DType::F64) {
  Tensor owner = input({b, t, n, h, d}, gen, true, dtype);
  NoGradGuard parameter_view;
  const Tensor heads = owner.permute({2, 0, 3, 1, 4});
  std::vector<Tensor> views;
  for (int64_t i = 0; i < n; ++i) views.push_back(heads.select(0, i));
  return views;
}

// Fresh leaves q [B, H, Tq, Dh], k [B, H, Tk, Dh], v [B, H, Tk, Dv].
std::vector<Tensor> qkv_inputs(int64_t b, int64_t h, int64_t tq, int64_t tk, int64_t dh,
                               int64_t dv, Generator& gen, DType dtype = DType::F64) {
  return {input({b, h, tq, dh}, gen, true, dtype), input({b, h, tk, dh}, gen, true, dtype),
          input({b, h, tk, dv}, gen, true, dtype)};
}

// f as a function of the input list {q, k, v}, for gradcheck and check_bf16.
Fn on_inputs(Attention f, bool causal) {
  return [f, causal](const std::vector<Tensor>& in) { return f(in[0], in[1], in[2], causal); };
}

struct Result {
  Tensor out;
  std::vector<Tensor> grads;  // of q, k, v
};

// f's output and, after back-propagating seed, the gradients of q, k, v.
Result run(Attention f, const std::vector<Tensor>& qkv, bool causal, const Tensor& seed) {
  for (const Tensor& t : qkv) const_cast<Tensor&>(t).zero_grad();
  const Tensor y = f(qkv[0], qkv[1], qkv[2], causal);
  y.backward(seed);
  Result r{y.detach(), {}};
  for (const Tensor& t : qkv) r.grads.push_back(t.grad().clone());
  return r;
}

// The fused kernel against the composition on the same inputs and output
// gradient (a strided one when asked, as multi-head attention's merge of the
// heads gives): every output and gradient element within tol. Allocations
// are poisoned (NaN), so an element the kernel does not write fails.
void check_against_composition(const std::vector<Tensor>& qkv, bool causal, double tol,
                               bool strided_seed = false) {
  set_poison_allocations(true);
  Generator gen(11);
  const Shape out{qkv[0].size(0), qkv[0].size(1), qkv[0].size(2), qkv[2].size(3)};
  const Tensor seed = strided_seed
                          ? input({out[0], out[2], out[1], out[3]}, gen, false, qkv[0].dtype())
                                .transpose(1, 2)
                          : input(out, gen, false, qkv[0].dtype());
  const Result fused = run(kFused, qkv, causal, seed);
  const Result composed = run(kComposed, qkv, causal, seed);
  CHECK(fused.out.shape() == out);
  CHECK(max_rel_error(fused.out, composed.out) < tol);
  for (size_t i = 0; i < 3; ++i) {
    CAPTURE(i);
    CHECK(fused.grads[i].shape() == qkv[i].shape());
    CHECK(max_rel_error(fused.grads[i], composed.grads[i]) < tol);
  }
}

// softmax(q k^T / sqrt(Dh)) v for q [B, H, Tq, Dh], k [B, H, Tk, Dh],
// v [B, H, Tk, Dv], in double; causal masks key j > query i.
Tensor naive_attention(const Tensor& q, const Tensor& k, const Tensor& v, bool causal) {
  const int64_t nb = q.size(0), nh = q.size(1), tq = q.size(2), tk = k.size(2);
  const int64_t dh = q.size(3), dv = v.size(3);
  Tensor out = Tensor::zeros({nb, nh, tq, dv}, DType::F64);
  for (int64_t b = 0; b < nb; ++b)
    for (int64_t h = 0; h < nh; ++h)
      for (int64_t i = 0; i < tq; ++i) {
        const int64_t keys = causal ? std::min(i + 1, tk) : tk;
        std::vector<double> w(keys);
        double top = -INFINITY, total = 0;
        for (int64_t j = 0; j < keys; ++j) {
          double dot = 0;
          for (int64_t e = 0; e < dh; ++e) dot += q.at({b, h, i, e}) * k.at({b, h, j, e});
          w[j] = dot / std::sqrt(static_cast<double>(dh));
          top = std::max(top, w[j]);
        }
        for (double& x : w) total += (x = std::exp(x - top));
        for (int64_t e = 0; e < dv; ++e) {
          double acc = 0;
          for (int64_t j = 0; j < keys; ++j) acc += w[j] / total * v.at({b, h, j, e});
          out.set({b, h, i, e}, acc);
        }
      }
  return out;
}

// y[b, t, o] = sum_i x[b, t, i] w[o, i] + bias[o], in double.
Tensor naive_linear(const Tensor& x, const Tensor& w, const Tensor& bias) {
  const int64_t nb = x.size(0), nt = x.size(1), n_out = w.size(0), n_in = w.size(1);
  Tensor y = Tensor::zeros({nb, nt, n_out}, DType::F64);
  for (int64_t b = 0; b < nb; ++b)
    for (int64_t t = 0; t < nt; ++t)
      for (int64_t o = 0; o < n_out; ++o) {
        double acc = bias.defined() ? bias.at({o}) : 0.0;
        for (int64_t i = 0; i < n_in; ++i) acc += x.at({b, t, i}) * w.at({o, i});
        y.set({b, t, o}, acc);
      }
  return y;
}

// Multi-head attention by hand: head h of q/k/v is columns [h Dh, (h+1) Dh) of
// the q/k/v thirds of the projection; heads are merged back side by side.
Tensor naive_mha(const Tensor& x, const Tensor& w_qkv, const Tensor& b_qkv, const Tensor& w_out,
                 const Tensor& b_out, int64_t heads, bool causal) {
  const int64_t nb = x.size(0), nt = x.size(1), d = x.size(2), dh = d / heads;
  const Tensor qkv = naive_linear(x, w_qkv, b_qkv);
  Tensor part[3];
  for (int64_t which = 0; which < 3; ++which) {
    part[which] = Tensor::zeros({nb, heads, nt, dh}, DType::F64);
    for (int64_t b = 0; b < nb; ++b)
      for (int64_t h = 0; h < heads; ++h)
        for (int64_t t = 0; t < nt; ++t)
          for (int64_t e = 0; e < dh; ++e)
            part[which].set({b, h, t, e}, qkv.at({b, t, which * d + h * dh + e}));
  }
  const Tensor attn = naive_attention(part[0], part[1], part[2], causal);
  Tensor merged = Tensor::zeros({nb, nt, d}, DType::F64);
  for (int64_t b = 0; b < nb; ++b)
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t t = 0; t < nt; ++t)
        for (int64_t e = 0; e < dh; ++e) merged.set({b, t, h * dh + e}, attn.at({b, h, t, e}));
  return naive_linear(merged, w_out, b_out);
}

// The MHA parameters for model width d, float32, small values.
struct MhaParams {
  Tensor w_qkv, b_qkv, w_out, b_out;
  MhaParams(int64_t d, Generator& gen, DType dtype = DType::F32)
      : w_qkv(rand_uniform({3 * d, d}, -0.5, 0.5, gen, dtype)),
        b_qkv(rand_uniform({3 * d}, -0.5, 0.5, gen, dtype)),
        w_out(rand_uniform({d, d}, -0.5, 0.5, gen, dtype)),
        b_out(rand_uniform({d}, -0.5, 0.5, gen, dtype)) {}
};

}  // namespace

TEST_CASE("scaled_dot_product_attention matches naive loops (float32)") {
  Generator gen(1);
  struct Case {
    Shape q, k, v;
  };
  const Case cases[] = {
      {{2, 3, 5, 4}, {2, 3, 5, 4}, {2, 3, 5, 4}},
      {{1, 1, 1, 1}, {1, 1, 1, 1}, {1, 1, 1, 1}},
      {{2, 1, 7, 3}, {2, 1, 7, 3}, {2, 1, 7, 3}},
      {{1, 2, 3, 4}, {1, 2, 5, 4}, {1, 2, 5, 2}},  // cross attention: Tk != Tq, Dv != Dh
  };
  for (const Case& c : cases)
    for (bool causal : {false, true}) {
      CAPTURE(shape_str(c.k));
      CAPTURE(causal);
      const Tensor q = rand_uniform(c.q, -2.0, 2.0, gen), k = rand_uniform(c.k, -2.0, 2.0, gen),
                   v = rand_uniform(c.v, -1.0, 1.0, gen);
      const Tensor expected = naive_attention(q, k, v, causal);
      for (Attention f : {kFused, kComposed}) {
        const Tensor y = f(q, k, v, causal);
        CHECK(y.shape() == Shape{c.q[0], c.q[1], c.q[2], c.v[3]});
        CHECK(max_rel_error(y, expected) < 1e-5);
      }
    }
}

TEST_CASE("scaled_dot_product_attention on strided views (transposed, sliced)") {
  Generator gen(2);
  // q as [B, T, H, Dh] transposed to [B, H, T, Dh]; k a slice of a longer buffer.
  const Tensor q = rand_uniform({2, 5, 3, 4}, -1.0, 1.0, gen).transpose(1, 2);
  const Tensor k = rand_uniform({2, 3, 5, 6}, -1.0, 1.0, gen).slice(3, 1, 5);
  const Tensor v = rand_uniform({2, 3, 5, 4}, -1.0, 1.0, gen);
  for (bool causal : {false, true})
    for (Attention f : {kFused, kComposed})
      CHECK(max_rel_error(f(q, k, v, causal), naive_attention(q, k, v, causal)) < 1e-5);
}

TEST_CASE("scaled_dot_product_attention gradient checks w.r.t. q, k, v (float64)") {
  Generator gen(3);
  for (bool causal : {false, true}) {
    CAPTURE(causal);
    const Fn f = on_inputs(kFused, causal);
    check_gradients(f, {input({2, 2, 3, 4}, gen), input({2, 2, 3, 4}, gen),
                        input({2, 2, 3, 4}, gen)});
    check_gradients(f, {strided_input({1, 2, 4, 3}, gen), input({1, 2, 4, 3}, gen),
                        strided_input({1, 2, 4, 3}, gen)});
    check_gradients(f, {input({1, 1, 1, 2}, gen), input({1, 1, 1, 2}, gen),
                        input({1, 1, 1, 2}, gen)});
    check_gradients(f, {input({1, 1, 2, 3}, gen), input({1, 1, 5, 3}, gen),
                        input({1, 1, 5, 1}, gen)});
    // More queries than keys: under the mask, rows past Tk see every key.
    check_gradients(f, {input({1, 2, 6, 3}, gen), input({1, 2, 4, 3}, gen),
                        input({1, 2, 4, 2}, gen)});
    // The heads of one [B, T, 3, H, Dh] projection, used in place.
    check_gradients(f, projection_heads(3, 2, 4, 2, 3, gen));
  }
}

TEST_CASE("scaled_dot_product_attention gradient checks across tiles (float64)") {
  // The kernel tiles at most 128 queries by 256 keys, balanced: 131 queries
  // make tiles of 66 + 65 and 257 keys 129 + 128, so the online softmax
  // rescales between key tiles, and under the mask the second query tile
  // reaches into the second key tile, which crosses the diagonal. Head size 1
  // keeps this fast (under ASan too); the float64 comparisons with the
  // composition below cover larger heads across tiles.
  Generator gen(10);
  for (bool causal : {false, true}) {
    CAPTURE(causal);
    const Fn f = on_inputs(kFused, causal);
    check_gradients(f, {input({1, 1, 131, 1}, gen), input({1, 1, 257, 1}, gen),
                        input({1, 1, 257, 1}, gen)});
  }
}

TEST_CASE("the composition's gradient checks (float64): the reference is right") {
  Generator gen(13);
  for (bool causal : {false, true}) {
    CAPTURE(causal);
    const Fn f = on_inputs(kComposed, causal);
    check_gradients(f, qkv_inputs(2, 2, 3, 4, 3, 2, gen));
    check_gradients(f, projection_heads(3, 1, 5, 2, 2, gen));
  }
}

TEST_CASE("fused attention equals the composition in float64, forward and gradients") {
  // Many tiles in both directions, Tq != Tk, v's own head size, strided heads.
  Generator gen(14);
  for (bool causal : {false, true}) {
    CAPTURE(causal);
    check_against_composition(qkv_inputs(1, 2, 300, 260, 16, 8, gen), causal, 1e-13);
    check_against_composition(qkv_inputs(1, 3, 200, 520, 8, 16, gen), causal, 1e-13, true);
    check_against_composition(projection_heads(3, 2, 259, 2, 8, gen), causal, 1e-13, true);
  }
}

TEST_CASE("fused attention equals the composition in float32, forward and gradients") {
  // Fresh random inputs (never 0), poisoned allocations, vit shapes: a head
  // size of 64 over 65 tokens, and 197 tokens as vit-s at 224x224.
  Generator gen(15);
  for (bool causal : {false, true}) {
    CAPTURE(causal);
    check_against_composition(projection_heads(3, 2, 65, 3, 64, gen, DType::F32), causal, 5e-6,
                              true);
    check_against_composition(qkv_inputs(1, 2, 197, 197, 64, 64, gen, DType::F32), causal, 5e-6);
    check_against_composition(qkv_inputs(2, 1, 40, 300, 32, 24, gen, DType::F32), causal, 5e-6);
  }
}

TEST_CASE("scaled_dot_product_attention in bf16: float compute, one rounding (against float64)") {
  Generator gen(16);
  for (bool causal : {false, true}) {
    CAPTURE(causal);
    const Fn f = on_inputs(kFused, causal);
    check_bf16(f, qkv_inputs(2, 3, 65, 65, 64, 64, gen, DType::BF16));
    check_bf16(f, qkv_inputs(1, 2, 130, 300, 16, 8, gen, DType::BF16));
    check_bf16(f, projection_heads(3, 2, 9, 2, 8, gen, DType::BF16));
  }
}

TEST_CASE("scaled_dot_product_attention in bf16 is the float32 kernel rounded once") {
  // bf16 inputs widen exactly to float32 and the kernel computes in float, so
  // its output and dv are float32's on the same values, each rounded to bf16
  // once: any intermediate rounding (of the scores, the running output across
  // key tiles, the log-sum-exp) would show. dq and dk depend also on
  // D = rowsum(dout * out), which the backward takes from the saved output,
  // rounded to bf16 (as PyTorch's does): they are only close.
  Generator gen(20);
  for (bool causal : {false, true}) {
    CAPTURE(causal);
    const std::vector<Tensor> in16 = qkv_inputs(2, 2, 140, 300, 16, 8, gen, DType::BF16);
    std::vector<Tensor> in32;
    for (const Tensor& t : in16) in32.push_back(f64_twin(t).detach().to(DType::F32).requires_grad_());
    const Tensor seed16 = input({2, 2, 140, 8}, gen, false, DType::BF16);
    const Result r16 = run(kFused, in16, causal, seed16);
    const Result r32 = run(kFused, in32, causal, seed16.to(DType::F32));
    CHECK(r16.out.to_vector() == r32.out.to(DType::BF16).to_vector());
    CHECK(r16.grads[2].to_vector() == r32.grads[2].to(DType::BF16).to_vector());
    CHECK(rel_error(r16.grads[0], r32.grads[0]) < 1e-2);
    CHECK(rel_error(r16.grads[1], r32.grads[1]) < 1e-2);
  }
}

TEST_CASE("scaled_dot_product_attention under autocast: bf16 in and out, float32 gradients") {
  Generator gen(17);
  const std::vector<Tensor> qkv = qkv_inputs(2, 3, 17, 17, 16, 16, gen, DType::F32);
  const Tensor seed = input({2, 3, 17, 16}, gen, false, DType::F32);
  for (bool causal : {false, true}) {
    CAPTURE(causal);
    const Result f32 = run(kFused, qkv, causal, seed);
    Tensor y;
    for (const Tensor& t : qkv) const_cast<Tensor&>(t).zero_grad();
    {
      Autocast autocast;
      y = scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], causal);
    }
    CHECK(y.dtype() == DType::BF16);
    y.backward(seed);
    CHECK(rel_error(y, f32.out) < 1e-2);
    for (size_t i = 0; i < 3; ++i) {
      CAPTURE(i);
      CHECK(qkv[i].grad().dtype() == DType::F32);
      CHECK(rel_error(qkv[i].grad(), f32.grads[i]) < 2e-2);
    }
  }
}

TEST_CASE("the forward keeps one float per query row for the backward, not [B, H, Tq, Tk]") {
  // Tensor memory left alive by a forward with inputs that require grad,
  // beyond its output: the fused kernel's log-sum-exp rows against the
  // composition's saved probabilities.
  Generator gen(18);
  const int64_t b = 2, h = 3, tq = 70, tk = 90;
  const std::vector<Tensor> qkv = qkv_inputs(b, h, tq, tk, 16, 16, gen, DType::F32);
  const auto kept = [&](Attention f) {
    const int64_t before = memory_stats().current_bytes;
    const Tensor y = f(qkv[0], qkv[1], qkv[2], true);
    return memory_stats().current_bytes - before - y.numel() * 4;
  };
  CHECK(kept(kFused) == b * h * tq * 4);
  CHECK(kept(kComposed) >= b * h * tq * tk * 4);
  // Without gradients nothing is kept.
  NoGradGuard no_grad;
  CHECK(kept(kFused) == 0);
}

TEST_CASE("scaled_dot_product_attention FLOPs: the composition's count, forward and backward") {
  Generator gen(19);
  for (bool causal : {false, true})
    for (const Shape& s : {Shape{2, 3, 5, 5, 4, 4}, Shape{1, 2, 3, 7, 4, 6}}) {
      CAPTURE(causal);
      CAPTURE(shape_str(s));
      const std::vector<Tensor> qkv = qkv_inputs(s[0], s[1], s[2], s[3], s[4], s[5], gen);
      const Tensor seed = input({s[0], s[1], s[2], s[5]}, gen, false);
      const auto count = [&](Attention f) {
        reset_flop_count();
        const Tensor y = f(qkv[0], qkv[1], qkv[2], causal);
        const int64_t forward = flop_count();
        y.backward(seed);
        return std::make_pair(forward, flop_count() - forward);
      };
      const auto [fused_fwd, fused_bwd] = count(kFused);
      const auto [composed_fwd, composed_bwd] = count(kComposed);
      CHECK(fused_fwd == composed_fwd);
      CHECK(fused_bwd == composed_bwd);
      const int64_t heads = s[0] * s[1], scores = heads * s[2] * s[3];
      CHECK(fused_fwd == heads * s[2] * s[4] + 2 * scores * s[4] + (causal ? scores : 0) +
                             softmax_flops(scores) + 2 * scores * s[5]);
    }
}

TEST_CASE("multi_head_attention matches naive loops (float32)") {
  Generator gen(4);
  for (const Shape& s : {Shape{2, 5, 8, 2}, Shape{1, 1, 4, 1}, Shape{3, 4, 6, 3}})
    for (bool causal : {false, true})
      for (bool biases : {true, false}) {
        const int64_t nb = s[0], nt = s[1], d = s[2], heads = s[3];
        CAPTURE(shape_str(s));
        CAPTURE(causal);
        const Tensor x = rand_uniform({nb, nt, d}, -1.0, 1.0, gen);
        MhaParams p(d, gen);
        if (!biases) p.b_qkv = p.b_out = Tensor();
        const Tensor y = multi_head_attention(x, p.w_qkv, p.b_qkv, p.w_out, p.b_out, heads, causal);
        CHECK(y.shape() == Shape{nb, nt, d});
        CHECK(max_rel_error(y, naive_mha(x, p.w_qkv, p.b_qkv, p.w_out, p.b_out, heads, causal)) <
              1e-5);
      }
}

TEST_CASE("multi_head_attention is causal: the future does not change the past") {
  Generator gen(5);
  const Tensor x = rand_uniform({2, 6, 8}, -1.0, 1.0, gen);
  MhaParams p(8, gen);
  const Tensor y = multi_head_attention(x, p.w_qkv, p.b_qkv, p.w_out, p.b_out, 2, true);
  Tensor x2 = x.clone();
  x2.slice(1, 4, 6).fill_(3.0);  // change tokens 4 and 5 only
  const Tensor y2 = multi_head_attention(x2, p.w_qkv, p.b_qkv, p.w_out, p.b_out, 2, true);
  CHECK(y2.slice(1, 0, 4).to_vector() == y.slice(1, 0, 4).to_vector());
  CHECK(y2.slice(1, 4, 6).to_vector() != y.slice(1, 4, 6).to_vector());
}

TEST_CASE("multi_head_attention gradient checks w.r.t. x and the weights (float64)") {
  Generator gen(6);
  for (bool causal : {false, true}) {
    CAPTURE(causal);
    auto f = [causal](const std::vector<Tensor>& in) {
      return multi_head_attention(in[0], in[1], in[2], in[3], in[4], 2, causal);
    };
    // B = 2, T = 3, D = 4, two heads of size 2.
    check_gradients(f, {input({2, 3, 4}, gen), input({12, 4}, gen), input({12}, gen),
                        input({4, 4}, gen), input({4}, gen)});
    // A strided x and a transposed w_out view; no biases.
    auto no_bias = [causal](const std::vector<Tensor>& in) {
      return multi_head_attention(in[0], in[1], Tensor(), in[2], Tensor(), 2, causal);
    };
    check_gradients(no_bias, {strided_input({2, 3, 4}, gen), input({12, 4}, gen),
                              strided_input({4, 4}, gen)});
  }
}

TEST_CASE("multi_head_attention under bf16 autocast: bf16 GEMMs, float32 softmax and master weights") {
  // No normalisation layer to amplify rounding: the output and every weight
  // gradient stay within a few bf16 units of float32's.
  Generator gen(7);
  for (bool causal : {false, true}) {
    CAPTURE(causal);
    const std::vector<Tensor> w = {input32({48, 16}, gen), input32({48}, gen),
                                   input32({16, 16}, gen), input32({16}, gen)};
    const Tensor x = input32({2, 9, 16}, gen, false), seed = input32({2, 9, 16}, gen, false);
    auto run = [&](bool bf16) {
      for (Tensor t : w) t.zero_grad();
      Tensor y;
      {
        Autocast autocast(bf16);
        y = multi_head_attention(x, w[0], w[1], w[2], w[3], 4, causal);
      }
      CHECK(y.dtype() == (bf16 ? DType::BF16 : DType::F32));
      y.backward(seed);  // a float32 seed is cast to the output's dtype
      std::vector<Tensor> grads;
      for (const Tensor& t : w) grads.push_back(t.grad().clone());
      return std::make_pair(y, grads);
    };
    const auto [y32, g32] = run(false);
    const auto [y16, g16] = run(true);
    CHECK(rel_error(y16, y32) < 2e-2);
    for (size_t i = 0; i < w.size(); ++i) {
      CAPTURE(i);
      CHECK(g16[i].dtype() == DType::F32);
      CHECK(rel_error(g16[i], g32[i]) < 2e-2);
    }
  }
}

TEST_CASE("multi_head_attention FLOPs: the analytic total, GEMMs dominating") {
  const int64_t nb = 2, nt = 5, d = 8, heads = 2, dh = d / heads;
  Generator gen(7);
  const Tensor x = rand_uniform({nb, nt, d}, -1.0, 1.0, gen);
  const MhaParams p(d, gen);
  // softmax's own count, whatever its formula: measured on the scores' shape.
  reset_flop_count();
  softmax(Tensor::zeros({nb, heads, nt, nt}));
  const int64_t softmax_count = flop_count();
  const int64_t gemms = 4 * nb * nt * d * d * 2 + 2 * 2 * nb * heads * nt * nt * dh;
  for (bool causal : {false, true}) {
    reset_flop_count();
    multi_head_attention(x, p.w_qkv, p.b_qkv, p.w_out, p.b_out, heads, causal);
    const int64_t elementwise = nb * nt * d          // 1/sqrt(Dh) scale of q
                                + 3 * nb * nt * d    // qkv bias
                                + nb * nt * d        // out bias
                                + (causal ? nb * heads * nt * nt : 0);  // mask add
    CHECK(flop_count() == gemms + elementwise + softmax_count);
    CHECK(gemms > 0.8 * static_cast<double>(flop_count()));
  }
}

TEST_CASE("attention edge cases") {
  Generator gen(8);
  SUBCASE("one head, one token: the output is the projected value") {
    const Tensor x = rand_uniform({2, 1, 3}, -1.0, 1.0, gen);
    const MhaParams p(3, gen);
    const Tensor y = multi_head_attention(x, p.w_qkv, p.b_qkv, p.w_out, p.b_out, 1, true);
    const Tensor value = linear(x, p.w_qkv.slice(0, 6, 9), p.b_qkv.slice(0, 6, 9));
    CHECK(max_rel_error(y, linear(value, p.w_out, p.b_out)) < 1e-6);
  }
  SUBCASE("head size 1: D heads") {
    const Tensor x = rand_uniform({1, 3, 4}, -1.0, 1.0, gen);
    const MhaParams p(4, gen);
    CHECK(max_rel_error(multi_head_attention(x, p.w_qkv, p.b_qkv, p.w_out, p.b_out, 4, false),
                        naive_mha(x, p.w_qkv, p.b_qkv, p.w_out, p.b_out, 4, false)) < 1e-5);
  }
  SUBCASE("every size 1: the output is v, dq = dk = 0, dv = dout") {
    const std::vector<Tensor> qkv = qkv_inputs(1, 1, 1, 1, 1, 1, gen);
    const Tensor seed = Tensor::full({1, 1, 1, 1}, 0.75, DType::F64);
    const Result r = run(kFused, qkv, true, seed);
    CHECK(r.out.item() == qkv[2].item());
    CHECK(r.grads[0].item() == 0.0);
    CHECK(r.grads[1].item() == 0.0);
    CHECK(r.grads[2].item() == 0.75);
  }
  SUBCASE("one query under the causal mask sees key 0 only") {
    const std::vector<Tensor> qkv = qkv_inputs(2, 2, 1, 6, 3, 4, gen);
    const Tensor y = scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], true);
    CHECK(y.to_vector() == qkv[2].slice(2, 0, 1).to_vector());
  }
  SUBCASE("masked keys have no influence, even with values near the float32 maximum") {
    // Query i sees keys 0..i: each query row's output must not move when the
    // values of the keys it does not see are huge (a masked probability must
    // be exactly 0, not merely small).
    const std::vector<Tensor> qkv = qkv_inputs(1, 2, 4, 6, 8, 3, gen, DType::F32);
    for (Attention f : {kFused, kComposed}) {
      const Tensor y = f(qkv[0], qkv[1], qkv[2], true);
      for (int64_t i = 0; i < 4; ++i) {
        CAPTURE(i);
        Tensor v = qkv[2].detach().clone();
        v.slice(2, i + 1, 6).fill_(3e38);
        CHECK(f(qkv[0], qkv[1], v, true).slice(2, i, i + 1).to_vector() ==
              y.slice(2, i, i + 1).to_vector());
      }
    }
  }
  SUBCASE("large scores stay finite (stable softmax)") {
    const Tensor q = Tensor::full({1, 1, 3, 2}, 100.0), k = Tensor::full({1, 1, 3, 2}, 100.0);
    const Tensor v = rand_uniform({1, 1, 3, 2}, -1.0, 1.0, gen);
    CHECK(max_rel_error(scaled_dot_product_attention(q, k, v, true),
                        naive_attention(q, k, v, true)) < 1e-5);
  }
}

TEST_CASE("attention rejects bad input") {
  const Tensor t = Tensor::ones({1, 2, 3, 4});
  CHECK_THROWS_WITH_AS(scaled_dot_product_attention(Tensor::ones({2, 3, 4}), t, t),
                       doctest::Contains("scaled_dot_product_attention: q, k, v must be"), Error);
  CHECK_THROWS_WITH_AS(scaled_dot_product_attention(t, Tensor::ones({1, 2, 3, 4}, DType::F64), t),
                       doctest::Contains("scaled_dot_product_attention: dtypes"), Error);
  CHECK_THROWS_WITH_AS(scaled_dot_product_attention(t, Tensor::ones({1, 2, 3, 5}), t),
                       doctest::Contains("scaled_dot_product_attention: shapes"), Error);
  CHECK_THROWS_WITH_AS(scaled_dot_product_attention(t, t, Tensor::ones({1, 2, 4, 4})),
                       doctest::Contains("scaled_dot_product_attention: shapes"), Error);
  CHECK_THROWS_WITH_AS(scaled_dot_product_attention(t, Tensor::ones({1, 2, 0, 4}),
                                                    Tensor::ones({1, 2, 0, 4})),
                       doctest::Contains("scaled_dot_product_attention: no keys"), Error);
  CHECK_THROWS_WITH_AS(scaled_dot_product_attention(Tensor::ones({1, 2, 3, 0}),
                                                    Tensor::ones({1, 2, 3, 0}), t),
                       doctest::Contains("scaled_dot_product_attention: head size is 0"), Error);
  const Tensor labels = Tensor::zeros({1, 2, 3, 4}, DType::I32);
  CHECK_THROWS_WITH_AS(scaled_dot_product_attention(labels, labels, labels),
                       doctest::Contains("scaled_dot_product_attention: q, k, v are I32"), Error);
  CHECK_THROWS_WITH_AS(scaled_dot_product_attention_composed(t, t, Tensor::ones({1, 2, 4, 4})),
                       doctest::Contains("scaled_dot_product_attention: shapes"), Error);
  Generator gen(9);
  const MhaParams p(4, gen);
  const Tensor x = Tensor::ones({2, 3, 4});
  CHECK_THROWS_WITH_AS(multi_head_attention(x, p.w_qkv, p.b_qkv, p.w_out, p.b_out, 3),
                       doctest::Contains("multi_head_attention: 3 heads do not divide D = 4"),
                       Error);
  CHECK_THROWS_WITH_AS(multi_head_attention(Tensor::ones({3, 4}), p.w_qkv, p.b_qkv, p.w_out,
                                            p.b_out, 2),
                       doctest::Contains("multi_head_attention: x must be [B, T, D]"), Error);
  CHECK_THROWS_WITH_AS(multi_head_attention(x, p.w_out, p.b_qkv, p.w_out, p.b_out, 2),
                       doctest::Contains("multi_head_attention: w_qkv [4,4]"), Error);
  CHECK_THROWS_WITH_AS(multi_head_attention(x, p.w_qkv, p.b_out, p.w_out, p.b_out, 2),
                       doctest::Contains("multi_head_attention: b_qkv [4]"), Error);
  CHECK_THROWS_WITH_AS(multi_head_attention(x, p.w_qkv, p.b_qkv, p.w_qkv, p.b_out, 2),
                       doctest::Contains("multi_head_attention: w_out [12,4]"), Error);
  CHECK_THROWS_WITH_AS(multi_head_attention(x, p.w_qkv, p.b_qkv, p.w_out, p.b_qkv, 2),
                       doctest::Contains("multi_head_attention: b_out [12]"), Error);
}
