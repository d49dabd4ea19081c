// The paper's weights map, done by copying: two standalone models, and at each
// switch the mapped weights, BN buffers and optimizer state are copied from
// the model that just trained into the overlapping region of the other. This
// is the baseline that superset views (models/nest.h) replace; the nesting
// test checks both give the same training steps, and bench_nesting times both.
#pragma once
#include "engine/optim.h"
#include "models/parameter_source.h"

namespace motive {

// For every name in both `from` and `to`, copies the leading region the two
// tensors have in common (the smaller shape in every dim) from one to the other.
void copy_mapped_tensors(const NamedTensors& from, const NamedTensors& to);

// The optimizer's state (Optimizer::state_tensors) named after the parameters
// it belongs to ("<parameter name>.momentum_buffer", "<parameter name>.step"),
// for an optimizer holding exactly `params`, in order, each on its own storage
// (a standalone model's named_parameters()).
NamedTensors named_optimizer_state(const Optimizer& opt, const NamedTensors& params);

}  // namespace motive
