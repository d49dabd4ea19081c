// Layout predicates shared by the CPU and CUDA kernels (host code).
#pragma once
#include <cstdint>

namespace motive {

// Row-major contiguous for this shape (size-1 dims may have any stride).
inline bool is_dense(int64_t rank, const int64_t* shape, const int64_t* strides) {
  int64_t expected = 1;
  for (int64_t d = rank - 1; d >= 0; --d) {
    if (shape[d] != 1 && strides[d] != expected) return false;
    expected *= shape[d];
  }
  return true;
}

inline int64_t element_count(int64_t rank, const int64_t* shape) {
  int64_t n = 1;
  for (int64_t d = 0; d < rank; ++d) n *= shape[d];
  return n;
}

}  // namespace motive
