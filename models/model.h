// The one interface every model family implements. The trainer, checkpoints,
// export, evaluation and `trainer models` see only this and the family
// registry (models/registry.h); what is inside a ResNet or a ViT stays in its
// folder (models/resnet/, models/vit/).
//
// A model is described twice:
//   ModelConfig  what the network is made of, before any tensor exists: its
//                name, analytic costs, whether it contains another config of
//                its family (the nesting rule), and how to build it;
//   Model        the built network: named parameters and buffers (fresh, or
//                prefix views of a larger model's: models/parameter_source.h),
//                the forward pass, and optional capabilities.
// Conventions shared by every family: inputs are NHWC [N, H, W, C] float
// tensors, outputs logits [N, classes]; FLOPs are analytic per image with a
// multiply-add counted as 2 (each family says which layers it counts).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/random.h"
#include "models/parameter_source.h"

namespace motive {

class Model;

// What one forward pass needs besides the input.
struct ForwardContext {
  bool training = false;
  // Running-statistics update of norm layers in training mode (PyTorch's
  // convention: new = (1 - m) old + m batch); unused by models without them.
  double norm_momentum = 0.1;
  // Dropout and stochastic depth draw from it in training mode, so a run that
  // seeds it from (seed, step) is reproducible and resumes bit for bit. May be
  // null for models that draw nothing, or outside training.
  Generator* generator = nullptr;
};

// What the data decides about a model: input channels, classes and image size.
// 0 leaves a value to the preset (its family's default classes, its native
// image size), which is what tables of presets use; a run passes the data's.
struct ModelShape {
  int64_t in_channels = 3;
  int64_t num_classes = 0;
  int64_t image_height = 0, image_width = 0;
};

// Dtype and device of a fresh model's tensors.
struct ModelOptions {
  DType dtype = DType::F32;  // F64 for gradient checks
  Device device = Device::CPU;
};

struct ModelConfig {
  std::string name;  // the preset name: tables, errors, exports
  int64_t in_channels = 3;
  int64_t num_classes = 10;

  virtual ~ModelConfig() = default;
  virtual std::unique_ptr<ModelConfig> clone() const = 0;
  virtual const char* family() const = 0;
  // One line: what the network is made of ("basic blocks, cifar stem, depths
  // 3/3/3, widths 16/32/64").
  virtual std::string describe() const = 0;
  // The image size the model is built for (a ViT's position embedding fixes
  // it; a ResNet runs any size and gives its preset's native one).
  virtual int64_t image_height() const = 0;
  virtual int64_t image_width() const = 0;
  virtual int64_t parameter_count() const = 0;  // learnable parameters
  // Analytic forward FLOPs for one image of h x w.
  virtual int64_t flops_per_image(int64_t h, int64_t w) const = 0;
  // Whether the model keeps running statistics (BatchNorm): what --bn-stats
  // and --recalibrate act on.
  virtual bool has_running_statistics() const = 0;
  // Throws motive::Error naming both models and the first mismatch unless this
  // config contains `smaller` as prefix views (same family, every dimension of
  // `smaller` <= this one's).
  virtual void check_contains(const ModelConfig& smaller) const = 0;
  // The network, every tensor from `source` (fresh or prefix views).
  virtual std::unique_ptr<Model> build(ParameterSource& source) const = 0;

 protected:
  ModelConfig() = default;
  ModelConfig(const ModelConfig&) = default;
  ModelConfig& operator=(const ModelConfig&) = default;
};

class Model {
 public:
  virtual ~Model() = default;
  virtual const ModelConfig& config() const = 0;
  // x NHWC [N, H, W, in_channels] -> logits [N, num_classes].
  virtual Tensor forward(const Tensor& x, const ForwardContext& ctx) const = 0;
  virtual NamedTensors named_parameters() const = 0;
  // Tensors that are state but not learned (BatchNorm running statistics).
  virtual NamedTensors named_buffers() const = 0;
  // Whether weight decay applies to the parameter of this name (the family's
  // rule: not to norms and biases, nor to a ViT's class token and position
  // embedding, as timm's no_weight_decay).
  virtual bool decays(const std::string& parameter_name) const = 0;
  // Whether the tensor of this name belongs to the classifier, the last linear
  // layer, whose shape follows the class count: what a transfer run
  // re-initialises and what a linear probe trains.
  virtual bool is_classifier(const std::string& tensor_name) const = 0;
  // The model's tensors under PyTorch's names and layouts (torchvision's
  // ResNet, timm's VisionTransformer), as `trainer export --format torch`
  // writes them for load_state_dict(strict=True). Copies, on the CPU.
  virtual NamedTensors torch_state_dict() const = 0;

  // Running statistics (ModelConfig::has_running_statistics): recomputes them
  // as the cumulative average over `count` batches (batch(k) gives batch k) in
  // training-mode forwards without gradients, momentum 1/(k+1), PyTorch's
  // momentum=None. Parameters are not touched. The default throws: the model
  // has none.
  virtual void recalibrate_running_statistics(
      int64_t count, const std::function<Tensor(int64_t k)>& batch) const;

  const std::string& name() const { return config().name; }
  std::vector<Tensor> parameters() const;
  // Parameters then buffers: what a checkpoint or an export holds.
  NamedTensors named_tensors() const;
  // Copies each named tensor of `state` into this model's tensor of that name
  // (through views: a nested base writes into its motivated model). Every name
  // must match, with the same shape; throws motive::Error otherwise.
  void load_state(const NamedTensors& state) const;
  int64_t parameter_count() const { return config().parameter_count(); }
  int64_t flops_per_image(int64_t h, int64_t w) const { return config().flops_per_image(h, w); }
};

// A fresh model of `config`, its parameters drawn from `gen` in the order the
// model asks for them (the same seed gives the same model on every machine).
std::unique_ptr<Model> build_model(const ModelConfig& config, Generator& gen,
                                   const ModelOptions& options = {});

}  // namespace motive
