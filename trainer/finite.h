// Whether a run's state is finite: the check after every optimizer step
// (divergence), before every checkpoint is written, after one is read, and
// before a model is exported.
#pragma once
#include <optional>
#include <string>

#include "engine/optim.h"  // NamedTensors

namespace motive {

// True when no element of any floating-point tensor is NaN or infinite: the
// sum of every element times 0 (0 for a finite element, NaN for NaN and
// +-inf). Dense float tensors in host memory are summed in place; the others
// (GPU, bf16, strided) with one concat + x * 0 + sum of the engine's ops per
// device and dtype, whatever the number of tensors, and one wait.
bool all_finite(const NamedTensors& tensors);

// The first tensor with a NaN or infinite element, as "NAME (K of N values
// are NaN or infinite)"; nullopt when there is none. Reads the tensors one by
// one: for naming what all_finite() found.
std::optional<std::string> find_non_finite(const NamedTensors& tensors);

}  // namespace motive
