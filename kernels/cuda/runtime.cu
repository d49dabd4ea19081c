#include <cuda_runtime.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "kernels/bf16.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/runtime.h"
#include "kernels/layout.h"

namespace motive::cuda {

// ------------------------------------------------------------ discovery ----

int device_count() {
  int n = 0;
  // No driver / no device is a normal answer here, not an error.
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear it so later calls do not see it
    return 0;
  }
  return n;
}

std::string describe() {
  int n = 0;
  const cudaError_t err = cudaGetDeviceCount(&n);
  if (err != cudaSuccess) {
    cudaGetLastError();
    return std::string("cuda: no usable device (") + cudaGetErrorString(err) + ")";
  }
  if (n == 0) return "cuda: no device";
  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, 0);
  return "cuda: " + std::to_string(n) + " device(s), device 0 = " + prop.name + " (sm_" +
         std::to_string(prop.major) + std::to_string(prop.minor) + ", " +
         std::to_string(prop.totalGlobalMem >> 20) + " MiB)";
}

void fail_cuda(cudaError_t err, const char* op, const char* what) {
  cudaGetLastError();
  fail(op, ": ", what, " failed: ", cudaGetErrorString(err));
}

cudaStream_t stream() {
  static cudaStream_t s = [] {
    cudaStream_t created = nullptr;
    MOTIVE_CUDA_CHECK(cudaStreamCreateWithFlags(&created, cudaStreamNonBlocking), "cuda");
    // Keep freed blocks in the pool instead of returning them to the driver at
    // every synchronisation: steady-state steps then allocate nothing new.
    cudaMemPool_t pool = nullptr;
    MOTIVE_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, 0), "cuda");
    uint64_t keep = UINT64_MAX;
    MOTIVE_CUDA_CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep), "cuda");
    return created;
  }();
  return s;
}

// --------------------------------------------------------------- memory ----

void* allocate(size_t nbytes) {
  void* p = nullptr;
  const cudaError_t err = cudaMallocAsync(&p, nbytes == 0 ? 1 : nbytes, stream());
  if (err == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    size_t free_bytes = 0, total = 0;
    cudaMemGetInfo(&free_bytes, &total);
    throw OutOfMemory(message("cuda: out of device memory allocating ", nbytes, " bytes (",
                              free_bytes >> 20, " MiB free of ", total >> 20, " MiB)"));
  }
  MOTIVE_CUDA_CHECK(err, "cuda allocate");
  return p;
}

void release(void* p) {
  // Never throws (called from destructors); a failure here means the context is gone.
  if (cudaFreeAsync(p, stream()) != cudaSuccess) cudaGetLastError();
}

void memset_bytes(void* p, int value, size_t nbytes) {
  MOTIVE_CUDA_CHECK(cudaMemsetAsync(p, value, nbytes, stream()), "cuda memset");
}

// ------------------------------------------------------ deferred checks ----

namespace {

struct PendingCheck {
  void* flag;
  std::function<void(int64_t)> report;
};
constexpr size_t kMaxPendingChecks = 64;

std::vector<PendingCheck>& pending_checks() {
  static std::vector<PendingCheck> checks;
  return checks;
}

// After the compute stream finished: copies every waiting flag back (one wait
// for all), frees them all, then reports the first one set (the earliest
// failed check).
void run_pending_checks() {
  std::vector<PendingCheck> checks;
  checks.swap(pending_checks());  // a report's own reads of device values find none
  if (checks.empty()) return;
  std::vector<uint64_t> index(checks.size(), UINT64_MAX);
  cudaError_t err = cudaSuccess;
  for (size_t i = 0; i < checks.size(); ++i) {
    if (err == cudaSuccess)
      err = cudaMemcpyAsync(&index[i], checks[i].flag, sizeof(uint64_t), cudaMemcpyDeviceToHost,
                            stream());
    release(checks[i].flag);  // ordered after the copy on the stream
  }
  if (err == cudaSuccess) err = cudaStreamSynchronize(stream());
  MOTIVE_CUDA_CHECK(err, "device-side check");
  for (size_t i = 0; i < checks.size(); ++i)
    if (index[i] != UINT64_MAX) return checks[i].report(static_cast<int64_t>(index[i]));
}

}  // namespace

