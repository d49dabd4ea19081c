// The NCCL reducer (dist/nccl.cpp), built with CUDA and NCCL; reached
// through make_reducer and bind_local_gpu (dist/reducer.h).
#pragma once
#include <memory>

#include "dist/reducer.h"

namespace motive::dist {

// Collective: every rank of the job calls it. Rank 0 makes NCCL's unique id,
// MPI broadcasts it, and each rank joins the communicator on its GPU.
std::unique_ptr<Reducer> make_nccl_reducer();
// cudaSetDevice(local rank modulo the GPUs this process sees).
void bind_local_gpu_nccl();

}  // namespace motive::dist
