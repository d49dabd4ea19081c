// Sums float32 buffers over the ranks of the job where the buffers live: MPI
// for host memory, NCCL for GPU memory (dist/nccl.cpp, in builds with CUDA,
// MPI and NCCL), MPI through a host copy for GPU memory in a build without
// NCCL. Outside a job (one rank) a sum leaves the buffer as it is.
#pragma once
#include <memory>
#include <string>

#include "engine/tensor.h"

namespace motive::dist {

class Reducer {
 public:
  virtual ~Reducer() = default;
  // `buffer`: contiguous float32 on the reducer's device; every rank passes
  // one of the same size, and every rank gets the same sum.
  virtual void sum(const Tensor& buffer) = 0;
  virtual std::string name() const = 0;  // "mpi", "nccl", "mpi (host copy)", "none"
};

// The reducer for buffers on `device`. For CUDA in a job with NCCL this is a
// collective call (every rank makes one): rank 0 makes NCCL's unique id and
// MPI broadcasts it, as llm.c does.
std::unique_ptr<Reducer> make_reducer(Device device);

// Before a CUDA run touches the GPU: each rank of a machine takes the GPU of
// its local rank (modulo the GPUs it sees). Nothing in a build without NCCL
// or outside a job.
void bind_local_gpu();

}  // namespace motive::dist
