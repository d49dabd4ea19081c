// A ResNet built from a config (models/resnet/config.h) and its layer plan
// (models/resnet/plan.h, which also documents the parameter names and the
// shortcut choice). Input NHWC [N, H, W, in_channels] -> logits [N, classes].
//
// Initialisation (fresh models), as torchvision's ResNet: convs Kaiming
// normal (fan_out, ReLU gain), BN gamma 1 and beta 0 (gamma 0 in the last BN
// of each residual block's main path with zero_init_residual, Goyal et al.
// 2017), the classifier PyTorch's Linear default U(-1/sqrt(in), 1/sqrt(in)).
// Running mean 0, running variance 1. Weight decay applies to the conv and
// classifier weights, not to BN gamma/beta nor the classifier's bias.
//
// The tensors are shared handles: a const ResNet still updates its running
// statistics in a training forward, and nested models share parameter storage.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/ops.h"
#include "models/model.h"
#include "models/resnet/config.h"
#include "models/resnet/plan.h"

namespace motive {

class ResNet final : public Model {
 public:
  // The tensors come from `source`: fresh (build_model) or prefix views
  // (models/nest.h).
  ResNet(const ResNetConfig& cfg, ParameterSource& source);

  // Training: BN normalises with batch statistics and updates the running
  // ones with ctx.norm_momentum.
  Tensor forward(const Tensor& x, const ForwardContext& ctx) const override;
  const ModelConfig& config() const override { return config_; }
  NamedTensors named_parameters() const override;
  NamedTensors named_buffers() const override;  // BN running_mean / running_var
  bool decays(const std::string& parameter_name) const override;
  bool is_classifier(const std::string& tensor_name) const override;
  // torchvision's names (conv1, bn1, layer<s+1>.<b>.conv<i>, .downsample.0/1,
  // fc), OIHW conv weights, and each BN's num_batches_tracked (0: motive does
  // not count batches; PyTorch reads it only when a BN's momentum is None).
  NamedTensors torch_state_dict() const override;
  // With shared BN statistics (models/nest.h) a base's recalibration writes
  // the prefix of the motivated model's buffers.
  void recalibrate_running_statistics(
      int64_t count, const std::function<Tensor(int64_t k)>& batch) const override;

 private:
  struct ConvBn {
    std::string conv_name, bn_name;
    Conv2dOptions conv;
    Tensor weight, gamma, beta, running_mean, running_var;
  };
  struct Block {
    std::vector<ConvBn> main;
    bool has_shortcut = false;
    ConvBn shortcut;
  };
  ConvBn make_conv_bn(const ConvBnPlan& p, ParameterSource& source, double gamma_init);
  Tensor conv_bn(const ConvBn& c, const Tensor& x, const ForwardContext& ctx) const;
  Tensor block_forward(const Block& b, const Tensor& x, const ForwardContext& ctx) const;
  // Every conv+BN pair in the naming convention's order.
  void for_each_conv_bn(const std::function<void(const ConvBn&)>& f) const;

  ResNetConfig config_;
  ResNetPlan plan_;
  ConvBn stem_;
  std::vector<std::vector<Block>> stages_;
  Tensor fc_weight_, fc_bias_;
};

}  // namespace motive
