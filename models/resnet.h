// A ResNet built from a config (models/resnet_config.h) and its layer plan
// (models/resnet_plan.h, which also documents the parameter names and the
// shortcut choice). Input NHWC [N, H, W, in_channels] -> logits [N, classes].
//
// Initialisation (fresh models), as torchvision's ResNet: convs Kaiming
// normal (fan_out, ReLU gain), BN gamma 1 and beta 0 (gamma 0 in the last BN
// of each residual block's main path with zero_init_residual, Goyal et al.
// 2017), the classifier PyTorch's Linear default U(-1/sqrt(in), 1/sqrt(in)).
// Running mean 0, running variance 1.
//
// The tensors are shared handles: a const ResNet still updates its running
// statistics in a training forward, and nested models share parameter storage.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/ops.h"
#include "models/parameter_source.h"
#include "models/resnet_config.h"
#include "models/resnet_plan.h"

namespace motive {

struct ResNetOptions {
  DType dtype = DType::F32;  // F64 for gradient checks
  Device device = Device::CPU;
  bool zero_init_residual = false;
};

class ResNet {
 public:
  // A fresh model owning its parameters, initialised from `gen`.
  ResNet(const ResNetConfig& cfg, Generator& gen, const ResNetOptions& options = {});
  // A model whose tensors come from `source` (models/nest.h passes prefix views).
  ResNet(const ResNetConfig& cfg, ParameterSource& source, bool zero_init_residual = false);

  // training: BN normalises with batch statistics and updates the running
  // ones with `bn_momentum` (PyTorch's convention: new = (1-m) old + m batch).
  Tensor forward(const Tensor& x, bool training, double bn_momentum = 0.1) const;

  const ResNetConfig& config() const { return config_; }
  NamedTensors named_parameters() const;
  std::vector<Tensor> parameters() const;
  NamedTensors named_buffers() const;  // BN running_mean / running_var
  // Parameters then buffers: what a checkpoint or an export holds.
  NamedTensors named_tensors() const;
  // Copies each named tensor of `state` into this model's tensor of that name
  // (through views: a nested base writes into its motivated model). Every name
  // must match, with the same shape; throws motive::Error otherwise.
  void load_state(const NamedTensors& state) const;

  int64_t parameter_count() const;  // learnable parameters
  // Analytic forward FLOPs per image (see forward_flops in resnet_plan.h).
  int64_t flops_per_image(int64_t h, int64_t w) const;

  // Recomputes the BN running statistics as the cumulative average over
  // `count` batches (batch(k) gives batch k): the buffers are reset, then each
  // batch runs a training-mode forward in no-grad mode with momentum 1/(k+1),
  // PyTorch's momentum=None. Parameters and gradients are not touched. With
  // shared BN statistics (models/nest.h) a base's recalibration writes the
  // prefix of the motivated model's buffers.
  void recalibrate_batch_norm(int64_t count, const std::function<Tensor(int64_t k)>& batch) const;

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
  void build(ParameterSource& source, bool zero_init_residual);
  ConvBn make_conv_bn(const ConvBnPlan& p, ParameterSource& source, double gamma_init);
  Tensor conv_bn(const ConvBn& c, const Tensor& x, bool training, double bn_momentum) const;
  Tensor block_forward(const Block& b, const Tensor& x, bool training, double bn_momentum) const;
  // Every conv+BN pair in the naming convention's order.
  void for_each_conv_bn(const std::function<void(const ConvBn&)>& f) const;

  ResNetConfig config_;
  ResNetPlan plan_;
  ConvBn stem_;
  std::vector<std::vector<Block>> stages_;
  Tensor fc_weight_, fc_bias_;
};

}  // namespace motive
