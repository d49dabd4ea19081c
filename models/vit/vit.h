// A Vision Transformer built from a config (models/vit/config.h), computing
// what timm's VisionTransformer computes (class token, learned position
// embedding, pre-norm blocks, final norm, linear head on the class token):
//
//   patches = conv(x, P x P, stride P) -> [N, T, D]        (tokens row by row)
//   x = [cls_token, patches] + pos_embed                      [N, T + 1, D]
//   per block: x = x + drop_path(dropout(proj(attention(LN1(x)))))
//              x = x + drop_path(dropout(fc2(dropout(gelu(fc1(LN2(x)))))))
//   logits = head(LN(x)[:, 0])
//
// Parameter names (timm's, but q, k and v): cls_token [1, 1, D],
// pos_embed [1, T + 1, D], patch_embed.proj.{weight [D, P, P, C] OHWI, bias},
// blocks.<i>.norm1.{weight,bias}, blocks.<i>.attn.qkv.weight [3, D, D] and
// .bias [3, D], blocks.<i>.attn.proj.{weight [D, D], bias},
// blocks.<i>.norm2.*, blocks.<i>.mlp.fc1.{weight [M, D], bias},
// blocks.<i>.mlp.fc2.{weight [D, M], bias}, norm.*, head.{weight, bias}.
//
// Why qkv is [3, D, D], not timm's fused [3D, D]: heads nest as prefixes. Row
// block j of qkv.weight[s] holds head j's rows of q (s = 0), k (1) or v (2),
// so a model with h heads (d = 64 h dims) is the leading [3, d, d] view. A
// leading [3d, d] view of timm's layout would hand the smaller model the larger
// one's q rows where its k rows belong. torch_state_dict() writes timm's layout.
//
// Initialisation as timm's: linear weights truncated normal (std 0.02, cut at
// +-2) and zero biases, the position embedding truncated normal (0.02), the
// class token normal (std 1e-6), LayerNorm 1 and 0, the patch embedding
// PyTorch's Conv2d default U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and
// bias. Weight decay: the linear and patch-embedding weights; not norms,
// biases, the class token nor the position embedding (timm's no_weight_decay).
#pragma once
#include <string>
#include <vector>

#include "engine/ops.h"
#include "models/model.h"
#include "models/vit/config.h"

namespace motive {

class ViT final : public Model {
 public:
  ViT(const ViTConfig& cfg, ParameterSource& source);

  // Training: dropout and stochastic depth draw from ctx.generator (required
  // when either rate is above 0).
  Tensor forward(const Tensor& x, const ForwardContext& ctx) const override;
  const ModelConfig& config() const override { return config_; }
  NamedTensors named_parameters() const override { return params_; }
  NamedTensors named_buffers() const override { return {}; }
  bool decays(const std::string& parameter_name) const override;
  bool is_classifier(const std::string& tensor_name) const override;
  // timm's names and layouts: qkv fused to [3D, D], the patch embedding OIHW.
  NamedTensors torch_state_dict() const override;

 private:
  struct Norm {
    Tensor gamma, beta;
  };
  struct Linear {
    Tensor weight, bias;
  };
  struct Block {
    Norm norm1, norm2;
    Tensor qkv_weight, qkv_bias;  // [3, D, D], [3, D]
    Linear proj, fc1, fc2;
    double drop_path = 0;
  };
  Tensor param(ParameterSource& source, const std::string& name, const Shape& shape,
               const Init& init);
  Norm make_norm(ParameterSource& source, const std::string& prefix);
  Linear make_linear(ParameterSource& source, const std::string& prefix, int64_t out,
                     int64_t in);
  Tensor attention(const Block& b, const Tensor& x) const;  // x [N, T, D] normalised
  Tensor block_forward(const Block& b, const Tensor& x, const ForwardContext& ctx) const;
  Generator& generator(const ForwardContext& ctx) const;  // throws when there is none
  Tensor dropout_if(const Tensor& x, double p, const ForwardContext& ctx) const;
  // x + branch, the branch dropped per sample with probability `rate` (stochastic depth).
  Tensor residual(const Tensor& x, const Tensor& branch, double rate,
                  const ForwardContext& ctx) const;

  ViTConfig config_;
  NamedTensors params_;  // in the order they were made
  Tensor cls_token_, pos_embed_;
  Linear patch_;  // weight [D, P, P, C]
  std::vector<Block> blocks_;
  Norm norm_;
  Linear head_;
};

}  // namespace motive
