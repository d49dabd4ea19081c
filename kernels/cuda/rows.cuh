// Row kernels (layer norm, softmax, cross-entropy): each row of a dense
// [rows, d] array is handled by a group of G threads that reduce with
// shuffles (G <= 32: several rows per 256-thread block) or by a whole block
// (G = blockDim.x, long rows). A thread's vectors of the row are held in
// registers (up to MAXV of them), so statistics and output take one read of
// the row from memory; vectors past the register cache (rows longer than
// kRowThreads * kRowSlots vectors: 4096 floats) are read again on each pass,
// from L1/L2.
#pragma once
#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "kernels/cuda/reduce.cuh"

namespace motive::cuda {

// Where this thread stands: its group's size and lanes, its lane, and its
// group's rows (first, first + step, ...).
struct RowGroup {
  int size;
  int lane;
  unsigned mask;
  int64_t first_row, row_step;

  __device__ explicit RowGroup(int group_size) : size(group_size) {
    const int rows_per_block = blockDim.x / size;
    lane = threadIdx.x % size;
    mask = size >= 32 ? 0xffffffffu : ((1u << size) - 1) << ((threadIdx.x % 32) / size * size);
    first_row = int64_t(blockIdx.x) * rows_per_block + threadIdx.x / size;
    row_step = int64_t(gridDim.x) * rows_per_block;
  }

  // The group's reduction of v (every thread of the group gets it). smem: 32
  // doubles, used when the group is the block.
  template <class Op>
  __device__ double allreduce(double v, double* smem) const {
    return size <= 32 ? warp_allreduce<Op>(v, size, mask) : block_allreduce<Op>(v, smem);
  }
};

// A thread's share of one row in each of NA arrays: vectors lane, lane + G, ...
// Those of the first MAXV slots stay in registers after load().
template <class T, int N, int MAXV, int NA = 1>
struct RowCache {
  using V = Vec<T, N>;
  const T* src[NA];
  int64_t nvec;
  V slot[NA][MAXV];

  // rows: the NA arrays' row pointers.
  __device__ RowCache(const T* const (&rows)[NA], int64_t d, const RowGroup& g) : nvec(d / N) {
#pragma unroll
    for (int a = 0; a < NA; ++a) src[a] = rows[a];
#pragma unroll
    for (int k = 0; k < MAXV; ++k) {
      const int64_t v = g.lane + int64_t(k) * g.size;
      if (v < nvec)
#pragma unroll
        for (int a = 0; a < NA; ++a) slot[a][k] = load_vec<N>(src[a], v);
    }
  }

  // f(v, const V (&vals)[NA]) for each of this thread's vectors v.
  template <class F>
  __device__ void for_each(const RowGroup& g, F&& f) const {
#pragma unroll
    for (int k = 0; k < MAXV; ++k) {
      const int64_t v = g.lane + int64_t(k) * g.size;
      if (v < nvec) {
        V vals[NA];
#pragma unroll
        for (int a = 0; a < NA; ++a) vals[a] = slot[a][k];
        f(v, vals);
      }
    }
    for (int64_t v = g.lane + int64_t(MAXV) * g.size; v < nvec; v += g.size) {
      V vals[NA];
#pragma unroll
      for (int a = 0; a < NA; ++a) vals[a] = load_vec<N>(src[a], v);
      f(v, vals);
    }
  }
};

// Row kernels run blocks of at most kRowThreads threads and keep at most
// kRowSlots vectors per array in registers (16 floats for 16-byte vectors);
// kernels declare __launch_bounds__(kRowThreads, 3) (<= 80 registers: 24 warps
// per SM with their loads in flight), or 2 when they cache two arrays.
constexpr int kRowThreads = 256;
constexpr int kRowSlots = 4;

// Launch shape for rows of nvec vectors.
struct RowPlan {
  int group;    // threads per row
  int threads;  // per block
  int blocks;
  int maxv;     // register slots per thread: 1, 2 or 4
};

inline RowPlan plan_rows(int64_t rows, int64_t nvec) {
  RowPlan p{};
  if (nvec <= 32 * kRowSlots) {  // a warp or less per row, several rows per block
    p.group = 1;
    while (p.group < 32 && p.group < nvec) p.group *= 2;
    p.threads = kRowThreads;
  } else {  // a block per row, big enough that the slots cover the row when they can
    p.group = 64;
    while (p.group < kRowThreads && p.group * int64_t(kRowSlots) < nvec) p.group *= 2;
    p.threads = p.group;
  }
  const int64_t per_thread = (nvec + p.group - 1) / p.group;
  p.maxv = per_thread <= 1 ? 1 : per_thread <= 2 ? 2 : kRowSlots;
  const int64_t rows_per_block = p.threads / p.group;
  // Rows past the grid are taken by a grid-stride loop.
  p.blocks = static_cast<int>(
      std::clamp<int64_t>((rows + rows_per_block - 1) / rows_per_block, 1, int64_t(1) << 20));
  return p;
}

// Plans rows of d elements and calls launch(vec, maxv, plan) with vec and maxv
// as std::integral_constant (vec: 16-byte vectors when d and every array in
// `arrays` allow them).
template <class T, class F>
void launch_rows(int64_t rows, int64_t d, std::initializer_list<const void*> arrays, F&& launch) {
  with_vec_width<T>(d % kVec16<T> == 0 && all_aligned16(arrays), [&](auto vec) {
    const RowPlan p = plan_rows(rows, d / decltype(vec)::value);
    auto go = [&](auto maxv) { launch(vec, maxv, p); };
    switch (p.maxv) {
      case 1: go(std::integral_constant<int, 1>{}); break;
      case 2: go(std::integral_constant<int, 2>{}); break;
      default: go(std::integral_constant<int, kRowSlots>{}); break;
    }
  });
}

}  // namespace motive::cuda
