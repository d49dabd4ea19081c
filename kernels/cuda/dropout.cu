#include <cstdint>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/dropout.h"
#include "kernels/philox.h"

namespace motive::cuda {
namespace {

// Elements per thread: one Philox call yields four 32-bit draws.
constexpr int kChunk = 4;

// Four elements as one aligned vector access (16 bytes for float, two 16-byte
// accesses for double).
template <class T>
struct alignas(kChunk * sizeof(T)) Chunk {
  T v[kChunk];
};

// Lane `lane` of a Philox output. Selects instead of v[lane]: a run-time index
// into a register array would move it to local memory.
__device__ __forceinline__ uint32_t lane_of(const Philox4& b, uint64_t lane) {
  return lane == 0 ? b.v[0] : lane == 1 ? b.v[1] : lane == 2 ? b.v[2] : b.v[3];
}

// Thread c handles elements [4c, 4c + 4) of the n = groups * group_size
// elements. Element e uses draw number offset + e / group_size, i.e. lane
// (that counter) % 4 of Philox block (that counter) / 4, exactly as the CPU
// kernel. The four elements' counters are consecutive or equal, so they fall
// in at most two Philox blocks: one call in the common case (offset a
// multiple of 4, which the Generator guarantees, and dropout or drop-path with
// group_size % 4 == 0), two when they straddle a block boundary.
// kVector: x and out are aligned for Chunk<T> accesses.
template <class T, bool kVector>
__global__ void dropout_kernel(int64_t n, int64_t group_size, const T* x, uint64_t seed,
                               uint64_t offset, uint32_t threshold, T scale, T* out) {
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  for (int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; c < chunks;
       c += int64_t(gridDim.x) * blockDim.x) {
    const int64_t first = c * kChunk;
    const int count = n - first < kChunk ? static_cast<int>(n - first) : kChunk;
    T in[kChunk];
    if (kVector && count == kChunk) {
      const Chunk<T> v = *reinterpret_cast<const Chunk<T>*>(x + first);
#pragma unroll
      for (int k = 0; k < kChunk; ++k) in[k] = v.v[k];
    } else {
#pragma unroll
      for (int k = 0; k < kChunk; ++k) in[k] = k < count ? x[first + k] : T(0);
    }

    // Draw counter of each element; a 64-bit division only for drop-path.
    int64_t g = group_size == 1 ? first : first / group_size;
    int64_t r = first - g * group_size;
    uint64_t counter[kChunk];
#pragma unroll
    for (int k = 0; k < kChunk; ++k) {
      counter[k] = offset + static_cast<uint64_t>(g);
      if (++r == group_size) r = 0, ++g;
    }
    const uint64_t lo_block = counter[0] / 4, hi_block = counter[kChunk - 1] / 4;
    const Philox4 lo = philox4x32(seed, lo_block);
    const Philox4 hi = hi_block == lo_block ? lo : philox4x32(seed, hi_block);

    Chunk<T> res;
#pragma unroll
    for (int k = 0; k < kChunk; ++k) {
      const uint64_t lane = counter[k] % 4;
      const uint32_t bits = counter[k] / 4 == lo_block ? lane_of(lo, lane) : lane_of(hi, lane);
      // Dropped elements are written as 0, not x * 0 (an inf or NaN there is dropped too).
      res.v[k] = (bits >> 8) >= threshold ? in[k] * scale : T(0);
    }
    if (kVector && count == kChunk) {
      *reinterpret_cast<Chunk<T>*>(out + first) = res;
    } else {
#pragma unroll
      for (int k = 0; k < kChunk; ++k)
        if (k < count) out[first + k] = res.v[k];
    }
  }
}

template <class T>
bool chunk_aligned(const T* p) {
  return reinterpret_cast<uintptr_t>(p) % sizeof(Chunk<T>) == 0;
}

}  // namespace

template <class T>
void dropout_apply(int64_t groups, int64_t group_size, const T* x, uint64_t seed, uint64_t offset,
                   uint32_t threshold, T scale, T* out) {
  const int64_t n = groups * group_size;
  if (n == 0) return;
  const int blocks = blocks_for((n + kChunk - 1) / kChunk);
  if (chunk_aligned(x) && chunk_aligned(out)) {
    dropout_kernel<T, true><<<blocks, 256, 0, stream()>>>(n, group_size, x, seed, offset,
                                                         threshold, scale, out);
  } else {
    dropout_kernel<T, false><<<blocks, 256, 0, stream()>>>(n, group_size, x, seed, offset,
                                                          threshold, scale, out);
  }
  MOTIVE_CUDA_LAUNCH_CHECK("dropout");
}

template void dropout_apply<float>(int64_t, int64_t, const float*, uint64_t, uint64_t, uint32_t,
                                   float, float*);
template void dropout_apply<double>(int64_t, int64_t, const double*, uint64_t, uint64_t, uint32_t,
                                    double, double*);

}  // namespace motive::cuda
