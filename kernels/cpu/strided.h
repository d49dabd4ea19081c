// N-d strided iteration shared by the CPU kernels. Calls f(off_0, ..., off_{K-1})
// with the element offset of each of K operands for every index of `shape`, in
// row-major order; the innermost dim runs as a tight loop.
#pragma once
#include <array>
#include <cstddef>
#include <tuple>
#include <cstdint>
#include <vector>

namespace motive::cpu {

template <std::size_t K, class F>
void for_each_offset(const int64_t* shape, int64_t rank,
                     const std::array<const int64_t*, K>& strides, F&& f) {
  std::array<int64_t, K> off{};
  if (rank == 0) {
    std::apply(f, off);
    return;
  }
  for (int64_t d = 0; d < rank; ++d)
    if (shape[d] == 0) return;
  const int64_t inner = shape[rank - 1];
  std::array<int64_t, K> inner_stride;
  for (std::size_t k = 0; k < K; ++k) inner_stride[k] = strides[k][rank - 1];
  std::vector<int64_t> index(rank, 0);
  while (true) {
    std::array<int64_t, K> o = off;
    for (int64_t i = 0; i < inner; ++i) {
      std::apply(f, o);
      for (std::size_t k = 0; k < K; ++k) o[k] += inner_stride[k];
    }
    // Odometer increment over the outer dims.
    int64_t d = rank - 2;
    for (; d >= 0; --d) {
      ++index[d];
      for (std::size_t k = 0; k < K; ++k) off[k] += strides[k][d];
      if (index[d] < shape[d]) break;
      for (std::size_t k = 0; k < K; ++k) off[k] -= strides[k][d] * shape[d];
      index[d] = 0;
    }
    if (d < 0) return;
  }
}

}  // namespace motive::cpu
