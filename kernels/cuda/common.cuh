// Shared CUDA plumbing for kernels/cuda/*.cu: the compute stream, checked calls
// and launches (errors name the op), launch geometry, and a by-value strided
// indexer so elementwise kernels handle views (slices, transposes, broadcasts).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "engine/error.h"

namespace motive::cuda {

// The stream every motive kernel and copy runs on (created on first use).
cudaStream_t stream();

[[noreturn]] void fail_cuda(cudaError_t err, const char* op, const char* what);

// Checks a runtime call; the error names the op ("conv2d: cudaMemcpyAsync: ...").
#define MOTIVE_CUDA_CHECK(expr, op)                                 \
  do {                                                             \
    const cudaError_t motive_err_ = (expr);                         \
    if (motive_err_ != cudaSuccess) ::motive::cuda::fail_cuda(motive_err_, op, #expr); \
  } while (0)

// Checks the launch that just happened (configuration and sticky errors).
#define MOTIVE_CUDA_LAUNCH_CHECK(op) MOTIVE_CUDA_CHECK(cudaGetLastError(), op)

inline int blocks_for(int64_t n, int threads = 256) {
  const int64_t b = (n + threads - 1) / threads;
  return static_cast<int>(b < 65535 * 32 ? (b > 0 ? b : 1) : 65535 * 32);
}

// Up to 8 dims of shape and per-operand strides, passed to kernels by value.
constexpr int kMaxDims = 8;
template <int K>
struct StridedIndexer {
  int rank;
  int64_t shape[kMaxDims];
  int64_t strides[K][kMaxDims];

  // Offsets of linear (row-major) index i in each operand.
  __host__ __device__ void offsets(int64_t i, int64_t* off) const {
    for (int k = 0; k < K; ++k) off[k] = 0;
    for (int d = rank - 1; d >= 0; --d) {
      const int64_t idx = i % shape[d];
      i /= shape[d];
      for (int k = 0; k < K; ++k) off[k] += idx * strides[k][d];
    }
  }
};

template <int K>
StridedIndexer<K> make_indexer(int64_t rank, const int64_t* shape,
                               const int64_t* const (&strides)[K], const char* op) {
  MOTIVE_CHECK(rank <= kMaxDims, op, ": CUDA kernels take at most ", kMaxDims, " dims, got ", rank);
  StridedIndexer<K> ix{};
  ix.rank = static_cast<int>(rank);
  for (int d = 0; d < rank; ++d) {
    ix.shape[d] = shape[d];
    for (int k = 0; k < K; ++k) ix.strides[k][d] = strides[k][d];
  }
  return ix;
}

}  // namespace motive::cuda