void defer_check(void* flag, std::function<void(int64_t)> report) {
  pending_checks().push_back({flag, std::move(report)});
  if (pending_checks().size() > kMaxPendingChecks) synchronize();
}

void copy_host_to_device(void* dst, const void* src, size_t nbytes) {
  // Pageable host memory: the runtime stages it, and the call returns once the
  // source may be reused.
  MOTIVE_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyHostToDevice, stream()),
                    "copy host->device");
}

void copy_device_to_host(void* dst, const void* src, size_t nbytes) {
  MOTIVE_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToHost, stream()),
                    "copy device->host");
  MOTIVE_CUDA_CHECK(cudaStreamSynchronize(stream()), "copy device->host");
  run_pending_checks();
}

void copy_device_to_device(void* dst, const void* src, size_t nbytes) {
  MOTIVE_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToDevice, stream()),
                    "copy device->device");
}

void synchronize() {
  MOTIVE_CUDA_CHECK(cudaStreamSynchronize(stream()), "synchronize");
  run_pending_checks();
}

// ---------------------------------------------------- strided copy / fill ----

namespace {

template <class D, class S>
__global__ void copy_kernel(int64_t n, StridedIndexer<2> ix, D* dst, const S* src) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    int64_t off[2];
    ix.offsets(i, off);
    dst[off[0]] = static_cast<D>(src[off[1]]);
  }
}

template <class T>
__global__ void fill_kernel(int64_t n, StridedIndexer<1> ix, T* dst, T value) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    int64_t off[1];
    ix.offsets(i, off);
    dst[off[0]] = value;
  }
}

template <class F>
void with_type(DType type, const char* op, F&& f) {
  switch (type) {
    case DType::F32: return f(float{});
    case DType::F64: return f(double{});
    case DType::BF16: return f(bf16{});
    case DType::I32: return f(int32_t{});
    default: fail(op, ": dtype ", dtype_name(type), " is not supported on CUDA yet");
  }
}

}  // namespace

void copy_strided(int64_t rank, const int64_t* shape, void* dst, DType dst_type,
                  const int64_t* dst_strides, const void* src, DType src_type,
                  const int64_t* src_strides) {
  const int64_t n = element_count(rank, shape);
  if (n == 0) return;
  const int64_t* strides[2] = {dst_strides, src_strides};
  const auto ix = make_indexer<2>(rank, shape, strides, "copy");
  with_type(dst_type, "copy", [&](auto d) {
    using D = decltype(d);
    with_type(src_type, "copy", [&](auto s) {
      using S = decltype(s);
      copy_kernel<D, S><<<blocks_for(n), 256, 0, stream()>>>(n, ix, static_cast<D*>(dst),
                                                             static_cast<const S*>(src));
      MOTIVE_CUDA_LAUNCH_CHECK("copy");
    });
  });
}

void fill_strided(int64_t rank, const int64_t* shape, void* dst, DType type,
                  const int64_t* strides, double value) {
  const int64_t n = element_count(rank, shape);
  if (n == 0) return;
  const int64_t* s[1] = {strides};
  const auto ix = make_indexer<1>(rank, shape, s, "fill");
  with_type(type, "fill", [&](auto t) {
    using T = decltype(t);
    fill_kernel<T><<<blocks_for(n), 256, 0, stream()>>>(n, ix, static_cast<T*>(dst),
                                                        static_cast<T>(value));
    MOTIVE_CUDA_LAUNCH_CHECK("fill");
  });
}

}  // namespace motive::cuda
