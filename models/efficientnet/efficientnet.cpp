#include "models/efficientnet/efficientnet.h"

#include <cmath>

#include "models/running_statistics.h"
#include "models/torch_layout.h"

namespace motive {

Tensor EfficientNet::param(ParameterSource& source, const std::string& name, const Shape& shape,
                           const Init& init, bool decayed) {
  Tensor t = source.parameter(name, shape, init);
  params_.emplace_back(name, t);
  if (decayed) decayed_.insert(name);
  return t;
}

EfficientNet::ConvBn EfficientNet::make_conv_bn(ParameterSource& source, const EffConvPlan& p) {
  ConvBn c;
  c.name = p.name;
  c.conv.stride = p.stride;
  c.conv.padding = p.kernel / 2;
  c.conv.groups = p.depthwise ? p.in : 1;
  const int64_t in_per_group = p.depthwise ? 1 : p.in;
  c.weight = param(source, p.name + ".conv.weight", {p.out, p.kernel, p.kernel, in_per_group},
                   Init::kaiming_fan_out(), true);
  c.gamma = param(source, p.name + ".bn.weight", {p.out}, Init::constant(1.0), false);
  c.beta = param(source, p.name + ".bn.bias", {p.out}, Init::constant(0.0), false);
  c.running_mean = source.buffer(p.name + ".bn.running_mean", {p.out}, 0.0);
  c.running_var = source.buffer(p.name + ".bn.running_var", {p.out}, 1.0);
  buffers_.emplace_back(p.name + ".bn.running_mean", c.running_mean);
  buffers_.emplace_back(p.name + ".bn.running_var", c.running_var);
  return c;
}

EfficientNet::EfficientNet(const EfficientNetConfig& cfg, ParameterSource& source) : config_(cfg) {
  const EfficientNetPlan plan = plan_efficientnet(cfg);
  stem_ = make_conv_bn(source, plan.stem);
  for (const auto& stage_plan : plan.stages) {
    std::vector<Block>& stage = stages_.emplace_back();
    for (const MBConvPlan& bp : stage_plan) {
      Block& b = stage.emplace_back();
      b.has_expand = bp.has_expand;
      if (b.has_expand) b.expand = make_conv_bn(source, bp.expand);
      b.depthwise = make_conv_bn(source, bp.depthwise);
      // torchvision's squeeze-excitation convs: Kaiming normal (fan_out) weights, zero biases.
      const std::string se = bp.prefix + "se.";
      b.fc1_weight = param(source, se + "fc1.weight", {bp.squeeze, bp.expanded},
                           Init::kaiming_fan_out(), true);
      b.fc1_bias = param(source, se + "fc1.bias", {bp.squeeze}, Init::constant(0.0), false);
      b.fc2_weight = param(source, se + "fc2.weight", {bp.expanded, bp.squeeze},
                           Init::kaiming_fan_out(), true);
      b.fc2_bias = param(source, se + "fc2.bias", {bp.expanded}, Init::constant(0.0), false);
      b.project = make_conv_bn(source, bp.project);
      b.residual = bp.residual;
      b.drop_path = bp.drop_path;
    }
  }
  head_ = make_conv_bn(source, plan.head);
  // torchvision: U(-r, r) with r = 1/sqrt(out_features), zero bias.
  const Init linear = Init::uniform(1.0 / std::sqrt(static_cast<double>(plan.classes)));
  fc_weight_ = param(source, "head.fc.weight", {plan.classes, plan.head.out}, linear, true);
  fc_bias_ = param(source, "head.fc.bias", {plan.classes}, Init::constant(0.0), false);
}

Tensor EfficientNet::conv_bn(const ConvBn& c, const Tensor& x, const Pass& pass) const {
  return batch_norm2d(conv2d(x, c.weight, Tensor(), c.conv), c.gamma, c.beta, c.running_mean,
                      c.running_var, pass.bn_training, pass.momentum, config_.bn_eps);
}

Tensor EfficientNet::block_forward(const Block& b, const Tensor& x, const Pass& pass) const {
  Tensor h = b.has_expand ? silu(conv_bn(b.expand, x, pass)) : x;
  h = silu(conv_bn(b.depthwise, h, pass));
  // Squeeze-excitation: one gate per image and expanded channel.
  const Tensor squeezed = silu(linear(global_avg_pool2d(h), b.fc1_weight, b.fc1_bias));
  const Tensor gate = sigmoid(linear(squeezed, b.fc2_weight, b.fc2_bias));
  h = h * gate.view({h.size(0), 1, 1, h.size(3)});
  h = conv_bn(b.project, h, pass);
  if (!b.residual) return h;
  if (pass.drops && b.drop_path > 0) h = drop_path(h, b.drop_path, true, *pass.drops);
  return h + x;
}

Tensor EfficientNet::run(const Tensor& x, const Pass& pass) const {
  const EfficientNetConfig& c = config_;
  MOTIVE_CHECK(x.dim() == 4 && x.size(3) == c.in_channels, c.name,
               ": expects NHWC input [N, H, W, ", c.in_channels, "], got ", shape_str(x.shape()));
  Tensor h = silu(conv_bn(stem_, x, pass));
  for (const auto& stage : stages_)
    for (const Block& b : stage) h = block_forward(b, h, pass);
  h = global_avg_pool2d(silu(conv_bn(head_, h, pass)));
  if (pass.drops && c.dropout > 0) h = dropout(h, c.dropout, true, *pass.drops);
  return linear(h, fc_weight_, fc_bias_);
}

Tensor EfficientNet::forward(const Tensor& x, const ForwardContext& ctx) const {
  const bool draws = ctx.training && (config_.dropout > 0 || config_.stochastic_depth > 0);
  MOTIVE_CHECK(!draws || ctx.generator != nullptr, config_.name,
               ": a training forward with dropout or stochastic depth needs a generator");
  return run(x, Pass{ctx.training, ctx.norm_momentum, draws ? ctx.generator : nullptr});
}

void EfficientNet::for_each_conv_bn(const std::function<void(const ConvBn&)>& f) const {
  f(stem_);
  for (const auto& stage : stages_)
    for (const Block& b : stage) {
      if (b.has_expand) f(b.expand);
      f(b.depthwise);
      f(b.project);
    }
  f(head_);
}

bool EfficientNet::is_classifier(const std::string& tensor_name) const {
  // head.fc, not the head's 1x1 conv-BN before the pooling (features.<last>).
  return tensor_name == "head.fc.weight" || tensor_name == "head.fc.bias";
}

bool EfficientNet::decays(const std::string& parameter_name) const {
  return decayed_.count(parameter_name) > 0;
}

void EfficientNet::recalibrate_running_statistics(
    int64_t count, const std::function<Tensor(int64_t k)>& batch) const {
  motive::recalibrate_running_statistics(config_.name, buffers_, count, batch,
                                         [&](const Tensor& x, double momentum) {
                                           run(x, Pass{true, momentum, nullptr});
                                         });
}

NamedTensors EfficientNet::torch_state_dict() const {
  NamedTensors out;
  // A conv + BN as torchvision's Conv2dNormActivation `prefix`: .0 the conv, .1 the BN.
  const auto conv_bn = [&](const ConvBn& c, const std::string& prefix) {
    out.emplace_back(prefix + ".0.weight", torch_conv_weight(c.weight));
    out.emplace_back(prefix + ".1.weight", torch_copy(c.gamma));
    out.emplace_back(prefix + ".1.bias", torch_copy(c.beta));
    out.emplace_back(prefix + ".1.running_mean", torch_copy(c.running_mean));
    out.emplace_back(prefix + ".1.running_var", torch_copy(c.running_var));
    out.emplace_back(prefix + ".1.num_batches_tracked", torch_num_batches_tracked());
  };
  // A linear [out, in] as the 1x1 conv [out, in, 1, 1] torchvision uses.
  const auto conv1x1 = [](const Tensor& w) {
    return torch_copy(w).view({w.size(0), w.size(1), 1, 1});
  };
  conv_bn(stem_, "features.0");
  for (size_t s = 0; s < stages_.size(); ++s)
    for (size_t i = 0; i < stages_[s].size(); ++i) {
      const Block& b = stages_[s][i];
      // MBConv.block: [expand,] depthwise, squeeze-excitation, project.
      const std::string block =
          "features." + std::to_string(s + 1) + "." + std::to_string(i) + ".block.";
      int layer = 0;
      if (b.has_expand) conv_bn(b.expand, block + std::to_string(layer++));
      conv_bn(b.depthwise, block + std::to_string(layer++));
      const std::string se = block + std::to_string(layer++) + ".";
      out.emplace_back(se + "fc1.weight", conv1x1(b.fc1_weight));
      out.emplace_back(se + "fc1.bias", torch_copy(b.fc1_bias));
      out.emplace_back(se + "fc2.weight", conv1x1(b.fc2_weight));
      out.emplace_back(se + "fc2.bias", torch_copy(b.fc2_bias));
      conv_bn(b.project, block + std::to_string(layer));
    }
  conv_bn(head_, "features." + std::to_string(stages_.size() + 1));
  out.emplace_back("classifier.1.weight", torch_copy(fc_weight_));
  out.emplace_back("classifier.1.bias", torch_copy(fc_bias_));
  return out;
}

}  // namespace motive
