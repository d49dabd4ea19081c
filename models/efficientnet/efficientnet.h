// An EfficientNet built from a config (models/efficientnet/config.h) and its
// layer plan (models/efficientnet/plan.h, which also lists the parameter
// names), computing what torchvision's EfficientNet computes. Input NHWC
// [N, H, W, in_channels] of any size -> logits [N, classes].
//
// Initialisation as torchvision's: convs (the squeeze-excitation's 1x1 convs
// included) Kaiming normal, fan_out mode, with zero biases; BN gamma 1, beta
// 0, running mean 0 and variance 1; the classifier U(-1/sqrt(classes),
// 1/sqrt(classes)) (torchvision's range uses the output features) with a zero
// bias. Weight decay applies to the conv, squeeze-excitation and classifier
// weights, not to BN gamma/beta nor to biases.
//
// Training: BN normalises with batch statistics and moves the running ones by
// ctx.norm_momentum; dropout and stochastic depth draw from ctx.generator
// (required when a rate is above 0). Recalibration recomputes the running
// statistics with neither (the network that evaluation runs).
#pragma once
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "engine/ops.h"
#include "models/efficientnet/config.h"
#include "models/efficientnet/plan.h"
#include "models/model.h"

namespace motive {

class EfficientNet final : public Model {
 public:
  // The tensors come from `source`: fresh (build_model) or prefix views (models/nest.h).
  EfficientNet(const EfficientNetConfig& cfg, ParameterSource& source);

  Tensor forward(const Tensor& x, const ForwardContext& ctx) const override;
  const ModelConfig& config() const override { return config_; }
  NamedTensors named_parameters() const override { return params_; }
  NamedTensors named_buffers() const override { return buffers_; }
  bool decays(const std::string& parameter_name) const override;
  bool is_classifier(const std::string& tensor_name) const override;
  // torchvision's names (features.<i>..., classifier.1), OIHW conv weights,
  // [out, in, 1, 1] squeeze-excitation weights, each BN's num_batches_tracked (0).
  NamedTensors torch_state_dict() const override;
  void recalibrate_running_statistics(int64_t count,
                                      const std::function<Tensor(int64_t k)>& batch) const override;

 private:
  struct ConvBn {
    std::string name;  // "stages.1.blocks.0.expand"
    Conv2dOptions conv;
    Tensor weight, gamma, beta, running_mean, running_var;
  };
  struct Block {
    bool has_expand = false;
    ConvBn expand, depthwise, project;
    Tensor fc1_weight, fc1_bias, fc2_weight, fc2_bias;  // squeeze-excitation
    bool residual = false;
    double drop_path = 0;
  };
  // How one forward runs: BN mode and momentum, and the generator for
  // dropout and stochastic depth (null: neither is applied).
  struct Pass {
    bool bn_training;
    double momentum;
    Generator* drops;
  };

  Tensor param(ParameterSource& source, const std::string& name, const Shape& shape,
               const Init& init, bool decayed);
  ConvBn make_conv_bn(ParameterSource& source, const EffConvPlan& p);
  Tensor conv_bn(const ConvBn& c, const Tensor& x, const Pass& pass) const;
  Tensor block_forward(const Block& b, const Tensor& x, const Pass& pass) const;
  Tensor run(const Tensor& x, const Pass& pass) const;
  // Every conv + BN pair, in parameter order.
  void for_each_conv_bn(const std::function<void(const ConvBn&)>& f) const;

  EfficientNetConfig config_;
  NamedTensors params_, buffers_;  // in the order they were made
  std::set<std::string> decayed_;
  ConvBn stem_, head_;
  std::vector<std::vector<Block>> stages_;
  Tensor fc_weight_, fc_bias_;
};

}  // namespace motive
