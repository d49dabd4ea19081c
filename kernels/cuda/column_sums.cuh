// Deterministic per-column sums on the GPU: out[b, j] = scale * sum_r in[b, r, j]
// over a row-major [batches, rows, width] input. Used by conv2d's bias gradient
// (one batch of N*H*W rows) and global average pooling (N batches of H*W rows).
//
// Like kernels/cpu/column_sums.h: rows are cut into splits whose number depends
// on the row count only, each split accumulates in double, and the splits are
// added in order, so the result is bit-identical from run to run (no atomics).
// A block is 32 columns x 8 row lanes: each warp reads 32 consecutive columns of
// one row (coalesced); the 8 lanes meet in shared memory.
#pragma once
#include <algorithm>
#include <cstdint>
#include <memory>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/runtime.h"

namespace motive::cuda {
namespace column_sums_detail {

constexpr int kColumns = 32, kRowLanes = 8;
constexpr int64_t kMaxSplits = 1024, kRowsPerSplit = 256;

// Block (tile, b) x split: writes out (one split) or partial[b, split, :].
template <class T>
__global__ void split_sums(int64_t rows, int64_t width, int64_t tiles, int64_t rows_per_split,
                           const T* in, double* partial, T* out, double scale) {
  __shared__ double lanes[kRowLanes][kColumns];
  const int64_t b = blockIdx.x / tiles;
  const int64_t col = blockIdx.x % tiles * kColumns + threadIdx.x;
  const int64_t begin = blockIdx.y * rows_per_split;
  const int64_t end = begin + rows_per_split < rows ? begin + rows_per_split : rows;
  double acc = 0;
  if (col < width)
    for (int64_t r = begin + threadIdx.y; r < end; r += kRowLanes)
      acc += static_cast<double>(in[(b * rows + r) * width + col]);
  lanes[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y != 0 || col >= width) return;
  double sum = 0;
  for (int k = 0; k < kRowLanes; ++k) sum += lanes[k][threadIdx.x];
  if (out)
    out[b * width + col] = static_cast<T>(sum * scale);
  else
    partial[(b * gridDim.y + blockIdx.y) * width + col] = sum;
}

template <class T>
__global__ void add_splits(int64_t outputs, int64_t splits, int64_t width, const double* partial,
                           T* out, double scale) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < outputs;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t b = i / width, col = i % width;
    double sum = 0;
    for (int64_t k = 0; k < splits; ++k) sum += partial[(b * splits + k) * width + col];
    out[i] = static_cast<T>(sum * scale);
  }
}

}  // namespace column_sums_detail

template <class T>
void column_sums(int64_t batches, int64_t rows, int64_t width, const T* in, T* out, double scale,
                 const char* op) {
  namespace d = column_sums_detail;
  if (batches * width == 0) return;
  const int64_t splits = std::clamp<int64_t>(rows / d::kRowsPerSplit, 1, d::kMaxSplits);
  const int64_t rows_per_split = (rows + splits - 1) / splits;
  const int64_t tiles = (width + d::kColumns - 1) / d::kColumns;
  MOTIVE_CHECK(batches * tiles <= INT32_MAX, op, ": ", batches, " x ", width,
               " columns exceed one launch");
  // Stream-ordered scratch for the split partials (none with one split).
  const std::unique_ptr<void, void (*)(void*)> partial(
      splits > 1 ? allocate(static_cast<size_t>(batches * splits * width) * sizeof(double))
                 : nullptr,
      release);
  const dim3 grid(static_cast<unsigned>(batches * tiles), static_cast<unsigned>(splits));
  d::split_sums<T><<<grid, dim3(d::kColumns, d::kRowLanes), 0, stream()>>>(
      rows, width, tiles, rows_per_split, in, static_cast<double*>(partial.get()),
      splits > 1 ? nullptr : out, scale);
  MOTIVE_CUDA_LAUNCH_CHECK(op);
  if (splits == 1) return;
  d::add_splits<T><<<blocks_for(batches * width), 256, 0, stream()>>>(
      batches * width, splits, width, static_cast<const double*>(partial.get()), out, scale);
  MOTIVE_CUDA_LAUNCH_CHECK(op);
}

}  // namespace motive::cuda
