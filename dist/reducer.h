// Sums float32 buffers over the ranks of the job where the buffers live: MPI
// for host memory, NCCL for GPU memory (dist/nccl.cpp, in builds with CUDA,
// MPI and NCCL), MPI through a host copy for GPU memory in a build without
// NCCL. Outside a job (one rank) a sum leaves the buffer as it is.
//
// start() and wait() overlap the sums with other work: host memory is summed
// by non-blocking MPI collectives that run while the caller goes on. The GPU
// paths have no non-blocking sum (an NCCL call on a side stream ordered by
// events would be one; not written, since it cannot run on a machine without
// GPUs): there start() only queues the buffer and wait() sums the queue, in
// order, blocking. Summing at once in start() instead would let a rank wait
// in a sum while another (one whose shard was empty, which runs no backward)
// waits for it in a different collective.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace motive::dist {

class Reducer {
 public:
  virtual ~Reducer() = default;
  // `buffer`: contiguous float32 on the reducer's device; every rank passes
  // one of the same size, and every rank gets the same sum.
  virtual void sum(const Tensor& buffer) = 0;
  virtual std::string name() const = 0;  // "mpi", "nccl", "mpi (host copy)", "none"

  // Starts summing `buffer` (as sum() does); the sum is there when wait()
  // returns, and until then the buffer must stay alive and untouched. Every
  // rank starts its buffers in the same order.
  virtual void start(const Tensor& buffer) { queued_.push_back(buffer); }
  // Lets started sums move on without waiting for them.
  virtual void progress() {}
  // Waits for every started sum.
  virtual void wait() {
    for (const Tensor& buffer : queued_) sum(buffer);
    queued_.clear();
  }

 private:
  std::vector<Tensor> queued_;
};

// The reducer for buffers on `device`: NCCL for CUDA in a build with NCCL
// (in a job a collective call, every rank makes one: rank 0 makes NCCL's
// unique id and MPI broadcasts it, as llm.c does; outside one a communicator
// of one GPU), else MPI.
std::unique_ptr<Reducer> make_reducer(Device device);
// Compiled with NCCL (CUDA on and NCCL found; dist/nccl.cpp).
bool nccl_built();

// Before a CUDA run touches the GPU: each rank of a machine takes the GPU of
// its local rank (modulo the GPUs it sees). Nothing in a build without NCCL
// or outside a job.
void bind_local_gpu();

}  // namespace motive::dist
