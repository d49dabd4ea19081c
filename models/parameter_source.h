// Where a model's tensors come from. A model asks its source for each named
// parameter and buffer as it builds itself; the source decides whether that is
// a fresh, initialised tensor (a standalone or motivated model) or a view into
// another model's tensor (a base model nested in a motivated one). The model
// code is the same either way, which is what makes the weights map generic.
#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "engine/random.h"
#include "engine/tensor.h"

namespace motive {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

// How a fresh parameter is initialised (ignored by sources that return views).
struct Init {
  enum class Kind { KaimingFanOut, Constant, Uniform, Normal, TruncNormal } kind = Kind::Constant;
  // Constant: the value; Uniform: the bound b of U(-b, b); Normal and
  // TruncNormal: the standard deviation (mean 0).
  double value = 0;

  // He et al. 2015, fan_out mode, ReLU gain: torchvision's ResNet conv init.
  static Init kaiming_fan_out() { return {Kind::KaimingFanOut, 0}; }
  static Init constant(double v) { return {Kind::Constant, v}; }
  static Init uniform(double bound) { return {Kind::Uniform, bound}; }
  static Init normal(double std) { return {Kind::Normal, std}; }
  // N(0, std) resampled until inside [-2, 2] (timm's trunc_normal_ defaults:
  // absolute bounds, so with std 0.02 practically never cut).
  static Init trunc_normal(double std) { return {Kind::TruncNormal, std}; }
};

class ParameterSource {
 public:
  virtual ~ParameterSource() = default;
  // A leaf that requires grad.
  virtual Tensor parameter(const std::string& name, const Shape& shape, const Init& init) = 0;
  // Running statistics: no grad; `fill` is the initial value of a fresh one.
  virtual Tensor buffer(const std::string& name, const Shape& shape, double fill) = 0;
};

// Fresh tensors, initialised on the CPU from `gen` in the order they are asked
// for (so a seed gives the same model on every machine), then moved to `device`.
class FreshTensors : public ParameterSource {
 public:
  FreshTensors(Generator& gen, DType dtype = DType::F32, Device device = Device::CPU);
  Tensor parameter(const std::string& name, const Shape& shape, const Init& init) override;
  Tensor buffer(const std::string& name, const Shape& shape, double fill) override;

 private:
  Generator& gen_;
  DType dtype_;
  Device device_;
};

// The weights map: every parameter is the leading prefix, in every dim, of the
// owner's tensor of the same name (a conv weight [C_out, kH, kW, C_in] maps to
// owner[:C_out, :kH, :kW, :C_in]), made in no-grad mode so it is a leaf whose
// data, gradient and optimizer state live inside the owner's. Buffers are such
// views too when `share_buffers`, else fresh tensors of their own.
class PrefixViews : public ParameterSource {
 public:
  PrefixViews(const NamedTensors& owner, bool share_buffers);
  Tensor parameter(const std::string& name, const Shape& shape, const Init& init) override;
  Tensor buffer(const std::string& name, const Shape& shape, double fill) override;

 private:
  Tensor view_of(const std::string& name, const Shape& shape) const;
  std::map<std::string, Tensor> owner_;
  bool share_buffers_;
};

// Copies each tensor of `from` into the tensor of the same name in `into`
// (through views: loading a nested base writes into its motivated model). The
// names must match one to one, with equal shapes; otherwise throws
// motive::Error starting with `who`.
void load_named_tensors(const NamedTensors& into, const NamedTensors& from, const std::string& who);

// The leading prefix of `t` with `shape` (same rank, each dim <= t's): a view.
Tensor prefix_view(const Tensor& t, const Shape& shape);

}  // namespace motive
