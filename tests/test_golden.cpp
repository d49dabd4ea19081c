// Every model family against PyTorch (torchvision's ResNet blocks, timm's
// VisionTransformer, torchvision's EfficientNet): tests/golden/<family>.safetensors, written by
// tools/golden.py from the PyTorch modules with a tiny config of the family,
// holds their initial weights in motive's layout and in PyTorch's, an input,
// the training-mode logits, every parameter's gradient and the losses of 5
// SGD steps (see the tool). Here motive builds the same config, loads the
// weights, and must give the same logits and gradients (relative error
// < 1e-4, float32), the same 5 losses (within 1e-4), and write exactly
// PyTorch's state dict through Model::torch_state_dict(). Every registered
// family must have a golden file.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <string>

#include "engine/autograd.h"
#include "engine/optim.h"
#include "engine/serialize.h"
#include "models/registry.h"
#include "tests/gradcheck.h"
#include "tests/model_testing.h"

using namespace motive;
using test::find_tensor;
using test::rel_error;

namespace {

constexpr double kTol = 1e-4;

std::string golden_path(const std::string& family) {
  return std::string(MOTIVE_SOURCE_DIR) + "/tests/golden/" + family + ".safetensors";
}

// The entries of `file` under `prefix`, with the prefix taken off.
NamedTensors under(const SafetensorsFile& file, const std::string& prefix) {
  NamedTensors out;
  for (const auto& [name, t] : file.tensors)
    if (name.rfind(prefix, 0) == 0) out.emplace_back(name.substr(prefix.size()), t);
  return out;
}

Tensor tensor(const SafetensorsFile& file, const std::string& name) {
  return find_tensor(file.tensors, name);
}

std::unique_ptr<Model> golden_model(const SafetensorsFile& file) {
  const auto meta = [&](const char* key) { return std::stoll(file.metadata.at(key)); };
  const ModelShape shape{meta("in_channels"), meta("num_classes"), meta("image"), meta("image")};
  Generator gen(0);
  auto model = build_model(*resolve_model(file.metadata.at("model"), shape), gen);
  model->load_state(under(file, "motive."));
  return model;
}

}  // namespace

TEST_CASE("golden: every registered family has a golden file") {
  for (const ModelFamily* family : model_families()) {
    INFO(std::string(family->name()));
    CHECK(std::filesystem::exists(golden_path(family->name())));
  }
}

TEST_CASE("golden: logits, gradients, 5 SGD steps and the state dict are PyTorch's") {
  for (const ModelFamily* family : model_families()) {
    const std::string path = golden_path(family->name());
    if (!std::filesystem::exists(path)) continue;  // the test above fails
    const SafetensorsFile file = load_safetensors(path);
    INFO(std::string(family->name()), ": ", file.metadata.at("model"));
    const auto model = golden_model(file);

    // The export: PyTorch's names, layouts and values, nothing more or less.
    const NamedTensors torch = under(file, "torch."), ours = model->torch_state_dict();
    CHECK(ours.size() == torch.size());
    for (const auto& [name, t] : torch) {
      INFO(name);
      const Tensor mine = find_tensor(ours, name);
      REQUIRE(mine.shape() == t.shape());
      CHECK(test::max_rel_error(mine, t) == 0);
    }

    const Tensor logits = model->forward(tensor(file, "input"), ForwardContext{true});
    CHECK(rel_error(logits, tensor(file, "logits")) < kTol);
    cross_entropy(logits, tensor(file, "labels")).backward();
    const NamedTensors grads = under(file, "grad.");
    CHECK(grads.size() == model->named_parameters().size());
    for (const auto& [name, p] : model->named_parameters()) {
      INFO(name);
      REQUIRE(p.has_grad());
      CHECK(rel_error(p.grad(), find_tensor(grads, name)) < kTol);
    }

    // 5 SGD steps from the same weights, each on its own batch.
    const auto fresh = golden_model(file);
    SGD opt(std::stod(file.metadata.at("lr")), std::stod(file.metadata.at("momentum")));
    opt.add_params(fresh->parameters());
    const Tensor xs = tensor(file, "steps.input"), ys = tensor(file, "steps.labels");
    const std::vector<double> losses = tensor(file, "steps.loss").to_vector();
    for (int64_t k = 0; k < xs.size(0); ++k) {
      INFO("step ", k);
      opt.zero_grad();
      const Tensor loss =
          cross_entropy(fresh->forward(xs.select(0, k).contiguous(), ForwardContext{true}),
                        ys.select(0, k).contiguous());
      loss.backward();
      opt.step();
      CHECK(std::fabs(loss.item() - losses[static_cast<size_t>(k)]) < kTol);
    }
  }
}
