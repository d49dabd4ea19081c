// Deterministic parallel sums over the rows of a row-major problem, per column:
// batch norm's per-channel statistics over N*H*W, layer norm's gamma/beta
// gradients over tokens, the cross-entropy loss over the batch (width 1).
//
// Rows are cut into a number of chunks that depends on the row count only (not
// on the thread count); each chunk accumulates into its own double partial and
// the partials are added in chunk order. The result is therefore bit-identical
// for any OMP_NUM_THREADS, and double accumulation keeps float32 sums over
// millions of rows accurate.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

namespace motive::cpu {

// accumulate(row_begin, row_end, acc) adds the contribution of rows
// [row_begin, row_end) into acc[0, width), which starts at zero.
// out[0, width) receives the totals.
template <class F>
void column_sums(int64_t rows, int64_t width, double* out, F&& accumulate) {
  constexpr int64_t kMaxChunks = 64;
  constexpr int64_t kMinRowsPerChunk = 32;
  const int64_t chunks = std::clamp<int64_t>(rows / kMinRowsPerChunk, 1, kMaxChunks);
  std::vector<double> partial(static_cast<size_t>(chunks * width), 0.0);
#pragma omp parallel for schedule(static) if (chunks > 1 && rows * width > (1 << 14))
  for (int64_t c = 0; c < chunks; ++c)
    accumulate(rows * c / chunks, rows * (c + 1) / chunks, partial.data() + c * width);
  std::fill(out, out + width, 0.0);
  for (int64_t c = 0; c < chunks; ++c)
    for (int64_t j = 0; j < width; ++j) out[j] += partial[c * width + j];
}

}  // namespace motive::cpu
