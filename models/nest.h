// Nesting: the paper's weights map as superset views, for a chain of N >= 1
// models of one family, smallest first (a base and a motivated model is the
// common case, N = 2; N = 1 is a model trained alone).
//
// The largest model is built first and owns every parameter; each smaller one
// is built by the same family code from a PrefixViews source
// (models/parameter_source.h): each of its parameters is the leading prefix,
// in every dim, of the largest model's parameter of the same name. What a
// prefix means is the family's business (ResNet: the first blocks of each
// stage and the leading channel block; ViT: the first blocks, embedding
// dims, heads and MLP units); the family's ModelConfig::check_contains says
// whether it holds, naming the first mismatch.
// Gradients and optimizer state follow the views (engine/tensor.h,
// engine/optim.h): register NestedChain's parameters in one optimizer; a step
// of a smaller model then updates exactly the mapped elements. Switching
// models is choosing which forward to run (NestedChain::model): nothing is
// copied.
//
// Running statistics (BatchNorm): gamma and beta are parameters, shared like
// any weight. The running statistics are per model by default
// (BnStats::Separate: each smaller model has buffers of its own size, because
// a shared layer sees different inputs in the different networks), or prefix
// views of the largest model's (BnStats::Shared, which is what copying the
// buffers at every switch, the paper's way, amounts to).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "models/model.h"

namespace motive {

enum class BnStats { Separate, Shared };
const char* bn_stats_name(BnStats s);          // "separate", "shared"
BnStats parse_bn_stats(const std::string& s);  // throws motive::Error on anything else

struct NestOptions {
  BnStats bn_stats = BnStats::Separate;
  ModelOptions model;  // dtype and device of the largest model (the owner)
};

// The name of level `level` of a chain of `count` models, as metrics,
// checkpoints and export spell it: "base" (the smallest), "motivated" (the
// largest, when count >= 2), "level<k>" in between.
std::string level_name(size_t level, size_t count);

class NestedChain {
 public:
  // Checks that each config contains the one before it, then builds the
  // largest model from `gen` and the others as its prefix views.
  NestedChain(const std::vector<const ModelConfig*>& configs, Generator& gen,
              const NestOptions& options = {});

  size_t size() const { return models_.size(); }
  // The switch: which model the next step runs. A reference; nothing moves.
  const Model& model(size_t level) const { return *models_.at(level); }
  const Model& base() const { return *models_.front(); }
  const Model& largest() const { return *models_.back(); }
  BnStats bn_stats() const { return bn_stats_; }

  // The largest model's parameters, then each smaller model's views: register
  // all of them in one optimizer (a tensor only steps when it got a gradient).
  std::vector<Tensor> parameters() const;

  // Everything a checkpoint of the chain needs, each storage once: the
  // largest model's tensors as "<its level name>.<name>", and with separate
  // statistics every smaller model's running buffers as "<level name>.<name>".
  NamedTensors named_tensors() const;
  // Restores what named_tensors() returned (same names and shapes, strictly).
  void load_state(const NamedTensors& state) const;

 private:
  BnStats bn_stats_;
  std::vector<std::unique_ptr<Model>> models_;  // smallest first
};

// The chain of the named models (models/registry.h), each with `shape`.
NestedChain nest(const std::vector<std::string>& names, const ModelShape& shape, Generator& gen,
                 const NestOptions& options = {});

}  // namespace motive
