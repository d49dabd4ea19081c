// CUDA twins of kernels/cpu/optim.h: same names, same signatures, device
// pointers. Each call updates all its parameters in as few launches as
// possible (multi-tensor: up to a table's worth of parameters per launch),
// strided sub-block views included. Defined in optim.cu.
#pragma once
#include <cstdint>

#include "kernels/cpu/optim.h"  // ParamUpdate, SgdHyper, AdamWHyper

namespace motive::cuda {

using cpu::AdamWHyper;
using cpu::ParamUpdate;
using cpu::SgdHyper;

template <class T>
void sgd_step(int64_t count, const ParamUpdate<T>* params, const SgdHyper& h);

template <class T>
void adamw_step(int64_t count, const ParamUpdate<T>* params, const AdamWHyper& h);

}  // namespace motive::cuda
