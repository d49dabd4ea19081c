// Nesting: the paper's weights map as superset views.
//
// nest(base, motivated) builds the motivated model owning every parameter,
// then the base model from the same code with every parameter a prefix view
// of the motivated parameter of the same name (models/parameter_source.h):
//   depth: stage s of the base runs the first depths[s] blocks of stage s of
//          the motivated model (the same tensors);
//   width: each base conv/BN/linear tensor is the leading [0, c_out) x [0, c_in)
//          channel block of the motivated one.
// Gradients and optimizer state follow the views (engine/tensor.h,
// engine/optim.h): register NestedPair::parameters() in one optimizer; a base
// step then updates exactly the mapped elements. Switching models is choosing
// which forward to run (NestedPair::model): nothing is copied.
//
// BatchNorm: gamma and beta are parameters, shared like any weight. The
// running statistics are per model by default (BnStats::Separate: the base has
// its own buffers of its own size, because a shared layer sees different
// inputs in the two networks), or prefix views of the motivated ones
// (BnStats::Shared, which is what copying the buffers at every switch, the
// paper's way, amounts to). ResNet::recalibrate_batch_norm recomputes either.
#pragma once
#include <string>
#include <vector>

#include "models/resnet.h"

namespace motive {

enum class BnStats { Separate, Shared };
const char* bn_stats_name(BnStats s);          // "separate", "shared"
BnStats parse_bn_stats(const std::string& s);  // throws motive::Error on anything else

struct NestOptions {
  BnStats bn_stats = BnStats::Separate;
  ResNetOptions model;  // dtype, device and init of the motivated model (the owner)
};

// Throws motive::Error, naming both models and the first mismatch, unless
// `motivated` contains `base`: same block type, stem, number of stages, input
// channels and classes; every stage depth and every layer width of the base
// <= the motivated one's; the same shortcut kind (identity or projection) in
// every base block.
void check_nestable(const ResNetConfig& base, const ResNetConfig& motivated);

enum class Role { Base, Motivated };
const char* role_name(Role r);  // "base", "motivated"

class NestedPair {
 public:
  const ResNet& base() const { return base_; }
  const ResNet& motivated() const { return motivated_; }
  // The switch: which model the next step runs. A reference; nothing moves.
  const ResNet& model(Role r) const { return r == Role::Base ? base_ : motivated_; }
  BnStats bn_stats() const { return bn_stats_; }

  // The motivated model's parameters, then the base's views: register all of
  // them in one optimizer (a tensor only steps when it got a gradient).
  std::vector<Tensor> parameters() const;

  // Everything a checkpoint of the pair needs, each storage once: the
  // motivated model's tensors as "motivated.<name>", and with separate BN
  // statistics the base's running buffers as "base.<name>".
  NamedTensors named_tensors() const;
  // Restores what named_tensors() returned (same names and shapes, strictly).
  void load_state(const NamedTensors& state) const;

 private:
  friend NestedPair nest(const ResNetConfig&, const ResNetConfig&, Generator&, const NestOptions&);
  NestedPair(const ResNetConfig& base, const ResNetConfig& motivated, Generator& gen,
             const NestOptions& options);

  BnStats bn_stats_;
  ResNet motivated_;  // built first: the base's views point into it
  ResNet base_;
};

// Checks containment, then builds the pair (the motivated model's fresh
// parameters are drawn from `gen`).
NestedPair nest(const ResNetConfig& base, const ResNetConfig& motivated, Generator& gen,
                const NestOptions& options = {});

}  // namespace motive
