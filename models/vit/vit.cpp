#include "models/vit/vit.h"

#include <cmath>

#include "engine/autograd.h"
#include "models/torch_layout.h"

namespace motive {

Tensor ViT::param(ParameterSource& source, const std::string& name, const Shape& shape,
                  const Init& init) {
  Tensor t = source.parameter(name, shape, init);
  params_.emplace_back(name, t);
  return t;
}

ViT::Norm ViT::make_norm(ParameterSource& source, const std::string& prefix) {
  const int64_t d = config_.dim();
  return {param(source, prefix + ".weight", {d}, Init::constant(1.0)),
          param(source, prefix + ".bias", {d}, Init::constant(0.0))};
}

ViT::Linear ViT::make_linear(ParameterSource& source, const std::string& prefix, int64_t out,
                             int64_t in) {
  return {param(source, prefix + ".weight", {out, in}, Init::trunc_normal(0.02)),
          param(source, prefix + ".bias", {out}, Init::constant(0.0))};
}

ViT::ViT(const ViTConfig& cfg, ParameterSource& source) : config_(cfg) {
  cfg.validate();
  const int64_t d = cfg.dim(), p = cfg.patch, c = cfg.in_channels;
  // PyTorch's Conv2d default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), bias too.
  const Init conv_default = Init::uniform(1.0 / std::sqrt(static_cast<double>(c * p * p)));
  patch_ = {param(source, "patch_embed.proj.weight", {d, p, p, c}, conv_default),
            param(source, "patch_embed.proj.bias", {d}, conv_default)};
  cls_token_ = param(source, "cls_token", {1, 1, d}, Init::normal(1e-6));
  pos_embed_ = param(source, "pos_embed", {1, cfg.tokens(), d}, Init::trunc_normal(0.02));
  for (int64_t i = 0; i < cfg.depth; ++i) {
    const std::string pre = "blocks." + std::to_string(i) + ".";
    Block& b = blocks_.emplace_back();
    b.norm1 = make_norm(source, pre + "norm1");
    b.qkv_weight = param(source, pre + "attn.qkv.weight", {3, d, d}, Init::trunc_normal(0.02));
    b.qkv_bias = param(source, pre + "attn.qkv.bias", {3, d}, Init::constant(0.0));
    b.proj = make_linear(source, pre + "attn.proj", d, d);
    b.norm2 = make_norm(source, pre + "norm2");
    b.fc1 = make_linear(source, pre + "mlp.fc1", cfg.mlp, d);
    b.fc2 = make_linear(source, pre + "mlp.fc2", d, cfg.mlp);
    b.drop_path = cfg.drop_path_at(i);
  }
  norm_ = make_norm(source, "norm");
  head_ = make_linear(source, "head", cfg.num_classes, d);
}

Generator& ViT::generator(const ForwardContext& ctx) const {
  MOTIVE_CHECK(ctx.generator != nullptr, config_.name,
               ": a training forward with dropout or drop path needs a generator");
  return *ctx.generator;
}

Tensor ViT::dropout_if(const Tensor& x, double p, const ForwardContext& ctx) const {
  return ctx.training && p > 0 ? dropout(x, p, true, generator(ctx)) : x;
}

Tensor ViT::residual(const Tensor& x, const Tensor& branch, double rate,
                     const ForwardContext& ctx) const {
  return x + (ctx.training && rate > 0 ? drop_path(branch, rate, true, generator(ctx)) : branch);
}

Tensor ViT::attention(const Block& b, const Tensor& x) const {
  const int64_t n = x.size(0), t = x.size(1), d = config_.dim();
  const int64_t h = config_.heads, dh = config_.head_dim;
  // q, k, v [N, T, D] -> [N, H, T, Dh]: strided views, no copies.
  const auto heads = [&](int64_t s) {
    return linear(x, b.qkv_weight.select(0, s), b.qkv_bias.select(0, s))
        .view({n, t, h, dh})
        .permute({0, 2, 1, 3});
  };
  const Tensor out = scaled_dot_product_attention(heads(0), heads(1), heads(2), false);
  return linear(out.transpose(1, 2).reshape({n, t, d}), b.proj.weight, b.proj.bias);
}

Tensor ViT::block_forward(const Block& b, const Tensor& x, const ForwardContext& ctx) const {
  const double eps = config_.norm_eps, p = config_.dropout;
  const Tensor a = attention(b, layer_norm(x, b.norm1.gamma, b.norm1.beta, eps));
  const Tensor y = residual(x, dropout_if(a, p, ctx), b.drop_path, ctx);
  const Tensor hidden = gelu(linear(layer_norm(y, b.norm2.gamma, b.norm2.beta, eps),
                                    b.fc1.weight, b.fc1.bias));
  const Tensor m = linear(dropout_if(hidden, p, ctx), b.fc2.weight, b.fc2.bias);
  return residual(y, dropout_if(m, p, ctx), b.drop_path, ctx);
}

Tensor ViT::forward(const Tensor& x, const ForwardContext& ctx) const {
  const ViTConfig& c = config_;
  MOTIVE_CHECK(x.dim() == 4 && x.size(1) == c.image && x.size(2) == c.image &&
                   x.size(3) == c.in_channels,
               c.name, ": expects NHWC input [N, ", c.image, ", ", c.image, ", ", c.in_channels,
               "], got ", shape_str(x.shape()));
  const int64_t n = x.size(0), d = c.dim();
  Conv2dOptions patchify;
  patchify.stride = c.patch;
  // NHWC conv output [N, H/P, W/P, D] is already the token sequence, row by row.
  const Tensor patches = conv2d(x, patch_.weight, patch_.bias, patchify).view({n, -1, d});
  Tensor h = concat({cls_token_.expand({n, 1, d}), patches}, 1) + pos_embed_;
  for (const Block& b : blocks_) h = block_forward(b, h, ctx);
  const Tensor cls = layer_norm(h, norm_.gamma, norm_.beta, c.norm_eps).select(1, 0);
  return linear(cls, head_.weight, head_.bias);
}

bool ViT::is_classifier(const std::string& tensor_name) const {
  return tensor_name == "head.weight" || tensor_name == "head.bias";
}

bool ViT::decays(const std::string& parameter_name) const {
  // Weights of the linear layers and of the patch embedding (not norms'); no
  // bias, class token or position embedding (timm's no_weight_decay).
  const std::string suffix = ".weight";
  const bool weight = parameter_name.size() > suffix.size() &&
                      parameter_name.compare(parameter_name.size() - suffix.size(),
                                             suffix.size(), suffix) == 0;
  return weight && parameter_name.find("norm") == std::string::npos;
}

NamedTensors ViT::torch_state_dict() const {
  NamedTensors out;
  for (const auto& [name, t] : params_) {
    if (name == "patch_embed.proj.weight")
      out.emplace_back(name, torch_conv_weight(t));
    else if (name.find("attn.qkv.") != std::string::npos)  // [3, D(, D)] -> [3D(, D)]
      out.emplace_back(name, torch_copy(t).reshape(t.dim() == 3 ? Shape{3 * t.size(1), t.size(2)}
                                                                  : Shape{3 * t.size(1)}));
    else
      out.emplace_back(name, torch_copy(t));
  }
  return out;
}

}  // namespace motive
