#include "models/demo_cnn.h"

#include <cmath>

#include "engine/flops.h"
#include "engine/ops.h"

namespace motive {
namespace {

constexpr int64_t kC1 = 16, kC2 = 32;

Tensor conv_weight(int64_t out, int64_t in, Generator& gen) {
  Tensor w = Tensor::empty({out, 3, 3, in});
  kaiming_normal_(w, fan_in(w), gen);
  return w.requires_grad_();
}

// PyTorch's default Linear init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
Tensor uniform_param(const Shape& shape, int64_t fan, Generator& gen) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(fan));
  return rand_uniform(shape, -bound, bound, gen).requires_grad_();
}

}  // namespace

DemoCnn::DemoCnn(Generator& gen, int64_t in_channels, int64_t num_classes, int64_t image_size)
    : image_size_(image_size) {
  MOTIVE_CHECK(image_size % 4 == 0, "DemoCnn: image size ", image_size, " must be a multiple of 4");
  const int64_t flat = kC2 * (image_size / 4) * (image_size / 4);
  conv1_w_ = conv_weight(kC1, in_channels, gen);
  conv1_b_ = Tensor::zeros({kC1}).requires_grad_();
  conv2_w_ = conv_weight(kC2, kC1, gen);
  conv2_b_ = Tensor::zeros({kC2}).requires_grad_();
  fc_w_ = uniform_param({num_classes, flat}, flat, gen);
  fc_b_ = uniform_param({num_classes}, flat, gen);
}

Tensor DemoCnn::forward(const Tensor& x) const {
  const Conv2dOptions same{1, 1, 1, 1};
  const Pool2dOptions halve{2, 2, 0};
  Tensor h = max_pool2d(relu(conv2d(x, conv1_w_, conv1_b_, same)), halve);
  h = max_pool2d(relu(conv2d(h, conv2_w_, conv2_b_, same)), halve);
  return linear(h.flatten(1), fc_w_, fc_b_);
}

std::vector<std::pair<std::string, Tensor>> DemoCnn::named_parameters() const {
  return {{"conv1.weight", conv1_w_}, {"conv1.bias", conv1_b_}, {"conv2.weight", conv2_w_},
          {"conv2.bias", conv2_b_},   {"fc.weight", fc_w_},     {"fc.bias", fc_b_}};
}

template <class F>
DemoCnn& DemoCnn::replace_parameters(F&& f) {
  for (Tensor* p : {&conv1_w_, &conv1_b_, &conv2_w_, &conv2_b_, &fc_w_, &fc_b_}) *p = f(*p);
  return *this;
}

DemoCnn& DemoCnn::to(Device device) {
  return replace_parameters([device](const Tensor& p) { return p.to(device); });
}

DemoCnn& DemoCnn::to(DType dtype) {
  return replace_parameters([dtype](const Tensor& p) { return p.to(dtype).requires_grad_(); });
}

std::vector<Tensor> DemoCnn::parameters() const {
  std::vector<Tensor> out;
  for (const auto& [name, p] : named_parameters()) out.push_back(p);
  return out;
}

int64_t DemoCnn::flops_per_image() const {
  const int64_t s = image_size_, h = s / 2, q = s / 4;
  const int64_t in = conv1_w_.size(3), classes = fc_w_.size(0);
  return conv2d_flops(1, s, s, kC1, 3, 3, in) + conv2d_flops(1, h, h, kC2, 3, 3, kC1) +
         matmul_flops(1, 1, kC2 * q * q, classes);
}

}  // namespace motive
