#include "models/resnet/resnet.h"

#include <cmath>

#include "models/running_statistics.h"
#include "models/torch_layout.h"

namespace motive {

ResNet::ResNet(const ResNetConfig& cfg, ParameterSource& source)
    : config_(cfg), plan_(plan_resnet(cfg)) {
  stem_ = make_conv_bn(plan_.stem, source, 1.0);
  for (const auto& stage_plan : plan_.stages) {
    std::vector<Block>& stage = stages_.emplace_back();
    for (const BlockPlan& bp : stage_plan) {
      Block& b = stage.emplace_back();
      for (size_t i = 0; i < bp.main.size(); ++i) {
        const bool last = i + 1 == bp.main.size();
        b.main.push_back(make_conv_bn(bp.main[i], source, last && cfg.zero_init_residual ? 0.0 : 1.0));
      }
      b.has_shortcut = bp.shortcut.has_value();
      if (b.has_shortcut) b.shortcut = make_conv_bn(*bp.shortcut, source, 1.0);
    }
  }
  const Init linear = Init::uniform(1.0 / std::sqrt(static_cast<double>(plan_.features)));
  fc_weight_ = source.parameter("head.fc.weight", {plan_.classes, plan_.features}, linear);
  fc_bias_ = source.parameter("head.fc.bias", {plan_.classes}, linear);
}

ResNet::ConvBn ResNet::make_conv_bn(const ConvBnPlan& p, ParameterSource& source,
                                    double gamma_init) {
  ConvBn c;
  c.conv_name = p.conv_name;
  c.bn_name = p.bn_name;
  c.conv.stride = p.stride;
  c.conv.padding = p.padding;
  c.weight = source.parameter(p.conv_name + ".weight", {p.out, p.kernel, p.kernel, p.in},
                              Init::kaiming_fan_out());
  c.gamma = source.parameter(p.bn_name + ".weight", {p.out}, Init::constant(gamma_init));
  c.beta = source.parameter(p.bn_name + ".bias", {p.out}, Init::constant(0.0));
  c.running_mean = source.buffer(p.bn_name + ".running_mean", {p.out}, 0.0);
  c.running_var = source.buffer(p.bn_name + ".running_var", {p.out}, 1.0);
  return c;
}

Tensor ResNet::conv_bn(const ConvBn& c, const Tensor& x, const ForwardContext& ctx) const {
  return batch_norm2d(conv2d(x, c.weight, Tensor(), c.conv), c.gamma, c.beta, c.running_mean,
                      c.running_var, ctx.training, ctx.norm_momentum);
}

Tensor ResNet::block_forward(const Block& b, const Tensor& x, const ForwardContext& ctx) const {
  // Each main conv's BN ends in a relu, the last one's after adding the
  // shortcut: one fused op each (batch_norm2d_relu).
  const Tensor skip = b.has_shortcut ? conv_bn(b.shortcut, x, ctx) : x;
  Tensor h = x;
  for (size_t i = 0; i < b.main.size(); ++i) {
    const ConvBn& c = b.main[i];
    const bool last = i + 1 == b.main.size();
    h = batch_norm2d_relu(conv2d(h, c.weight, Tensor(), c.conv), c.gamma, c.beta, c.running_mean,
                          c.running_var, ctx.training, last ? skip : Tensor(), ctx.norm_momentum);
  }
  return h;
}

Tensor ResNet::forward(const Tensor& x, const ForwardContext& ctx) const {
  MOTIVE_CHECK(x.dim() == 4 && x.size(3) == config_.in_channels, config_.name,
               ": expects NHWC input [N, H, W, ", config_.in_channels, "], got ",
               shape_str(x.shape()));
  Tensor h = relu(conv_bn(stem_, x, ctx));
  if (plan_.stem_max_pool) h = max_pool2d(h, Pool2dOptions{3, 2, 1});
  for (const auto& stage : stages_)
    for (const Block& b : stage) h = block_forward(b, h, ctx);
  return linear(global_avg_pool2d(h), fc_weight_, fc_bias_);
}

void ResNet::for_each_conv_bn(const std::function<void(const ConvBn&)>& f) const {
  f(stem_);
  for (const auto& stage : stages_)
    for (const Block& b : stage) {
      for (const ConvBn& c : b.main) f(c);
      if (b.has_shortcut) f(b.shortcut);
    }
}

NamedTensors ResNet::named_parameters() const {
  NamedTensors out;
  for_each_conv_bn([&](const ConvBn& c) {
    out.emplace_back(c.conv_name + ".weight", c.weight);
    out.emplace_back(c.bn_name + ".weight", c.gamma);
    out.emplace_back(c.bn_name + ".bias", c.beta);
  });
  out.emplace_back("head.fc.weight", fc_weight_);
  out.emplace_back("head.fc.bias", fc_bias_);
  return out;
}

NamedTensors ResNet::named_buffers() const {
  NamedTensors out;
  for_each_conv_bn([&](const ConvBn& c) {
    out.emplace_back(c.bn_name + ".running_mean", c.running_mean);
    out.emplace_back(c.bn_name + ".running_var", c.running_var);
  });
  return out;
}

namespace {

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

// motive's parameter name -> torchvision's: stem.conv -> conv1, stem.bn ->
// bn1, stages.<s>.blocks.<b>. -> layer<s+1>.<b>., shortcut.conv/bn ->
// downsample.0/1, head.fc -> fc.
std::string torchvision_name(std::string name) {
  const auto replace = [&](const std::string& from, const std::string& to) {
    const size_t at = name.find(from);
    if (at != std::string::npos) name.replace(at, from.size(), to);
  };
  replace("stem.conv", "conv1");
  replace("stem.bn", "bn1");
  replace("shortcut.conv", "downsample.0");
  replace("shortcut.bn", "downsample.1");
  replace("head.fc", "fc");
  if (starts_with(name, "stages.")) {
    const size_t stage_end = name.find('.', 7);
    const int stage = std::stoi(name.substr(7, stage_end - 7));
    const size_t block_start = name.find("blocks.", stage_end) + 7;
    name = "layer" + std::to_string(stage + 1) + "." + name.substr(block_start);
  }
  return name;
}

}  // namespace

NamedTensors ResNet::torch_state_dict() const {
  NamedTensors out;
  for (const auto& [name, t] : named_tensors())
    out.emplace_back(torchvision_name(name), t.dim() == 4 ? torch_conv_weight(t) : torch_copy(t));
  for_each_conv_bn([&](const ConvBn& c) {
    out.emplace_back(torchvision_name(c.bn_name) + ".num_batches_tracked",
                     torch_num_batches_tracked());
  });
  return out;
}

bool ResNet::is_classifier(const std::string& tensor_name) const {
  return tensor_name == "head.fc.weight" || tensor_name == "head.fc.bias";
}

bool ResNet::decays(const std::string& parameter_name) const {
  // Conv and classifier weights; not BN gamma and beta, nor the classifier's bias.
  bool conv_weight = false;
  for_each_conv_bn([&](const ConvBn& c) {
    conv_weight = conv_weight || parameter_name == c.conv_name + ".weight";
  });
  return conv_weight || parameter_name == "head.fc.weight";
}

void ResNet::recalibrate_running_statistics(int64_t count,
                                            const std::function<Tensor(int64_t k)>& batch) const {
  motive::recalibrate_running_statistics(
      config_.name, named_buffers(), count, batch, [&](const Tensor& x, double momentum) {
        forward(x, ForwardContext{true, momentum, nullptr});
      });
}

}  // namespace motive
