// The NCCL reducer: GPU buffers summed by ncclAllReduce on a stream of its
// own, its communicator bootstrapped over MPI in a job (broadcast() does
// nothing in a world of one). Built with CUDA and NCCL.
#include <cuda_runtime.h>
#include <nccl.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

#include "dist/nccl.h"
#include "dist/world.h"

namespace motive::dist {
namespace {

void check_cuda(cudaError_t e, const char* what) {
  MOTIVE_CHECK(e == cudaSuccess, "nccl: ", what, ": ", cudaGetErrorString(e));
}

// A collective that does not finish in this time (a rank died or hangs)
// aborts the communicator: MOTIVE_NCCL_TIMEOUT seconds, 300 by default.
double timeout_seconds() {
  const char* v = std::getenv("MOTIVE_NCCL_TIMEOUT");
  return v ? std::atof(v) : 300.0;
}

class NcclReducer : public Reducer {
 public:
  NcclReducer() : timeout_(timeout_seconds()) {
    ncclUniqueId id{};
    if (rank() == 0) check(ncclGetUniqueId(&id), "ncclGetUniqueId");
    broadcast(&id, sizeof id, 0);
    check_cuda(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
    // Non-blocking: every call returns at once, and wait() bounds how long
    // the host waits for the communicator.
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;
    check(ncclCommInitRankConfig(&comm_, world_size(), id, rank(), &config), "ncclCommInitRank");
    wait_for_comm("ncclCommInitRank");
  }
  ~NcclReducer() override {
    if (comm_ != nullptr) ncclCommDestroy(comm_);
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
  }

  void sum(const Tensor& buffer) override {
    MOTIVE_CHECK(buffer.dtype() == DType::F32 && buffer.is_contiguous() &&
                     buffer.device() == Device::CUDA,
                 "nccl allreduce: expected a contiguous float32 CUDA buffer, got ", buffer.str());
    // The buffer was written on the engine's compute stream: let it finish.
    check_cuda(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
    void* p = buffer.raw_data();
    check(ncclAllReduce(p, p, static_cast<size_t>(buffer.numel()), ncclFloat, ncclSum, comm_,
                        stream_),
          "ncclAllReduce");
    wait_for_stream();
  }
  std::string name() const override { return "nccl"; }

 private:
  void check(ncclResult_t r, const char* what) {
    MOTIVE_CHECK(r == ncclSuccess || r == ncclInProgress, "nccl: ", what, ": ",
                 ncclGetErrorString(r), " (rank ", rank(), " of ", world_size(), ")");
  }

  // Polls until `done` says so, failing on the communicator's asynchronous
  // error or, past the timeout, aborting the communicator so that no rank
  // waits forever; the caller's motive::Error then aborts the job.
  template <class Done>
  void poll(const char* what, Done done) {
    const auto start = std::chrono::steady_clock::now();
    while (!done()) {
      ncclResult_t async = ncclSuccess;
      ncclCommGetAsyncError(comm_, &async);
      if (async != ncclSuccess && async != ncclInProgress) {
        ncclCommAbort(comm_);
        comm_ = nullptr;
        fail("nccl: ", what, " failed on rank ", rank(), ": ", ncclGetErrorString(async));
      }
      const double waited =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (waited > timeout_) {
        ncclCommAbort(comm_);
        comm_ = nullptr;
        fail("nccl: ", what, " did not finish in ", timeout_, " s on rank ", rank(), " of ",
             world_size(), " (a rank died or hangs); the communicator is aborted "
             "(MOTIVE_NCCL_TIMEOUT sets the limit)");
      }
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }

  void wait_for_comm(const char* what) {
    poll(what, [&] {
      ncclResult_t state = ncclInProgress;
      ncclCommGetAsyncError(comm_, &state);
      return state == ncclSuccess;
    });
  }

  void wait_for_stream() {
    poll("ncclAllReduce", [&] {
      const cudaError_t e = cudaStreamQuery(stream_);
      if (e == cudaErrorNotReady) return false;
      check_cuda(e, "ncclAllReduce's stream");
      return true;
    });
  }

  double timeout_;
  cudaStream_t stream_ = nullptr;
  ncclComm_t comm_ = nullptr;
};

}  // namespace

std::unique_ptr<Reducer> make_nccl_reducer() { return std::make_unique<NcclReducer>(); }

void bind_local_gpu_nccl() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) return;  // resolve_device says why
  check_cuda(cudaSetDevice(local_rank() % count), "cudaSetDevice");
}

}  // namespace motive::dist
