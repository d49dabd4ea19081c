#include <cuda_runtime.h>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/host.h"

namespace motive::cuda {

namespace {

// The loader's copies get their own stream, so a batch's host-to-device copy
// overlaps the previous step's kernels instead of queueing behind them.
cudaStream_t copy_stream() {
  static cudaStream_t s = [] {
    cudaStream_t created = nullptr;
    MOTIVE_CUDA_CHECK(cudaStreamCreateWithFlags(&created, cudaStreamNonBlocking), "copy stream");
    return created;
  }();
  return s;
}

}  // namespace

void* pinned_alloc(size_t nbytes) {
  void* p = nullptr;
  const cudaError_t err = cudaHostAlloc(&p, nbytes == 0 ? 1 : nbytes, cudaHostAllocDefault);
  if (err == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    throw OutOfMemory(message("cuda: out of pinned host memory allocating ", nbytes, " bytes"));
  }
  MOTIVE_CUDA_CHECK(err, "pinned alloc");
  return p;
}

void pinned_free(void* p) noexcept {
  // Never throws (called from destructors); a failure means the context is gone.
  if (p && cudaFreeHost(p) != cudaSuccess) cudaGetLastError();
}

EventHandle event_create() {
  cudaEvent_t e = nullptr;
  MOTIVE_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "event create");
  return e;
}

void event_destroy(EventHandle e) noexcept {
  if (e && cudaEventDestroy(e) != cudaSuccess) cudaGetLastError();
}

void event_synchronize(EventHandle e) { MOTIVE_CUDA_CHECK(cudaEventSynchronize(e), "event wait"); }

void copy_to_device_on_copy_stream(void* dst, const void* src, size_t nbytes, EventHandle after,
                                   EventHandle done) {
  const cudaStream_t s = copy_stream();
  MOTIVE_CUDA_CHECK(cudaStreamWaitEvent(s, after, 0), "copy host->device");
  MOTIVE_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyHostToDevice, s),
                    "copy host->device");
  MOTIVE_CUDA_CHECK(cudaEventRecord(done, s), "copy host->device");
}

void compute_stream_wait(EventHandle e) {
  MOTIVE_CUDA_CHECK(cudaStreamWaitEvent(stream(), e, 0), "compute stream wait");
}

void record_on_compute_stream(EventHandle e) {
  MOTIVE_CUDA_CHECK(cudaEventRecord(e, stream()), "record event");
}

}  // namespace motive::cuda
